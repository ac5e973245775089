// Training: the jobs in four tables (queued, in progress, complete, failed), kept live by the
// server's event stream, and one job's details: its curves, confusion matrix, settings, error,
// and the actions Retrain, Cancel and Download model.
import { memo, useCallback, useEffect, useMemo, useRef, useState } from "react";
import type { PageProps } from "../App";
import { get, type Job, type JobState, type List } from "../api";
import { useServerEvents } from "../events";
import { navigate } from "../router";
import { ErrorBox, duration, fmt, when } from "../components/ui";
import { Plot } from "../components/Plot";
import {
  GROUPS, STATES, applyEvent, datasetOf, emptyCache, finalMetrics, groupJobs, groupTotal, lossLine, modelOf,
  progressOf, putJob, ratioText, replaceLists, shortWhen, statesOf, type Group,
} from "../training/jobs";
import { JobDetails } from "../training/JobDetails";
import "./training.css";

const PAGE = 20; // rows a table shows at first, and how many more "Show more" adds
const REFRESH_MS = 10000; // the lists' slow fallback refresh; events do the live work

const CAPTION: Record<Group, string> = { queued: "Queued", running: "In Progress", complete: "Complete", failed: "Failed" };
const EMPTY: Record<Group, string> = {
  queued: "No jobs waiting.", running: "No jobs running.", complete: "No finished jobs.", failed: "No failed or cancelled jobs.",
};
const MORE: Record<Group, string> = {
  queued: "Show more queued jobs", running: "Show more in-progress jobs",
  complete: "Show more complete jobs", failed: "Show more failed jobs",
};

export default function TrainingPage({ args }: PageProps) {
  const cache = useRef(emptyCache());
  const [, setTick] = useState(0);
  // one redraw a frame however many events arrive in it (a fast training sends hundreds a second)
  const frame = useRef<number | null>(null);
  const redraw = useCallback(() => {
    if (frame.current !== null) return;
    frame.current = requestAnimationFrame(() => {
      frame.current = null;
      setTick((t) => t + 1);
    });
  }, []);
  useEffect(() => () => {
    if (frame.current !== null) cancelAnimationFrame(frame.current);
  }, []);
  const [limits, setLimits] = useState<Record<Group, number>>({ queued: PAGE, running: PAGE, complete: PAGE, failed: PAGE });
  const [loaded, setLoaded] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const limitsRef = useRef(limits);
  limitsRef.current = limits;
  const pending = useRef(new Set<number>());
  const selected = args[0] !== undefined && /^\d+$/.test(args[0]) ? Number(args[0]) : null;
  const selectedRef = useRef(selected);
  selectedRef.current = selected;

  const loadLists = useCallback(async () => {
    const since = performance.now();
    const lim = limitsRef.current;
    try {
      const lists = await Promise.all(
        STATES.map(async (state: JobState) => {
          const g = GROUPS.find((gr) => statesOf(gr).includes(state)) as Group;
          const page = await get<List<Job>>("/jobs", { state, limit: lim[g] });
          return { state, items: page.items, total: page.total };
        }),
      );
      replaceLists(cache.current, lists, since, selectedRef.current);
      setError(null);
      setLoaded(true);
      redraw();
    } catch (e) {
      setError(e);
    }
  }, [redraw]);

  useEffect(() => {
    void loadLists();
  }, [loadLists, limits]);

  useEffect(() => {
    const timer = setInterval(() => {
      if (!document.hidden) void loadLists();
    }, REFRESH_MS);
    return () => clearInterval(timer);
  }, [loadLists]);

  const fetchJob = useCallback(
    (id: number) => {
      if (pending.current.has(id)) return;
      pending.current.add(id);
      get<Job>(`/jobs/${id}`).then(
        (j) => {
          pending.current.delete(id);
          putJob(cache.current, j);
          redraw();
        },
        () => pending.current.delete(id),
      );
    },
    [redraw],
  );

  useServerEvents((e) => {
    const r = applyEvent(cache.current, e, performance.now());
    if (r.changed) redraw();
    if (r.refetch !== null) fetchJob(r.refetch);
  });

  const groups = groupJobs(cache.current.byId.values(), limits);
  const job = selected !== null ? cache.current.byId.get(selected) : undefined;
  const open = useCallback((id: number) => navigate(`/training/${id}`), []);
  const onChanged = useCallback(
    (j: Job, isNew: boolean) => {
      putJob(cache.current, j, isNew);
      redraw();
    },
    [redraw],
  );

  return (
    <div className={"training" + (selected !== null ? " with-details" : "")}>
      <div className="training-lists">
        <h1>Training</h1>
        <ErrorBox error={error} title="The job lists" />
        {!loaded && !error && <p className="loading">Loading the jobs…</p>}
        {loaded &&
          GROUPS.map((g) => (
            <div className="job-group" key={g}>
              <JobTable group={g} jobs={groups[g]} selected={selected} onOpen={open} />
              {groupTotal(cache.current.totals, g) > groups[g].length && groups[g].length >= limits[g] && (
                <button type="button" className="show-more" aria-label={MORE[g]}
                  onClick={() => setLimits((l) => ({ ...l, [g]: l[g] + PAGE }))}>
                  Show more ({fmt(groupTotal(cache.current.totals, g) - groups[g].length)} more)
                </button>
              )}
            </div>
          ))}
      </div>
      {selected !== null && (
        <JobDetails id={selected} job={job} onChanged={onChanged} onClose={() => navigate("/training")} />
      )}
    </div>
  );
}

