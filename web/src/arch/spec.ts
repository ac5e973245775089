// A model spec as a layer stack and back: the pure half of the architecture editor.
// A layer-list spec ({input?, layers, training?}) maps one to one onto the stack; a short-form
// spec (hidden_layers, ...) is shown as the layer list the library expands it to, and becomes
// that list, with its own training settings kept, when a layer is edited.
import type { JsonSchema, Spec } from "../api";

export type Layer = { type: string } & Record<string, unknown>;

/** The seed blueprint of examples/specs/seed.json, the built-in template. */
export const SEED_SPEC: Spec = {
  model_type: "deep_neural_network",
  hidden_layers: [128, 64, 32],
  activation: "relu",
  dropout: 0.2,
  learning_rate: 0.001,
  epochs: 50,
  batch_size: 32,
};

export const EMPTY_SPEC: Spec = { layers: [{ type: "linear", units: 64 }, { type: "relu" }, { type: "linear", units: 1 }] };

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/** A spec without a layer list (the short form the library expands). */
export function isShortForm(spec: Spec): boolean {
  return !("layers" in spec);
}

/** The spec's layers as a stack, or null when it has no list of layer objects. */
export function specToStack(spec: Spec): Layer[] | null {
  const layers = spec.layers;
  if (!Array.isArray(layers)) return null;
  if (!layers.every((l) => isObject(l) && typeof l.type === "string")) return null;
  return layers.map((l) => ({ ...(l as Layer) }));
}

/** The spec with its layer list replaced by the stack (its other members kept, in order). */
export function stackToSpec(base: Spec, layers: Layer[]): Spec {
  const out: Spec = {};
  if ("input" in base) out.input = base.input;
  out.layers = layers.map((l) => ({ ...l }));
  for (const [k, v] of Object.entries(base)) if (k !== "input" && k !== "layers") out[k] = v;
  return out;
}

/** A short-form spec turned into its layer list (from the library's layer_form), keeping the
 * training settings the short form itself set (not the defaults the expansion adds). */
export function toLayerForm(short: Spec, layerForm: Spec): Spec {
  const layers = specToStack(layerForm) ?? [];
  const expanded = isObject(layerForm.training) ? layerForm.training : {};
  const own = isObject(short.training) ? short.training : {};
  const training: Record<string, unknown> = {};
  for (const k of Object.keys(expanded)) {
    const v = k in own ? own[k] : short[k];
    if (v !== undefined && v !== null) training[k] = v;
  }
  const out: Spec = {};
  if (Array.isArray(layerForm.input)) out.input = layerForm.input;
  out.layers = layers;
  if (Object.keys(training).length) out.training = training;
  return out;
}

export function moveLayer(layers: Layer[], i: number, delta: number): Layer[] {
  const j = i + delta;
  if (i < 0 || i >= layers.length || j < 0 || j >= layers.length) return layers;
  const out = [...layers];
  [out[i], out[j]] = [out[j], out[i]];
  return out;
}

export function removeLayer(layers: Layer[], i: number): Layer[] {
  return layers.filter((_, k) => k !== i);
}

/** The example the library's description of a kind gives ('e.g. {"type": "linear", "units": 64}'). */
export function exampleOf(schema: JsonSchema | undefined): Record<string, unknown> {
  const m = /e\.g\.\s*(\{[^}]*\})/.exec(schema?.description ?? "");
  if (!m) return {};
  try {
    const v = JSON.parse(m[1]) as unknown;
    return isObject(v) ? v : {};
  } catch {
    return {};
  }
}

/** A new layer of kind: its required settings from the library's example. */
export function newLayer(kind: string, schema: JsonSchema | undefined): Layer {
  const ex = exampleOf(schema);
  const layer: Layer = { type: kind };
  for (const k of schema?.required ?? []) if (k !== "type" && k in ex) layer[k] = ex[k];
  return layer;
}

/** The layer as another kind: the settings both kinds have are kept. */
export function changeKind(layer: Layer, kind: string, schema: JsonSchema | undefined): Layer {
  const next = newLayer(kind, schema);
  const props = schema?.properties ?? {};
  for (const [k, v] of Object.entries(layer)) if (k !== "type" && k in props) next[k] = v;
  return next;
}

/** The layer a message or path names ("spec.layers[3].units", "layers[0] (linear): ..."). */
export function layerOfProblem(path: string | null | undefined, message?: string): { index: number; key: string | null } | null {
  for (const s of [path ?? "", message ?? ""]) {
    const m = /layers\[(\d+)\](?:\.([A-Za-z_][A-Za-z0-9_]*))?/.exec(s);
    if (m) return { index: Number(m[1]), key: m[2] ?? null };
  }
  return null;
}

/** JSON on one line with a space after each comma and colon. */
export function compact(v: unknown): string {
  if (Array.isArray(v)) return "[" + v.map(compact).join(", ") + "]";
  if (isObject(v)) return "{" + Object.entries(v).map(([k, x]) => JSON.stringify(k) + ": " + compact(x)).join(", ") + "}";
  return JSON.stringify(v) ?? "null";
}

/** The text of the JSON view: one layer a line, the rest indented as usual. */
export function formatSpec(spec: Spec): string {
  const keys = Object.keys(spec);
  if (keys.length === 0) return "{}";
  const lines = keys.map((k) => {
    const v = spec[k];
    if (k === "layers" && Array.isArray(v) && v.length > 0)
      return `  ${JSON.stringify(k)}: [\n${v.map((l) => "    " + compact(l)).join(",\n")}\n  ]`;
    const one = compact(v);
    return `  ${JSON.stringify(k)}: ${one.length <= 72 ? one : JSON.stringify(v, null, 2).replace(/\n/g, "\n  ")}`;
  });
  return "{\n" + lines.join(",\n") + "\n}";
}

/** The JSON view's text as a spec, or the reason it is not one. */
export function parseSpec(text: string): { spec: Spec } | { error: string } {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    return { error: (e as Error).message };
  }
  if (!isObject(v)) return { error: "the spec must be a JSON object, e.g. {\"layers\": [...]}" };
  return { spec: v };
}

export interface Sizes {
  /** "size" (a feature count) or "shape" (C,H,W for images) */
  input: "size" | "shape";
  size: string;
  shape: string;
  output: string;
}

/** The query of a check for the sizes (the spec's own input wins over the chosen one). */
export function sizeQuery(sizes: Sizes, spec: Spec): Record<string, string> {
  const q: Record<string, string> = {};
  const own = Array.isArray(spec.input) ? (spec.input as unknown[]) : null;
  if (own && own.length === 1) q.input_size = String(own[0]);
  else if (own) q.input_shape = own.join(",");
  else {
    if (sizes.input === "size" && sizes.size.trim()) q.input_size = sizes.size.trim();
    if (sizes.input === "shape" && sizes.shape.trim()) q.input_shape = sizes.shape.replace(/[\s×x]+/g, ",").replace(/,+/g, ",").replace(/^,|,$/g, "");
  }
  if (sizes.output.trim()) q.output_size = sizes.output.trim();
  return q;
}

/** A short description of a spec for the list: "short form 128-64-32" or "10 layers". */
export function formOf(spec: Spec): string {
  if (isShortForm(spec)) {
    const h = Array.isArray(spec.hidden_layers) ? spec.hidden_layers.join("-") : "";
    return `short form${h ? " " + h : ""}`;
  }
  const n = Array.isArray(spec.layers) ? spec.layers.length : 0;
  return `${n} layer${n === 1 ? "" : "s"}`;
}
