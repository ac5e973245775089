// A model's training setup: the data source, the optimizer (with its settings in a flyout),
// loss, length, schedule, early stopping, the advanced settings and every other setting of the
// run config's schema, all fields from that schema; Train queues the job.
import { useEffect, useRef, useState } from "react";
import { createPortal } from "react-dom";
import { ApiError, post, type Dataset, type Job, type JsonSchema, type SystemInfo } from "../api";
import { QueuedNote } from "./FineTune";
import { ErrorBox } from "../components/ui";
import { firstProblem, SchemaForm, SettingField, type Values } from "../components/SchemaForm";
import { chosen, settingOfPath, shownFor, trainLayout } from "./settings";

export const LABELS: Record<string, string> = {
  batch_size: "Batch Size",
  eps: "Epsilon",
  prefetch: "Prefetch factor",
  early_stopping: "Patience",
  min_delta: "Min delta",
  restore_best: "Restore best",
  weight_decay: "Weight decay",
  learning_rate: "Learning rate",
};

export const BUILT_INS = ["boston_housing", "wine", "iris", "breast_cancer"];

/** The two "Beta" fields that write the betas list. */
export function BetaFields({ schema, value, onChange, error }: { schema: JsonSchema; value: unknown; onChange: (v: unknown) => void; error?: string }) {
  const def = Array.isArray(schema.default) ? (schema.default as number[]) : [0.9, 0.999];
  const list = Array.isArray(value) ? (value as unknown[]) : undefined;
  const item: JsonSchema = { ...(schema.items ?? {}), type: "number", description: schema.description };
  const set = (i: number, v: unknown) => {
    const next = [list?.[0], list?.[1]];
    next[i] = v;
    if (next[0] === undefined && next[1] === undefined) onChange(undefined);
    else onChange(next.map((x, k) => (x === undefined ? def[k] : x)));
  };
  return (
    <>
      {[0, 1].map((i) => (
        <SettingField key={i} name={`betas[${i}]`} label={`Beta ${i + 1}`} schema={{ ...item, default: def[i] }}
          value={list?.[i]} onChange={(v) => set(i, v)} error={i === 0 ? error : undefined} />
      ))}
    </>
  );
}

export interface TrainingSetupProps {
  model: string;
  schema: JsonSchema;
  system: SystemInfo | null;
  datasets: Dataset[];
  values: Values;
  setValues: (v: Values) => void;
  dataset: string;
  setDataset: (d: string) => void;
  onDatasetAdded: (d: Dataset) => void;
}

function describe(d: Dataset): string {
  const s = d.source ?? {};
  if (typeof s.pipeline === "string") return `pipeline ${s.pipeline}`;
  if (typeof s.data === "string") return s.data;
  return "";
}

