// From the seed blueprint to a trained, downloaded and fine-tuned model: the Architectures
// editor (stack, JSON view, the library's check and shapes), Convert To Model, the model's
// training setup (data source, optimizer flyout, advanced settings), Train, the versions with
// their metrics, the download checked by `netsmith eval`, and a fine-tune in the lineage.
import fs from "node:fs";
import path from "node:path";
import { spawnSync } from "node:child_process";
import { journey } from "./harness.mjs";

const SEED_PARAMS = 13 * 128 + 128 + 128 * 64 + 64 + 64 * 32 + 32 + 32 * 1 + 1; // 12161

journey("models", async (t) => {
  const { page } = t;
  const specText = async () => JSON.parse(await page.getByLabel("Spec JSON").inputValue());
  const kinds = async () => {
    const out = [];
    for (let i = 1; ; i++) {
      const s = page.getByLabel(`Layer ${i} kind`, { exact: true });
      if ((await s.count()) === 0) return out;
      out.push(await s.inputValue());
    }
  };

  // the list, then the seed blueprint in the editor
  await page.getByRole("navigation", { name: "Pages" }).getByRole("link", { name: "Architectures" }).click();
  await page.getByRole("heading", { level: 1, name: "Architectures" }).waitFor();
  await page.getByRole("button", { name: "New from the seed blueprint" }).click();
  await page.getByRole("heading", { level: 1, name: "New architecture" }).waitFor();
  t.check((await page.getByLabel("Input size").inputValue()) === "13", "the input size starts at 13");
  await page.getByLabel("Output size").fill("1");
  await page.getByLabel("Layer 10 kind", { exact: true }).waitFor();
  const seedKinds = await kinds();
  t.check(JSON.stringify(seedKinds) === JSON.stringify(["linear", "relu", "dropout", "linear", "relu", "dropout", "linear", "relu", "dropout", "linear"]),
    `the seed shows as 10 layers (${seedKinds.join(", ")})`);
  const layer = (n) => page.getByRole("group", { name: `Layer ${n}`, exact: true });
  t.check((await layer(1).getByLabel("Units").inputValue()) === "128", "layer 1 is linear 128");
  t.check((await layer(10).getByLabel("Units").inputValue()) === "1", "layer 10 is linear 1 for output size 1");
  const shapes = page.getByRole("table", { name: "Layer shapes" });
  await shapes.waitFor();
  const total = await shapes.locator(".total-params").textContent();
  t.check(total === SEED_PARAMS.toLocaleString("en-US"), `the shapes table totals ${SEED_PARAMS} params (${total})`);
  t.check((await shapes.getByRole("row").nth(2).textContent()).includes("128"), "the first layer's output shape is 128");
  const seedJson = await specText();
  t.check(seedJson.hidden_layers?.length === 3, "the JSON view shows the short form as it is");
  await t.shot("editor-shapes");

  // stack edits rewrite the JSON (the short form becomes its layer list, training kept)
  await page.getByRole("button", { name: "Move layer 3 up" }).click();
  let json = await specText();
  t.check(json.layers?.length === 10 && json.layers[1].type === "dropout" && json.layers[2].type === "relu", "moving layer 3 up reorders the JSON's layers");
  t.check(json.training?.learning_rate === 0.001 && json.training?.epochs === 50 && json.training?.batch_size === 32, "the seed's training settings are kept");
  await page.getByRole("button", { name: "Move layer 2 down" }).click();
  json = await specText();
  t.check(json.layers[1].type === "relu" && json.layers[2].type === "dropout", "moving layer 2 down puts it back");
  await page.getByRole("button", { name: "Remove layer 9" }).click();
  json = await specText();
  t.check(json.layers.length === 9 && json.layers[7].type === "relu" && json.layers[8].type === "linear", "removing layer 9 (a dropout) leaves 9 layers in the JSON");
  await page.getByLabel("New layer kind").selectOption("dropout");
  await page.getByRole("button", { name: "Add layer" }).click();
  json = await specText();
  t.check(json.layers.length === 10 && json.layers[9].type === "dropout", "an added dropout layer ends the JSON's layers");
  await page.getByLabel("Layer 10 kind", { exact: true }).selectOption("leaky_relu");
  json = await specText();
  t.check(json.layers[9].type === "leaky_relu", "a kind changed in the stack is the JSON's");
  await page.getByLabel("Layer 10 kind", { exact: true }).selectOption("dropout");
  await layer(10).getByLabel("Drop rate (p)").fill("0.2");
  await page.getByRole("button", { name: "Move layer 10 up" }).click();
  json = await specText();
  t.check(JSON.stringify(json.layers.map((l) => l.type)) === JSON.stringify(seedKinds) && json.layers[8].p === 0.2,
    `moving it up restores the seed's order (${json.layers.map((l) => l.type).join(",")})`);
  await t.until(async () => (await shapes.locator(".total-params").textContent()) === "12,161", 5000, "the total params again");

  // a wrong setting: the library's message, with its layer marked
  await layer(4).getByLabel("Units").fill("0");
  const alert = page.locator("div.error").filter({ hasText: "layers[3].units" });
  await alert.waitFor();
  const msg = await alert.textContent();
  t.check(/expected a positive integer, got 0/.test(msg), `the library's message is shown (${msg})`);
  t.check((await page.locator("li.layer.has-problem").count()) === 1 && (await layer(4).getByLabel("Units").getAttribute("aria-invalid")) === "true",
    "the layer the message names is marked");
  await t.shot("editor-error");
  await layer(4).getByLabel("Units").fill("64");
  await shapes.waitFor();
  t.check((await page.locator("li.layer.has-problem").count()) === 0, "fixing it clears the mark");

  // the JSON view edits the stack back; a broken JSON says why
  const good = await page.getByLabel("Spec JSON").inputValue();
  await page.getByLabel("Spec JSON").fill(good.replace('"units": 32', '"unitz": 32'));
  await page.locator("div.error").filter({ hasText: "did you mean 'units'" }).waitFor();
  t.check(true, "a bad key typed in the JSON gets the library's did-you-mean");
  await page.getByLabel("Spec JSON").fill(good.replace('"units": 32', '"units": 48'));
  await t.until(async () => (await layer(7).getByLabel("Units").inputValue()) === "48", 3000, "the stack to follow the JSON");
  t.check(true, "editing the JSON rewrites the stack");
  await page.getByLabel("Spec JSON").fill(good.slice(0, -3));
  await page.getByText(/^Not JSON:/).waitFor();
  t.check((await page.getByRole("button", { name: "Save architecture" }).isDisabled()), "an unparsable JSON cannot be saved");
  await page.getByLabel("Spec JSON").fill(good);
  await shapes.waitFor();
  t.check((await shapes.locator(".total-params").textContent()) === "12,161", "the JSON restored gives 12,161 params again");

  // save, then Convert To Model
  await page.getByLabel("Name", { exact: true }).fill("seed-mlp");
  await page.getByRole("button", { name: "Save architecture" }).click();
  await page.getByRole("heading", { level: 1, name: "seed-mlp" }).waitFor();
  const arch = await t.api("GET", "/architectures/seed-mlp");
  t.check(arch.spec.layers?.length === 10 && arch.spec.training?.epochs === 50, "the architecture is saved with its 10 layers and training settings");
  t.check((await page.getByLabel("Name", { exact: true }).getAttribute("readonly")) !== null, "a saved architecture's name is read-only");
  // another spec under a taken name is refused with a clear word
  await layer(7).getByLabel("Units").fill("40");
  t.check((await page.getByLabel("Name", { exact: true }).inputValue()) === "seed-mlp-2", "editing a saved one proposes a new name");
  t.check(await page.getByRole("button", { name: "Convert To Model" }).isDisabled(), "Convert To Model waits for the edits to be saved");
  await page.getByLabel("Name", { exact: true }).fill("seed-mlp");
  await page.getByRole("button", { name: "Save architecture" }).click();
  const taken = await page.locator("div.error").filter({ hasText: "taken by another spec" }).textContent();
  t.check(/choose a new name/.test(taken), `a taken name says so (${taken})`);
  await layer(7).getByLabel("Units").fill("32");
  await page.getByRole("button", { name: "Convert To Model" }).click();
  const dialog = page.getByRole("dialog", { name: "Convert To Model" });
  await dialog.getByLabel("Model name").fill("boston-mlp");
  await dialog.getByRole("button", { name: "Create model" }).click();
  await page.getByRole("heading", { level: 1, name: "boston-mlp" }).waitFor();
  t.check(new URL(page.url()).pathname === "/models/boston-mlp", "Convert To Model opens the model's page");
  t.check((await t.api("GET", "/models/boston-mlp")).arch === "seed-mlp", "the model is of seed-mlp");

  // the list of architectures
  await page.goto(t.url + "/architectures");
  const archRow = page.getByRole("table", { name: "Architectures" }).getByRole("row", { name: /seed-mlp/ });
  await t.until(async () => /12,161/.test(await archRow.textContent()), 5000, "the list's parameter count");
  t.check(/10 layers/.test(await archRow.textContent()), "the list shows seed-mlp with 10 layers and 12,161 params");
  await t.shot("architectures-list");

  // an image input: the shapes for C,H,W
  await page.getByRole("button", { name: "New architecture" }).click();
  await page.getByRole("heading", { level: 1, name: "New architecture" }).waitFor();
  await page.getByLabel("image").check();
  await page.getByLabel("Input shape").fill("1,28,28");
  await page.getByLabel("Output size").fill("10");
  await page.getByLabel("Spec JSON").fill(JSON.stringify({ layers: [{ type: "conv2d", filters: 8, kernel: 3 }, { type: "relu" }, { type: "flatten" }, { type: "linear", units: 10 }] }));
  await t.until(async () => (await shapes.locator(".total-params").textContent().catch(() => "")) === "54,170", 5000, "the conv net's params");
  t.check((await shapes.getByRole("row").nth(2).textContent()).includes("8 × 26 × 26"), "a 3x3 conv2d of 8 filters on 1x28x28 gives 8 × 26 × 26");
  t.check((await layer(1).getByLabel("Filters").inputValue()) === "8", "the JSON's conv layer is in the stack");

  // the models list opens the model with the keyboard
  await page.getByRole("navigation", { name: "Pages" }).getByRole("link", { name: "Models" }).click();
  const modelRow = page.getByRole("table", { name: "Models" }).getByRole("row", { name: /boston-mlp/ });
  await modelRow.waitFor();
  t.check(/seed-mlp/.test(await modelRow.textContent()) && /not trained yet/.test(await modelRow.textContent()), "the models list shows boston-mlp of seed-mlp, not trained yet");
  await t.shot("models-list");
  await modelRow.focus();
  await page.keyboard.press("Enter");
  await page.getByRole("heading", { level: 1, name: "boston-mlp" }).waitFor();

  // the training setup
  const setup = page.getByRole("form", { name: "Training setup" });
  await setup.waitFor();
  await setup.getByRole("button", { name: "Register a built-in dataset" }).click();
  const reg = page.getByRole("dialog", { name: "Register a built-in dataset" });
  await reg.getByLabel("Built-in dataset").selectOption("boston_housing");
  await reg.getByLabel("Dataset name").fill("boston");
  await reg.getByLabel("Dataset name").press("Enter");
  await reg.waitFor({ state: "hidden" });
  t.check((await t.api("GET", "/datasets/boston")).source.data === "boston_housing", "the built-in dataset is registered");
  await setup.getByLabel("Data Source").selectOption("boston");
  const opts = await setup.getByLabel("Optimizer", { exact: true }).locator("option").allTextContents();
  t.check(["adam", "adamw", "sgd", "rmsprop"].every((o) => opts.includes(o)), `the optimizers are the schema's (${opts.join(", ")})`);
  await setup.getByLabel("Optimizer", { exact: true }).selectOption("sgd");
  await setup.getByRole("button", { name: "Optimizer settings" }).click();
  const fly = page.getByRole("dialog", { name: "Optimizer settings" });
  t.check((await fly.getByLabel("Momentum").count()) === 1 && (await fly.getByLabel("Nesterov").count()) === 1, "sgd's settings include momentum and nesterov");
  t.check((await fly.getByLabel("Beta 1").count()) === 0, "sgd has no betas");
  await setup.getByLabel("Optimizer", { exact: true }).selectOption("adam");
  t.check((await fly.getByLabel("Momentum").count()) === 0 && (await fly.getByLabel("Nesterov").count()) === 0, "adam's settings have no momentum or nesterov");
  for (const f of ["Learning rate", "Beta 1", "Beta 2", "Epsilon", "Weight decay"])
    t.check((await fly.getByLabel(f, { exact: true }).count()) === 1, `the optimizer flyout has ${f}`);
  t.check((await fly.getByLabel("Learning rate").getAttribute("placeholder")) === "0.001", "the learning rate's placeholder is the blueprint's");
  await fly.getByLabel("Learning rate").fill("0.003");
  await fly.getByLabel("Beta 2").fill("0.99");
  await t.shot("optimizer-flyout");
  await page.keyboard.press("Escape");
  await fly.waitFor({ state: "hidden" });
  await setup.getByLabel("Epochs").fill("20");
  await setup.getByLabel("Batch Size").fill("16");
  await setup.getByLabel("Schedule", { exact: true }).selectOption("step");
  t.check((await setup.getByLabel("Step size").count()) === 1 && (await setup.getByLabel("T max").count()) === 0, "the step schedule shows its own settings only");
  await setup.getByLabel("Schedule", { exact: true }).selectOption("cosine");
  t.check((await setup.getByLabel("T max").count()) === 1 && (await setup.getByLabel("Step size").count()) === 0, "the cosine schedule shows t_max, not step_size");
  await setup.getByLabel("Schedule", { exact: true }).selectOption("");
  await setup.getByLabel("Patience").fill("5");
  await t.shot("model-training-setup");
  await setup.getByRole("button", { name: "Advanced Settings" }).click();
  const adv = page.getByRole("dialog", { name: "Advanced Settings" });
  const devices = await adv.getByLabel("Device").locator("option").allTextContents();
  t.check(devices.includes("cpu") && !devices.includes("cuda"), `the device choices are the server's (${devices.join(", ")})`);
  t.check((await adv.getByLabel("Workers").inputValue()) === "1", "the server's worker count is shown");
  await adv.getByLabel("Prefetch factor").fill("2");
  await adv.getByLabel("Threads").fill("1");
  await t.shot("advanced-settings");
  await adv.getByRole("button", { name: "Done" }).click();
  await adv.waitFor({ state: "hidden" });

  // the client's check, then the server's: a bad value is shown at its field
  const all = page.locator("details.all-settings");
  await all.locator("summary").click();
  await all.getByLabel("Gradient clip").fill("-1");
  await setup.getByRole("button", { name: "Train", exact: true }).click();
  await page.locator("div.error").filter({ hasText: "gradient_clip must be at least 0" }).first().waitFor();
  t.check((await t.api("GET", "/jobs")).total === 0, "a value the schema refuses is not sent");
  await all.getByLabel("Gradient clip").fill("");
  await all.getByLabel("Split").fill("0.5, 0.2");
  await setup.getByRole("button", { name: "Train", exact: true }).click();
  const srv = await page.locator("div.error").filter({ hasText: "Not queued" }).textContent();
  t.check(/split/.test(srv), `the server's message about split is shown (${srv})`);
  await all.getByLabel("Split").fill("");

  await setup.getByRole("button", { name: "Train", exact: true }).click();
  const note = page.getByRole("status").filter({ hasText: /Job \d+ queued/ });
  await note.waitFor();
  const id = Number(/Job (\d+) queued/.exec(await note.textContent())[1]);
  t.check((await note.getByRole("link").getAttribute("href")) === `/training/${id}`, "the queued note links to the job's Training page");
  const job = await t.api("GET", `/jobs/${id}`);
  const cfg = job.params.config;
  t.check(job.kind === "train" && job.params.model === "boston-mlp" && job.params.data === "boston", "the job trains boston-mlp on boston");
  t.check(cfg.learning_rate === 0.003 && cfg.optimizer === "adam" && cfg.epochs === 20, `the job has learning_rate 0.003, adam, 20 epochs (${JSON.stringify(cfg)})`);
  t.check(cfg.batch_size === 16 && cfg.prefetch === 2 && cfg.threads === 1 && cfg.early_stopping === 5, "batch size, prefetch, threads and patience are sent");
  t.check(JSON.stringify(cfg.betas) === "[0.9,0.99]", `the two beta fields write betas (${JSON.stringify(cfg.betas)})`);
  t.check(!("schedule" in cfg) && !("momentum" in cfg), "settings left empty are left out");
  const done = await t.until(async () => {
    const j = await t.api("GET", `/jobs/${id}`);
    if (j.state === "failed" || j.state === "cancelled") throw new Error(`job ${id} ${j.state}: ${j.error}`);
    return j.state === "succeeded" ? j : null;
  }, 120000, `job ${id} to succeed`);
  t.check(done.result?.version === 1, "the job made version 1");
  await t.until(async () => /succeeded: version 1/.test(await note.textContent()), 10000, "the queued note to follow the job");
  t.check(true, "the queued note follows the job to its version");
  const rows = page.getByRole("table", { name: "Versions" }).getByRole("row");
  await t.until(async () => /rmse/.test(await rows.nth(1).textContent()), 10000, "the versions table to update by itself");
  t.check(true, "the versions table shows the new version without a reload");
  await t.shot("job-succeeded");

  // the version with its metrics, downloaded and checked by netsmith eval
  await page.reload();
  const versions = page.getByRole("table", { name: "Versions" });
  const v1 = versions.getByRole("row").nth(1);
  await v1.waitFor();
  const v1text = await v1.textContent();
  const model = await t.api("GET", "/models/boston-mlp");
  const rmse = model.versions[0].metrics.rmse;
  t.check(/rmse/.test(v1text) && v1text.includes(String(Number(rmse.toPrecision(4)))), `version 1 shows its rmse ${rmse} (${v1text})`);
  const [download] = await Promise.all([page.waitForEvent("download"), page.getByRole("link", { name: "Download version 1" }).click()]);
  t.check(download.suggestedFilename() === "boston-mlp-v1.safetensors", `the download is named boston-mlp-v1.safetensors (${download.suggestedFilename()})`);
  const file = path.join(t.work, "boston-mlp-v1.safetensors");
  await download.saveAs(file);
  t.check(fs.statSync(file).size > 1000, "the downloaded file has the weights");
  const ev = t.netsmith(["eval", file, "--data", "boston_housing"]);
  t.check(ev.status === 0 && /rmse\s+[0-9.]+/.test(ev.stdout), `netsmith eval reads the download (${ev.status}: ${ev.stdout.trim().split("\n").slice(0, 3).join(" / ")} ${ev.stderr})`);
  // its exports: the ONNX file and the C source, which compiles as a user's build would
  const [onnxDl] = await Promise.all([page.waitForEvent("download"), page.getByRole("link", { name: "Export version 1 as ONNX" }).click()]);
  t.check(onnxDl.suggestedFilename() === "boston-mlp-v1.onnx", `the ONNX export is named boston-mlp-v1.onnx (${onnxDl.suggestedFilename()})`);
  const onnxFile = path.join(t.work, "boston-mlp-v1.onnx");
  await onnxDl.saveAs(onnxFile);
  t.check(fs.readFileSync(onnxFile).includes("netsmith"), "the ONNX export is a netsmith ONNX model");
  for (const ext of ["c", "h"]) {
    const [dl] = await Promise.all([page.waitForEvent("download"), page.getByRole("link", { name: `Export version 1 as .${ext}` }).click()]);
    await dl.saveAs(path.join(t.work, `boston-mlp-v1.${ext}`));
  }
  const cc = spawnSync("cc", ["-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic", "-c", "boston-mlp-v1.c", "-o", "boston-mlp-v1.o"], { cwd: t.work, encoding: "utf8" });
  t.check(cc.status === 0, `the C export compiles (${cc.stderr})`);

  // the job on the Training page: its plots, its settings, Retrain (the live epoch ratio of a
  // running job is watched in training.journey.mjs, on a network slow enough to read twice)
  await page.goto(`${t.url}/models/boston-mlp`);
  await page.goto(`${t.url}/training`);
  const complete = page.getByRole("table", { name: "Complete" });
  await complete.getByRole("row").filter({ hasText: `#${id}` }).click();
  const details = page.getByRole("region", { name: `Job ${id}` });
  const loss = details.getByRole("img", { name: "Loss" });
  await loss.waitFor();
  t.check(Number(await loss.getAttribute("data-points")) === done.epoch, `the job's Loss plot has a point per epoch run (${await loss.getAttribute("data-points")} of ${done.epoch})`);
  const used = details.getByRole("table", { name: "Settings used" });
  t.check(/learning_rate\s*0\.003/.test(await used.textContent()), "the job's settings show learning_rate 0.003");
  await t.shot("job-plots");
  await details.getByRole("button", { name: "Retrain" }).click();
  await page.waitForURL((u) => /^\/training\/\d+$/.test(u.pathname) && u.pathname !== `/training/${id}`);
  const again = Number(new URL(page.url()).pathname.split("/").pop());
  t.check(again !== id, `Retrain opens the new job (${again})`);
  const redone = await t.until(async () => {
    const j = await t.api("GET", `/jobs/${again}`);
    if (j.state === "failed" || j.state === "cancelled") throw new Error(`job ${again} ${j.state}: ${j.error}`);
    return j.state === "succeeded" ? j : null;
  }, 120000, `the retrained job ${again} to succeed`);
  t.check(JSON.stringify(redone.params) === JSON.stringify(job.params), "the retrained job has the first one's settings");
  await complete.getByRole("row").filter({ hasText: `#${again}` }).waitFor();
  t.check(redone.result?.version === 2, "the retrained job made version 2");
  await page.goto(`${t.url}/models/boston-mlp`);
  await page.getByRole("table", { name: "Versions" }).getByRole("row").nth(2).waitFor();

  // a fine-tune from the model's page, shown in the lineage
  await setup.getByLabel("Epochs").fill("5");
  await page.getByRole("button", { name: "Fine-tune" }).click();
  const ft = page.getByRole("dialog", { name: /Fine-tune boston-mlp/ });
  t.check((await ft.getByLabel("From version").inputValue()) === "2", "the fine-tune starts from the latest version");
  await ft.getByLabel("From version").selectOption("1"); // the first one, to see its lineage
  await ft.getByLabel("Destination model").fill("boston-mlp-ft");
  await ft.getByLabel("Dataset").selectOption("boston");
  await ft.getByLabel("Freeze layers").fill("0");
  await t.shot("finetune-dialog");
  await ft.getByRole("button", { name: "Start fine-tune" }).click();
  const ftNote = page.getByRole("status").filter({ hasText: /queued \(finetune\)/ });
  await ftNote.waitFor();
  const ftId = Number(/Job (\d+) queued/.exec(await ftNote.textContent())[1]);
  const ftJob = await t.api("GET", `/jobs/${ftId}`);
  t.check(ftJob.kind === "finetune" && ftJob.params.from === "boston-mlp@1" && ftJob.params.to === "boston-mlp-ft" && JSON.stringify(ftJob.params.freeze) === "[0]",
    `the fine-tune job goes from boston-mlp@1 to boston-mlp-ft, freezing layer 0 (${JSON.stringify(ftJob.params)})`);
  t.check(ftJob.params.config?.epochs === 5, "the fine-tune takes the training setup's settings");
  await t.until(async () => {
    const j = await t.api("GET", `/jobs/${ftId}`);
    if (j.state === "failed" || j.state === "cancelled") throw new Error(`job ${ftId} ${j.state}: ${j.error}`);
    return j.state === "succeeded";
  }, 120000, `fine-tune job ${ftId} to succeed`);
  await page.reload();
  const lineage = page.getByRole("group", { name: "Lineage" });
  await lineage.waitFor();
  t.check((await lineage.locator('[data-ref="boston-mlp-ft@1"]').count()) === 1, "the lineage shows the fine-tuned version boston-mlp-ft@1");
  t.check((await lineage.locator('[data-edge="boston-mlp@1->boston-mlp-ft@1"]').count()) === 1, "the lineage links boston-mlp@1 to boston-mlp-ft@1");
  t.check((await lineage.getByRole("link", { name: "boston-mlp-ft@1, fine-tuned from boston-mlp@1" }).count()) === 1, "the new node names its parent");
  await t.shot("versions-lineage");
  // the fine-tuned model's own page shows its parent
  await lineage.getByRole("link", { name: /boston-mlp-ft@1/ }).click();
  await page.getByRole("heading", { level: 1, name: "boston-mlp-ft" }).waitFor();
  t.check(/boston-mlp@1/.test(await page.getByRole("table", { name: "Versions" }).getByRole("row").nth(1).textContent()), "the fine-tuned version's parent is boston-mlp@1");
});
