// The Tuning page: the empty state, a study run by `netsmith tune` into the server's store
// appearing and finishing live (no reload), its row, its details (the best trial and its
// model, a trials table with a row per trial sortable by value, the optimisation history and
// intermediate curves drawn, the importance bars), opening by keyboard, and every control
// named.
import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { journey, NETSMITH } from "./harness.mjs";

const CONTROLS = new Set(["button", "link", "textbox", "combobox", "listbox", "checkbox", "radio", "spinbutton", "slider", "switch", "searchbox", "menuitem", "tab"]);

async function unnamed(page) {
  const cdp = await page.context().newCDPSession(page);
  const { nodes } = await cdp.send("Accessibility.getFullAXTree");
  await cdp.detach();
  return nodes
    .filter((n) => !n.ignored && CONTROLS.has(n.role?.value) && !(n.name?.value ?? "").trim())
    .map((n) => `${n.role.value} #${n.backendDOMNodeId}`);
}

const STUDY = `study: iris-tune
base: {model: {hidden_layers: [16], activation: relu}, data: iris, epochs: 6, batch_size: 16}
objective: {metric: val.loss, direction: minimize}
trials: 6
parallel: 2
sampler: {type: tpe, seed: 0}
pruner: {type: asha, min_epochs: 1, reduction_factor: 3}
space:
  learning_rate: {log_uniform: [1e-3, 1e-1]}
  hidden_layers: {choice: [[8], [16, 8]]}
  optimizer: {choice: [adam, sgd]}
  momentum: {uniform: [0.0, 0.9], when: {optimizer: sgd}}
`;