export default function TrainingSetup(p: TrainingSetupProps) {
  const { schema, values, setValues } = p;
  const props = schema.properties ?? {};
  const layout = trainLayout(schema);
  const [flyout, setFlyout] = useState(false);
  const [allOpen, setAllOpen] = useState(false);
  const [serverError, setServerError] = useState<unknown>(null);
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [queued, setQueued] = useState<Job | null>(null);
  const [busy, setBusy] = useState(false);
  const advanced = useRef<HTMLDialogElement>(null);
  const pencil = useRef<HTMLButtonElement>(null);
  const flyoutRef = useRef<HTMLDivElement>(null);

  const optimizer = chosen(schema, "optimizer", values);
  const sched = chosen(schema, "schedule", values);
  const loss = chosen(schema, "loss", values);
  const optKeys = shownFor(schema, "optimizer", optimizer, layout.optimizer);
  const schedKeys = shownFor(schema, "schedule", sched, layout.schedule);
  const lossKeys = shownFor(schema, "loss", loss, layout.loss);

  useEffect(() => {
    if (!flyout) return;
    flyoutRef.current?.querySelector<HTMLElement>("input, select")?.focus();
    // a click away from the optimizer's row closes it, as a flyout does
    const away = (e: MouseEvent) => {
      const t = e.target as Node;
      if (!flyoutRef.current?.closest(".optimizer-row")?.contains(t)) setFlyout(false);
    };
    document.addEventListener("mousedown", away);
    return () => document.removeEventListener("mousedown", away);
  }, [flyout]);

  // a problem is shown where its setting is, so the section holding it opens
  function reveal(key: string) {
    if (layout.optimizer.includes(key)) setFlyout(true);
    else if (layout.all.includes(key)) setAllOpen(true);
    else if (layout.advanced.includes(key)) advanced.current?.showModal();
  }

  async function train(e: React.FormEvent) {
    e.preventDefault();
    setServerError(null);
    setErrors({});
    setQueued(null);
    const bad = firstProblem(schema, values);
    if (bad) {
      setErrors({ [bad[0]]: bad[1] });
      setServerError(new Error(`${LABELS[bad[0]] ?? bad[0]}: ${bad[1]}`));
      reveal(bad[0]);
      return;
    }
    if (!p.dataset) {
      setServerError(new Error("Choose a Data Source first (or register a built-in dataset)."));
      return;
    }
    setBusy(true);
    try {
      const job = await post<Job>("/jobs", { kind: "train", model: p.model, dataset: p.dataset, settings: values });
      setQueued(job);
    } catch (err) {
      setServerError(err);
      const key = err instanceof ApiError ? settingOfPath(err.path) : null;
      if (key && err instanceof ApiError) {
        setErrors({ [key]: err.message });
        reveal(key);
      }
    } finally {
      setBusy(false);
    }
  }

  const form = (keys: string[]) => (
    <SchemaForm schema={schema} keys={keys} values={values} onChange={setValues} labels={LABELS} errors={errors} />
  );
  const devices = p.system?.workers.devices ?? "cpu";

  return (
    <form className="panel training-setup" aria-labelledby="setup-h" onSubmit={train}>
      <div className="row setup-head">
        <h2 id="setup-h">Training setup</h2>
        <span className="muted">settings left empty take the library's or the blueprint's default (shown greyed)</span>
      </div>
      <div className="setup-grid">
        <section aria-labelledby="data-h">
          <h3 id="data-h">Data</h3>
          <div className="fields">
            <label htmlFor="data-source">Data Source</label>
            <div className="field">
              <select id="data-source" value={p.dataset} onChange={(e) => p.setDataset(e.target.value)} aria-describedby="data-source-help">
                <option value="">{p.datasets.length ? "choose a dataset" : "no datasets yet"}</option>
                <optgroup label="Datasets">
                  {p.datasets.map((d) => (
                    <option key={d.name} value={d.name}>{d.name}{describe(d) ? ` (${describe(d)})` : ""}</option>
                  ))}
                </optgroup>
              </select>
              <div id="data-source-help" className="help">
                the registry's datasets; one made by a data pipeline (netsmith data add --pipeline) is among them
              </div>
            </div>
          </div>
          <RegisterDataset onAdded={(d) => { p.onDatasetAdded(d); p.setDataset(d.name); }} />
          <h3 id="opt-h">Optimizer</h3>
          <div className="fields optimizer-row">
            {props.optimizer && (
              <SettingField name="optimizer" schema={props.optimizer} value={values.optimizer} error={errors.optimizer}
                onChange={(v) => setValues(v === undefined ? omit(values, "optimizer") : { ...values, optimizer: v })} />
            )}
            <span />
            <div className="flyout-anchor">
              <button type="button" className="icon" ref={pencil} aria-label="Optimizer settings" aria-expanded={flyout}
                aria-controls="optimizer-flyout" title="Optimizer settings" onClick={() => setFlyout(!flyout)}>✎ settings</button>
              {flyout && (
                <div className="flyout optimizer-flyout" id="optimizer-flyout" role="dialog" aria-label="Optimizer settings" ref={flyoutRef}
                  onKeyDown={(e) => {
                    if (e.key === "Escape") {
                      e.stopPropagation();
                      setFlyout(false);
                      pencil.current?.focus();
                    }
                  }}>
                  <div className="row flyout-head">
                    <h3>Settings of {optimizer ?? "the optimizer"}</h3>
                    <span className="grow" />
                    <button type="button" className="icon" aria-label="Close optimizer settings" onClick={() => { setFlyout(false); pencil.current?.focus(); }}>✕</button>
                  </div>
                  <div className="fields">
                    {optKeys.map((k) =>
                      k === "betas" ? (
                        <BetaFields key={k} schema={props.betas} value={values.betas} error={errors.betas}
                          onChange={(v) => setValues(v === undefined ? omit(values, "betas") : { ...values, betas: v })} />
                      ) : (
                        <SettingField key={k} name={k} schema={props[k]} value={values[k]} label={LABELS[k]} error={errors[k]}
                          onChange={(v) => setValues(v === undefined ? omit(values, k) : { ...values, [k]: v })} />
                      ),
                    )}
                  </div>
                </div>
              )}
            </div>
          </div>
        </section>
        <section aria-labelledby="loss-h">
          <h3 id="loss-h">Loss and length</h3>
          {form([...lossKeys, ...layout.length])}
          <h3 id="sched-h">Schedule</h3>
          {form(schedKeys)}
        </section>
        <section aria-labelledby="early-h">
          <h3 id="early-h">Early stopping</h3>
          {form(layout.early)}
        </section>
      </div>
      {layout.all.length > 0 && (
        <details className="all-settings" open={allOpen} onToggle={(e) => setAllOpen((e.target as HTMLDetailsElement).open)}>
          <summary>All settings <span className="muted">({layout.all.length} more)</span></summary>
          {form(layout.all)}
        </details>
      )}
      <ErrorBox error={serverError} title="Not queued" />
      <div className="row setup-actions">
        <button type="button" className="icon" aria-label="Advanced Settings" title="Advanced Settings" onClick={() => advanced.current?.showModal()}>⚙ Advanced</button>
        <span className="muted">{summary(values, layout.advanced, devices)}</span>
        <span className="grow" />
        {queued && <QueuedNote job={queued} />}
        <button type="submit" className="primary" disabled={busy}>Train</button>
      </div>
      {createPortal(
      <dialog ref={advanced} aria-labelledby="adv-h" className="advanced-dialog">
        <form onSubmit={(e) => { e.preventDefault(); e.stopPropagation(); advanced.current?.close(); }}>
        <h2 id="adv-h">Advanced Settings</h2>
        <div className="fields">
          {props.device ? null : (
            <>
              <label htmlFor="adv-device">Device</label>
              <div className="field">
                <select id="adv-device" value={devices.split(",")[0]} disabled aria-describedby="adv-device-help">
                  {["cpu", "cuda"].filter((d) => devices.split(",").includes(d)).map((d) => <option key={d} value={d}>{d}</option>)}
                </select>
                <div id="adv-device-help" className="help">
                  the workers run on the server's --device ({devices}); {(p.system?.devices_built ?? []).includes("cuda")
                    ? "this netsmith has CUDA: start the server with --device cpu,cuda to train there"
                    : "this netsmith was built without CUDA, so cpu is the only device"}
                </div>
              </div>
            </>
          )}
          {layout.advanced.map((k) =>
            k === "device" ? (
              <SettingField key={k} name={k} label="Device" error={errors[k]} value={values[k]}
                schema={{ ...props[k], enum: (props[k].enum ?? []).filter((d) => devices.split(",").includes(String(d))) }}
                onChange={(v) => setValues(v === undefined ? omit(values, k) : { ...values, [k]: v })} />
            ) : (
              <SettingField key={k} name={k} schema={props[k]} value={values[k]} label={LABELS[k]} error={errors[k]}
                onChange={(v) => setValues(v === undefined ? omit(values, k) : { ...values, [k]: v })} />
            ),
          )}
          {!props.workers && (
            <>
              <label htmlFor="adv-workers">Workers</label>
              <div className="field">
                <input id="adv-workers" type="text" readOnly value={String(p.system?.workers.in_process ?? "–")} aria-describedby="adv-workers-help" />
                <div id="adv-workers-help" className="help">
                  the server's in-process workers (its --workers); each runs one job at a time, and workers on other machines share the store
                </div>
              </div>
            </>
          )}
        </div>
        <div className="row dialog-buttons">
          <button type="submit" className="primary">Done</button>
        </div>
        </form>
      </dialog>, document.body)}
    </form>
  );
}