function JobTable({ group, jobs, selected, onOpen }: { group: Group; jobs: Job[]; selected: number | null; onOpen: (id: number) => void }) {
  const cols = group === "running" ? 8 : 7;
  return (
    <table className={`list jobs ${group}`}>
      <caption>{CAPTION[group]}</caption>
      <thead>
        <tr>
          <th scope="col">Job</th>
          <th scope="col">Kind</th>
          <th scope="col">Model</th>
          <th scope="col">Dataset</th>
          <th scope="col">State</th>
          {group === "queued" && <th scope="col">Submitted</th>}
          {group === "queued" && <th scope="col" className="num">Epochs</th>}
          {group === "running" && <th scope="col">Current Epoch Ratio</th>}
          {group === "running" && <th scope="col">Loss</th>}
          {group === "running" && <th scope="col" className="wide-only">Started</th>}
          {group === "complete" && <th scope="col">Validation</th>}
          {group === "complete" && <th scope="col" className="num">Duration</th>}
          {group === "failed" && <th scope="col">Error</th>}
          {group === "failed" && <th scope="col">Finished</th>}
        </tr>
      </thead>
      <tbody>
        {jobs.length === 0 && (
          <tr>
            <td className="empty" colSpan={cols}>{EMPTY[group]}</td>
          </tr>
        )}
        {jobs.map((j) => (
          <JobRow key={j.id} job={j} group={group} selected={j.id === selected} onOpen={onOpen} />
        ))}
      </tbody>
    </table>
  );
}

// a row redraws only when its job object changes (an event makes a new one)
const JobRow = memo(function JobRow({ job, group, selected, onOpen }: { job: Job; group: Group; selected: boolean; onOpen: (id: number) => void }) {
  return (
    <tr className="clickable" tabIndex={0} aria-selected={selected} onClick={() => onOpen(job.id)}
      onKeyDown={(e) => {
        if (e.key === "Enter" || e.key === " ") {
          e.preventDefault();
          onOpen(job.id);
        }
      }}>
      <td className="mono">#{job.id}</td>
      <td>{job.kind}</td>
      <td className="cut" title={modelOf(job)}>{modelOf(job)}</td>
      <td className="cut" title={datasetOf(job)}>{datasetOf(job)}</td>
      <td><span className={`badge ${job.state}`}>{job.state}{job.cancel_requested && job.state === "running" ? " (stopping)" : ""}</span></td>
      {group === "queued" && <td className="time" title={when(job.created)}>{shortWhen(job.created)}</td>}
      {group === "queued" && <td className="num">{ratioText(job).split("/")[1] ?? "–"}</td>}
      {group === "running" && (
        <td className="ratio">
          <span className="ratio-text">{ratioText(job)}</span>
          <div className="progress" role="progressbar" aria-label={`progress of job ${job.id}`}
            aria-valuemin={0} aria-valuemax={100} aria-valuenow={Math.round(progressOf(job) * 100)}>
            <div style={{ width: `${(progressOf(job) * 100).toFixed(1)}%` }} />
          </div>
        </td>
      )}
      {group === "running" && (
        <td className="spark">
          <Sparkline job={job} />
        </td>
      )}
      {group === "running" && <td className="time wide-only" title={when(job.started)}>{shortWhen(job.started)}</td>}
      {group === "complete" && (
        <td>{finalMetrics(job).map(([k, v]) => <span key={k} className="metric">{k} <b>{fmt(v)}</b></span>)}</td>
      )}
      {group === "complete" && <td className="num">{job.started && job.finished ? duration(job.finished - job.started) : "–"}</td>}
      {group === "failed" && <td className={"cut " + (job.state === "failed" ? "error-cell" : "muted")} title={job.error ?? ""}>{job.error ?? (job.state === "cancelled" ? "cancelled" : "–")}</td>}
      {group === "failed" && <td className="time" title={when(job.finished)}>{shortWhen(job.finished)}</td>}
    </tr>
  );
});

function Sparkline({ job }: { job: Job }) {
  const line = useMemo(() => lossLine(job), [job.history]); // eslint-disable-line react-hooks/exhaustive-deps
  const series = useMemo(() => [{ label: "loss", values: line.y }], [line]);
  return <Plot compact x={line.x} series={series} width={120} height={28} ariaLabel={`loss curve of job ${job.id}`} />;
}
