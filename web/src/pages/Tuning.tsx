// Tuning: the tuner's studies (`netsmith tune STUDY.yaml` makes and runs them), and one study's
// details at /tuning/NAME. Kept live by the server's event stream: a trial is a job of kind
// "trial", so its job and epoch events refresh the study (a few times a second at most).
import { useCallback, useEffect, useRef } from "react";
import type { PageProps } from "../App";
import { get, getAll, type Study, type StudySummary } from "../api";
import { useServerEvents } from "../events";
import { linkProps, navigate } from "../router";
import { ErrorBox, fmt, useLoad, when } from "../components/ui";
import { StudyDetails } from "../tuning/StudyDetails";
import { endedOf, trialJobs } from "../tuning/study";
import "./tuning.css";

const THROTTLE_MS = 400; // at most one refetch of each kind in this time
const REFRESH_MS = 10000; // the slow fallback while a study runs

const studyPath = (n: string) => "/tuning/" + encodeURIComponent(n);

/** fn at most once every ms: a call within ms of the last runs once the time is up. */
function useThrottled(fn: () => void, ms: number): () => void {
  const ref = useRef(fn);
  ref.current = fn;
  const last = useRef(0);
  const timer = useRef<ReturnType<typeof setTimeout> | null>(null);
  useEffect(() => () => {
    if (timer.current !== null) clearTimeout(timer.current);
  }, []);
  return useCallback(() => {
    if (timer.current !== null) return;
    const wait = Math.max(0, last.current + ms - Date.now());
    timer.current = setTimeout(() => {
      timer.current = null;
      last.current = Date.now();
      ref.current();
    }, wait);
  }, [ms]);
}

export default function TuningPage({ args }: PageProps) {
  const selected = args[0] ?? null;
  const list = useLoad(() => getAll<StudySummary>("/studies"), []);
  const study = useLoad<Study | null>(() => (selected !== null ? get<Study>(`/studies/${encodeURIComponent(selected)}`) : Promise.resolve(null)), [selected]);

  // the trial jobs seen (from job events, and the open study's trials): their epoch events
  // refresh the open study
  const trials = useRef(new Set<number>());
  useEffect(() => {
    for (const j of study.data ? trialJobs(study.data) : []) trials.current.add(j);
  }, [study.data]);
  const reloadList = useThrottled(list.reload, THROTTLE_MS);
  const reloadStudy = useThrottled(study.reload, THROTTLE_MS);
  useServerEvents((e) => {
    if (e.type === "job" && e.data.kind === "trial") {
      trials.current.add(e.job);
      reloadList();
      if (selected !== null) reloadStudy();
    } else if (e.type === "epoch" && trials.current.has(e.job) && selected !== null) {
      reloadStudy();
    }
  });

  const anyRunning = (list.data ?? []).some((s) => s.state === "running");
  useEffect(() => {
    if (!anyRunning) return;
    const timer = setInterval(() => {
      if (document.hidden) return;
      list.reload();
      if (selected !== null) study.reload();
    }, REFRESH_MS);
    return () => clearInterval(timer);
  }, [anyRunning, selected, list.reload, study.reload]); // eslint-disable-line react-hooks/exhaustive-deps

  const items = list.data ?? [];
  const open = study.data && study.data.name === selected ? study.data : null;
  return (
    <div className="tuning">
      <h1>Tuning</h1>
      <p className="muted intro">
        A study searches a space of settings for the best value of an objective, each trial a training job on the queue;
        its pruner stops the trials that fall behind. Run one with <code>netsmith tune STUDY.yaml</code> into this server's store.
      </p>
      <ErrorBox error={list.error} title="The studies" />
      <StudyTable items={items} loading={list.loading && list.data === undefined} selected={selected} />
      {selected !== null && (
        <>
          <ErrorBox error={study.error} title={`Study ${selected}`} />
          {!open && !study.error && <p className="loading">Loading the study…</p>}
          {open && <StudyDetails study={open} onClose={() => navigate("/tuning")} />}
        </>
      )}
    </div>
  );
}

function StudyTable({ items, loading, selected }: { items: StudySummary[]; loading: boolean; selected: string | null }) {
  return (
    <table className="list studies">
      <caption>Studies</caption>
      <thead>
        <tr>
          <th scope="col">Name</th>
          <th scope="col">State</th>
          <th scope="col" className="num">Trials (done/budget)</th>
          <th scope="col" className="num">Complete / pruned / failed</th>
          <th scope="col" className="num">Best value</th>
          <th scope="col">Metric</th>
          <th scope="col">Sampler / pruner</th>
          <th scope="col">Updated</th>
        </tr>
      </thead>
      <tbody>
        {loading && (
          <tr><td colSpan={8} className="empty">Loading the studies…</td></tr>
        )}
        {!loading && items.length === 0 && (
          <tr>
            <td colSpan={8} className="empty">
              No studies yet. Write a study file (the base run, the objective, the space of settings) and
              start one with <code>netsmith tune STUDY.yaml</code>; its trials show here as they run.
            </td>
          </tr>
        )}
        {items.map((s) => (
          <tr key={s.name} className="clickable" tabIndex={0} aria-selected={s.name === selected}
            onClick={() => navigate(studyPath(s.name))}
            onKeyDown={(e) => {
              if ((e.key === "Enter" || e.key === " ") && e.target === e.currentTarget) {
                e.preventDefault();
                navigate(studyPath(s.name));
              }
            }}>
            <td><a {...linkProps(studyPath(s.name))} tabIndex={-1}>{s.name}</a></td>
            <td><span className={`badge ${s.state === "complete" ? "succeeded" : s.state}`}>{s.state}</span></td>
            <td className="num">{`${endedOf(s)}/${s.budget}`}{s.running + s.paused > 0 ? <span className="muted">{` (${s.running + s.paused} open)`}</span> : null}</td>
            <td className="num">{`${s.complete} / ${s.pruned} / ${s.failed}`}</td>
            <td className="num">{fmt(s.best_value)}{s.best_trial !== null ? <span className="muted">{` (#${s.best_trial})`}</span> : null}</td>
            <td><code>{s.metric}</code> <span className="muted">{s.direction === "maximize" ? "max" : "min"}</span></td>
            <td>{s.sampler} / {s.pruner}</td>
            <td className="time">{when(s.updated)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
