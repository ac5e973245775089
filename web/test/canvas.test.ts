// The canvas's pipeline model and wire check against the server's real card list
// (test/fixtures/cards.json is GET /api/v1/cards): the library's sentence for a wrong wire,
// cycles, a loop's pass-through ports, YAML round trips and the layout of a loaded file.
import { describe, expect, it } from "vitest";
import fs from "node:fs";
import path from "node:path";
import YAML from "yaml";
import { addCard, allCards, boxOf, layout, parsePipeline, renameCard, setWire, toPlain, toYaml, type Sizes } from "../src/canvas/model";
import { candidates, checkWire, defOf, refKind, type Palette } from "../src/canvas/wires";
import { statusText } from "../src/canvas/nodes";

const pal = JSON.parse(fs.readFileSync(path.join(__dirname, "fixtures/cards.json"), "utf8")) as Palette;
const exampleText = fs.readFileSync(path.join(__dirname, "../../examples/pipelines/boston_steps.yaml"), "utf8");
const example = parsePipeline(exampleText);
const sizes: Sizes = { ports: (c) => [defOf(pal, c.card)?.inputs.length ?? 0, defOf(pal, c.card)?.outputs.length ?? 0] };

describe("the wire check", () => {
  it("refuses a wire of the wrong kind with the library's sentence", () => {
    const r = checkWire(pal, example, "define", "model_spec", "optim", "model");
    expect(r).toEqual({
      ok: false,
      message: "init_optimizer 'optim' needs a model on 'model', but 'define.model_spec' is a model_spec: add a build_model card between them",
    });
    const f = checkWire(pal, example, "define", "model_spec", "fwd", "model");
    expect(f.ok).toBe(false);
    if (!f.ok) expect(f.message).toContain("add a build_model card between them");
  });
  it("accepts a wire of the right kind", () => {
    expect(checkWire(pal, example, "build", "model", "optim", "model")).toEqual({ ok: true });
    expect(checkWire(pal, example, "norm", "test_dataset", "eval", "dataset")).toEqual({ ok: true });
  });
  it("refuses a cycle", () => {
    const r = checkWire(pal, example, "optim", "optimizer", "build", "model_spec");
    expect(r.ok).toBe(false); // a kind problem too; a same-kind cycle below
    const p = parsePipeline("pipeline: c\ncards:\n - {id: a, card: zero_grad}\n - {id: b, card: zero_grad, in: {optimizer: a.optimizer}}\n");
    const c = checkWire(pal, p, "b", "optimizer", "a", "optimizer");
    expect(c.ok).toBe(false);
    if (!c.ok) expect(c.message).toMatch(/cycle/);
    const self = checkWire(pal, p, "a", "optimizer", "a", "optimizer");
    expect(self.ok).toBe(false);
  });
  it("knows a loop's pass-through ports and its own ones", () => {
    expect(refKind(pal, example, "epochs.model")).toBe("model");
    expect(refKind(pal, example, "epochs.dataset")).toBe("dataset");
    expect(refKind(pal, example, "epochs.batch_index")).toBe("batch_index");
    expect(checkWire(pal, example, "epochs", "model", "fwd", "model")).toEqual({ ok: true });
    expect(checkWire(pal, example, "epochs", "model", "eval", "model")).toEqual({ ok: true }); // after the loop
    expect(checkWire(pal, example, "epochs", "batch_index", "batch", "batch_index")).toEqual({ ok: true });
    const out = checkWire(pal, example, "epochs", "batch_index", "eval", "model");
    expect(out.ok).toBe(false);
    if (!out.ok) expect(out.message).toContain("exists only inside loop 'epochs'");
    const notWired = checkWire(pal, example, "epochs", "history", "fwd", "model");
    expect(notWired.ok).toBe(false);
    if (!notWired.ok) expect(notWired.message).toContain("passes on only what is wired into it");
    // an inner card's output is not there after the loop
    const inner = checkWire(pal, example, "bwd", "model", "eval", "model");
    expect(inner.ok).toBe(false);
    if (!inner.ok) expect(inner.message).toContain("exists only inside loop 'epochs'");
    // a loop takes any kind on a new input, and passes it on with that kind
    const p = setWire(example, "epochs", "spec", "define.model_spec");
    expect(refKind(pal, p, "epochs.spec")).toBe("model_spec");
    expect(checkWire(pal, example, "define", "model_spec", "epochs", "spec")).toEqual({ ok: true });
  });
  it("lists the outputs an input may take", () => {
    const refs = candidates(pal, example, "fwd", "model").map((c) => c.ref);
    expect(refs).toContain("epochs.model");
    expect(refs).not.toContain("define.model_spec");
    expect(refs).not.toContain("step.model"); // would be a cycle: step depends on fwd
  });
});

