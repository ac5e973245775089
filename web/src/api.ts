// The JSON API (/api/v1) as typed calls. The browser is logged in by the session cookie the
// one-time login link sets; every failure comes back as an ApiError carrying the server's
// {"error": {status, code, message, path}} and, for checks, its "problems".

export interface Problem {
  message: string;
  path?: string | null;
  line?: number | null;
  column?: number | null;
  card?: string | null;
  card_type?: string | null;
}

export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly path: string | null;
  readonly problems: Problem[];
  constructor(status: number, code: string, message: string, path: string | null, problems: Problem[] = []) {
    super(message);
    this.status = status;
    this.code = code;
    this.path = path;
    this.problems = problems;
  }
}

export const API = "/api/v1";

export interface CallOptions {
  query?: Record<string, string | number | boolean | undefined | null>;
  contentType?: string;
  signal?: AbortSignal;
}

function url(path: string, query?: CallOptions["query"]): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(query ?? {}))
    if (v !== undefined && v !== null && v !== "") q.set(k, String(v));
  const s = q.toString();
  return API + path + (s ? "?" + s : "");
}

/** One call: the answer's JSON (undefined for 204), or an ApiError. */
export async function call<T>(method: string, path: string, body?: unknown, opts: CallOptions = {}): Promise<T> {
  const headers: Record<string, string> = { Accept: "application/json" };
  let payload: BodyInit | undefined;
  if (body !== undefined) {
    if (typeof body === "string" || body instanceof Blob || body instanceof ArrayBuffer) {
      headers["Content-Type"] = opts.contentType ?? "text/plain";
      payload = body as BodyInit;
    } else {
      headers["Content-Type"] = "application/json";
      payload = JSON.stringify(body);
    }
  }
  let res: Response;
  try {
    res = await fetch(url(path, opts.query), { method, headers, body: payload, credentials: "same-origin", signal: opts.signal });
  } catch (e) {
    if ((e as Error).name === "AbortError") throw e;
    throw new ApiError(0, "network", "the server cannot be reached: " + (e as Error).message, null);
  }
  if (res.status === 204) return undefined as T;
  const text = await res.text();
  let data: unknown = undefined;
  try {
    data = text ? JSON.parse(text) : undefined;
  } catch {
    if (!res.ok) throw new ApiError(res.status, "http", text.slice(0, 300) || res.statusText, null);
    throw new ApiError(res.status, "format", "the server's answer is not JSON", null);
  }
  if (!res.ok) {
    const d = data as { error?: { code?: string; message?: string; path?: string | null }; problems?: Problem[] } | undefined;
    const err = d?.error;
    throw new ApiError(res.status, err?.code ?? "http", err?.message ?? res.statusText, err?.path ?? null, d?.problems ?? []);
  }
  return data as T;
}

export const get = <T>(path: string, query?: CallOptions["query"]) => call<T>("GET", path, undefined, { query });
export const post = <T>(path: string, body?: unknown, opts?: CallOptions) => call<T>("POST", path, body ?? {}, opts);
export const put = <T>(path: string, body?: unknown, opts?: CallOptions) => call<T>("PUT", path, body ?? {}, opts);
export const del = <T>(path: string) => call<T>("DELETE", path);

/** A list answer: {"items", "total", "offset", "limit"}. */
export interface List<T> {
  items: T[];
  total: number;
  offset: number;
  limit: number;
}

/** Every item of a list route, page by page. */
export async function getAll<T>(path: string, query: CallOptions["query"] = {}, limit = 500): Promise<T[]> {
  const out: T[] = [];
  for (let offset = 0; ; offset += limit) {
    const page = await get<List<T>>(path, { ...query, offset, limit });
    out.push(...page.items);
    if (page.items.length === 0 || out.length >= page.total) return out;
  }
}

/** The link that downloads a path of the API (the cookie goes with it). */
export const href = (path: string, query?: CallOptions["query"]) => url(path, query);

// ---- the registry's objects -------------------------------------------------------------

