// One study: its facts, the best trial and its settings (and the model registered from it),
// the optimisation history and intermediate curves, the settings' importance, and every trial.
import { useMemo, useState } from "react";
import type { Study, Trial } from "../api";
import { linkProps } from "../router";
import { fmt, when } from "../components/ui";
import { Plot } from "../components/Plot";
import { curvesData, endedOf, epochsOf, historyData, importanceBars, settingColumns, settingText, sortTrials, type Sort } from "./study";

export function StudyDetails({ study, onClose }: { study: Study; onClose: () => void }) {
  const label = `Study ${study.name}`;
  return (
    <section className="study-details panel" aria-label={label}
      onKeyDown={(e) => {
        if (e.key === "Escape") onClose();
      }}>
      <div className="details-head">
        <h2>{label}</h2>
        <span className={`badge ${study.state === "complete" ? "succeeded" : study.state}`}>{study.state}</span>
        <button type="button" className="close" aria-label="Close the study" onClick={onClose}>×</button>
      </div>
      <div className="study-top">
      <dl className="facts">
        <dt>Objective</dt>
        <dd>{study.direction} <code>{study.metric}</code></dd>
        <dt>Trials</dt>
        <dd>{`${endedOf(study)} of ${study.budget} ended: ${study.complete} complete, ${study.pruned} pruned, ${study.failed} failed`}
          {study.running + study.paused > 0 ? `; ${study.running} running, ${study.paused} paused` : ""}</dd>
        <dt>Sampler / pruner</dt>
        <dd>{study.sampler} / {study.pruner}</dd>
        <dt>Updated</dt>
        <dd>{when(study.updated)}</dd>
      </dl>
      <BestTrial study={study} />
      </div>
      <div className="study-plots">
        <History study={study} />
        <Curves study={study} />
      </div>
      <Importance study={study} />
      <TrialTable study={study} />
    </section>
  );
}

