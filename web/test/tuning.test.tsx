// The Tuning page on a study as GET /api/v1/studies/{name} gives it (fixtures/study.json, a
// real one with a trial marked paused): the studies table, the best trial, the trials table
// and its sorting by value, the importance bars' order, the two plots' data, the empty state,
// and the live refresh on a trial job's events.
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { act, cleanup, fireEvent, render, screen, waitFor, within } from "@testing-library/react";
import type { PlotProps } from "../src/components/Plot";
import type { Study, StudySummary } from "../src/api";
import fixture from "./fixtures/study.json";

// uPlot draws on a canvas jsdom lacks: the plots are stand-ins that show the data they got
vi.mock("../src/components/Plot", () => ({
  Plot: (p: PlotProps) => (
    <div role="img" aria-label={p.ariaLabel ?? p.title} data-points={p.x.length}
      data-x={JSON.stringify(p.x)} data-series={JSON.stringify(p.series)} />
  ),
}));

import TuningPage from "../src/pages/Tuning";
import { StudyDetails } from "../src/tuning/StudyDetails";
import { curvesData, historyData, importanceBars, sortTrials } from "../src/tuning/study";

const study = fixture as unknown as Study;
const summary: StudySummary = (() => {
  const { trials, definition, best, importance, ...rest } = study;
  void definition, void best, void importance, void trials;
  return rest;
})();

type SeriesData = { label: string; values: (number | null)[]; dash?: boolean; pointsOnly?: boolean; color?: string };
const plotData = (name: string) => {
  const el = screen.getByRole("img", { name });
  return { x: JSON.parse(el.dataset.x ?? "[]") as number[], series: JSON.parse(el.dataset.series ?? "[]") as SeriesData[], points: Number(el.dataset.points) };
};

afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
});

