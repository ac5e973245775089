// One job's details: its facts, the actions, the per-epoch curves (growing live as the page's
// events append epochs), the confusion matrix, the final metrics and the settings used.
import { useEffect, useMemo, useState } from "react";
import { ApiError, get, href, post, type EpochMetrics, type Job, type Metrics, type Version } from "../api";
import { linkProps, navigate } from "../router";
import { ErrorBox, duration, fmt, when } from "../components/ui";
import { Plot } from "../components/Plot";
import { confusionOf, curves, datasetOf, modelOf, ratioText, settingsRows, versionOf, type Confusion } from "./jobs";

const FINISHED = new Set(["succeeded", "failed", "cancelled"]);
const RETRAINABLE = new Set(["train", "finetune", "pipeline"]);

interface CardOutputs {
  job: number;
  cards: { card: string; outputs: { port: string; kind: string; file: string }[] }[];
}

/** What a finished pipeline job's cards wrote: the first train card's history, every metrics file. */
interface PipelineParts {
  history: { epoch: number; metrics: EpochMetrics }[];
  metrics: { card: string; values: Record<string, unknown> }[];
}

async function pipelineParts(id: number): Promise<PipelineParts> {
  const out = await get<CardOutputs>(`/jobs/${id}/outputs`);
  const parts: PipelineParts = { history: [], metrics: [] };
  for (const c of out.cards) {
    for (const o of c.outputs) {
      const path = `/jobs/${id}/outputs/${encodeURIComponent(c.card)}/${encodeURIComponent(o.file)}`;
      if (o.kind === "metrics") parts.metrics.push({ card: c.card, values: await get<Record<string, unknown>>(path) });
      else if (o.kind === "history" && parts.history.length === 0) {
        const h = await get<{ epochs?: { epoch: number; train?: Metrics; val?: Metrics }[] }>(path);
        parts.history = (h.epochs ?? []).map((e) => ({ epoch: e.epoch + 1, metrics: { epoch: e.epoch, train: e.train, val: e.val } }));
      }
    }
  }
  return parts;
}

