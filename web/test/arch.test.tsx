// The architecture editor's stack and its JSON: a spec to a stack and back, reordering,
// removing, adding and changing a layer's kind, a short form taken over from the library's
// expansion with its own training settings, problems mapped to their layer, and the stack
// component's buttons.
import { afterEach, describe, expect, it } from "vitest";
import { cleanup, fireEvent, render, screen, within } from "@testing-library/react";
import { useState } from "react";
import type { JsonSchema } from "../src/api";
import LayerStack from "../src/arch/LayerStack";
import {
  changeKind, exampleOf, formatSpec, formOf, isShortForm, layerOfProblem, moveLayer, newLayer, parseSpec, removeLayer,
  SEED_SPEC, sizeQuery, specToStack, stackToSpec, toLayerForm, type Layer,
} from "../src/arch/spec";

// a part of GET /api/v1/schemas/layers as the library serves it
const schemas: Record<string, JsonSchema> = {
  linear: {
    type: "object", required: ["type", "units"],
    properties: { type: {}, units: { type: "integer", minimum: 1, description: "a positive integer" }, bias: { type: "boolean", default: true } },
    description: "\"units\" (its number of output features), e.g. {\"type\": \"linear\", \"units\": 64}",
  },
  relu: { type: "object", required: ["type"], properties: { type: {} } },
  dropout: { type: "object", required: ["type"], properties: { type: {}, p: { type: "number", default: 0.5, minimum: 0, description: "a number in [0, 1)" } } },
  conv2d: {
    type: "object", required: ["type", "filters", "kernel"],
    properties: { type: {}, filters: { type: "integer", minimum: 1 }, kernel: { description: "a positive integer" }, bias: { type: "boolean", default: true } },
    description: "\"filters\" (its number of output channels) and \"kernel\", e.g. {\"type\": \"conv2d\", \"filters\": 32, \"kernel\": 3}",
  },
};

// what POST /architectures/check answers for the seed as layer_form (input 13, output 1)
const seedLayerForm = {
  input: null,
  layers: [
    { type: "linear", units: 128, bias: true }, { type: "relu" }, { type: "dropout", p: 0.2 },
    { type: "linear", units: 64, bias: true }, { type: "relu" }, { type: "dropout", p: 0.2 },
    { type: "linear", units: 32, bias: true }, { type: "relu" }, { type: "dropout", p: 0.2 },
    { type: "linear", units: 1, bias: true },
  ],
  training: { learning_rate: 0.001, epochs: 50, batch_size: 32, optimizer: "adam", loss: null, weight_decay: 0, task: "auto" },
};

