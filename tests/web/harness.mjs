// The browser tests' harness: a real `netsmith serve` on loopback with a temporary store and
// a real Chromium (Debian's /usr/bin/chromium, driven by playwright-core) at 1280x800.
// A journey is a script run as
//
//   node tests/web/NAME.journey.mjs NETSMITH_BINARY SOURCE_DIR SHOTS_DIR
//
// that calls journey(name, async (t) => { ... }). t.page is logged in through the one-time link
// the server printed; t.api(method, path, body) calls the API with the token; t.shot(name)
// saves a screenshot under SHOTS_DIR; t.check(cond, what) records a failure without stopping;
// a thrown error fails the journey with the page's last screenshot saved. The exit status is 0
// only when every check held and the server stopped cleanly.
import { spawn, spawnSync } from "node:child_process";
import { createRequire } from "node:module";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

export const [NETSMITH, SRC, SHOTS] = process.argv.slice(2).map((p) => path.resolve(p));
if (!NETSMITH || !SRC || (!SHOTS && !process.env.NS_NO_SHOTS)) {
  console.error("usage: node JOURNEY.mjs NETSMITH_BINARY SOURCE_DIR SHOTS_DIR");
  process.exit(2);
}
const require = createRequire(path.join(SRC, "web", "package.json"));
const { chromium } = require("playwright-core");
export const CHROMIUM = process.env.NS_CHROMIUM ?? "/usr/bin/chromium";

/** Runs netsmith with args; {status, stdout, stderr}. */
export function netsmith(args, opts = {}) {
  const r = spawnSync(NETSMITH, args, { encoding: "utf8", timeout: 300000, ...opts });
  return { status: r.status, stdout: r.stdout ?? "", stderr: r.stderr ?? "" };
}

/** Starts `netsmith serve` in work (its store, token, jobs and log there) with extra flags:
 * {child, url, login, token}. */
export async function startServer(work, extra) {
  const out = fs.openSync(path.join(work, "serve.out"), "w");
  const args = ["serve", "--store", `sqlite:${path.join(work, "store.db")}`, "--listen", "127.0.0.1:0",
    "--token-file", path.join(work, "token"), "--work-dir", path.join(work, "jobs"),
    "--access-log", path.join(work, "access.log"), ...extra];
  if (process.env.NETSMITH_UI_DIR) args.push("--ui-dir", process.env.NETSMITH_UI_DIR);
  const child = spawn(NETSMITH, args, { stdio: ["ignore", out, out] });
  let text = "";
  for (let i = 0; i < 200; i++) {
    text = fs.readFileSync(path.join(work, "serve.out"), "utf8");
    if (/login\?code=/.test(text) || child.exitCode !== null) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  const url = /serving on (http:\/\/[0-9.:]+)/.exec(text)?.[1];
  const login = /(http:\/\/[0-9.:]+\/login\?code=[0-9a-f]+)/.exec(text)?.[1];
  if (!url || !login) throw new Error("the server did not start:\n" + text);
  if (!/open the web UI/.test(text)) throw new Error("this netsmith holds no web UI:\n" + text);
  const token = fs.readFileSync(path.join(work, "token"), "utf8").trim();
  return { child, url, login, token };
}

/** Debian's Chromium, headless, with the flags a closed network needs. */
export function launchBrowser() {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
      "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"],
  });
}

/** Stops a server from startServer: SIGTERM, then its exit status. */
export async function stopServer(server) {
  server.child.kill("SIGTERM");
  return await new Promise((r) => {
    if (server.child.exitCode !== null) r(server.child.exitCode);
    else server.child.on("exit", (c) => r(c));
  });
}

export async function journey(name, body, { serveArgs = [] } = {}) {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), `ns-web-${name}-`));
  fs.mkdirSync(SHOTS, { recursive: true });
  const failures = [];
  let server = null, browser = null, page = null, shots = 0;
  const t = {
    work,
    check(cond, what) {
      if (!cond) {
        failures.push(what);
        console.log(`FAIL: ${what}`);
      } else console.log(`ok: ${what}`);
    },
    async shot(label) {
      const file = path.join(SHOTS, `${name}-${String(++shots).padStart(2, "0")}-${label}.png`);
      await page.screenshot({ path: file, fullPage: false });
      return file;
    },
    async api(method, p, body) {
      const res = await fetch(server.url + "/api/v1" + p, {
        method,
        headers: { Authorization: `Bearer ${server.token}`, ...(body !== undefined ? { "Content-Type": "application/json" } : {}) },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await res.text();
      let json = null;
      try { json = text ? JSON.parse(text) : null; } catch { json = text; }
      if (!res.ok) throw new Error(`${method} ${p}: ${res.status} ${text.slice(0, 400)}`);
      return json;
    },
    /** Polls fn (async, truthy when done) every 100 ms for up to ms. */
    async until(fn, ms, what) {
      const end = Date.now() + ms;
      for (;;) {
        const v = await fn();
        if (v) return v;
        if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    },
  };
  let ok = false;
  try {
    server = await startServer(work, serveArgs);
    t.url = server.url;
    t.netsmith = netsmith;
    browser = await launchBrowser();
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, acceptDownloads: true });
    page = await context.newPage();
    page.setDefaultTimeout(20000);
    const pageErrors = [];
    page.on("pageerror", (e) => pageErrors.push(e.message));
    page.on("console", (m) => { if (m.type() === "error") pageErrors.push(m.text()); });
    t.page = page;
    t.pageErrors = pageErrors;
    await page.goto(server.login);
    await page.waitForSelector("header.top nav");
    await body(t);
    t.check(pageErrors.filter((e) => !/status of 4\d\d/.test(e)).length === 0, `no script errors on the page (${pageErrors.join(" | ")})`);
    ok = true;
  } catch (e) {
    failures.push(String(e?.stack ?? e));
    console.log(`FAIL: ${e?.stack ?? e}`);
    if (page) await t.shot("failure").catch(() => {});
  } finally {
    await browser?.close().catch(() => {});
    if (server) {
      const code = await stopServer(server);
      const text = fs.readFileSync(path.join(work, "serve.out"), "utf8");
      if (code !== 0 || /Sanitizer|runtime error:/.test(text)) failures.push(`the server did not stop cleanly (${code}):\n${text.slice(-3000)}`);
    }
    if (failures.length === 0 && ok) fs.rmSync(work, { recursive: true, force: true });
    else console.log(`(the server's files are kept in ${work})`);
  }
  console.log(failures.length ? `${name}: ${failures.length} failure(s)` : `${name}: passed`);
  process.exit(failures.length ? 1 : 0);
}
