// Where each run setting of the library's schema goes in the training setup. The sections name
// the settings people look for first; a setting that applies to some optimizers, losses or
// schedules only says so in its description ("sgd: Nesterov momentum", "step, multistep: the
// drop factor"), which places it beside its choice; every other setting lands in "All
// settings", so a setting new to the library appears without UI code.
import type { JsonSchema, Spec } from "../api";
import { arrange, type Section } from "../components/SchemaForm";

/** Settings a job cannot take: the job sets them itself, the dataset holds the data-reading
 * ones, the model's architecture holds the blueprint. */
export const NOT_FOR_JOBS = [
  "model", "data", "output", "run_dir", "checkpoint_dir", "resume", "model_config",
  "target", "task", "labels", "features", "exclude", "one_hot", "delimiter", "no_header", "missing", "max_classes",
];
/** Settings of training on from a version: the fine-tune dialog's. */
export const FINETUNE_ONLY = ["freeze", "new_head", "refit_normalization"];

/** The choices of select a description is scoped to ("adam, adamw and rmsprop: ..."; several
 * scopes separated by ";"), or null when it names none. */
export function scopeOf(description: string | undefined, choices: readonly (string | number)[]): string[] | null {
  if (!description) return null;
  const names = new Set(choices.map(String));
  const out: string[] = [];
  for (const part of description.split(";")) {
    const m = /^\s*([A-Za-z0-9_]+(?:\s*(?:,|\band\b)\s*[A-Za-z0-9_]+)*)\s*:/.exec(part);
    if (!m) continue;
    const words = m[1].split(/\s*,\s*|\s+and\s+/).map((w) => w.trim()).filter(Boolean);
    if (words.length && words.every((w) => names.has(w))) out.push(...words);
  }
  return out.length ? [...new Set(out)] : null;
}

/** The settings of schema scoped to choices of the setting selector, in the schema's order. */
export function scopedTo(schema: JsonSchema, selector: string): Record<string, string[]> {
  const props = schema.properties ?? {};
  const choices = props[selector]?.enum ?? [];
  const out: Record<string, string[]> = {};
  if (!choices.length) return out;
  for (const [k, s] of Object.entries(props)) {
    if (k === selector) continue;
    const sc = scopeOf(s.description, choices);
    if (sc) out[k] = sc;
  }
  return out;
}

/** keys without those scoped (to selector) to other choices than value. */
export function shownFor(schema: JsonSchema, selector: string, value: string | null, keys: string[]): string[] {
  const scoped = scopedTo(schema, selector);
  return keys.filter((k) => !(k in scoped) || (value !== null && scoped[k].includes(value)));
}

export interface TrainLayout {
  optimizer: string[]; // the flyout's
  loss: string[];
  length: string[];
  schedule: string[];
  early: string[];
  advanced: string[];
  all: string[];
}

const ORDER_FIRST = ["learning_rate", "betas", "eps", "weight_decay", "momentum", "nesterov"];

/** The sections of the training setup for the schema the server serves. */
export function trainLayout(schema: JsonSchema): TrainLayout {
  const byOpt = Object.keys(scopedTo(schema, "optimizer"));
  const byLoss = Object.keys(scopedTo(schema, "loss"));
  const bySched = Object.keys(scopedTo(schema, "schedule"));
  const optKeys = [...ORDER_FIRST.filter((k) => k === "learning_rate" || k === "weight_decay" || byOpt.includes(k)),
    ...byOpt.filter((k) => !ORDER_FIRST.includes(k))];
  const layout: Section[] = [
    { title: "optimizer", keys: ["optimizer", ...optKeys] },
    { title: "loss", keys: ["loss", "reduction", ...byLoss] },
    { title: "length", keys: ["epochs", "batch_size"] },
    { title: "schedule", keys: ["schedule", ...bySched.filter((k) => !byOpt.includes(k))] },
    { title: "early", keys: ["early_stopping", "monitor", "min_delta", "restore_best"] },
    { title: "advanced", keys: ["device", "threads", "workers", "prefetch", "seed"] },
  ];
  const secs = arrange(schema, layout, "all", [...NOT_FOR_JOBS, ...FINETUNE_ONLY]);
  const get = (t: string) => secs.find((s) => s.title === t)?.keys ?? [];
  return {
    optimizer: get("optimizer").filter((k) => k !== "optimizer"),
    loss: get("loss"),
    length: get("length"),
    schedule: get("schedule"),
    early: get("early"),
    advanced: get("advanced"),
    all: get("all"),
  };
}

/** The blueprint's training settings (short form at the top, layer list under "training"). */
export function blueprintSettings(spec: Spec | null | undefined): Record<string, unknown> {
  if (!spec) return {};
  const t = spec.training;
  const src = typeof t === "object" && t !== null && !Array.isArray(t) ? (t as Record<string, unknown>) : "layers" in spec ? {} : spec;
  const out: Record<string, unknown> = {};
  for (const k of ["optimizer", "learning_rate", "epochs", "batch_size", "loss", "weight_decay"]) {
    const v = src[k];
    if (v !== undefined && v !== null && !(k === "weight_decay" && v === 0)) out[k] = v;
  }
  return out;
}

/** The schema with the blueprint's values as the defaults of settings whose default is "the
 * blueprint's" (null in the library's schema), so the form shows what a job will use. */
export function withBlueprintDefaults(schema: JsonSchema, spec: Spec | null | undefined): JsonSchema {
  const b = blueprintSettings(spec);
  const props: Record<string, JsonSchema> = { ...(schema.properties ?? {}) };
  for (const [k, v] of Object.entries(b))
    if (props[k] && (props[k].default === null || props[k].default === undefined)) props[k] = { ...props[k], default: v };
  if (props.optimizer && (props.optimizer.default === null || props.optimizer.default === undefined) && /else adam/.test(props.optimizer.description ?? ""))
    props.optimizer = { ...props.optimizer, default: "adam" };
  return { ...schema, properties: props };
}

/** The key of the setting a server's error path names ("settings.betas[1]" -> "betas"). */
export function settingOfPath(path: string | null | undefined): string | null {
  const m = /^settings\.([A-Za-z_][A-Za-z0-9_]*)/.exec(path ?? "");
  return m ? m[1] : null;
}

/** The choice a select setting has now: the value set, else its (blueprint's) default. */
export function chosen(schema: JsonSchema, key: string, values: Record<string, unknown>): string | null {
  const v = values[key] ?? schema.properties?.[key]?.default;
  return typeof v === "string" ? v : null;
}
