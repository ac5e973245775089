// The web UI's numbers (bench/bench_web.sh runs it): the bundle's size, the first page load,
// the time from an epoch's end to its point on the Training page's plot, and the Training page
// with 1,000 jobs in the store. Each is measured against a reference in the same run:
//   - first load: the UI's first page ready (its list drawn) over the load of the server's
//     smallest static page (the login page's refusal) in the same cold browser;
//   - epoch to plot: the point's time on the page (a MutationObserver on the plot's point
//     count) minus the epoch event's time in the store's event log (the same machine's clock);
//   - 1,000 jobs: the Training page ready with 1,000 jobs over the same page with 10.
//
//   node bench/web_bench.mjs NETSMITH_BINARY SOURCE_DIR DIST_DIR OUT.json
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import zlib from "node:zlib";

process.env.NS_NO_SHOTS = "1";
const [ns, src, dist, out] = process.argv.slice(2).map((p) => path.resolve(p));
process.argv.splice(2, 4, ns, src);
const { startServer, stopServer, launchBrowser } = await import(path.join(src, "tests/web/harness.mjs"));

const median = (a) => { const s = [...a].sort((x, y) => x - y); return s.length ? s[Math.floor((s.length - 1) / 2)] : NaN; };
const pct = (a, q) => { const s = [...a].sort((x, y) => x - y); return s.length ? s[Math.min(s.length - 1, Math.floor(q * s.length))] : NaN; };
const EPOCHS = Number(process.env.BENCH_EPOCHS ?? 150);
const results = { date: new Date().toISOString().slice(0, 10), cpu: os.cpus()[0]?.model ?? "?" };

// ---- the bundle ----
let raw = 0, gz = 0;
const files = [];
(function walk(d) {
  for (const f of fs.readdirSync(d)) {
    const p = path.join(d, f);
    if (fs.statSync(p).isDirectory()) walk(p);
    else {
      const b = fs.readFileSync(p);
      const g = zlib.gzipSync(b, { level: 9 }).length;
      raw += b.length; gz += g;
      files.push({ file: path.relative(dist, p), bytes: b.length, gzip: g });
    }
  }
})(dist);
results.bundle = { bytes: raw, gzip: gz, files };

async function api(server, method, p, body) {
  const res = await fetch(server.url + "/api/v1" + p, {
    method, headers: { Authorization: `Bearer ${server.token}`, "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!res.ok) throw new Error(`${method} ${p}: ${res.status} ${await res.text()}`);
  return res.json();
}
const seed = JSON.parse(fs.readFileSync(path.join(src, "examples/specs/seed.json"), "utf8"));
async function registry(server) {
  await api(server, "POST", "/architectures", { name: "seed", spec: seed });
  await api(server, "POST", "/datasets", { name: "boston", data: "boston_housing" });
  await api(server, "POST", "/models", { name: "boston-mlp", architecture: "seed" });
}
async function withServer(flags, fn) {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), "ns-webbench-"));
  const server = await startServer(work, flags);
  try { return await fn(server); } finally { await stopServer(server); fs.rmSync(work, { recursive: true, force: true }); }
}
const browser = await launchBrowser();
async function freshPage() {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  return { context, page: await context.newPage() };
}

// ---- first load (cold cache), 5 times each ----
await withServer(["--workers", "0"], async (server) => {
  await registry(server);
  const ui = [], bare = [], fcp = [];
  for (let i = 0; i < 5; i++) {
    const { context, page } = await freshPage();
    let t0 = Date.now();
    await page.goto(server.url + "/login?code=0", { waitUntil: "load" });
    bare.push(Date.now() - t0);
    // a login link for this browser
    const link = (await api(server, "POST", "/login-links", {})).link;
    t0 = Date.now();
    await page.goto(link);
    await page.getByRole("table", { name: "Architectures" }).getByText("seed").first().waitFor();
    ui.push(Date.now() - t0);
    fcp.push(await page.evaluate(() => performance.getEntriesByName("first-contentful-paint")[0]?.startTime ?? NaN));
    await context.close();
  }
  results.first_load = { ui_ready_ms: median(ui), bare_page_ms: median(bare), ratio: median(ui) / median(bare), first_contentful_paint_ms: median(fcp), runs: ui.length };
});