journey("tuning", async (t) => {
  const { page } = t;
  await page.getByRole("navigation", { name: "Pages" }).getByRole("link", { name: "Tuning" }).click();
  await page.getByRole("heading", { level: 1, name: "Tuning" }).waitFor();
  t.check(new URL(page.url()).pathname === "/tuning", "Tuning has its own address");
  const studies = page.getByRole("table", { name: "Studies" });
  await studies.getByText("No studies yet").waitFor();
  t.check(/netsmith tune STUDY\.yaml/.test(await studies.textContent()), "the empty state says how to start a study");
  await t.shot("empty");

  // ---- a study run while the page is open -------------------------------------------------
  const file = path.join(t.work, "study.yaml");
  fs.writeFileSync(file, STUDY);
  const out = fs.openSync(path.join(t.work, "tune.out"), "w");
  const tune = spawn(NETSMITH, ["tune", file, "--store", `sqlite:${path.join(t.work, "store.db")}`], { stdio: ["ignore", out, out] });
  const tuned = new Promise((r) => tune.on("exit", (c) => r(c)));
  const row = studies.getByRole("row", { name: /iris-tune/ });
  await row.waitFor({ timeout: 30000 });
  t.check(true, "the study's row appeared without a reload");
  const code = await tuned;
  t.check(code === 0, `netsmith tune ran the study (${code}: ${fs.readFileSync(path.join(t.work, "tune.out"), "utf8").slice(-400)})`);
  const s = await t.api("GET", "/studies/iris-tune");
  await t.until(async () => /complete/.test(await row.textContent()), 15000, "the row to say complete");
  const cells = await row.getByRole("cell").allTextContents();
  const ended = s.complete + s.pruned + s.failed;
  t.check(cells[0] === "iris-tune" && cells[1] === "complete", `the row names the study and its state (${cells.join(" | ")})`);
  t.check(cells[2] === `${ended}/${s.budget}`, `the row shows trials done/budget (${cells[2]})`);
  t.check(cells[3] === `${s.complete} / ${s.pruned} / ${s.failed}`, `the row shows complete/pruned/failed (${cells[3]})`);
  t.check(cells[4].startsWith(String(Number(s.best_value.toPrecision(4)))), `the row shows the best value (${cells[4]} vs ${s.best_value})`);
  t.check(/val\.loss/.test(cells[5]) && cells[6] === "tpe / asha", `the row shows the metric and the sampler/pruner (${cells[5]}, ${cells[6]})`);

  // ---- its details ----------------------------------------------------------------------------
  await row.click();
  await page.waitForURL("**/tuning/iris-tune");
  const details = page.getByRole("region", { name: "Study iris-tune" });
  await details.waitFor();
  const trials = details.getByRole("table", { name: "Trials" });
  await trials.waitFor();
  const bodyRows = trials.locator("tbody tr");
  t.check(await bodyRows.count() === s.trial_count, `the trials table has a row per trial (${await bodyRows.count()} of ${s.trial_count})`);
  const heads = await trials.getByRole("columnheader").allTextContents();
  t.check(["learning_rate", "hidden_layers", "optimizer", "momentum"].every((k) => heads.includes(k)), `a column per setting (${heads.join(", ")})`);
  const best = details.getByRole("group", { name: "Best trial" });
  t.check((await best.getByRole("heading").textContent()) === `Best trial #${s.best.number}`, "the best trial is named");
  if (s.model) {
    const link = best.getByRole("link", { name: `model ${s.model.name}@${s.model.version}` });
    t.check(await link.getAttribute("href") === `/models/${s.model.name}`, "the best trial's model links to its page");
  } else t.check(false, "the study registered its best trial's model");

  // the plots: drawn (a canvas each) with their data
  const history = details.getByRole("img", { name: "Optimisation history" });
  const curves = details.getByRole("img", { name: "Intermediate values" });
  await history.locator("canvas").waitFor();
  await curves.locator("canvas").waitFor();
  t.check(Number(await history.getAttribute("data-points")) === s.complete, `the history plot has a point per complete trial (${await history.getAttribute("data-points")} of ${s.complete})`);
  const longest = Math.max(...s.trials.map((tr) => tr.steps.length));
  t.check(Number(await curves.getAttribute("data-points")) === longest, `the curves span the epochs (${await curves.getAttribute("data-points")} of ${longest})`);
  const legend = await details.getByLabel("Curve legend").textContent();
  t.check(s.pruned === 0 || /pruned \(dashed grey\)/.test(legend), `the legend says how pruned trials are drawn (${legend})`);
  const drawn = await history.locator("canvas").evaluate((c) => {
    const d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
    let ink = 0;
    for (let i = 3; i < d.length; i += 4) if (d[i] > 0) ink++;
    return ink;
  });
  t.check(drawn > 500, `the history canvas has ink on it (${drawn} pixels)`);

  // the importances, largest first, with the method named
  const imp = details.getByRole("group", { name: "Importance" });
  t.check(/fanova/.test(await imp.getByRole("heading").textContent()), "the importance names its method");
  const bars = await imp.getByRole("listitem").allTextContents();
  t.check(bars.length === s.importance.importances.length, `a bar per setting (${bars.length})`);
  const shown = (await imp.getByRole("listitem").evaluateAll((els) => els.map((e) => e.getAttribute("aria-label"))))
    .map((l) => Number(l.split(": ")[1]));
  t.check(shown.every((v, i) => i === 0 || shown[i - 1] >= v), `the bars are largest first (${shown.join(", ")})`);
  await t.shot("study");

  // sorted by value: the best trial first
  await trials.getByRole("button", { name: "Sort by value" }).click();
  const first = await bodyRows.first().getByRole("cell").first().textContent();
  t.check(first.startsWith(String(s.best.number)), `sorted by value, the best trial comes first (${first})`);
  await details.scrollIntoViewIfNeeded();
  await trials.scrollIntoViewIfNeeded();
  await t.shot("trials");

  const bad = await unnamed(page);
  t.check(bad.length === 0, `every control on the study has an accessible name (${bad.join(", ")})`);

  // ---- the keyboard: Escape closes, Enter on a focused row opens -------------------------------
  await trials.getByRole("button", { name: /^Sort by value/ }).focus();
  await page.keyboard.press("Escape");
  await page.waitForURL((u) => u.pathname === "/tuning");
  t.check(await page.getByRole("region", { name: "Study iris-tune" }).count() === 0, "Escape closes the study");
  await row.focus();
  await page.keyboard.press("Enter");
  await page.waitForURL("**/tuning/iris-tune");
  await page.getByRole("region", { name: "Study iris-tune" }).waitFor();
  t.check(true, "Enter on a focused row opens the study");

  // an address of an unknown study says so
  await page.goto(t.url + "/tuning/nope");
  await page.getByRole("alert").waitFor();
  t.check(/no study named 'nope'/.test(await page.getByRole("alert").textContent()), "an unknown study's address shows the server's message");
});
