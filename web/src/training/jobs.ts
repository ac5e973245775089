// The Training page's job cache: the jobs the lists returned, kept in a Map by id so that a
// live event updates its job in O(1), grouped into the page's four tables when drawn.
import type { EpochMetrics, Job, JobState, Metrics } from "../api";
import type { ServerEvent } from "../events";
import { parse } from "yaml";

export type Group = "queued" | "running" | "complete" | "failed";
export const GROUPS: Group[] = ["queued", "running", "complete", "failed"];
export const STATES: JobState[] = ["queued", "running", "succeeded", "failed", "cancelled"];

/** The table a job's state puts it in (cancelled jobs sit with the failed ones). */
export function groupOf(state: string): Group {
  if (state === "queued") return "queued";
  if (state === "running") return "running";
  if (state === "succeeded") return "complete";
  return "failed";
}

/** The states a table lists. */
export function statesOf(group: Group): JobState[] {
  return group === "complete" ? ["succeeded"] : group === "failed" ? ["failed", "cancelled"] : [group];
}

export type Totals = Record<JobState, number>;
export const noTotals = (): Totals => ({ queued: 0, running: 0, succeeded: 0, failed: 0, cancelled: 0 });

export interface JobCache {
  byId: Map<number, Job>;
  /** how many jobs of each state the store holds (from the lists, kept up by events) */
  totals: Totals;
  /** when an event last changed a job (performance.now()), so an older list answer loses */
  touched: Map<number, number>;
}

export const emptyCache = (): JobCache => ({ byId: new Map(), totals: noTotals(), touched: new Map() });

function count(totals: Totals, state: string, by: number): void {
  if (state in totals) totals[state as JobState] = Math.max(0, totals[state as JobState] + by);
}

/**
 * Puts a job (a fresh answer of GET /jobs/{id}) in the cache, moving its count if its state
 * changed; `isNew` says whether a job the cache lacks is new to the store (counted) or an old
 * one the lists left out.
 */
export function putJob(c: JobCache, job: Job, isNew = true): void {
  const old = c.byId.get(job.id);
  if (!old) {
    if (isNew) count(c.totals, job.state, 1);
  } else if (old.state !== job.state) {
    count(c.totals, old.state, -1);
    count(c.totals, job.state, 1);
  }
  // an answer fetched before the last epoch event may lack that epoch
  if (old && old.history.length > job.history.length && old.state === job.state) job = { ...job, history: old.history, epoch: old.epoch };
  c.byId.set(job.id, job);
}

/**
 * Applies one server event. Returns what happened: whether a job changed, and the id of a job
 * to fetch again (one the cache does not hold, or whose state changed).
 */
export function applyEvent(c: JobCache, e: ServerEvent, now = 0): { changed: boolean; refetch: number | null } {
  const job = c.byId.get(e.job);
  if (e.type !== "job" && e.type !== "epoch" && e.type !== "cancel_requested") return { changed: false, refetch: null };
  if (!job) return { changed: false, refetch: e.job > 0 ? e.job : null };
  const d = e.data ?? {};
  let next: Job;
  if (e.type === "epoch") {
    const epoch = Number(d.epoch), epochs = Number(d.epochs ?? job.epochs);
    const metrics = (d.metrics ?? {}) as EpochMetrics;
    const last = job.history[job.history.length - 1];
    const history = last && last.epoch >= epoch ? job.history : job.history.concat({ epoch, metrics });
    next = {
      ...job, epoch, epochs, history, metrics: metrics as Job["metrics"],
      progress: epochs > 0 ? epoch / epochs : job.progress,
      state: job.state === "queued" ? "running" : job.state,
    };
  } else if (e.type === "cancel_requested") {
    next = { ...job, cancel_requested: true };
  } else {
    const state = typeof d.state === "string" ? d.state : job.state;
    next = { ...job, state };
    if ("error" in d) next.error = (d.error as string | null) ?? null;
    if ("result" in d) next.result = (d.result as Job["result"]) ?? null;
    if (typeof d.worker === "string") next.worker = d.worker;
  }
  if (next.state !== job.state) {
    count(c.totals, job.state, -1);
    count(c.totals, next.state, 1);
  }
  c.byId.set(job.id, next);
  c.touched.set(job.id, now);
  return { changed: true, refetch: e.type === "job" ? job.id : null };
}

/**
 * Replaces the cache's jobs by the lists' answers (fetched from `since` on): a job an event
 * changed after that keeps the cache's copy, and so does the job `keep` (the one opened).
 */
