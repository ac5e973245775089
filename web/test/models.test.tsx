// The training setup from the run config's schema: where each setting goes, the optimizer's
// and the schedule's settings shown for the chosen one only, the two beta fields, and a setting
// new to the library appearing in "All settings" without code.
import { afterEach, describe, expect, it } from "vitest";
import { cleanup, fireEvent, render, screen, within } from "@testing-library/react";
import { useState } from "react";
import type { JsonSchema, SystemInfo } from "../src/api";
import type { Values } from "../src/components/SchemaForm";
import TrainingSetup from "../src/models/TrainingSetup";
import { blueprintSettings, scopeOf, settingOfPath, shownFor, trainLayout, withBlueprintDefaults } from "../src/models/settings";
import { lineageGraph } from "../src/models/Lineage";

// a part of GET /api/v1/schemas/run-config as the library serves it
const schema: JsonSchema = {
  type: "object",
  properties: {
    optimizer: {"type": "string", "description": "the update rule (default: the blueprint's, else adam)", "enum": ["sgd", "adam", "adamw", "rmsprop"], "default": null},
    learning_rate: {"type": "number", "description": "the (initial) learning rate (default: the blueprint's)", "minimum": 0.0, "maximum": 1000000.0, "default": null},
    weight_decay: {"type": "number", "description": "L2 penalty; decoupled for adamw (default: the blueprint's; adamw 0.01 when it says 0)", "minimum": 0.0, "maximum": 1000000.0, "default": null},
    momentum: {"type": "number", "description": "sgd and rmsprop: momentum in [0, 1)", "minimum": 0.0, "maximum": 0.999999999, "default": 0},
    dampening: {"type": "number", "description": "sgd: dampening of the momentum", "minimum": 0.0, "maximum": 1.0, "default": 0},
    nesterov: {"type": "boolean", "description": "sgd: Nesterov momentum", "default": false},
    betas: {"type": "array", "items": {"type": "number", "minimum": 0.0, "maximum": 0.999999999}, "description": "adam and adamw: the decay rates of the moment averages, two numbers in [0, 1)", "default": [0.9, 0.999]},
    eps: {"type": "number", "description": "adam, adamw and rmsprop: added to the denominator", "minimum": 1e-300, "maximum": 1.0, "default": 1e-08},
    amsgrad: {"type": "boolean", "description": "adam and adamw: the AMSGrad variant", "default": false},
    alpha: {"type": "number", "description": "rmsprop: the smoothing constant", "minimum": 0.0, "maximum": 0.999999999, "default": 0.99},
    centered: {"type": "boolean", "description": "rmsprop: the centered variant", "default": false},
    loss: {"type": "string", "description": "default: the blueprint's, else cross_entropy for class labels and mse otherwise", "enum": ["mse", "mae", "huber", "cross_entropy", "bce"], "default": null},
    reduction: {"type": "string", "description": "average or sum over the batch", "enum": ["mean", "sum"], "default": "mean"},
    huber_delta: {"type": "number", "description": "huber: where it turns linear", "minimum": 1e-12, "maximum": 1000000000000.0, "default": 1.0},
    label_smoothing: {"type": "number", "description": "cross_entropy: in [0, 1]", "minimum": 0.0, "maximum": 1.0, "default": 0},
    schedule: {"type": "string", "description": "how the learning rate changes: per epoch, onecycle per step, plateau on the monitored metric", "enum": ["constant", "step", "multistep", "exponential", "cosine", "warmup", "onecycle", "plateau"], "default": "constant"},
    step_size: {"type": "integer", "description": "step: epochs between drops (default epochs/3)", "minimum": 1.0, "maximum": 1000000000.0, "default": null},
    gamma: {"type": "number", "description": "step, multistep: the drop factor (0.1); exponential: the factor per epoch (0.95)", "minimum": 1e-12, "maximum": 1000000000000.0, "default": null},
    milestones: {"type": "array", "items": {"type": "number", "minimum": 1.0, "maximum": 1000000000.0}, "description": "multistep: the epochs where the rate drops", "default": null},
    t_max: {"type": "integer", "description": "cosine: the epochs of the half period (default epochs)", "minimum": 1.0, "maximum": 1000000000.0, "default": null},
    eta_min: {"type": "number", "description": "cosine: the lowest rate", "minimum": 0.0, "maximum": 1000000.0, "default": 0},
    plateau_patience: {"type": "integer", "description": "plateau: epochs without improvement before a drop", "minimum": 0.0, "maximum": 1000000000.0, "default": 10},
    early_stopping: {"type": "integer", "description": "stop after this many epochs without improvement of monitor (0: off)", "minimum": 0.0, "maximum": 1000000000.0, "default": 0},
    min_delta: {"type": "number", "description": "an improvement must beat the best by more", "minimum": 0.0, "maximum": 1000000000000.0, "default": 0},
    monitor: {"type": "string", "description": "the metric early stopping and plateau watch: val_loss, val_accuracy, loss, val_rmse, ...", "default": "val_loss"},
    restore_best: {"type": "boolean", "description": "end with the weights of the best epoch", "default": false},
    gradient_clip: {"type": "number", "description": "scale gradients to at most this global L2 norm (0: off)", "minimum": 0.0, "maximum": 1000000000000.0, "default": 0},
    epochs: {"type": "integer", "description": "passes over the training rows (default: the blueprint's)", "minimum": 1.0, "maximum": 1000000000.0, "default": null},
    batch_size: {"type": "integer", "description": "rows per step (default: the blueprint's)", "minimum": 1.0, "maximum": 10000000.0, "default": null},
    seed: {"type": "integer", "description": "weights, dropout, split and shuffling (default 0; in a pipeline, the pipeline's seed)", "minimum": 0.0, "maximum": 9.223372036854775e+18, "default": null},
    model: {"description": "the blueprint: a spec file (.json), a trained model file (.safetensors) whose weights are the start, a named blueprint (mlp), or a spec inline"},
    data: {"type": "string", "description": "a built-in dataset name, a CSV file or an IDX images file"},
    target: {"type": "string", "description": "the target column(s) by name or 0-based index, comma-separated (default: the last)", "default": null},
    task: {"type": "string", "description": "auto: text or few integer values make classes, otherwise regression", "enum": ["auto", "classification", "regression"], "default": "auto"},
    threads: {"type": "integer", "description": "threads for training and evaluation (results are the same at any count)", "minimum": 1.0, "maximum": 64.0, "default": null},
    prefetch: {"type": "integer", "description": "batches prepared ahead by a background thread", "minimum": 0.0, "maximum": 1024.0, "default": 0},
    split: {"type": "array", "items": {"type": "number", "minimum": 0.0, "maximum": 1.0}, "description": "train, validation and test ratios (two or three, summing to 1; the test part is the data's official test set when it has one)", "default": [0.7, 0.15, 0.15]},
    freeze: {"type": "array", "items": {"type": "number", "minimum": 0.0, "maximum": 1000000.0}, "description": "training on from a model file: the layers (by their number in the tensor names: 0 is 0.weight and 0.bias) whose weights stay as they are", "default": null},
    new_head: {"type": "boolean", "description": "training on from a model file with another output size than the data's: a new, freshly initialised last layer; the other weights are loaded by name", "default": false},
    resume: {"type": "boolean", "description": "continue from the newest checkpoint in checkpoint_dir (said, and started from the beginning, when there is none yet)", "default": false},
    output: {"type": "string", "description": "the model file to write (default: RUN_DIR/model.safetensors)", "default": null},
  },
};

