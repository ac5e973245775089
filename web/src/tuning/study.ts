// What the Tuning page shows of a study, worked out from GET /api/v1/studies/{name}: the
// settings' columns, the trials in order, the optimisation history, the intermediate curves
// and the importances.
import type { Series } from "../components/Plot";
import type { Study, StudySummary, Trial } from "../api";
import { fmt } from "../components/ui";

/** The settings a study searches, in its space's order, then any others its trials have. */
export function settingColumns(study: Study): string[] {
  const cols = Object.keys(study.definition?.space ?? {});
  for (const t of study.trials) for (const k of Object.keys(t.params)) if (!cols.includes(k)) cols.push(k);
  return cols;
}

/** A setting's value as the tables show it: numbers to 4 digits, lists and objects as JSON,
 * "–" for one its trial did not have. */
export function settingText(v: unknown): string {
  if (v === undefined || v === null) return "–";
  if (typeof v === "number") return fmt(v);
  if (typeof v === "string") return v;
  return JSON.stringify(v).replace(/,/g, ", ");
}

/** Trials ended so far (complete, pruned or failed), the count the budget is spent by. */
export const endedOf = (s: Pick<StudySummary, "complete" | "pruned" | "failed">) => s.complete + s.pruned + s.failed;

export type SortKey = "number" | "value";
export interface Sort {
  key: SortKey;
  descending: boolean;
}

/** The trials sorted: by number, or by value with the trials that have none last either way. */
export function sortTrials(trials: Trial[], sort: Sort): Trial[] {
  const out = [...trials];
  out.sort((a, b) => {
    if (sort.key === "value") {
      if (a.value === null || b.value === null) {
        if (a.value === b.value) return a.number - b.number;
        return a.value === null ? 1 : -1;
      }
      const d = a.value - b.value;
      if (d !== 0) return sort.descending ? -d : d;
      return a.number - b.number;
    }
    return sort.descending ? b.number - a.number : a.number - b.number;
  });
  return out;
}

/** The epochs a trial ran: its epoch, or its steps so far while it runs. */
export const epochsOf = (t: Trial) => Math.max(t.epoch ?? 0, t.steps.length);

export interface PlotData {
  x: number[];
  series: Series[];
}

const VALUE_COLOR = "#2563eb";
const BEST_COLOR = "#dc2626";

/** The optimisation history: x the complete trials' numbers, the best value so far (lowest, or
 * highest when maximizing) as a step line, and each trial's value as a point drawn over it. */
export function historyData(study: Study): PlotData {
  const done = study.trials.filter((t) => t.state === "complete" && t.value !== null).sort((a, b) => a.number - b.number);
  const max = study.direction === "maximize";
  let best: number | null = null;
  const bestSoFar = done.map((t) => {
    const v = t.value as number;
    if (best === null || (max ? v > best : v < best)) best = v;
    return best;
  });
  return {
    x: done.map((t) => t.number),
    series: [
      { label: "best so far", values: bestSoFar, color: BEST_COLOR, stepped: true, points: false },
      { label: "trial value", values: done.map((t) => t.value), pointsOnly: true, color: VALUE_COLOR },
    ],
  };
}

const CURVE_COLORS = ["#2563eb", "#059669", "#7c3aed", "#d97706", "#db2777", "#0891b2", "#4d7c0f", "#9333ea"];

/** How a trial's curve is drawn: complete and running trials in colour, solid; pruned ones
 * grey and dashed; paused ones amber and dashed; failed ones red and dashed. */
export function curveStyle(t: Trial, i: number): Pick<Series, "color" | "dash" | "width"> {
  switch (t.state) {
    case "pruned":
      return { color: "#9ca3af", dash: true, width: 1.5 };
    case "paused":
      return { color: "#f59e0b", dash: true, width: 1.5 };
    case "failed":
      return { color: "#ef4444", dash: true, width: 1.5 };
    default:
      return { color: CURVE_COLORS[i % CURVE_COLORS.length], dash: false, width: 2 };
  }
}

/** The intermediate curves: x the epochs (1 to the longest trial's), one line per trial that
 * reported any step, its value at each epoch (null where none). */
export function curvesData(study: Study): PlotData {
  const withSteps = study.trials.filter((t) => t.steps.some((v) => v !== null)).sort((a, b) => a.number - b.number);
  const n = Math.max(0, ...withSteps.map((t) => t.steps.length));
  const x = Array.from({ length: n }, (_, i) => i + 1);
  let coloured = 0;
  const series = withSteps.map((t) => {
    const solid = t.state !== "pruned" && t.state !== "paused" && t.state !== "failed";
    const style = curveStyle(t, solid ? coloured++ : 0);
    return { label: `trial ${t.number} (${t.state})`, values: x.map((_, i) => t.steps[i] ?? null), ...style };
  });
  return { x, series };
}

/** The importances, largest first (ties by name). */
export function importanceBars(study: Study): { setting: string; importance: number }[] {
  return [...(study.importance?.importances ?? [])].sort((a, b) => b.importance - a.importance || a.setting.localeCompare(b.setting));
}

/** The trial job ids of a study (its live updates come as those jobs' events). */
export const trialJobs = (study: Study) => study.trials.map((t) => t.job);
