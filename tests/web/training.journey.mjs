// The Training page: a job watched live from In Progress to Complete, its details (curves,
// settings), Retrain, Download model checked with the CLI, Cancel, a job failing on the
// worker with its error, keyboard opening, a classification job's confusion matrix, and the
// tables' "Show more".
import fs from "node:fs";
import path from "node:path";
import { journey, SRC } from "./harness.mjs";

const rowOf = (table, id) => table.getByRole("row", { name: new RegExp(`^#${id}\\b`) });

journey("training", async (t) => {
  const { page } = t;
  const seed = JSON.parse(fs.readFileSync(path.join(SRC, "examples/specs/seed.json"), "utf8"));
  // the seed blueprint made wider so that 40 epochs take seconds, long enough to watch
  await t.api("POST", "/architectures", { name: "seed-wide", spec: { ...seed, hidden_layers: [512, 512, 256] } });
  await t.api("POST", "/architectures", { name: "seed", spec: seed });
  await t.api("POST", "/datasets", { name: "boston", data: "boston_housing" });
  await t.api("POST", "/datasets", { name: "wine", data: "wine" });
  await t.api("POST", "/models", { name: "boston-mlp", architecture: "seed-wide" });
  await t.api("POST", "/models", { name: "wine-mlp", architecture: "seed" });

  await page.getByRole("navigation", { name: "Pages" }).getByRole("link", { name: "Training" }).click();
  await page.getByRole("heading", { level: 1, name: "Training" }).waitFor();
  const queued = page.getByRole("table", { name: "Queued" });
  const inProgress = page.getByRole("table", { name: "In Progress" });
  const complete = page.getByRole("table", { name: "Complete" });
  const failed = page.getByRole("table", { name: "Failed" });
  await complete.waitFor();
  t.check(await queued.isVisible() && await failed.isVisible(), "the four tables are there");

  // ---- a job watched live ----------------------------------------------------------------
  const settings = { epochs: 40, learning_rate: 0.003, batch_size: 4 };
  const first = await t.api("POST", "/jobs", { kind: "train", model: "boston-mlp", dataset: "boston", settings });
  const running = rowOf(inProgress, first.id);
  await running.waitFor();
  t.check(await inProgress.getByRole("columnheader", { name: "Current Epoch Ratio" }).isVisible(), "In Progress has a Current Epoch Ratio column");
  const ratio = running.locator(".ratio-text");
  const spark = running.getByRole("img", { name: `loss curve of job ${first.id}` });
  await t.until(async () => /^[1-9]\d*\/40$/.test(await ratio.textContent()), 20000, "a first epoch in the ratio");
  const r1 = await ratio.textContent();
  const p1 = Number(await spark.getAttribute("data-points"));
  await t.until(async () => (await ratio.textContent()) !== r1, 20000, "the ratio to advance");
  const r2 = await ratio.textContent();
  const p2 = Number(await spark.getAttribute("data-points"));
  t.check(Number(r2.split("/")[0]) > Number(r1.split("/")[0]), `the Current Epoch Ratio grew live (${r1} then ${r2})`);
  t.check(p2 > p1 && p1 >= 1, `the sparkline's points grew (${p1} then ${p2})`);
  t.check(await running.locator(".progress").isVisible(), "the row shows a progress bar");
  await t.until(async () => Number(await spark.getAttribute("data-points")) >= 4, 20000, "a few points in the sparkline");
  await t.shot("in-progress");

  const done = rowOf(complete, first.id);
  await done.waitFor({ timeout: 60000 });
  t.check(await rowOf(inProgress, first.id).count() === 0, "the finished job left In Progress");
  t.check(/succeeded/.test(await done.textContent()) && /loss/.test(await done.textContent()), "the Complete row shows its state and final loss");
  await t.shot("complete");

  // ---- its details ------------------------------------------------------------------------
  await done.click();
  await page.waitForURL(`**/training/${first.id}`);
  const details = page.getByRole("region", { name: `Job ${first.id}` });
  await details.getByRole("heading", { name: `Job ${first.id}` }).waitFor();
  const loss = details.getByRole("img", { name: "Loss", exact: true });
  await loss.waitFor();
  t.check(Number(await loss.getAttribute("data-points")) === 40, `the Loss plot has one point per epoch (${await loss.getAttribute("data-points")})`);
  t.check(await details.getByRole("img", { name: "rmse", exact: true }).isVisible(), "an rmse plot is there");
  const lrRow = details.getByRole("table", { name: "Settings used" }).getByRole("row", { name: /learning_rate/ });
  t.check(/0\.003\b/.test(await lrRow.textContent()), `the settings show learning_rate 0.003 (${await lrRow.textContent()})`);
  await t.shot("details");

  // ---- Download model, checked with the CLI -------------------------------------------------
  const link = details.getByRole("link", { name: "Download model" });
  const [download] = await Promise.all([page.waitForEvent("download"), link.click()]);
  t.check(/^boston-mlp-v1\.safetensors$/.test(download.suggestedFilename()), `the download is named ${download.suggestedFilename()}`);
  const file = path.join(t.work, download.suggestedFilename());
  await download.saveAs(file);
  const ev = t.netsmith(["eval", file, "--data", "boston_housing"]);
  t.check(ev.status === 0 && /rmse|r2|mse/i.test(ev.stdout), `netsmith eval reads the downloaded model (${ev.status}: ${ev.stdout.trim().slice(0, 200)} ${ev.stderr.slice(0, 200)})`);

  // ---- Retrain ------------------------------------------------------------------------------
  await details.getByRole("button", { name: "Retrain" }).click();
  await page.waitForURL((u) => /\/training\/\d+$/.test(u.pathname) && !u.pathname.endsWith(`/${first.id}`));
  const second = Number(new URL(page.url()).pathname.split("/").pop());
  t.check(second > first.id, `Retrain opened the new job #${second}`);
  // its details grow live while it runs
  const liveLoss = page.getByRole("region", { name: `Job ${second}` }).getByRole("img", { name: "Loss", exact: true });
  await liveLoss.waitFor({ timeout: 20000 });
  const n1 = Number(await liveLoss.getAttribute("data-points"));
  if (n1 < 40) {
    await t.until(async () => Number(await liveLoss.getAttribute("data-points")) > n1, 20000, "the details' Loss plot to grow");
    t.check(true, `the open job's Loss plot grew live from ${n1} points`);
    await t.shot("details-live");
  } else t.check(false, "the retrained job ran too fast to watch its details grow");
  await rowOf(complete, second).waitFor({ timeout: 60000 });
  const again = await t.api("GET", `/jobs/${second}`);
  const orig = await t.api("GET", `/jobs/${first.id}`);
  t.check(again.state === "succeeded", `the retrained job succeeded (${again.state})`);
  t.check(JSON.stringify(again.params) === JSON.stringify(orig.params), `the retrained job's params equal the first's (${JSON.stringify(again.params)})`);

  // ---- Cancel -------------------------------------------------------------------------------
  const long = await t.api("POST", "/jobs", { kind: "train", model: "boston-mlp", dataset: "boston", settings: { epochs: 2000, batch_size: 4 } });
  const longRow = rowOf(inProgress, long.id).or(rowOf(queued, long.id));
  await longRow.first().click();
  const longDetails = page.getByRole("region", { name: `Job ${long.id}` });
  await longDetails.getByRole("button", { name: "Cancel" }).click();
  const cancelled = rowOf(failed, long.id);
  await cancelled.waitFor({ timeout: 30000 });
  t.check(/cancelled/.test(await cancelled.textContent()), "the cancelled job sits in Failed with its state");
  t.check((await t.api("GET", `/jobs/${long.id}`)).state === "cancelled", "the API says cancelled");
  t.check(await longDetails.getByRole("button", { name: "Cancel" }).count() === 0, "no Cancel on a cancelled job");

  // ---- a job that fails on the worker -------------------------------------------------------
  const bad = await t.api("POST", "/jobs", { kind: "train", model: "boston-mlp", dataset: "boston", settings: { epochs: 2, target: "PRICE" } });
  const badRow = rowOf(failed, bad.id);
  await badRow.waitFor({ timeout: 30000 });
  await badRow.click();
  const badDetails = page.getByRole("region", { name: `Job ${bad.id}` });
  const alert = badDetails.getByRole("alert", { name: "Error" });
  await alert.waitFor();
  const apiError = (await t.api("GET", `/jobs/${bad.id}`)).error;
  t.check(!!apiError && (await alert.textContent()).includes(apiError), `the details show the worker's error (${apiError})`);
  t.check(/no column named "PRICE"/.test(await alert.textContent()), "the error names the missing column");
  await t.shot("failed");

  // ---- keyboard -----------------------------------------------------------------------------
  await rowOf(complete, first.id).focus();
  await page.keyboard.press("Enter");
  await page.waitForURL(`**/training/${first.id}`);
  t.check(await page.getByRole("region", { name: `Job ${first.id}` }).isVisible(), "Enter on a focused row opens its details");
  await page.getByRole("region", { name: `Job ${first.id}` }).getByRole("button", { name: "Retrain" }).focus();
  await page.keyboard.press("Escape");
  await page.waitForURL((u) => u.pathname === "/training");
  t.check(await page.getByRole("region", { name: `Job ${first.id}` }).count() === 0, "Escape closes the details");

  // ---- classification: accuracy curves and the confusion matrix -----------------------------
  const wine = await t.api("POST", "/jobs", { kind: "train", model: "wine-mlp", dataset: "wine", settings: { epochs: 5 } });
  await rowOf(complete, wine.id).waitFor({ timeout: 30000 });
  await rowOf(complete, wine.id).click();
  const wineDetails = page.getByRole("region", { name: `Job ${wine.id}` });
  t.check(Number(await wineDetails.getByRole("img", { name: "accuracy", exact: true }).getAttribute("data-points")) === 5, "the wine job has an accuracy plot of 5 epochs");
  // a train job's confusion matrix: its version's, on the held-out test part
  const trainMatrix = wineDetails.getByRole("table", { name: "Confusion matrix" });
  await trainMatrix.waitFor();
  const version = (await t.api("GET", "/models/wine-mlp")).versions.at(-1);
  const trainRows = [];
  for (let r = 1; r <= 3; r++) trainRows.push((await trainMatrix.getByRole("row").nth(r).getByRole("cell").allTextContents()).map(Number));
  t.check(JSON.stringify(trainRows) === JSON.stringify(version.metrics.confusion_matrix),
    `the train job shows its version's confusion matrix (${JSON.stringify(trainRows)} vs ${JSON.stringify(version.metrics.confusion_matrix)})`);
  t.check(trainRows.flat().reduce((a, b) => a + b, 0) === version.metrics.n, "the train job's matrix counts the test part's rows");
  const evalJob = await t.api("POST", "/jobs", { kind: "evaluate", model: "wine-mlp", dataset: "wine" });
  await rowOf(complete, evalJob.id).waitFor({ timeout: 30000 });
  await rowOf(complete, evalJob.id).click();
  const matrix = page.getByRole("region", { name: `Job ${evalJob.id}` }).getByRole("table", { name: "Confusion matrix" });
  await matrix.waitFor();
  const heads = await matrix.getByRole("columnheader").allTextContents();
  t.check(JSON.stringify(heads.slice(1)) === JSON.stringify(["0", "1", "2"]), `the confusion matrix has the three classes (${heads.join(", ")})`);
  const cm = (await t.api("GET", `/jobs/${evalJob.id}`)).result.metrics.confusion_matrix;
  const firstRow = await matrix.getByRole("row").nth(1).getByRole("cell").allTextContents();
  t.check(JSON.stringify(firstRow.map(Number)) === JSON.stringify(cm[0]), `its first row matches the API (${firstRow} vs ${cm[0]})`);
  await t.shot("confusion");

  // ---- a pipeline job: its train card's curves and its evaluate card's confusion matrix ------
  const yaml = fs.readFileSync(path.join(SRC, "examples/pipelines/wine.yaml"), "utf8")
    .replace("epochs: 60", "epochs: 4").split("  - id: save")[0]; // this server writes no files
  await t.api("POST", "/pipelines", { name: "wine-p", pipeline: yaml });
  const pj = await t.api("POST", "/pipelines/wine-p/run", {});
  await rowOf(complete, pj.id).waitFor({ timeout: 30000 });
  await rowOf(complete, pj.id).click();
  const pDetails = page.getByRole("region", { name: `Job ${pj.id}` });
  const pMatrix = pDetails.getByRole("table", { name: "Confusion matrix" });
  await pMatrix.waitFor();
  t.check((await pMatrix.getByRole("columnheader").count()) === 4, "the pipeline's evaluate card gives a 3-class confusion matrix");
  t.check(Number(await pDetails.getByRole("img", { name: "Loss", exact: true }).getAttribute("data-points")) === 4, "the pipeline's train card gives a Loss plot of 4 epochs");
  const pCells = await rowOf(complete, pj.id).getByRole("cell").allTextContents();
  t.check(pCells[2] === "wine-p" && pCells[3] === "wine", `the pipeline row names its pipeline and its data (${pCells.join(" | ")})`);
  await t.shot("pipeline");

  // ---- many jobs: a table shows 20, "Show more" adds more ------------------------------------
  for (let i = 0; i < 20; i++) await t.api("POST", "/jobs", { kind: "evaluate", model: "wine-mlp", dataset: "wine" });
  await t.until(async () => (await t.api("GET", "/jobs?state=succeeded&limit=1")).total >= 25, 60000, "the evaluate jobs to finish");
  const more = page.getByRole("button", { name: "Show more complete jobs" });
  await more.waitFor({ timeout: 15000 });
  t.check(await complete.locator("tbody tr").count() === 20, "the Complete table shows 20 rows at first");
  await more.click();
  await t.until(async () => (await complete.locator("tbody tr").count()) >= 25, 10000, "more rows after Show more");
  t.check(await complete.locator("tbody tr").count() >= 25, "Show more lists the rest");
});