const system = { workers: { in_process: 2, devices: "cpu" }, devices_built: ["cpu"] } as unknown as SystemInfo;

function Setup({ s = schema, onValues }: { s?: JsonSchema; onValues?: (v: Values) => void }) {
  const [values, setValues] = useState<Values>({});
  const [dataset, setDataset] = useState("boston");
  return (
    <TrainingSetup model="m" schema={withBlueprintDefaults(s, null)} system={system} datasets={[{ name: "boston", source: { data: "boston_housing" }, hash: "", blob: null, created: 0 }]}
      values={values} setValues={(v) => { setValues(v); onValues?.(v); }} dataset={dataset} setDataset={setDataset} onDatasetAdded={() => {}} />
  );
}

describe("the settings' places", () => {
  it("reads the choices a description is scoped to", () => {
    const opt = ["sgd", "adam", "adamw", "rmsprop"];
    expect(scopeOf("sgd: Nesterov momentum", opt)).toEqual(["sgd"]);
    expect(scopeOf("adam, adamw and rmsprop: added to the denominator", opt)).toEqual(["adam", "adamw", "rmsprop"]);
    expect(scopeOf("the (initial) learning rate (default: the blueprint's)", opt)).toBeNull();
    const sched = schema.properties!.schedule.enum!;
    expect(scopeOf(schema.properties!.gamma.description, sched)).toEqual(["step", "multistep", "exponential"]);
    expect(scopeOf(schema.properties!.monitor.description, sched)).toBeNull();
  });
  it("places every setting a job takes, and none it cannot", () => {
    const l = trainLayout(schema);
    expect(l.optimizer).toEqual(["learning_rate", "betas", "eps", "weight_decay", "momentum", "nesterov", "dampening", "amsgrad", "alpha", "centered"]);
    expect(l.length).toEqual(["epochs", "batch_size"]);
    expect(l.schedule[0]).toBe("schedule");
    expect(l.schedule).toContain("step_size");
    expect(l.loss).toEqual(["loss", "reduction", "huber_delta", "label_smoothing"]);
    expect(l.early).toEqual(["early_stopping", "monitor", "min_delta", "restore_best"]);
    expect(l.advanced).toEqual(["threads", "prefetch", "seed"]);
    expect(l.all).toEqual(["gradient_clip", "split"]);
    const everywhere = Object.values(l).flat();
    for (const k of ["model", "data", "target", "task", "resume", "output", "freeze", "new_head"]) expect(everywhere).not.toContain(k);
  });
  it("shows the chosen optimizer's and schedule's settings only", () => {
    const l = trainLayout(schema);
    const adam = shownFor(schema, "optimizer", "adam", l.optimizer);
    expect(adam).toContain("betas");
    expect(adam).not.toContain("momentum");
    expect(adam).not.toContain("nesterov");
    const sgd = shownFor(schema, "optimizer", "sgd", l.optimizer);
    expect(sgd).toEqual(expect.arrayContaining(["learning_rate", "weight_decay", "momentum", "nesterov", "dampening"]));
    expect(sgd).not.toContain("betas");
    expect(shownFor(schema, "schedule", "step", l.schedule)).toEqual(["schedule", "step_size", "gamma"]);
    expect(shownFor(schema, "schedule", "cosine", l.schedule)).toEqual(["schedule", "t_max", "eta_min"]);
    expect(shownFor(schema, "schedule", "constant", l.schedule)).toEqual(["schedule"]);
  });
  it("takes the blueprint's training settings as the defaults it leaves to", () => {
    const short = { hidden_layers: [8], learning_rate: 0.001, epochs: 50, batch_size: 32 };
    expect(blueprintSettings(short)).toEqual({ learning_rate: 0.001, epochs: 50, batch_size: 32 });
    expect(blueprintSettings({ layers: [], training: { epochs: 7, weight_decay: 0 } })).toEqual({ epochs: 7 });
    const s = withBlueprintDefaults(schema, short);
    expect(s.properties!.epochs.default).toBe(50);
    expect(s.properties!.optimizer.default).toBe("adam");
    expect(schema.properties!.epochs.default).toBeNull();
    expect(settingOfPath("settings.betas[1]")).toBe("betas");
    expect(settingOfPath("settings")).toBeNull();
  });
});

