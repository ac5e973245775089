// The fine-tune action: a version trained on (on a dataset) into a model, as a finetune job
// with the training setup's run settings; freeze, new head and refit come from the run
// config's schema.
import { useEffect, useRef, useState } from "react";
import { ApiError, get, post, type Dataset, type Job, type JsonSchema, type Model } from "../api";
import { useServerEvents } from "../events";
import { linkProps } from "../router";
import { ErrorBox } from "../components/ui";
import { SettingField, type Values } from "../components/SchemaForm";
import { FINETUNE_ONLY, settingOfPath } from "./settings";

export interface FineTuneProps {
  model: Model;
  datasets: Dataset[];
  dataset: string;
  schema: JsonSchema;
  /** the training setup's settings, sent with the job */
  settings: Values;
  onQueued: (job: Job) => void;
}

const LABELS: Record<string, string> = { freeze: "Freeze layers", new_head: "New head", refit_normalization: "Refit normalization" };

export default function FineTune({ model, datasets, dataset, schema, settings, onQueued }: FineTuneProps) {
  const ref = useRef<HTMLDialogElement>(null);
  const latest = model.versions.length ? model.versions[model.versions.length - 1].version : null;
  const [from, setFrom] = useState<string>("");
  const [to, setTo] = useState(model.name + "-ft");
  const [data, setData] = useState("");
  const [extra, setExtra] = useState<Values>({});
  const [error, setError] = useState<unknown>(null);
  const [fieldError, setFieldError] = useState<Record<string, string>>({});
  const [busy, setBusy] = useState(false);
  const props = schema.properties ?? {};

  function open() {
    setFrom(String(latest ?? ""));
    setData(dataset || datasets[0]?.name || "");
    setError(null);
    setFieldError({});
    ref.current?.showModal();
  }
  async function submit(e: React.FormEvent) {
    e.preventDefault();
    setError(null);
    setFieldError({});
    setBusy(true);
    try {
      const job = await post<Job>("/jobs", { kind: "finetune", from: `${model.name}@${from}`, to: to.trim(), dataset: data, settings, ...extra });
      ref.current?.close();
      onQueued(job);
    } catch (err) {
      setError(err);
      if (err instanceof ApiError && err.path) {
        const k = settingOfPath(err.path) ?? err.path;
        setFieldError({ [k]: err.message });
      }
    } finally {
      setBusy(false);
    }
  }
  const set = (k: string, v: unknown) => {
    const next = { ...extra };
    if (v === undefined) delete next[k];
    else next[k] = v;
    setExtra(next);
  };
  const epochs = settings.epochs !== undefined ? `${String(settings.epochs)} epochs` : "the blueprint's epochs";
  return (
    <>
      <button type="button" onClick={open} disabled={latest === null} title={latest === null ? "train a first version to fine-tune" : undefined}>Fine-tune</button>
      <dialog ref={ref} aria-labelledby="ft-h" className="finetune-dialog">
        <form onSubmit={submit}>
          <h2 id="ft-h">Fine-tune {model.name}</h2>
          <p className="help">Trains a version on, into a new version of the destination model, with the training setup's settings ({epochs}).</p>
          <div className="fields">
            <label htmlFor="ft-from">From version</label>
            <div className="field">
              <select id="ft-from" value={from} onChange={(e) => setFrom(e.target.value)}>
                {[...model.versions].reverse().map((v) => <option key={v.version} value={String(v.version)}>{`${model.name}@${v.version}`}</option>)}
              </select>
            </div>
            <label htmlFor="ft-to">Destination model</label>
            <div className="field">
              <input id="ft-to" type="text" value={to} onChange={(e) => setTo(e.target.value)} required spellCheck={false} aria-describedby="ft-to-help" />
              <div id="ft-to-help" className="help">a new model of the same architecture is made when none has this name</div>
            </div>
            <label htmlFor="ft-data">Dataset</label>
            <div className="field">
              <select id="ft-data" value={data} onChange={(e) => setData(e.target.value)} required>
                <option value="">choose a dataset</option>
                {datasets.map((d) => <option key={d.name} value={d.name}>{d.name}</option>)}
              </select>
            </div>
            {FINETUNE_ONLY.filter((k) => k in props).map((k) => (
              <SettingField key={k} name={k} schema={props[k]} value={extra[k]} label={LABELS[k]} error={fieldError[k]} onChange={(v) => set(k, v)} />
            ))}
          </div>
          <ErrorBox error={error} title="Not queued" />
          <div className="row dialog-buttons">
            <button type="button" onClick={() => ref.current?.close()}>Cancel</button>
            <button type="submit" className="primary" disabled={busy || !data || !to.trim()}>Start fine-tune</button>
          </div>
        </form>
      </dialog>
    </>
  );
}

/** "Job N queued" with its link, and its state as the server's events tell it. */
export function QueuedNote({ job }: { job: Job }) {
  const [state, setState] = useState<{ state: string; version?: number } | null>(null);
  useServerEvents((e) => {
    if (e.job !== job.id || e.type !== "job" || typeof e.data.state !== "string") return;
    const r = e.data.result as { version?: number } | null | undefined;
    setState({ state: e.data.state, version: r?.version });
  });
  // a job may end before the stream carries its events: its state now, unless an event came first
  useEffect(() => {
    let live = true;
    get<Job>("/jobs/" + job.id).then(
      (j) => live && setState((s) => s ?? { state: j.state, version: (j.result as { version?: number } | null)?.version }),
      () => {},
    );
    return () => {
      live = false;
    };
  }, [job.id]);
  return (
    <span className="ok-note" role="status">
      Job {job.id} queued ({job.kind}): <a {...linkProps("/training/" + job.id)}>follow it on the Training page</a>
      {state && state.state !== "queued" && (
        <span className={"badge " + state.state}>{state.state}{state.version !== undefined ? `: version ${state.version}` : ""}</span>
      )}
    </span>
  );
}