// ---- epoch end to its point on the plot ----
await withServer(["--workers", "1"], async (server) => {
  await registry(server);
  const { context, page } = await freshPage();
  await page.goto((await api(server, "POST", "/login-links", {})).link);
  await page.waitForSelector("header.top nav");
  // a wider network, so that an epoch takes tens of milliseconds, as a real one at least does
  await api(server, "POST", "/architectures", { name: "wide", spec: { ...seed, hidden_layers: [512, 512, 256] } });
  await api(server, "POST", "/models", { name: "wide-mlp", architecture: "wide" });
  const job = await api(server, "POST", "/jobs", { kind: "train", model: "wide-mlp", dataset: "boston", settings: { epochs: EPOCHS, batch_size: 8 } });
  await page.goto(`${server.url}/training/${job.id}`);
  const plot = page.getByRole("img", { name: "Loss" }).first();
  await plot.waitFor();
  // from here on: when each point count appeared, and each epoch event's time in the log
  await plot.evaluate((el) => {
    const w = window;
    w.__points = [];
    new MutationObserver(() => w.__points.push([Number(el.getAttribute("data-points")), Date.now() / 1000])).observe(el, { attributes: true, attributeFilter: ["data-points"] });
  });
  for (;;) {
    const j = await api(server, "GET", `/jobs/${job.id}`);
    if (j.state !== "running" && j.state !== "queued") break;
    await new Promise((r) => setTimeout(r, 200));
  }
  await new Promise((r) => setTimeout(r, 1000));
  const points = await page.evaluate(() => window.__points);
  // the epochs' times from the event log (a replay from the start)
  const sse = await fetch(server.url + "/api/v1/events?job=" + job.id, { headers: { Authorization: `Bearer ${server.token}`, "Last-Event-ID": "0" } });
  const reader = sse.body.getReader();
  let text = "";
  const dec = new TextDecoder();
  const deadline = Date.now() + 5000;
  while (Date.now() < deadline && (text.match(/event: epoch/g) ?? []).length < EPOCHS) {
    const { value, done } = await Promise.race([reader.read(), new Promise((r) => setTimeout(() => r({ done: true }), 1000))]);
    if (done) break;
    text += dec.decode(value);
  }
  reader.cancel().catch(() => {});
  const epochTime = new Map();
  for (const block of text.split("\n\n")) {
    if (!/event: epoch/.test(block)) continue;
    const data = JSON.parse(/data: (.*)/.exec(block)[1]);
    epochTime.set(data.data.epoch, data.time);
  }
  const lat = [];
  let prev = 0;
  for (const [count, t] of points) {
    for (let e = prev + 1; e <= count; e++) if (epochTime.has(e)) lat.push((t - epochTime.get(e)) * 1000);
    prev = Math.max(prev, count);
  }
  results.epoch_to_plot = { epochs_observed: lat.length, p50_ms: median(lat), p95_ms: pct(lat, 0.95), max_ms: Math.max(...lat), target_ms: 500 };
  await context.close();
});

// ---- the Training page with 10 and with 1,000 jobs ----
async function trainingPage(n) {
  return withServer(["--workers", "0"], async (server) => {
    await registry(server);
    for (let i = 0; i < n; i++) await api(server, "POST", "/jobs", { kind: "train", model: "boston-mlp", dataset: "boston", settings: { epochs: 5 } });
    const times = [];
    let rows = 0, heap = 0, live = NaN;
    for (let k = 0; k < 3; k++) {
      const { context, page } = await freshPage();
      await page.goto((await api(server, "POST", "/login-links", {})).link);
      await page.waitForSelector("header.top nav");
      const t0 = Date.now();
      await page.goto(server.url + "/training");
      await page.getByRole("table", { name: "Queued" }).getByText(`#${n}`, { exact: true }).first().waitFor();
      times.push(Date.now() - t0);
      rows = await page.locator("tr").count();
      heap = await page.evaluate(() => (performance.memory?.usedJSHeapSize ?? NaN) / 1048576);
      if (k === 2) {
        // a new job shows up live
        const t1 = Date.now();
        const j = await api(server, "POST", "/jobs", { kind: "train", model: "boston-mlp", dataset: "boston", settings: { epochs: 5 } });
        await page.getByRole("table", { name: "Queued" }).getByText(`#${j.id}`, { exact: true }).first().waitFor();
        live = Date.now() - t1;
      }
      await context.close();
    }
    return { jobs: n, ready_ms: median(times), rows_drawn: rows, js_heap_mb: heap, new_job_shown_ms: live };
  });
}
const few = await trainingPage(10), many = await trainingPage(1000);
results.training_page = { few, many, ratio: many.ready_ms / few.ready_ms };
await browser.close();
fs.writeFileSync(out, JSON.stringify(results, null, 2));
console.log(JSON.stringify(results, (k, v) => (k === "files" ? undefined : v), 2));
