// The Pipelines canvas: the Boston step-by-step pipeline (examples/pipelines/boston_steps.yaml)
// built by dragging cards from the palette and wiring them, a wrong wire refused with the
// library's words, a run with every card's live status, a card's outputs, and the YAML it
// writes run by `netsmith run` with the same metrics. Then the example file opened from disk
// and saved back to the same structure.
import fs from "node:fs";
import path from "node:path";
import { createRequire } from "node:module";
import { isDeepStrictEqual } from "node:util";
import { journey, SRC } from "./harness.mjs";

const require = createRequire(path.join(SRC, "web", "package.json"));
const YAML = require("yaml");

// the server writes a pipeline job's files (save_model's path) under its data dir
const dataDir = fs.mkdtempSync(path.join(process.env.TMPDIR ?? "/tmp", "ns-web-pipeline-data-"));
process.on("exit", () => fs.rmSync(dataDir, { recursive: true, force: true }));
fs.mkdirSync(path.join(dataDir, "out")); // the example saves its model under out/

journey("pipeline", async (t) => {
  const { page } = t;
  await page.getByRole("navigation", { name: "Pages" }).getByRole("link", { name: "Pipelines" }).click();
  await page.getByRole("heading", { level: 1, name: "Pipelines" }).waitFor();
  const palette = page.getByRole("navigation", { name: "Cards" });
  const canvas = page.getByLabel("Pipeline canvas");
  const side = page.getByRole("complementary", { name: "Card" });
  await palette.getByRole("button", { name: "data_load", exact: true }).waitFor();
  t.check((await palette.getByRole("button").count()) >= 18, "the palette lists the server's cards");
  await t.shot("empty");

  const node = (id) => page.locator(`.react-flow__node[data-id="${id}"]`);
  const handle = (id, h) => page.locator(`.react-flow__node[data-id="${id}"] .react-flow__handle[data-handleid="${h}"]`);
  const box = await canvas.boundingBox();

  // drag a card from the palette onto the canvas at (x, y) of the canvas
  async function drag(card, x, y) {
    await palette.getByRole("button", { name: card, exact: true }).dragTo(canvas, { targetPosition: { x, y } });
  }
  // press Enter on a palette card: it goes to a free spot (into the selected card's loop)
  async function enter(card) {
    await palette.getByRole("button", { name: card, exact: true }).focus();
    await page.keyboard.press("Enter");
  }
  // a wire drawn with the mouse from an output handle to an input handle
  async function wire(src, out, dst, port) {
    const a = await handle(src, out).boundingBox();
    const b = await handle(dst, port).boundingBox();
    if (!a || !b) throw new Error(`no handle for ${src}.${out} or ${dst}.${port}`);
    await page.mouse.move(a.x + a.width / 2, a.y + a.height / 2);
    await page.mouse.down();
    await page.mouse.move((a.x + b.x) / 2, (a.y + b.y) / 2 + 10, { steps: 6 });
    await page.mouse.move(b.x + b.width / 2, b.y + b.height / 2, { steps: 6 });
    await page.mouse.up();
  }
  const setting = (label) => side.getByLabel(label, { exact: true });
  const input = (port, ref) => side.getByLabel(`Input: ${port}`, { exact: true }).selectOption(ref);
  const fit = async () => {
    await page.getByRole("button", { name: "fit view" }).click();
    await page.waitForTimeout(300);
  };
  const selectCard = async (id) => {
    await fit();
    await node(id).locator(".node-head").click();
    await side.getByRole("heading", { level: 2, name: id, exact: true }).waitFor();
  };
  const wired = async (id, port) => side.getByLabel(`Input: ${port}`, { exact: true }).inputValue();

  await page.getByLabel("Pipeline name").fill("boston-steps");

  // three cards dragged and wired by hand, on a canvas zoomed out to hold them
  await page.getByRole("button", { name: "zoom out" }).click();
  await page.getByRole("button", { name: "zoom out" }).click();
  await drag("data_load", 100, 90);
  await node("load").waitFor();
  t.check(await side.getByRole("heading", { level: 2, name: "load" }).isVisible(), "a dropped card is selected, its id in the side panel");
  await setting("Source").selectOption("builtin");
  await setting("Name").fill("boston_housing");
  await setting("Target").fill("MEDV");
  await drag("data_split", 330, 90);
  await node("split").waitFor();
  await setting("Train ratio").fill("0.8");
  await setting("Test ratio").fill("0.2");
  await setting("Random seed").fill("42");
  await drag("normalize", 560, 90);
  await node("norm").waitFor();
  await wire("load", "out:dataset", "split", "in:dataset");
  await wire("split", "out:train_dataset", "norm", "in:train_dataset");
  await wire("split", "out:test_dataset", "norm", "in:test_dataset");
  await t.until(async () => (await page.locator(".react-flow__edge").count()) === 3, 3000, "three wires drawn on the canvas");
  t.check(true, "three wires drawn on the canvas by dragging between handles");
  await selectCard("norm");
  t.check((await wired("norm", "train_dataset")) === "split.train_dataset" && (await wired("norm", "test_dataset")) === "split.test_dataset",
    "the wires drawn are the card's inputs in the side panel");

  // the rest from the keyboard: Enter on a palette card
  await enter("model_define");
  await node("define").waitFor();
  await setting("Hidden layers").fill("128, 64, 32");
  await setting("Activation").fill("relu");
  await setting("Dropout").fill("0.2");
  await enter("build_model");
  await node("build").waitFor();
  await input("model_spec", "define.model_spec");
  await input("input_size", "split.input_size");
  await enter("init_optimizer");
  await node("optim").waitFor();
  await page.getByRole("button", { name: "fit view" }).click();
  await page.waitForTimeout(400);
  await t.shot("half-built");

  // a wrong wire: the model_spec straight into the optimizer's model
  await wire("define", "out:model_spec", "optim", "in:model");
  const refusal = page.getByRole("alert").filter({ hasText: "Wire refused" });
  await refusal.waitFor();
  const said = await refusal.textContent();
  t.check(said.includes("add a build_model card between them") && said.includes("init_optimizer 'optim' needs a model on 'model', but 'define.model_spec' is a model_spec"),
    `the wrong wire is refused with the library's sentence (${said})`);
  await t.shot("refused-wire");
  await selectCard("optim");
  t.check((await wired("optim", "model")) === "", "the refused wire was not made");
  await wire("build", "out:model", "optim", "in:model");
  t.check((await wired("optim", "model")) === "build.model", "the right wire is taken");
  t.check(!(await refusal.isVisible()), "the refusal goes once a good wire is made");
  await setting("Optimizer").selectOption("adam");
  await setting("Learning rate").fill("0.001");
  await setting("Weight decay").fill("0");

  // the loop, and its inner cards
  await enter("loop");
  await node("epochs").waitFor();
  await setting("Epochs").fill("5");
  await setting("Over").selectOption("batches");
  await setting("Batch size").fill("32");
  await input("dataset", "norm.train_dataset");
  await side.getByLabel("Pass on", { exact: true }).selectOption("build.model");
  await side.getByLabel("Pass on", { exact: true }).selectOption("optim.optimizer");
  await page.getByRole("button", { name: "fit view" }).click();
  await page.waitForTimeout(400);
  const lb = await node("epochs").boundingBox();
  await drag("prepare_batch", lb.x - box.x + lb.width * 0.6, lb.y - box.y + lb.height * 0.6);
  await node("batch").waitFor();
  t.check(await side.getByLabel("Input: dataset").locator("option", { hasText: "epochs.dataset" }).count() === 1,
    "a card dropped inside the loop sees what the loop passes on");
  await page.getByRole("button", { name: "fit view" }).click();
  await page.waitForTimeout(400);
  await wire("epochs", "inner:dataset", "batch", "in:dataset");
  await wire("epochs", "inner:batch_index", "batch", "in:batch_index");
  await selectCard("batch");
  t.check((await wired("batch", "dataset")) === "epochs.dataset" && (await wired("batch", "batch_index")) === "epochs.batch_index",
    "the loop's own ports wired inside it on the canvas");
  // a card made at the top, then dragged into the loop, becomes one of its cards
  await selectCard("optim");
  await enter("zero_grad");
  await node("zero").waitFor();
  await fit();
  const zb = await node("zero").locator(".node-head").boundingBox();
  const lb2 = await node("epochs").boundingBox();
  await page.mouse.move(zb.x + 20, zb.y + zb.height / 2);
  await page.mouse.down();
  await page.mouse.move(lb2.x + lb2.width * 0.55, lb2.y + lb2.height * 0.7, { steps: 12 });
  await page.mouse.up();
  await page.getByRole("status").filter({ hasText: "zero is now a card of loop epochs" }).waitFor();
  await selectCard("zero");
  t.check((await side.getByLabel("Input: optimizer").locator("option", { hasText: "epochs.optimizer" }).count()) === 1,
    "a card dragged into the loop sees what the loop passes on");
  for (const c of ["forward", "calculate_loss", "backward", "optimizer_step"]) await enter(c);
  await selectCard("zero");
  await input("optimizer", "epochs.optimizer");
  await selectCard("fwd");
  const fwdChoices = await side.getByLabel("Input: model").locator("option").allTextContents();
  t.check(!fwdChoices.includes("define.model_spec") && fwdChoices.includes("epochs.model"), "an input's choices are the outputs of its kind it can see");
  await input("model", "epochs.model");
  await input("batch_data", "batch.batch_data");
  await selectCard("loss");
  await input("predictions", "fwd.predictions");
  await input("batch_data", "batch.batch_data");
  await setting("Loss type").selectOption("mse");
  await selectCard("bwd");
  await input("loss", "loss.loss");
  await input("model", "fwd.model");
  await selectCard("step");
  await input("optimizer", "zero.optimizer");
  await input("model", "bwd.model");
  await setting("Gradient clip").fill("1.0");

  // after the loop: select a top-level card so Enter adds at the top
  await selectCard("optim");
  await enter("evaluate");
  await node("eval").waitFor();
  await input("model", "epochs.model");
  await input("dataset", "norm.test_dataset");
  await enter("save_model");
  await node("save").waitFor();
  await input("model", "epochs.model");
  await input("dataset", "norm.train_dataset");
  await setting("Path").fill("boston_steps.safetensors");
  await page.getByRole("button", { name: "fit view" }).click();

  // the YAML is the example's structure
  await page.getByRole("button", { name: "YAML", exact: true }).click();
  const built = YAML.parse(await page.getByLabel("Pipeline YAML").inputValue());
  const example = YAML.parse(fs.readFileSync(path.join(SRC, "examples/pipelines/boston_steps.yaml"), "utf8"));
  const shape = (p) => p.cards.map((c) => ({ id: c.id, card: c.card, in: c.in ?? {}, cards: (c.cards ?? []).map((k) => ({ id: k.id, card: k.card, in: k.in ?? {} })) }));
  t.check(JSON.stringify(shape(built)) === JSON.stringify(shape(example)), "the canvas's cards and wires are the example's");
  await page.getByRole("button", { name: "YAML", exact: true }).click();

  await page.getByRole("button", { name: "Check" }).click();
  await page.getByRole("status").filter({ hasText: "No problems" }).waitFor();
  t.check(true, "the server's check finds no problem");

  // run: every card reaches done, the job succeeds
  await page.getByRole("button", { name: "Run", exact: true }).click();
  const jobLine = page.getByRole("status", { name: "Run" });
  await jobLine.filter({ hasText: /succeeded|failed/ }).waitFor({ timeout: 120000 });
  t.check((await jobLine.textContent()).includes("succeeded"), `the job succeeded (${await jobLine.textContent()})`);
  const ids = ["load", "split", "norm", "define", "build", "optim", "epochs", "batch", "zero", "fwd", "loss", "bwd", "step", "eval", "save"];
  await t.until(async () => {
    for (const id of ids) if (!/^done /.test((await node(id).locator(".node-status").first().textContent().catch(() => "")) ?? "")) return false;
    return true;
  }, 10000, "every card's status to be done");
  const statuses = [];
  for (const id of ids) statuses.push(`${id}: ${await node(id).locator(".node-status").first().textContent()}`);
  t.check(statuses.every((s) => /: done \d+(\.\d+)? (µs|ms|s)$/.test(s)), `every card shows done with its duration (${statuses.join(", ")})`);
  await t.shot("finished-run");

  // the evaluate card's outputs
  await selectCard("eval");
  const metricsTable = side.getByRole("table", { name: "eval.metrics metrics" });
  await metricsTable.waitFor();
  const jobId = Number(/Job (\d+)/.exec(await jobLine.textContent())[1]);
  const apiEval = await t.api("GET", `/jobs/${jobId}/outputs/eval`);
  const m = apiEval.outputs.find((o) => o.port === "metrics").value;
  const shownRmse = await metricsTable.locator('td[data-metric="rmse"]').textContent();
  t.check(shownRmse === String(Number(m.rmse.toPrecision(4))), `the side panel shows the evaluate card's metrics (rmse ${shownRmse})`);
  await t.shot("card-outputs");
  await selectCard("norm");
  await side.getByRole("table", { name: "norm.train_dataset preview" }).waitFor();
  t.check(true, "a dataset output shows its first rows");
  await selectCard("build");
  await side.getByRole("table", { name: "build.model layers" }).waitFor();
  t.check((await side.getByRole("table", { name: "build.model layers" }).locator("tbody tr").count()) === 10, "a model output shows its layers");

  // the downloaded YAML is the saved one, and netsmith run gives the same metrics
  const [dl] = await Promise.all([page.waitForEvent("download"), page.getByRole("button", { name: "Download YAML" }).click()]);
  const file = path.join(t.work, "boston-steps.yaml");
  await dl.saveAs(file);
  const text = fs.readFileSync(file, "utf8");
  const saved = await t.api("GET", "/pipelines/boston-steps");
  t.check(saved.text === text, "the downloaded file is the text saved in the store");
  const r = t.netsmith(["run", file, "--show", "eval", "--threads", "2"], { cwd: t.work });
  t.check(r.status === 0, `netsmith run runs the saved file (${r.stderr.slice(-400)})`);
  const printed = {};
  for (const line of r.stdout.split("\n")) {
    const mm = /^\s+(loss|mse|rmse|mae|r2)\s+(-?[0-9.]+)$/.exec(line);
    if (mm) printed[mm[1]] = mm[2];
  }
  const same = ["loss", "mse", "rmse", "mae", "r2"].every((k) => printed[k] !== undefined && printed[k] === m[k].toFixed(4));
  t.check(same, `the command line's metrics are the UI run's (${JSON.stringify(printed)} vs ${["loss", "rmse", "r2"].map((k) => m[k].toFixed(4))})`);
  t.check(fs.existsSync(path.join(t.work, "boston_steps.safetensors")), "the command line's run wrote the model file");

  // the example opened from disk: 8 cards and the loop at the top, 6 inner cards in it
  await page.getByLabel("Open pipeline file").setInputFiles(path.join(SRC, "examples/pipelines/boston_steps.yaml"));
  await page.getByRole("status").filter({ hasText: "Opened boston_steps.yaml" }).waitFor();
  await page.waitForTimeout(400);
  t.check((await page.locator(".react-flow__node-card").count()) === 14 && (await page.locator(".react-flow__node-loop").count()) === 1,
    "the opened file shows 14 cards and one loop");
  const loopBox = await node("epochs").boundingBox();
  let insideAll = true;
  for (const id of ["batch", "zero", "fwd", "loss", "bwd", "step"]) {
    const b = await node(id).boundingBox();
    insideAll &&= b.x >= loopBox.x && b.y >= loopBox.y && b.x + b.width <= loopBox.x + loopBox.width + 1 && b.y + b.height <= loopBox.y + loopBox.height + 1;
  }
  t.check(insideAll, "the loop's six inner cards are drawn inside it");
  const placed = new Set();
  for (const id of ids) {
    const b = await node(id).boundingBox();
    placed.add(`${Math.round(b.x)},${Math.round(b.y)}`);
  }
  t.check(placed.size === ids.length, "every card of the opened file has its own place");
  await t.shot("opened-example");
  await page.getByRole("button", { name: "Save", exact: true }).click();
  await page.getByRole("status").filter({ hasText: "Saved as boston-steps" }).waitFor();
  const back = await t.api("GET", "/pipelines/boston-steps");
  t.check(isDeepStrictEqual(YAML.parse(back.text), example), "the opened file saved back parses to the same structure");

  // the server's check names the card at fault, and the canvas marks it
  await page.getByRole("button", { name: "New", exact: true }).click();
  await enter("build_model");
  await node("build").waitFor();
  await page.getByRole("button", { name: "Check" }).click();
  const problem = page.getByRole("alert").filter({ hasText: "The check found" });
  await problem.waitFor();
  t.check((await problem.textContent()).includes("needs its input 'model_spec'"), `the check's problem is the server's (${await problem.textContent()})`);
  t.check(await node("build").locator(".card-node.problem").count() === 1, "the card the check names is marked on the canvas");

  // the YAML view reads an edited text back into the canvas
  await page.getByRole("button", { name: "YAML", exact: true }).click();
  const yamlBox = page.getByLabel("Pipeline YAML");
  await yamlBox.fill("pipeline: edited\nseed: 3\ncards:\n  - {id: d, card: model_define, with: {hidden_layers: [8]}}\n");
  await page.getByRole("button", { name: "Apply to the canvas" }).click();
  await node("d").waitFor();
  t.check((await page.getByLabel("Pipeline name").inputValue()) === "edited" && (await page.locator(".react-flow__node").count()) === 1,
    "the edited YAML is the canvas");
  await t.shot("check-and-yaml");

  // a card that fails at run time shows the library's message on the canvas
  fs.writeFileSync(path.join(dataDir, "gaps.csv"), "a,b\n1,2\n3,\n");
  await yamlBox.fill("pipeline: gaps\nseed: 0\ncards:\n  - {id: load, card: data_load, with: {path: gaps.csv}}\n  - {id: split, card: data_split, in: {dataset: load.dataset}}\n");
  await page.getByRole("button", { name: "Apply to the canvas" }).click();
  await node("split").waitFor();
  await page.getByRole("button", { name: "Run", exact: true }).click();
  await jobLine.filter({ hasText: /succeeded|failed/ }).waitFor({ timeout: 60000 });
  t.check((await jobLine.textContent()).includes("failed"), `a job whose card fails has failed (${await jobLine.textContent()})`);
  const failedText = await t.until(async () => {
    const x = await node("load").locator(".node-status").textContent().catch(() => "");
    return /^failed: /.test(x) ? x : null;
  }, 10000, "the failed card's status");
  t.check(failedText.includes("missing value"), `the failed card shows the library's message (${failedText})`);
  await t.shot("failed-card");
}, { serveArgs: ["--data-dir", dataDir] });
