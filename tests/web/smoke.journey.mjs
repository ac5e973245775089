// The frame and the pages' accessibility: every page opens from the navigation (by mouse and by
// keyboard) at its own address, survives a reload, and every control on it has an accessible
// name, as Chromium's accessibility tree computes it (buttons, links, fields, selects, boxes).
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { journey, SRC } from "./harness.mjs";

const CONTROLS = new Set(["button", "link", "textbox", "combobox", "listbox", "checkbox", "radio", "spinbutton", "slider", "switch", "searchbox", "menuitem", "tab"]);

/** The controls on the page that have no accessible name: "role (html tag)" each. */
async function unnamed(page) {
  const cdp = await page.context().newCDPSession(page);
  const { nodes } = await cdp.send("Accessibility.getFullAXTree");
  await cdp.detach();
  return nodes
    .filter((n) => !n.ignored && CONTROLS.has(n.role?.value) && !(n.name?.value ?? "").trim())
    .map((n) => `${n.role.value} #${n.backendDOMNodeId}`);
}

const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "ns-web-smoke-data-"));
fs.mkdirSync(path.join(dataDir, "out")); // where the example pipeline saves its model

journey("smoke", async (t) => {
  const { page } = t;
  // something on every page: an architecture, a model with a version, jobs, a saved pipeline
  await t.api("POST", "/architectures", { name: "seed", spec: JSON.parse(fs.readFileSync(path.join(SRC, "examples/specs/seed.json"), "utf8")) });
  await t.api("POST", "/datasets", { name: "wine", data: "wine" });
  await t.api("POST", "/models", { name: "wine-mlp", architecture: "seed" });
  const job = await t.api("POST", "/jobs", { kind: "train", model: "wine-mlp", dataset: "wine", settings: { epochs: 3 } });
  await t.until(async () => (await t.api("GET", `/jobs/${job.id}`)).state === "succeeded", 60000, "the wine job");
  await t.api("POST", "/pipelines", { name: "wine", pipeline: fs.readFileSync(path.join(SRC, "examples/pipelines/wine.yaml"), "utf8") });

  // the check itself finds a control without a name
  await page.evaluate(() => {
    const b = document.createElement("button");
    b.id = "nameless";
    document.body.append(b);
  });
  t.check((await unnamed(page)).length === 1, "the accessible-name check finds a nameless button");
  await page.evaluate(() => document.getElementById("nameless")?.remove());

  for (const name of ["Architectures", "Models", "Training", "Pipelines", "Tuning"]) {
    await page.getByRole("navigation", { name: "Pages" }).getByRole("link", { name }).click();
    await page.getByRole("heading", { level: 1, name: new RegExp(name) }).waitFor();
    t.check(new URL(page.url()).pathname === "/" + name.toLowerCase(), `${name} has its own address`);
    await page.waitForTimeout(300);
    const bad = await unnamed(page);
    t.check(bad.length === 0, `every control on ${name} has an accessible name (${bad.join(", ")})`);
    await t.shot(name.toLowerCase());
  }
  // the pages that open from a list: an architecture, a model, a job
  for (const [address, what] of [["/architectures/seed", "the architecture editor"], ["/architectures/new?from=seed", "a new architecture"],
    ["/models/wine-mlp", "a model's page"], [`/training/${job.id}`, "a job's details"]]) {
    await page.goto(t.url + address);
    await page.waitForTimeout(800);
    const bad = await unnamed(page);
    t.check(bad.length === 0, `every control on ${what} has an accessible name (${bad.join(", ")})`);
  }

  // the keyboard alone: Tab to the navigation's Training link and Enter follows it
  await page.goto(t.url + "/architectures");
  await page.getByRole("heading", { level: 1, name: /Architectures/ }).waitFor();
  let reached = false;
  for (let i = 0; i < 12 && !reached; i++) {
    await page.keyboard.press("Tab");
    reached = await page.evaluate(() => document.activeElement?.textContent === "Training");
  }
  t.check(reached, "Tab reaches the navigation's links");
  await page.keyboard.press("Enter");
  await page.getByRole("heading", { level: 1, name: "Training" }).waitFor();
  t.check(new URL(page.url()).pathname === "/training", "Enter on a focused link opens its page");

  await page.goto(t.url + "/models");
  await page.getByRole("heading", { level: 1, name: /Models/ }).waitFor();
  t.check(true, "a page's address opens that page after a reload");
  fs.rmSync(dataDir, { recursive: true, force: true });
}, { serveArgs: ["--data-dir", dataDir] });
