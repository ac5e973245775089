import { describe, expect, it } from "vitest";
import type { Job } from "../src/api";
import type { ServerEvent } from "../src/events";
import {
  applyEvent, confusionOf, curves, datasetOf, emptyCache, finalMetrics, groupJobs, groupOf, groupTotal, lossLine, modelOf,
  putJob, ratioText, replaceLists, settingsRows, shortWhen, versionOf,
} from "../src/training/jobs";

function job(id: number, over: Partial<Job> = {}): Job {
  return {
    id, kind: "train", state: "queued", priority: 0, attempts: 0, worker: "", epoch: 0, epochs: 0,
    cancel_requested: false, params: { config: { epochs: 50, learning_rate: 0.003 }, data: "boston", model: "bh" },
    metrics: null, error: null, checkpoint: null, result: null, created: 1, started: 0, finished: 0, history: [], progress: 0,
    ...over,
  };
}

const ev = (id: number, jobId: number, type: string, data: Record<string, unknown>): ServerEvent => ({ id, job: jobId, type, data, time: 0 });
const epochEv = (jobId: number, epoch: number, loss: number) =>
  ev(100 + epoch, jobId, "epoch", { epoch, epochs: 50, metrics: { epoch: epoch - 1, train: { loss: loss + 1, n: 10 }, val: { loss, n: 3 } } });
const limits = { queued: 20, running: 20, complete: 20, failed: 20 };

describe("the four tables", () => {
  it("puts each state in its table, cancelled with failed", () => {
    expect(["queued", "running", "succeeded", "failed", "cancelled"].map(groupOf)).toEqual(["queued", "running", "complete", "failed", "failed"]);
  });
  it("lists newest first and cuts each table at its limit", () => {
    const jobs = [job(1, { state: "succeeded" }), job(5, { state: "succeeded" }), job(3, { state: "succeeded" }), job(2, { state: "cancelled" }), job(4)];
    const g = groupJobs(jobs, { ...limits, complete: 2 });
    expect(g.complete.map((j) => j.id)).toEqual([5, 3]);
    expect(g.failed.map((j) => j.id)).toEqual([2]);
    expect(g.queued.map((j) => j.id)).toEqual([4]);
    expect(g.running).toEqual([]);
  });
  it("writes the ratio of epochs, from the settings while queued", () => {
    expect(ratioText(job(1))).toBe("0/50");
    expect(ratioText(job(1, { epoch: 3, epochs: 40 }))).toBe("3/40");
    expect(ratioText(job(1, { params: {} }))).toBe("0");
  });
  it("names the model of each kind", () => {
    expect(modelOf(job(1))).toBe("bh");
    expect(modelOf(job(1, { kind: "finetune", params: { from: "a@1", to: "b" } }))).toBe("b");
    expect(modelOf(job(1, { kind: "pipeline", params: { pipeline: "...", source: "wine-p" } }))).toBe("wine-p");
  });
  it("finds a pipeline's data in its Data Load cards", () => {
    const text = "pipeline: p\ncards:\n  - id: load\n    card: data_load\n    with: {name: wine}\n  - id: split\n    card: data_split\n";
    expect(datasetOf(job(1, { kind: "pipeline", params: { pipeline: text } }))).toBe("wine");
    expect(datasetOf(job(1, { kind: "pipeline", params: { pipeline: "::: not yaml [" } }))).toBe("–");
    expect(datasetOf(job(1))).toBe("boston");
  });
});