describe("stack and spec", () => {
  it("maps a layer list one to one and back, keeping the other members", () => {
    const spec = { input: [1, 28, 28], layers: [{ type: "conv2d", filters: 8, kernel: 3 }, { type: "relu" }], training: { epochs: 3 } };
    const stack = specToStack(spec)!;
    expect(stack).toEqual(spec.layers);
    expect(stackToSpec(spec, stack)).toEqual(spec);
    expect(Object.keys(stackToSpec(spec, stack))).toEqual(["input", "layers", "training"]);
    const edited = stackToSpec(spec, [...stack, { type: "linear", units: 10 }]);
    expect(edited.layers).toHaveLength(3);
    expect(edited.training).toEqual({ epochs: 3 });
    expect(spec.layers).toHaveLength(2); // not changed in place
  });
  it("has no stack for a short form or a list of non-layers", () => {
    expect(isShortForm(SEED_SPEC)).toBe(true);
    expect(specToStack(SEED_SPEC)).toBeNull();
    expect(specToStack({ layers: [3, 4] })).toBeNull();
    expect(formOf(SEED_SPEC)).toBe("short form 128-64-32");
    expect(formOf(seedLayerForm)).toBe("10 layers");
  });
  it("takes a short form over from the library's expansion, with its own training settings", () => {
    const spec = toLayerForm(SEED_SPEC, seedLayerForm);
    expect(spec.layers).toEqual(seedLayerForm.layers);
    expect(spec.training).toEqual({ learning_rate: 0.001, epochs: 50, batch_size: 32 });
    expect("input" in spec).toBe(false);
  });
  it("reorders, removes, adds and changes layers", () => {
    const s: Layer[] = specToStack(seedLayerForm)!;
    const up = moveLayer(s, 2, -1);
    expect(up.slice(0, 3).map((l) => l.type)).toEqual(["linear", "dropout", "relu"]);
    expect(moveLayer(up, 1, 1)).toEqual(s);
    expect(moveLayer(s, 0, -1)).toBe(s);
    expect(moveLayer(s, 9, 1)).toBe(s);
    const removed = removeLayer(s, 8);
    expect(removed).toHaveLength(9);
    expect(removed[8]).toEqual({ type: "linear", units: 1, bias: true });
    expect(exampleOf(schemas.conv2d)).toEqual({ type: "conv2d", filters: 32, kernel: 3 });
    expect(newLayer("linear", schemas.linear)).toEqual({ type: "linear", units: 64 });
    expect(newLayer("relu", schemas.relu)).toEqual({ type: "relu" });
    expect(changeKind({ type: "linear", units: 5, bias: false }, "conv2d", schemas.conv2d)).toEqual({ type: "conv2d", filters: 32, kernel: 3, bias: false });
    expect(changeKind({ type: "linear", units: 5 }, "relu", schemas.relu)).toEqual({ type: "relu" });
  });
  it("writes the JSON view one layer a line and reads it back", () => {
    const text = formatSpec({ layers: [{ type: "linear", units: 4 }, { type: "relu" }], training: { epochs: 3 } });
    expect(text).toBe('{\n  "layers": [\n    {"type": "linear", "units": 4},\n    {"type": "relu"}\n  ],\n  "training": {"epochs": 3}\n}');
    expect(parseSpec(text)).toEqual({ spec: { layers: [{ type: "linear", units: 4 }, { type: "relu" }], training: { epochs: 3 } } });
    expect(parseSpec(formatSpec(seedLayerForm))).toEqual({ spec: seedLayerForm });
    expect("error" in parseSpec('{"layers": [')).toBe(true);
    expect(parseSpec("[1]")).toEqual({ error: expect.stringMatching(/JSON object/) });
  });
  it("finds the layer a problem names", () => {
    expect(layerOfProblem("spec.layers[3].units", "")).toEqual({ index: 3, key: "units" });
    expect(layerOfProblem("spec.layers[0]", "")).toEqual({ index: 0, key: null });
    expect(layerOfProblem(null, "layers[2] (linear): expects a flat feature vector")).toEqual({ index: 2, key: null });
    expect(layerOfProblem("spec.training.learning_rat", "spec: training.learning_rat: unknown key")).toBeNull();
  });
  it("asks for the chosen sizes, the spec's own input first", () => {
    const sizes = { input: "size" as const, size: "13", shape: "1, 28, 28", output: "1" };
    expect(sizeQuery(sizes, {})).toEqual({ input_size: "13", output_size: "1" });
    expect(sizeQuery({ ...sizes, input: "shape" }, {})).toEqual({ input_shape: "1,28,28", output_size: "1" });
    expect(sizeQuery(sizes, { input: [3, 32, 32] })).toEqual({ input_shape: "3,32,32", output_size: "1" });
    expect(sizeQuery({ ...sizes, input: "shape" }, { input: [20] })).toEqual({ input_size: "20", output_size: "1" });
    expect(sizeQuery({ ...sizes, output: "" }, {})).toEqual({ input_size: "13" });
  });
});

function Stack({ start, onLayers }: { start: Layer[]; onLayers: (l: Layer[]) => void }) {
  const [layers, setLayers] = useState(start);
  return <LayerStack layers={layers} schemas={schemas} onChange={(l) => { setLayers(l); onLayers(l); }}
    problem={{ index: 0, key: "units", message: "spec: layers[0].units: expected a positive integer, got 0" }} />;
}

describe("the layer stack", () => {
  afterEach(cleanup);
  it("edits, moves, removes and adds layers with labelled controls", () => {
    let last: Layer[] = [];
    render(<Stack start={[{ type: "linear", units: 0 }, { type: "relu" }]} onLayers={(l) => (last = l)} />);
    const first = screen.getByRole("group", { name: "Layer 1" });
    expect(within(first).getByLabelText("Units").getAttribute("aria-invalid")).toBe("true");
    expect(first.closest("li")!.className).toContain("has-problem");
    fireEvent.change(within(first).getByLabelText("Units"), { target: { value: "16" } });
    expect(last[0]).toEqual({ type: "linear", units: 16 });
    expect(Object.keys(last[0])[0]).toBe("type");
    expect(screen.getByRole("button", { name: "Move layer 1 up" })).toHaveProperty("disabled", true);
    fireEvent.click(screen.getByRole("button", { name: "Move layer 1 down" }));
    expect(last.map((l) => l.type)).toEqual(["relu", "linear"]);
    expect(document.activeElement?.getAttribute("aria-label")).toBe("Move layer 2 up"); // the moved layer's (down is disabled at the end)
    fireEvent.change(screen.getByLabelText("New layer kind"), { target: { value: "dropout" } });
    fireEvent.click(screen.getByRole("button", { name: "Add layer" }));
    expect(last.map((l) => l.type)).toEqual(["relu", "linear", "dropout"]);
    fireEvent.change(screen.getByLabelText("Layer 3 kind"), { target: { value: "linear" } });
    expect(last[2]).toEqual({ type: "linear", units: 64 });
    fireEvent.click(screen.getByRole("button", { name: "Remove layer 1" }));
    expect(last.map((l) => l.type)).toEqual(["linear", "linear"]);
    expect(screen.queryByRole("group", { name: "Layer 3" })).toBeNull();
  });
});