/** A JSON schema as the library writes them (a subset). */
export interface JsonSchema {
  type?: string | string[];
  description?: string;
  enum?: (string | number)[];
  default?: unknown;
  minimum?: number;
  maximum?: number;
  items?: JsonSchema;
  aliases?: string[];
  properties?: Record<string, JsonSchema>;
  required?: string[];
  additionalProperties?: boolean;
  title?: string;
}

export type Spec = Record<string, unknown>;

export interface Architecture {
  name: string;
  hash: string;
  spec: Spec;
  created: number;
}

export interface LayerRow {
  index: number;
  kind: string;
  shape: number[];
  size: number;
  params: number;
}

export interface ArchCheck {
  ok: boolean;
  input_shape?: number[];
  layers?: LayerRow[];
  params?: number;
  layer_form?: Spec;
}

export interface Dataset {
  name: string;
  source: Record<string, unknown>;
  hash: string;
  blob: string | null;
  created: number;
}

export type Metrics = Record<string, number>;

export interface Version {
  version: number;
  weights: string;
  record: string;
  job: number | null;
  parent: string | null;
  metrics: Metrics | null;
  created: number;
  ref: string;
  lineage: string[];
  aliases: string[];
}

export interface Model {
  name: string;
  arch: string;
  created: number;
  versions: Version[];
  aliases: Record<string, number>;
}

export type JobState = "queued" | "running" | "succeeded" | "failed" | "cancelled";

export interface EpochMetrics {
  epoch: number;
  train?: Metrics;
  val?: Metrics;
  [k: string]: unknown;
}

export interface Job {
  id: number;
  kind: string;
  state: JobState | string;
  priority: number;
  attempts: number;
  worker: string;
  epoch: number;
  epochs: number;
  cancel_requested: boolean;
  params: Record<string, unknown>;
  metrics: (EpochMetrics & Record<string, unknown>) | null;
  error: string | null;
  checkpoint: unknown;
  result: Record<string, unknown> | null;
  created: number;
  started: number;
  finished: number;
  history: { epoch: number; metrics: EpochMetrics }[];
  progress: number;
}

export interface SystemInfo {
  version: string;
  kernel_path: string;
  threads: number;
  cpus: number;
  store: { backend: string; schema: number; last_event: number };
  workers: { in_process: number; devices: string };
  data_dirs: string[];
  url: string;
  devices_built: string[];
}

// ---- the tuner's studies ---------------------------------------------------------------

export type TrialState = "running" | "paused" | "complete" | "pruned" | "failed";

/** A trial's settings, as the study's space chose them (absent when a `when` left one out). */
export type TrialParams = Record<string, unknown>;

/** A study as GET /api/v1/studies lists it. */
export interface StudySummary {
  name: string;
  state: "running" | "complete" | string;
  /** the trials so far */
  trial_count: number;
  budget: number;
  complete: number;
  pruned: number;
  paused: number;
  running: number;
  failed: number;
  best_value: number | null;
  best_trial: number | null;
  metric: string;
  direction: "minimize" | "maximize";
  sampler: string;
  pruner: string;
  created: number;
  updated: number;
  model: { name: string; version: number } | null;
}

export interface Trial {
  number: number;
  state: TrialState | string;
  params: TrialParams;
  value: number | null;
  job: number;
  /** the objective's value after each epoch (index 0: epoch 1), null where none */
  steps: (number | null)[];
  epoch: number;
  attempts: number;
}

export interface StudyImportance {
  method: string;
  /** the complete trials it was computed from */
  trials: number;
  importances: { setting: string; importance: number }[];
}

/** A study's definition (the study file as JSON). */
export interface StudyDefinition {
  study: string;
  base: Record<string, unknown>;
  objective: { metric: string; direction: "minimize" | "maximize" };
  trials: number;
  parallel: number;
  sampler: { type: string; [k: string]: unknown };
  pruner: { type: string; [k: string]: unknown };
  space: Record<string, Record<string, unknown>>;
}

/** One study in full (GET /api/v1/studies/{name}): the list's fields and the trials. */
export interface Study extends StudySummary {
  definition: StudyDefinition;
  trials: Trial[];
  best: { number: number; value: number; params: TrialParams; job: number } | null;
  importance: StudyImportance;
}