export function replaceLists(c: JobCache, lists: { state: JobState; items: Job[]; total: number }[], since: number, keep: number | null = null): void {
  const byId = new Map<number, Job>();
  const totals = noTotals();
  for (const l of lists) {
    totals[l.state] = l.total;
    for (const j of l.items) byId.set(j.id, j);
  }
  for (const [id, t] of c.touched) {
    if (t < since) c.touched.delete(id);
    else {
      const mine = c.byId.get(id);
      const theirs = byId.get(id);
      if (mine) {
        if (theirs && theirs.state !== mine.state) {
          count(totals, theirs.state, -1);
          count(totals, mine.state, 1);
        }
        byId.set(id, mine);
      }
    }
  }
  const kept = keep !== null ? c.byId.get(keep) : undefined;
  if (kept && !byId.has(kept.id)) byId.set(kept.id, kept);
  c.byId = byId;
  c.totals = totals;
}

/** The four tables' jobs, newest first, each cut at its limit. */
export function groupJobs(jobs: Iterable<Job>, limits: Record<Group, number>): Record<Group, Job[]> {
  const out: Record<Group, Job[]> = { queued: [], running: [], complete: [], failed: [] };
  for (const j of jobs) out[groupOf(j.state)].push(j);
  for (const g of GROUPS) {
    out[g].sort((a, b) => b.id - a.id);
    if (out[g].length > limits[g]) out[g].length = limits[g];
  }
  return out;
}

export function groupTotal(totals: Totals, g: Group): number {
  return statesOf(g).reduce((s, st) => s + totals[st], 0);
}

const str = (v: unknown): string | null => (typeof v === "string" && v !== "" ? v : null);

/** The epochs a job runs: the server's count once running, else its settings'. */
export function epochsOf(job: Job): number {
  if (job.epochs > 0) return job.epochs;
  const cfg = job.params?.config as Record<string, unknown> | undefined;
  return typeof cfg?.epochs === "number" ? cfg.epochs : 0;
}

/** "3/50": epochs done of epochs to run. */
export function ratioText(job: Job): string {
  const n = epochsOf(job);
  return n > 0 ? `${job.epoch}/${n}` : `${job.epoch}`;
}

/** The share done, 0..1. */
export function progressOf(job: Job): number {
  const n = epochsOf(job);
  if (n > 0) return Math.min(1, Math.max(0, job.epoch / n));
  return Math.min(1, Math.max(0, job.progress ?? 0));
}

/** The model a job trains or uses: params.model, params.to (fine-tune) or the pipeline's name. */
export function modelOf(job: Job): string {
  const p = job.params ?? {};
  return str(p.model) ?? str(p.to) ?? str(p.from) ?? (job.kind === "pipeline" ? str(p.source) ?? "pipeline" : null) ?? "–";
}

const pipelineData = new Map<string, string | null>();

/** The data a pipeline's Data Load cards read (their name or path settings), read once per text. */
function dataOfPipeline(text: string): string | null {
  if (pipelineData.has(text)) return pipelineData.get(text) ?? null;
  let found: string | null = null;
  try {
    const doc = parse(text) as { cards?: { card?: string; with?: Record<string, unknown> }[] } | null;
    const names = (doc?.cards ?? [])
      .filter((c) => c?.card === "data_load")
      .map((c) => str(c.with?.name) ?? str(c.with?.path))
      .filter((n): n is string => n !== null);
    found = names.length > 0 ? [...new Set(names)].join(", ") : null;
  } catch {
    found = null;
  }
  if (pipelineData.size > 500) pipelineData.clear();
  pipelineData.set(text, found);
  return found;
}

export function datasetOf(job: Job): string {
  const p = job.params ?? {};
  return str(p.data) ?? str(p.dataset) ?? (typeof p.pipeline === "string" ? dataOfPipeline(p.pipeline) : null) ?? "–";
}

/** The version a succeeded train or fine-tune job registered, or null. */
export function versionOf(job: Job): { model: string; version: number } | null {
  if (job.state !== "succeeded" || (job.kind !== "train" && job.kind !== "finetune")) return null;
  const r = job.result ?? {};
  return typeof r.model === "string" && typeof r.version === "number" ? { model: r.model, version: r.version } : null;
}

export interface Curves {
  x: number[];
  /** one entry per metric name ("loss" first): train and validation values per epoch */
  metrics: { name: string; train: (number | null)[]; val: (number | null)[] }[];
}