describe("a study's details", () => {
  it("shows the best trial, its settings and its model", () => {
    render(<StudyDetails study={study} onClose={() => {}} />);
    const best = screen.getByRole("group", { name: "Best trial" });
    expect(within(best).getByRole("heading").textContent).toBe("Best trial #2");
    expect(best.textContent).toContain("0.05822");
    const settings = within(best).getByRole("table", { name: "Best settings" });
    const rows = within(settings).getAllByRole("row").map((r) => r.textContent);
    expect(rows).toEqual(["learning_rate0.07403", "hidden_layers[8]", "optimizeradam"]);
    const model = within(best).getByRole("link", { name: "model iris-mlp@1" });
    expect(model.getAttribute("href")).toBe("/models/iris-mlp");
    expect(within(best).getByRole("link", { name: "job #3" }).getAttribute("href")).toBe("/training/3");
  });

  it("lists every trial with a column per setting, sortable by value", () => {
    render(<StudyDetails study={study} onClose={() => {}} />);
    const table = screen.getByRole("table", { name: "Trials" });
    const heads = within(table).getAllByRole("columnheader").map((h) => h.textContent);
    expect(heads).toEqual(["Trial ▲", "State", "Value", "Epochs", "learning_rate", "hidden_layers", "optimizer", "momentum", "Job"]);
    const body = () => within(table).getAllByRole("row").slice(1);
    expect(body()).toHaveLength(study.trial_count);
    const cells = (i: number) => within(body()[i]).getAllByRole("cell").map((c) => c.textContent);
    expect(cells(1)).toEqual(["1", "complete", "0.5371", "9", "0.03706", "[16, 8]", "sgd", "0.333", "#2"]);
    expect(cells(3)).toEqual(["3", "pruned", "–", "1", "0.01109", "[16, 8]", "sgd", "0.099", "#4"]);
    expect(cells(4)[7]).toBe("–"); // adam: no momentum
    expect(cells(7)[1]).toBe("paused");

    fireEvent.click(within(table).getByRole("button", { name: "Sort by value" }));
    expect(body().map((r) => within(r).getAllByRole("cell")[0].textContent)).toEqual(["2 ★", "1", "0", "3", "4", "5", "6", "7"]);
    expect(within(table).getAllByRole("columnheader")[2].getAttribute("aria-sort")).toBe("ascending");
    fireEvent.click(within(table).getByRole("button", { name: /^Sort by value/ }));
    expect(body().map((r) => within(r).getAllByRole("cell")[0].textContent)).toEqual(["0", "1", "2 ★", "3", "4", "5", "6", "7"]);
    expect(within(table).getAllByRole("columnheader")[2].getAttribute("aria-sort")).toBe("descending");
  });

  it("orders the importance bars largest first and names the method", () => {
    render(<StudyDetails study={study} onClose={() => {}} />);
    const imp = screen.getByRole("group", { name: "Importance" });
    expect(within(imp).getByRole("heading").textContent).toContain("fanova, from 3 complete trials");
    const bars = within(imp).getAllByRole("listitem");
    expect(bars.map((b) => b.getAttribute("aria-label"))).toEqual(["learning_rate: 0.501", "optimizer: 0.261", "hidden_layers: 0.238", "momentum: 0"]);
    const widths = bars.map((b) => (b.querySelector(".bar") as HTMLElement).style.width);
    expect(widths[0]).toBe("100%");
    expect(parseFloat(widths[1])).toBeCloseTo((100 * 0.26113716421314603) / 0.5005936650902054, 3);
    expect(widths[3]).toBe("0%");
  });

  it("gives the history plot each complete trial's value and the best so far", () => {
    render(<StudyDetails study={study} onClose={() => {}} />);
    const h = plotData("Optimisation history");
    expect(h.x).toEqual([0, 1, 2]);
    expect(h.points).toBe(3);
    expect(h.series.map((s) => s.label)).toEqual(["best so far", "trial value"]);
    expect(h.series[1].pointsOnly).toBe(true);
    expect(h.series[1].values).toEqual([1.1437841626405416, 0.5371268558228551, 0.058217385819155254]);
    expect(h.series[0].values).toEqual([1.1437841626405416, 0.5371268558228551, 0.058217385819155254]);
    // a worse later trial keeps the best so far; maximizing keeps the highest
    const worse: Study = { ...study, trials: study.trials.map((t) => (t.number === 1 ? { ...t, value: 2 } : t)) };
    expect(historyData(worse).series[0].values).toEqual([1.1437841626405416, 1.1437841626405416, 0.058217385819155254]);
    expect(historyData(worse).series[1].values).toEqual([1.1437841626405416, 2, 0.058217385819155254]);
    expect(historyData({ ...worse, direction: "maximize" }).series[0].values).toEqual([1.1437841626405416, 2, 2]);
  });

  it("draws each trial's steps as a curve, pruned and paused ones dashed and grey or amber", () => {
    render(<StudyDetails study={study} onClose={() => {}} />);
    const c = plotData("Intermediate values");
    expect(c.x).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(c.series).toHaveLength(8);
    expect(c.series[0].label).toBe("trial 0 (complete)");
    expect(c.series[0].values).toEqual(study.trials[0].steps);
    expect(c.series[0].dash).toBe(false);
    expect(c.series[4].label).toBe("trial 4 (pruned)");
    expect(c.series[4].values).toEqual([...study.trials[4].steps, null, null, null, null, null, null]);
    expect(c.series[4].dash).toBe(true);
    expect(c.series[4].color).toBe("#9ca3af");
    expect(c.series[7].label).toBe("trial 7 (paused)");
    expect(c.series[7].color).toBe("#f59e0b");
    const colours = new Set(c.series.slice(0, 3).map((s) => s.color));
    expect(colours.size).toBe(3);
    const legend = screen.getByLabelText("Curve legend").textContent ?? "";
    expect(legend).toContain("pruned (dashed grey)");
    expect(legend).toContain("paused (dashed amber)");
    expect(legend).not.toContain("failed");
  });

  it("works out the same as pure functions", () => {
    expect(importanceBars(study).map((b) => b.setting)).toEqual(["learning_rate", "optimizer", "hidden_layers", "momentum"]);
    expect(sortTrials(study.trials, { key: "value", descending: false }).map((t) => t.number)).toEqual([2, 1, 0, 3, 4, 5, 6, 7]);
    expect(curvesData({ ...study, trials: [] })).toEqual({ x: [], series: [] });
  });

  it("closes on Escape and on its close button", () => {
    const onClose = vi.fn();
    render(<StudyDetails study={study} onClose={onClose} />);
    fireEvent.keyDown(screen.getByRole("button", { name: "Sort by value" }), { key: "Escape" });
    fireEvent.click(screen.getByRole("button", { name: "Close the study" }));
    expect(onClose).toHaveBeenCalledTimes(2);
  });
});