describe("the pipeline file", () => {
  it("reads the example's cards, the loop's inner ones under it", () => {
    expect(example.pipeline).toBe("boston-steps");
    expect(example.cards.map((c) => c.id)).toEqual(["load", "split", "norm", "define", "build", "optim", "epochs", "eval", "save"]);
    expect(example.cards[6].cards!.map((c) => c.id)).toEqual(["batch", "zero", "fwd", "loss", "bwd", "step"]);
  });
  it("writes YAML that reads back to the same pipeline and the same structure as the file", () => {
    const text = toYaml(example);
    expect(parsePipeline(text)).toEqual(example);
    expect(YAML.parse(text)).toEqual(YAML.parse(exampleText));
    expect(text).toMatch(/^pipeline: boston-steps\nseed: 0\ncards:\n/);
    expect(text).toContain("with: { hidden_layers: [ 128, 64, 32 ], activation: relu, dropout: 0.2 }");
    expect(toPlain(parsePipeline("pipeline: x\ncards:\n - {id: a, card: data_load}\n"))).toEqual({ pipeline: "x", cards: [{ id: "a", card: "data_load" }] });
  });
  it("renames a card and every wire that names it", () => {
    const p = renameCard(example, "build", "net");
    expect(p.cards.find((c) => c.id === "optim")!.in.model).toBe("net.model");
    expect(p.cards.find((c) => c.id === "epochs")!.in.model).toBe("net.model");
  });
  it("gives new cards the examples' short ids, made unique", () => {
    const a = addCard({ pipeline: "x", cards: [] }, "data_load", null);
    expect(a.id).toBe("load");
    expect(addCard(a.pipeline, "data_load", null).id).toBe("load2");
  });
});

describe("the layout of a loaded file", () => {
  it("puts every card at a distinct place, left to right by dependency depth", () => {
    const pos = layout(example, sizes);
    const abs = (id: string) => {
      const inner = example.cards[6].cards!.some((c) => c.id === id);
      return inner ? { x: pos.epochs.x + pos[id].x, y: pos.epochs.y + pos[id].y } : pos[id];
    };
    const all = allCards(example).map((x) => x.card.id);
    expect(Object.keys(pos).sort()).toEqual([...all].sort());
    expect(new Set(all.map((id) => `${abs(id).x},${abs(id).y}`)).size).toBe(all.length);
    expect(pos.split.x).toBeGreaterThan(pos.load.x);
    expect(pos.epochs.x > pos.optim.x || pos.epochs.y > pos.optim.y).toBe(true); // right of it, or on a band below
    expect(pos.eval.x).toBeGreaterThan(pos.epochs.x);
    expect(pos.fwd.x).toBeGreaterThan(pos.batch.x);
    // the loop holds its inner cards
    const box = boxOf(example.cards[6], sizes, pos);
    for (const c of example.cards[6].cards!) {
      expect(pos[c.id].x + 200).toBeLessThanOrEqual(box.w);
      expect(pos[c.id].y + 60).toBeLessThanOrEqual(box.h);
      expect(pos[c.id].y).toBeGreaterThan(0);
    }
  });
});

describe("a card's status on the canvas", () => {
  it("says running, done with its duration, or failed with its message", () => {
    expect(statusText({ state: "running" })).toBe("running");
    expect(statusText({ state: "running", iteration: 3, iterations: 5 })).toBe("running 3/5");
    expect(statusText({ state: "done", seconds: 0.00024 })).toBe("done 240 µs");
    expect(statusText({ state: "done", seconds: 0.0125 })).toBe("done 13 ms");
    expect(statusText({ state: "done", seconds: 4.24 })).toBe("done 4.2 s");
    expect(statusText({ state: "failed", message: "no such file" })).toBe("failed: no such file");
    expect(statusText({ state: "failed", message: "gaps:4: data_load 'load' failed: gaps.csv: line 3: missing value" })).toBe("failed: gaps.csv: line 3: missing value");
  });
});