describe("the training setup form", () => {
  afterEach(cleanup);
  it("shows momentum and nesterov in the optimizer flyout only for sgd", () => {
    render(<Setup />);
    fireEvent.click(screen.getByRole("button", { name: "Optimizer settings" }));
    const fly = () => screen.getByRole("dialog", { name: "Optimizer settings" });
    expect(within(fly()).queryByLabelText("Momentum")).toBeNull();
    expect(within(fly()).getByLabelText("Beta 1")).toBeTruthy();
    fireEvent.change(screen.getByLabelText("Optimizer"), { target: { value: "sgd" } });
    expect(within(fly()).getByLabelText("Momentum")).toBeTruthy();
    expect(within(fly()).getByLabelText("Nesterov")).toBeTruthy();
    expect(within(fly()).queryByLabelText("Beta 1")).toBeNull();
    fireEvent.change(screen.getByLabelText("Optimizer"), { target: { value: "adamw" } });
    expect(within(fly()).queryByLabelText("Nesterov")).toBeNull();
    fireEvent.mouseDown(screen.getByLabelText("Optimizer"));
    expect(screen.getByRole("dialog", { name: "Optimizer settings" })).toBeTruthy();
    fireEvent.mouseDown(screen.getByLabelText("Epochs"));
    expect(screen.queryByRole("dialog", { name: "Optimizer settings" })).toBeNull();
  });
  it("writes the betas list from the two beta fields", () => {
    let last: Values = {};
    render(<Setup onValues={(v) => (last = v)} />);
    fireEvent.click(screen.getByRole("button", { name: "Optimizer settings" }));
    fireEvent.change(screen.getByLabelText("Beta 2"), { target: { value: "0.99" } });
    expect(last.betas).toEqual([0.9, 0.99]);
    fireEvent.change(screen.getByLabelText("Beta 1"), { target: { value: "0.8" } });
    expect(last.betas).toEqual([0.8, 0.99]);
    fireEvent.change(screen.getByLabelText("Learning rate"), { target: { value: "0.003" } });
    expect(last).toEqual({ betas: [0.8, 0.99], learning_rate: 0.003 });
  });
  it("shows a schedule's own settings when it is chosen", () => {
    render(<Setup />);
    expect(screen.queryByLabelText("Step size")).toBeNull();
    fireEvent.change(screen.getByLabelText("Schedule"), { target: { value: "step" } });
    expect(screen.getByLabelText("Step size")).toBeTruthy();
    expect(screen.queryByLabelText("T max")).toBeNull();
    fireEvent.change(screen.getByLabelText("Schedule"), { target: { value: "cosine" } });
    expect(screen.getByLabelText("T max")).toBeTruthy();
    expect(screen.queryByLabelText("Step size")).toBeNull();
  });
  it("puts a setting new to the library in All settings", () => {
    const grown: JsonSchema = {
      ...schema,
      properties: { ...schema.properties, ema_decay: { type: "number", description: "keep an average of the weights", minimum: 0, maximum: 1, default: 0 } },
    };
    render(<Setup s={grown} />);
    const all = screen.getByText("All settings").closest("details")!;
    expect(within(all).getByLabelText("Ema decay")).toHaveProperty("placeholder", "0");
    expect(within(all).getByLabelText("Gradient clip")).toBeTruthy();
    expect(screen.getAllByLabelText("Ema decay")).toHaveLength(1);
    expect(trainLayout(grown).all).toEqual(["gradient_clip", "split", "ema_decay"]);
  });
  it("refuses a value out of the schema's range before sending", () => {
    render(<Setup />);
    fireEvent.change(screen.getByLabelText("Epochs"), { target: { value: "0" } });
    fireEvent.click(screen.getByRole("button", { name: "Train" }));
    expect(screen.getAllByRole("alert").map((a) => a.textContent).join(" ")).toMatch(/epochs must be at least 1/);
  });
});