export function JobDetails({ id, job, onChanged, onClose }: {
  id: number;
  job: Job | undefined;
  onChanged: (j: Job, isNew: boolean) => void;
  onClose: () => void;
}) {
  const [loadError, setLoadError] = useState<unknown>(null);
  const [actionError, setActionError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const [parts, setParts] = useState<PipelineParts | null>(null);
  const [partsError, setPartsError] = useState<unknown>(null);

  // a job the lists do not hold (an old one, or a link) is fetched on its own
  useEffect(() => {
    setLoadError(null);
    setActionError(null);
    if (job) return;
    let live = true;
    get<Job>(`/jobs/${id}`).then((j) => live && onChanged(j, false), (e) => live && setLoadError(e));
    return () => {
      live = false;
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [id, job === undefined]);

  // a trained version's metrics: the held-out part's, with a classifier's confusion matrix
  const made = job ? versionOf(job) : null;
  const [versionMetrics, setVersionMetrics] = useState<unknown>(null);
  useEffect(() => {
    setVersionMetrics(null);
    if (!made) return;
    let live = true;
    get<Version>(`/models/${encodeURIComponent(made.model)}/versions/${made.version}`).then(
      (v) => live && setVersionMetrics(v.metrics),
      () => {}, // the version's page says why; the job's own details stand without it
    );
    return () => {
      live = false;
    };
  }, [made?.model, made?.version]);

  const pipelineDone = job?.kind === "pipeline" && FINISHED.has(job.state);
  useEffect(() => {
    setParts(null);
    setPartsError(null);
    if (!pipelineDone) return;
    let live = true;
    pipelineParts(id).then((p) => live && setParts(p), (e) => live && !(e instanceof ApiError && e.status === 404) && setPartsError(e));
    return () => {
      live = false;
    };
  }, [id, pipelineDone]);

  const history = job && job.history.length > 0 ? job.history : parts?.history ?? [];
  const c = useMemo(() => curves(history), [history]);
  const plots = useMemo(
    () => c.metrics.map((m) => ({
      title: m.name === "loss" ? "Loss" : m.name,
      series: [
        { label: "train", values: m.train },
        ...(m.val.some((v) => v !== null) ? [{ label: "validation", values: m.val, dash: true }] : []),
      ],
    })),
    [c],
  );

  if (!job) {
    return (
      <section className="job-details panel" aria-label={`Job ${id}`}>
        <h2>Job {id}</h2>
        {loadError ? <ErrorBox error={loadError} /> : <p className="loading">Loading…</p>}
      </section>
    );
  }

  async function act(what: "retrain" | "cancel") {
    if (!job) return;
    setBusy(true);
    setActionError(null);
    try {
      const j = await post<Job>(`/jobs/${job.id}/${what}`, {});
      onChanged(j, what === "retrain");
      if (what === "retrain") navigate(`/training/${j.id}`);
    } catch (e) {
      setActionError(e);
    } finally {
      setBusy(false);
    }
  }

  const version = versionOf(job);
  const active = job.state === "queued" || job.state === "running";
  const confusions: { title: string; m: Confusion }[] = [];
  const direct = confusionOf(job.metrics?.val) ?? confusionOf(job.result?.metrics) ?? confusionOf(versionMetrics);
  if (direct) confusions.push({ title: "Confusion matrix", m: direct });
  for (const p of parts?.metrics ?? []) {
    const m = confusionOf(p.values);
    if (m) confusions.push({ title: confusions.length === 0 ? "Confusion matrix" : `Confusion matrix (${p.card})`, m });
  }
  const finals = finalTables(job, parts);

  return (
    <section className="job-details panel" aria-label={`Job ${job.id}`}
      onKeyDown={(e) => {
        if (e.key === "Escape") onClose();
      }}>
      <div className="details-head">
        <h2>Job {job.id}</h2>
        <span className={`badge ${job.state}`}>{job.state}</span>
        {job.cancel_requested && job.state === "running" && <span className="muted">stopping…</span>}
        <button type="button" className="icon close" aria-label="Close the job's details" onClick={onClose}>×</button>
      </div>
      {(active || RETRAINABLE.has(job.kind) || version) && (
      <div className="row actions">
        {!active && RETRAINABLE.has(job.kind) && (
          <button type="button" className="primary" disabled={busy} onClick={() => void act("retrain")}>Retrain</button>
        )}
        {active && (
          <button type="button" className="danger" disabled={busy || job.cancel_requested} onClick={() => void act("cancel")}>Cancel</button>
        )}
        {version && (
          <a className="button" href={href(`/models/${encodeURIComponent(version.model)}/versions/${version.version}/file`)}
            download={`${version.model}-v${version.version}.safetensors`}>
            Download model
          </a>
        )}
      </div>
      )}
      <ErrorBox error={actionError} />

      <dl className="facts">
        <dt>Kind</dt><dd>{job.kind}</dd>
        <dt>Model</dt><dd>{job.kind === "pipeline" ? modelOf(job) : <a {...linkProps(`/models/${encodeURIComponent(modelOf(job).split("@")[0])}`)}>{modelOf(job)}</a>}{version ? <span className="muted"> (made version {version.version})</span> : null}</dd>
        <dt>Dataset</dt><dd>{datasetOf(job)}</dd>
        {(job.kind === "train" || job.kind === "finetune") && (<><dt>Epochs</dt><dd>{ratioText(job)}</dd></>)}
        <dt>Submitted</dt><dd>{when(job.created)}</dd>
        <dt>Started</dt><dd>{when(job.started)}</dd>
        <dt>Finished</dt><dd>{when(job.finished)}</dd>
        {job.started > 0 && job.finished > 0 && (<><dt>Duration</dt><dd>{duration(job.finished - job.started)}</dd></>)}
        {job.worker && (<><dt>Worker</dt><dd className="mono">{job.worker}</dd></>)}
        {job.attempts > 1 && (<><dt>Attempts</dt><dd>{job.attempts}</dd></>)}
      </dl>

      {job.state === "failed" && job.error && (
        <div className="error job-error" role="alert" aria-labelledby={`job-${job.id}-error`}>
          <h3 id={`job-${job.id}-error`}>Error</h3>
          <p className="error-message">{job.error}</p>
        </div>
      )}
      {job.state === "cancelled" && <p className="muted">Cancelled: {(job.error ?? (job.epoch > 0 ? `after epoch ${job.epoch}` : "before it started")).replace(/\.$/, "")}.</p>}

      {plots.length > 0 && (
        <div className="plots">
          {plots.map((p) => (
            <Plot key={p.title} title={p.title} ariaLabel={p.title} x={c.x} series={p.series}
              width={p.title === "Loss" ? 500 : 245} height={p.title === "Loss" ? 220 : 170} xLabel="epoch" />
          ))}
        </div>
      )}
      {plots.length === 0 && (job.kind === "train" || job.kind === "finetune") && (
        <p className="muted">{active ? "The curves appear with the first epoch." : "No epochs were recorded."}</p>
      )}
      <ErrorBox error={partsError} title="The cards' outputs" />

      {confusions.map((cm) => <ConfusionTable key={cm.title} title={cm.title} m={cm.m} />)}
      {finals.map((f) => (
        <table key={f.title} className="list kv">
          <caption>{f.title}</caption>
          <tbody>
            {f.rows.map(([k, v]) => (
              <tr key={k}><th scope="row">{k}</th><td className="num">{fmt(v)}</td></tr>
            ))}
          </tbody>
        </table>
      ))}

      <table className="list kv settings">
        <caption>Settings used</caption>
        <tbody>
          {settingsRows(job).map(([k, v]) => (
            <tr key={k}>
              <th scope="row">{k}</th>
              <td><Value v={v} /></td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}

function Value({ v }: { v: unknown }) {
  if (typeof v === "string") return v.includes("\n") ? <pre className="value-text">{v}</pre> : <span>{v}</span>;
  if (typeof v === "number") return <span className="mono">{fmt(v, 6)}</span>;
  if (v === null || v === undefined) return <span className="muted">–</span>;
  return <code>{JSON.stringify(v)}</code>;
}

/** The last epoch's train and validation metrics, an evaluate job's, or each metrics card's. */
function finalTables(job: Job, parts: PipelineParts | null): { title: string; rows: [string, number][] }[] {
  const rows = (m: unknown): [string, number][] =>
    m && typeof m === "object"
      ? Object.entries(m as Record<string, unknown>).filter((e): e is [string, number] => typeof e[1] === "number" && e[0] !== "epoch")
      : [];
  const out: { title: string; rows: [string, number][] }[] = [];
  const m = job.metrics;
  if (m?.val) out.push({ title: "Validation metrics (last epoch)", rows: rows(m.val) });
  else if (m?.train) out.push({ title: "Training metrics (last epoch)", rows: rows(m.train) });
  if (job.result?.metrics) out.push({ title: "Metrics", rows: rows(job.result.metrics) });
  for (const p of parts?.metrics ?? []) out.push({ title: `Metrics (${p.card})`, rows: rows(p.values) });
  return out.filter((t) => t.rows.length > 0);
}

function ConfusionTable({ title, m }: { title: string; m: Confusion }) {
  const max = Math.max(1, ...m.cells.flat());
  return (
    <table className="list confusion">
      <caption>{title}</caption>
      <thead>
        <tr>
          <th scope="col"><span className="muted">true \ predicted</span></th>
          {m.classes.map((c) => <th key={c} scope="col" className="num">{c}</th>)}
        </tr>
      </thead>
      <tbody>
        {m.cells.map((row, i) => (
          <tr key={i}>
            <th scope="row">{m.classes[i]}</th>
            {row.map((v, k) => (
              <td key={k} className={"num" + (i === k ? " diag" : "")}
                style={{ background: v > 0 ? `rgba(37, 99, 235, ${(0.08 + 0.5 * (v / max)).toFixed(3)})` : undefined }}>
                {fmt(v)}
              </td>
            ))}
          </tr>
        ))}
      </tbody>
    </table>
  );
}