function omit(v: Values, k: string): Values {
  const next = { ...v };
  delete next[k];
  return next;
}

function summary(values: Values, keys: string[], devices: string): string {
  const set = keys.filter((k) => values[k] !== undefined).map((k) => `${LABELS[k] ?? k} ${String(values[k])}`);
  return [`device ${devices}`, ...set].join(" · ");
}

/** The shortcut that registers a built-in dataset, so a fresh store can train at once. */
function RegisterDataset({ onAdded }: { onAdded: (d: Dataset) => void }) {
  const ref = useRef<HTMLDialogElement>(null);
  const [data, setData] = useState(BUILT_INS[0]);
  const [name, setName] = useState(BUILT_INS[0]);
  const [named, setNamed] = useState(false);
  const [error, setError] = useState<unknown>(null);
  async function submit(e: React.FormEvent) {
    e.preventDefault();
    e.stopPropagation();
    setError(null);
    try {
      const d = await post<Dataset>("/datasets", { name: name.trim(), data });
      ref.current?.close();
      onAdded(d);
    } catch (err) {
      setError(err);
    }
  }
  return (
    <>
      <button type="button" className="link-button" onClick={() => { setError(null); ref.current?.showModal(); }}>Register a built-in dataset</button>
      {createPortal(<dialog ref={ref} aria-labelledby="reg-h" className="register-dialog">
        <form onSubmit={submit}>
          <h2 id="reg-h">Register a built-in dataset</h2>
          <label className="stacked">
            Built-in dataset
            <select value={data} onChange={(e) => { setData(e.target.value); if (!named) setName(e.target.value); }}>
              {BUILT_INS.map((b) => <option key={b} value={b}>{b}</option>)}
            </select>
          </label>
          <label className="stacked">
            Dataset name
            <input value={name} onChange={(e) => { setName(e.target.value); setNamed(true); }} required spellCheck={false} />
          </label>
          <ErrorBox error={error} />
          <div className="row dialog-buttons">
            <button type="button" onClick={() => ref.current?.close()}>Cancel</button>
            <button type="submit" className="primary">Register</button>
          </div>
        </form>
      </dialog>, document.body)}
    </>
  );
}