describe("the lineage graph", () => {
  it("links versions across models from parent to child", () => {
    const v = (version: number, parent: string | null = null) => ({ version, parent, metrics: { rmse: version } }) as never;
    const models = [
      { name: "a", versions: [v(1), v(2, "b@1")] },
      { name: "b", versions: [v(1, "a@1")] },
      { name: "c", versions: [v(1)] },
    ] as never;
    const g = lineageGraph("a", models);
    expect(g.nodes.map((n) => n.ref)).toEqual(["a@1", "a@2", "b@1"]);
    expect(g.edges).toEqual([{ from: "b@1", to: "a@2" }, { from: "a@1", to: "b@1" }]);
    expect(g.nodes.find((n) => n.ref === "a@2")!.depth).toBe(2);
  });
});

// A version's exports: ONNX and the C source's two files, from the server's /export/{file}.
describe("ExportLinks", () => {
  afterEach(cleanup);
  it("links each export of the version, named after the model and version", async () => {
    const { ExportLinks } = await import("../src/pages/Models");
    render(<ExportLinks model="wine mlp" version={3} />);
    const onnx = screen.getByRole("link", { name: "Export version 3 as ONNX" });
    expect(onnx.getAttribute("href")).toBe("/api/v1/models/wine%20mlp/versions/3/export/wine%20mlp-v3.onnx");
    expect(onnx.getAttribute("download")).toBe("wine mlp-v3.onnx");
    expect(screen.getByRole("link", { name: "Export version 3 as .c" }).getAttribute("href"))
      .toBe("/api/v1/models/wine%20mlp/versions/3/export/wine%20mlp-v3.c");
    expect(screen.getByRole("link", { name: "Export version 3 as .h" }).getAttribute("href"))
      .toBe("/api/v1/models/wine%20mlp/versions/3/export/wine%20mlp-v3.h");
  });
});