// ---- the page against a stubbed server ----------------------------------------------------

type Handler = (e: MessageEvent) => void;
class FakeEventSource {
  static last: FakeEventSource | null = null;
  handlers = new Map<string, Handler[]>();
  onmessage: Handler | null = null;
  constructor() {
    FakeEventSource.last = this;
  }
  addEventListener(type: string, h: Handler) {
    this.handlers.set(type, [...(this.handlers.get(type) ?? []), h]);
  }
  close() {}
  emit(type: string, data: unknown) {
    for (const h of this.handlers.get(type) ?? []) h(new MessageEvent(type, { data: JSON.stringify(data) }));
  }
}

function stubServer(studies: StudySummary[]) {
  const calls: string[] = [];
  vi.stubGlobal("fetch", vi.fn(async (input: RequestInfo | URL) => {
    const u = new URL(String(input), "http://x");
    calls.push(u.pathname);
    const body = u.pathname === "/api/v1/studies"
      ? { items: studies, total: studies.length, offset: 0, limit: 500 }
      : u.pathname === `/api/v1/studies/${study.name}` ? study : { error: { status: 404, code: "not_found", message: "no study named 'x'" } };
    return new Response(JSON.stringify(body), { status: "error" in body ? 404 : 200, headers: { "Content-Type": "application/json" } });
  }));
  vi.stubGlobal("EventSource", FakeEventSource);
  return calls;
}

describe("the Tuning page", () => {
  beforeEach(() => {
    FakeEventSource.last = null;
  });

  it("says how to start a study when there is none", async () => {
    stubServer([]);
    render(<TuningPage args={[]} />);
    const table = screen.getByRole("table", { name: "Studies" });
    await waitFor(() => expect(table.textContent).toContain("No studies yet"));
    expect(within(table).getByText("netsmith tune STUDY.yaml")).toBeTruthy();
  });

  it("lists the studies with their counts, best value and objective", async () => {
    stubServer([summary]);
    render(<TuningPage args={[]} />);
    const table = screen.getByRole("table", { name: "Studies" });
    const row = await within(table).findByRole("row", { name: /iris-mlp/ });
    const cells = within(row).getAllByRole("cell").map((c) => c.textContent);
    expect(cells.slice(0, 7)).toEqual(["iris-mlp", "running", "7/8 (1 open)", "3 / 4 / 0", "0.05822 (#2)", "val.loss min", "tpe / asha"]);
    expect(row.getAttribute("tabindex")).toBe("0");
  });

  it("opens a study and refreshes it on its trials' events, a few times a second at most", async () => {
    const calls = stubServer([summary]);
    render(<TuningPage args={[study.name]} />);
    await screen.findByRole("region", { name: `Study ${study.name}` });
    const studyCalls = () => calls.filter((c) => c === `/api/v1/studies/${study.name}`).length;
    expect(studyCalls()).toBe(1);
    const es = FakeEventSource.last as FakeEventSource;
    act(() => {
      // an epoch of a trial's job (known from the study) and a burst of job events
      es.emit("epoch", { id: 1, job: 4, type: "epoch", data: { epoch: 2 }, time: 0 });
      for (let i = 0; i < 20; i++) es.emit("job", { id: 2 + i, job: 9, type: "job", data: { state: "running", kind: "trial" }, time: 0 });
      // neither a train job's events nor an unknown job's epochs refresh it
      es.emit("job", { id: 30, job: 50, type: "job", data: { state: "running", kind: "train" }, time: 0 });
      es.emit("epoch", { id: 31, job: 51, type: "epoch", data: { epoch: 1 }, time: 0 });
    });
    await waitFor(() => expect(studyCalls()).toBe(2));
    await new Promise((r) => setTimeout(r, 600));
    expect(studyCalls()).toBe(2);
    expect(calls.filter((c) => c === "/api/v1/studies").length).toBe(2);
    act(() => es.emit("epoch", { id: 40, job: 9, type: "epoch", data: { epoch: 1 }, time: 0 }));
    await waitFor(() => expect(studyCalls()).toBe(3));
  });
});