const SKIP = new Set(["n", "epoch", "epochs", "step", "seconds", "lr"]);
const num = (v: unknown): number | null => (typeof v === "number" && Number.isFinite(v) ? v : null);

/** Per-epoch curves from a job's history (or a train card's history.json epochs). */
export function curves(history: { epoch: number; metrics: EpochMetrics }[]): Curves {
  const x: number[] = [];
  const names: string[] = [];
  const seen = new Set<string>();
  for (const h of history) {
    for (const part of [h.metrics?.train, h.metrics?.val])
      for (const k of Object.keys(part ?? {}))
        if (!SKIP.has(k) && !seen.has(k) && typeof (part as Metrics)[k] === "number") {
          seen.add(k);
          names.push(k);
        }
  }
  names.sort((a, b) => (a === "loss" ? -1 : b === "loss" ? 1 : 0));
  const metrics = names.map((name) => ({ name, train: [] as (number | null)[], val: [] as (number | null)[] }));
  for (const h of history) {
    x.push(h.epoch);
    for (const m of metrics) {
      m.train.push(num(h.metrics?.train?.[m.name]));
      m.val.push(num(h.metrics?.val?.[m.name]));
    }
  }
  // a metric equal to the loss at every epoch (mse under an MSE loss) would repeat its plot
  const loss = metrics.find((m) => m.name === "loss");
  const same = (a: (number | null)[], b: (number | null)[]) => a.every((v, i) => v === null || b[i] === null || Math.abs(v - (b[i] as number)) <= 1e-9 * Math.max(1, Math.abs(v)));
  return { x, metrics: loss ? metrics.filter((m) => m === loss || !(same(m.train, loss.train) && same(m.val, loss.val))) : metrics };
}

/** A sparkline's values: the validation loss per epoch, or the training loss without one. */
export function lossLine(job: Job): { x: number[]; y: (number | null)[] } {
  const x: number[] = [], y: (number | null)[] = [];
  for (const h of job.history ?? []) {
    x.push(h.epoch);
    y.push(num(h.metrics?.val?.loss) ?? num(h.metrics?.train?.loss));
  }
  return { x, y };
}

/** The final validation metrics worth a table cell: the loss and the task's main one. */
export function finalMetrics(job: Job): [string, number][] {
  const m = (job.metrics?.val as Metrics | undefined) ?? ((job.result?.metrics as Metrics | undefined) ?? null);
  if (!m) return [];
  const out: [string, number][] = [];
  for (const k of ["loss", "accuracy", "r2", "rmse"]) {
    const v = num(m[k]);
    if (v !== null) out.push([k, v]);
    if (out.length === 2) break;
  }
  return out;
}

export interface Confusion {
  classes: string[];
  cells: number[][];
}

/** A confusion matrix in a metrics object (confusion_matrix rows = true class), or null. */
export function confusionOf(m: unknown): Confusion | null {
  if (!m || typeof m !== "object") return null;
  const o = m as Record<string, unknown>;
  const cm = o.confusion_matrix;
  if (!Array.isArray(cm) || cm.length === 0 || !cm.every((r) => Array.isArray(r) && r.length === cm.length)) return null;
  const names = Array.isArray(o.class_names) && o.class_names.length === cm.length ? o.class_names.map(String) : cm.map((_, i) => String(i));
  return { classes: names, cells: cm.map((r) => (r as unknown[]).map((v) => Number(v))) };
}

/** A job's parameters as key/value rows: its config's settings flattened, the rest as they are. */
export function settingsRows(job: Job): [string, unknown][] {
  const rows: [string, unknown][] = [];
  for (const [k, v] of Object.entries(job.params ?? {})) {
    if (k === "config" && v && typeof v === "object" && !Array.isArray(v)) {
      for (const [ck, cv] of Object.entries(v as Record<string, unknown>)) rows.push([ck, cv]);
    } else rows.push([k, v]);
  }
  return rows;
}

/** A table cell's time: the clock time today, else the day and the time. */
export function shortWhen(t: number | null | undefined, now: Date = new Date()): string {
  if (!t) return "–";
  const d = new Date(t * 1000);
  const time = d.toLocaleTimeString("en-GB", { hour: "2-digit", minute: "2-digit", second: "2-digit" });
  if (d.toDateString() === now.toDateString()) return time;
  return d.toLocaleDateString("en-GB", { day: "numeric", month: "short" }) + " " + time.slice(0, 5);
}