describe("live events", () => {
  it("appends an epoch to the job's history and marks it running", () => {
    const c = emptyCache();
    putJob(c, job(7));
    const before = c.byId.get(7)!;
    const r = applyEvent(c, epochEv(7, 1, 20));
    expect(r).toEqual({ changed: true, refetch: null });
    const after = c.byId.get(7)!;
    expect(after).not.toBe(before); // a new object, so its row and plots redraw
    expect(after.state).toBe("running");
    expect(after.history).toHaveLength(1);
    expect(ratioText(after)).toBe("1/50");
    applyEvent(c, epochEv(7, 2, 10));
    expect(lossLine(c.byId.get(7)!)).toEqual({ x: [1, 2], y: [20, 10] });
    expect(c.totals.running).toBe(1);
    expect(c.totals.queued).toBe(0);
  });
  it("ignores an epoch it already holds (a replayed event)", () => {
    const c = emptyCache();
    putJob(c, job(7));
    applyEvent(c, epochEv(7, 1, 20));
    applyEvent(c, epochEv(7, 1, 20));
    expect(c.byId.get(7)!.history).toHaveLength(1);
  });
  it("moves a job between tables on a state change and asks to fetch it again", () => {
    const c = emptyCache();
    putJob(c, job(3, { state: "running" }));
    const r = applyEvent(c, ev(1, 3, "job", { state: "succeeded", result: { model: "bh", version: 2 }, error: null }));
    expect(r.refetch).toBe(3);
    expect(groupJobs(c.byId.values(), limits).complete.map((j) => j.id)).toEqual([3]);
    expect(versionOf(c.byId.get(3)!)).toEqual({ model: "bh", version: 2 });
    expect(groupTotal(c.totals, "complete")).toBe(1);
    expect(groupTotal(c.totals, "running")).toBe(0);
  });
  it("fetches a job it does not know, and skips other event types", () => {
    const c = emptyCache();
    expect(applyEvent(c, ev(1, 9, "job", { state: "queued" }))).toEqual({ changed: false, refetch: 9 });
    putJob(c, job(9));
    expect(applyEvent(c, ev(2, 9, "checkpoint", { epoch: 1 }))).toEqual({ changed: false, refetch: null });
    expect(c.totals.queued).toBe(1);
  });
  it("keeps an event's newer copy over an older list answer", () => {
    const c = emptyCache();
    putJob(c, job(1));
    const since = 10;
    applyEvent(c, ev(1, 1, "job", { state: "running" }), 11);
    replaceLists(c, [{ state: "queued", items: [job(1), job(2)], total: 2 }], since);
    expect(c.byId.get(1)!.state).toBe("running");
    expect(c.byId.get(2)!.state).toBe("queued");
    expect(c.totals.queued).toBe(1);
    expect(c.totals.running).toBe(1);
    // a later answer wins again
    replaceLists(c, [{ state: "succeeded", items: [job(1, { state: "succeeded" })], total: 1 }], 20);
    expect(c.byId.get(1)!.state).toBe("succeeded");
    expect(c.byId.has(2)).toBe(false);
  });
  it("keeps the opened job when the lists leave it out, without counting an old one", () => {
    const c = emptyCache();
    putJob(c, job(2, { state: "succeeded" }), false);
    expect(c.totals.succeeded).toBe(0);
    replaceLists(c, [{ state: "succeeded", items: [job(9, { state: "succeeded" })], total: 40 }], 0, 2);
    expect([...c.byId.keys()].sort()).toEqual([2, 9]);
    expect(c.totals.succeeded).toBe(40);
    replaceLists(c, [{ state: "succeeded", items: [job(9, { state: "succeeded" })], total: 40 }], 0, null);
    expect(c.byId.has(2)).toBe(false);
  });
  it("handles a thousand jobs and their events by id", () => {
    const c = emptyCache();
    const items = Array.from({ length: 1000 }, (_, i) => job(i + 1, { state: "running", epochs: 50 }));
    replaceLists(c, [{ state: "running", items, total: 1000 }], 0);
    for (let e = 1; e <= 5; e++) for (let i = 1; i <= 1000; i++) applyEvent(c, epochEv(i, e, 1 / e), 1);
    expect(c.byId.get(500)!.history).toHaveLength(5);
    expect(groupJobs(c.byId.values(), limits).running).toHaveLength(20);
    expect(groupJobs(c.byId.values(), limits).running[0].id).toBe(1000);
  });
});

describe("a job's details", () => {
  const h = (epoch: number, tl: number, vl: number, acc: number) => ({
    epoch, metrics: { epoch: epoch - 1, train: { loss: tl, mse: tl, accuracy: acc, n: 10 }, val: { loss: vl, mse: vl, accuracy: acc, n: 3 } },
  });
  it("makes one curve per metric, loss first, without a copy of the loss", () => {
    const c = curves([h(1, 3, 4, 0.5), h(2, 2, 3, 0.7)]);
    expect(c.x).toEqual([1, 2]);
    expect(c.metrics.map((m) => m.name)).toEqual(["loss", "accuracy"]);
    expect(c.metrics[0]).toEqual({ name: "loss", train: [3, 2], val: [4, 3] });
  });
  it("reads a confusion matrix with or without class names", () => {
    expect(confusionOf({ confusion_matrix: [[1, 2], [3, 4]] })).toEqual({ classes: ["0", "1"], cells: [[1, 2], [3, 4]] });
    expect(confusionOf({ confusion_matrix: [[1, 0], [0, 1]], class_names: ["a", "b"] })!.classes).toEqual(["a", "b"]);
    expect(confusionOf({ confusion_matrix: [[1, 2]] })).toBeNull();
    expect(confusionOf({ loss: 1 })).toBeNull();
  });
  it("flattens the settings and picks the final metrics", () => {
    expect(settingsRows(job(1))).toEqual([["epochs", 50], ["learning_rate", 0.003], ["data", "boston"], ["model", "bh"]]);
    const done = job(1, { state: "succeeded", metrics: { epoch: 4, val: { loss: 0.5, accuracy: 0.9, n: 3 } } });
    expect(finalMetrics(done)).toEqual([["loss", 0.5], ["accuracy", 0.9]]);
    expect(versionOf(done)).toBeNull(); // no result
    expect(versionOf(job(1, { kind: "evaluate", state: "succeeded", result: { model: "a", version: 1 } }))).toBeNull();
  });
  it("writes a cell's time short", () => {
    const t = new Date(2026, 11, 2, 13, 1, 48).getTime() / 1000;
    expect(shortWhen(t, new Date(2026, 11, 2, 20, 0, 0))).toBe("13:01:48");
    expect(shortWhen(t, new Date(2026, 11, 5))).toBe("2 Dec 13:01");
    expect(shortWhen(0)).toBe("–");
  });
});