function BestTrial({ study }: { study: Study }) {
  const best = study.best;
  if (!best) {
    return <p className="muted best-none">No complete trial yet: the best one shows here once a trial ends with a value.</p>;
  }
  const cols = settingColumns(study);
  return (
    <div className="best-trial" role="group" aria-label="Best trial">
      <h3>Best trial #{best.number}</h3>
      <p className="best-value">
        <code>{study.metric}</code> <b>{fmt(best.value)}</b>{" · "}
        <a {...linkProps(`/training/${best.job}`)}>job #{best.job}</a>
        {study.model && (
          <>
            {" · model "}
            <a {...linkProps("/models/" + encodeURIComponent(study.model.name))} aria-label={`model ${study.model.name}@${study.model.version}`}>
              {study.model.name}@{study.model.version}
            </a>
          </>
        )}
      </p>
      <table className="list kv" aria-label="Best settings">
        <tbody>
          {cols.filter((c) => c in best.params).map((c) => (
            <tr key={c}><th scope="row">{c}</th><td className="mono">{settingText(best.params[c])}</td></tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function History({ study }: { study: Study }) {
  const data = useMemo(() => historyData(study), [study]);
  if (data.x.length === 0) return <p className="muted plot-empty">The optimisation history shows once a trial completes.</p>;
  return (
    <figure className="study-plot">
      <Plot title="Optimisation history" ariaLabel="Optimisation history" x={data.x} series={data.series}
        xLabel="trial" yLabel={study.metric} width={520} height={260} />
    </figure>
  );
}

function Curves({ study }: { study: Study }) {
  const data = useMemo(() => curvesData(study), [study]);
  if (data.series.length === 0) return <p className="muted plot-empty">The intermediate curves show once a trial reports its first epoch.</p>;
  const states = new Set(study.trials.map((t) => t.state));
  return (
    <figure className="study-plot">
      <Plot title="Intermediate values" ariaLabel="Intermediate values" x={data.x} series={data.series}
        xLabel="epoch" yLabel={study.metric} width={520} height={260} legend={false} points={data.x.length <= 12} />
      <figcaption className="curve-legend" aria-label="Curve legend">
        <span><i className="swatch solid" aria-hidden="true" /> complete or running (a colour each)</span>
        {states.has("pruned") && <span><i className="swatch pruned" aria-hidden="true" /> pruned (dashed grey)</span>}
        {states.has("paused") && <span><i className="swatch paused" aria-hidden="true" /> paused (dashed amber)</span>}
        {states.has("failed") && <span><i className="swatch failed" aria-hidden="true" /> failed (dashed red)</span>}
      </figcaption>
    </figure>
  );
}

function Importance({ study }: { study: Study }) {
  const bars = importanceBars(study);
  const top = Math.max(0, ...bars.map((b) => b.importance));
  const imp = study.importance;
  return (
    <div className="importance" role="group" aria-label="Importance">
      <h3>Importance <span className="muted">({imp?.method ?? "–"}, from {imp?.trials ?? 0} complete trial{imp?.trials === 1 ? "" : "s"})</span></h3>
      {bars.length === 0 ? (
        <p className="muted">No settings to weigh yet.</p>
      ) : (
        <ol className="bars">
          {bars.map((b) => (
            <li key={b.setting} aria-label={`${b.setting}: ${fmt(b.importance, 3)}`}>
              <span className="bar-name">{b.setting}</span>
              <span className="bar-track">
                <span className="bar" style={{ width: `${top > 0 ? (100 * b.importance) / top : 0}%` }} />
              </span>
              <span className="bar-value">{fmt(b.importance, 3)}</span>
            </li>
          ))}
        </ol>
      )}
    </div>
  );
}

const STATE_BADGE: Record<string, string> = { complete: "succeeded", pruned: "cancelled", paused: "queued", failed: "failed", running: "running" };

function TrialTable({ study }: { study: Study }) {
  const [sort, setSort] = useState<Sort>({ key: "number", descending: false });
  const cols = settingColumns(study);
  const rows = useMemo(() => sortTrials(study.trials, sort), [study.trials, sort]);
  const sortButton = (key: Sort["key"], text: string) => {
    const active = sort.key === key;
    const next = active ? !sort.descending : key === "value" ? study.direction === "maximize" : false;
    return (
      <button type="button" className="sort" aria-label={`Sort by ${text.toLowerCase()}${active ? (sort.descending ? ", now descending" : ", now ascending") : ""}`}
        onClick={() => setSort({ key, descending: next })}>
        {text}{active ? (sort.descending ? " ▼" : " ▲") : ""}
      </button>
    );
  };
  const ariaSort = (key: Sort["key"]) => (sort.key === key ? (sort.descending ? "descending" : "ascending") : undefined);
  return (
    <table className="list trials">
      <caption>Trials</caption>
      <thead>
        <tr>
          <th scope="col" className="num" aria-sort={ariaSort("number")}>{sortButton("number", "Trial")}</th>
          <th scope="col">State</th>
          <th scope="col" className="num" aria-sort={ariaSort("value")}>{sortButton("value", "Value")}</th>
          <th scope="col" className="num">Epochs</th>
          {cols.map((c) => <th scope="col" key={c} className="setting">{c}</th>)}
          <th scope="col">Job</th>
        </tr>
      </thead>
      <tbody>
        {rows.length === 0 && (
          <tr><td className="empty" colSpan={5 + cols.length}>No trials yet.</td></tr>
        )}
        {rows.map((t) => <TrialRow key={t.number} trial={t} cols={cols} best={study.best?.number === t.number} />)}
      </tbody>
    </table>
  );
}

function TrialRow({ trial, cols, best }: { trial: Trial; cols: string[]; best: boolean }) {
  return (
    <tr className={best ? "best" : undefined}>
      <td className="num">{trial.number}{best ? <span className="best-mark" title="the best trial"> ★</span> : null}</td>
      <td><span className={`badge ${STATE_BADGE[trial.state] ?? ""}`}>{trial.state}</span></td>
      <td className="num">{fmt(trial.value)}</td>
      <td className="num">{epochsOf(trial)}</td>
      {cols.map((c) => <td key={c} className="mono setting">{settingText(trial.params[c])}</td>)}
      <td><a {...linkProps(`/training/${trial.job}`)} aria-label={`job ${trial.job} of trial ${trial.number}`}>#{trial.job}</a></td>
    </tr>
  );
}
