// The Models page: the registry's models, and a model's page (/models/NAME) with its versions,
// their lineage, downloads, the fine-tune action and, at the bottom, its training setup.
import { useEffect, useMemo, useState } from "react";
import type { PageProps } from "../App";
import { get, getAll, href, type Architecture, type Dataset, type Job, type JsonSchema, type Metrics, type Model, type SystemInfo } from "../api";
import { useServerEvents } from "../events";
import { linkProps, navigate } from "../router";
import { ErrorBox, fmt, useLoad, when } from "../components/ui";
import type { Values } from "../components/SchemaForm";
import TrainingSetup from "../models/TrainingSetup";
import Lineage, { mainMetric } from "../models/Lineage";
import FineTune, { QueuedNote } from "../models/FineTune";
import { withBlueprintDefaults } from "../models/settings";
import "./models.css";


/* A version exported for deployment (the server's /export/{file}): ONNX, and the C source's
 * two files, named after the model and version. */
export function ExportLinks({ model, version }: { model: string; version: number }) {
  const base = `${model}-v${version}`;
  const url = (file: string) =>
    href(`/models/${encodeURIComponent(model)}/versions/${version}/export/${encodeURIComponent(file)}`);
  return (
    <span className="exports" aria-label={`Export version ${version}`}>
      {[
        ["onnx", "ONNX", "an ONNX model for any ONNX runtime"],
        ["c", ".c", "C source: the weights and the predict function"],
        ["h", ".h", "the C source's header"],
      ].map(([ext, label, what]) => (
        <a key={ext} className="button" href={url(`${base}.${ext}`)} download={`${base}.${ext}`}
          title={`Version ${version} as ${what}`} aria-label={`Export version ${version} as ${label}`}>
          {label}
        </a>
      ))}
    </span>
  );
}

export default function ModelsPage({ args }: PageProps) {
  if (args[0]) return <ModelPage key={args[0]} name={args[0]} />;
  return <ModelList />;
}

const modelPath = (n: string) => "/models/" + encodeURIComponent(n);

function ModelList() {
  const list = useLoad(() => getAll<Model>("/models"), []);
  useServerEvents((e) => {
    if (e.type === "job" && e.data.state === "succeeded") list.reload();
  });
  const items = list.data ?? [];
  return (
    <div className="model-list">
      <h1>Models</h1>
      <p className="muted intro">
        A model is a named instance of an architecture; each training or fine-tune makes a version. Open one to train it.
        New models come from an architecture's page (<a {...linkProps("/architectures")}>Convert To Model</a>).
      </p>
      <ErrorBox error={list.error} />
      <table className="list">
        <caption>Models</caption>
        <thead>
          <tr><th>Name</th><th>Architecture</th><th className="num">Versions</th><th>Best / latest</th><th>Created</th></tr>
        </thead>
        <tbody>
          {items.map((m) => {
            const latest = m.versions[m.versions.length - 1];
            const best = bestVersion(m);
            return (
              <tr key={m.name} className="clickable" tabIndex={0} onClick={() => navigate(modelPath(m.name))}
                onKeyDown={(e) => {
                  if (e.key === "Enter" && e.target === e.currentTarget) navigate(modelPath(m.name));
                }}>
                <td><a {...linkProps(modelPath(m.name))} tabIndex={-1}>{m.name}</a></td>
                <td>{m.arch}</td>
                <td className="num">{m.versions.length}</td>
                <td>
                  {latest ? (
                    <>
                      {best && best.version !== latest.version && <span>{`best v${best.version}: ${mainMetric(best.metrics)} · `}</span>}
                      <span>{`v${latest.version}: ${mainMetric(latest.metrics) || "–"}`}</span>
                    </>
                  ) : <span className="muted">not trained yet</span>}
                </td>
                <td>{when(m.created)}</td>
              </tr>
            );
          })}
          {!list.loading && items.length === 0 && (
            <tr><td colSpan={5} className="empty">No models yet: open an architecture and Convert To Model.</td></tr>
          )}
        </tbody>
      </table>
    </div>
  );
}

/** The version with the best main metric (highest accuracy, else lowest rmse/loss). */
function bestVersion(m: Model) {
  let best: Model["versions"][number] | null = null;
  const score = (x: Metrics | null) => (x ? (typeof x.accuracy === "number" ? -x.accuracy : x.rmse ?? x.loss ?? Infinity) : Infinity);
  for (const v of m.versions) if (!best || score(v.metrics) < score(best.metrics)) best = v;
  return best;
}

const METRIC_ORDER = ["accuracy", "f1", "rmse", "mae", "r2", "loss"];
const METRIC_LABEL: Record<string, string> = { r2: "R²", f1: "F1" };

function MetricsCell({ m }: { m: Metrics | null }) {
  if (!m) return <span className="muted">–</span>;
  const keys = METRIC_ORDER.filter((k) => typeof m[k] === "number").slice(0, 4);
  return (
    <span className="metrics">
      {keys.map((k) => (
        <span key={k}><span className="muted">{METRIC_LABEL[k] ?? k}</span> {fmt(m[k])}</span>
      ))}
    </span>
  );
}

interface ModelData {
  model: Model;
  models: Model[];
  arch: Architecture | null;
}

function ModelPage({ name }: { name: string }) {
  const data = useLoad<ModelData>(async () => {
    const [model, models] = await Promise.all([get<Model>(modelPath(name)), getAll<Model>("/models")]);
    const arch = await get<Architecture>("/architectures/" + encodeURIComponent(model.arch)).catch(() => null);
    return { model, models, arch };
  }, [name]);
  const schema = useLoad(() => get<JsonSchema>("/schemas/run-config"), []);
  const system = useLoad(() => get<SystemInfo>("/system"), []);
  const datasets = useLoad(() => getAll<Dataset>("/datasets"), []);
  const [values, setValues] = useState<Values>({});
  const [dataset, setDataset] = useState("");
  const [queued, setQueued] = useState<Job | null>(null);

  // a finished job may have made a version of this model (or of one in its lineage)
  useServerEvents((e) => {
    if (e.type === "job" && e.data.state === "succeeded") data.reload();
  });

  // a store with one dataset: that one is the data source
  useEffect(() => {
    if (!dataset && datasets.data?.length === 1) setDataset(datasets.data[0].name);
  }, [dataset, datasets.data]);

  const spec = data.data?.arch?.spec;
  const shown = useMemo(() => (schema.data ? withBlueprintDefaults(schema.data, spec) : null), [schema.data, spec]);

  if (data.error) return (<><h1>{name}</h1><ErrorBox error={data.error} /></>);
  const d = data.data;
  if (!d) return <p className="loading">Loading…</p>;
  const { model } = d;
  return (
    <div className="model-page">
      <div className="row model-head">
        <h1>{model.name}</h1>
        <span className="muted">
          a model of <a {...linkProps("/architectures/" + encodeURIComponent(model.arch))}>{model.arch}</a> · created {when(model.created)}
        </span>
        <span className="grow" />
        {queued && <QueuedNote job={queued} />}
        {shown && (
          <FineTune model={model} datasets={datasets.data ?? []} dataset={dataset} schema={shown} settings={values} onQueued={setQueued} />
        )}
        <a {...linkProps("/models")}>All models</a>
      </div>
      <div className="model-top">
        <section className="panel versions-panel" aria-labelledby="versions-h">
          <h2 id="versions-h" className="sr-only">Versions</h2>
          <table className="list versions">
            <caption>Versions</caption>
            <thead>
              <tr><th className="num">Version</th><th>Job</th><th>Parent</th><th>Metrics</th><th>Aliases</th><th>Created</th><th><span className="sr-only">Download</span></th></tr>
            </thead>
            <tbody>
              {model.versions.map((v) => {
                const parentModel = v.parent?.split("@")[0];
                return (
                  <tr key={v.version}>
                    <td className="num">{v.version}</td>
                    <td>{v.job !== null ? <a {...linkProps("/training/" + v.job)}>{`#${v.job}`}</a> : <span className="muted">imported</span>}</td>
                    <td>{v.parent && parentModel ? <a {...linkProps(modelPath(parentModel))}>{v.parent}</a> : <span className="muted">–</span>}</td>
                    <td><MetricsCell m={v.metrics} /></td>
                    <td>{v.aliases?.length ? v.aliases.map((a) => <span key={a} className="badge alias">{a}</span>) : <span className="muted">–</span>}</td>
                    <td className="when">{when(v.created)}</td>
                    <td className="downloads">
                      <a className="button" href={href(`/models/${encodeURIComponent(model.name)}/versions/${v.version}/file`)}
                        download={`${model.name}-v${v.version}.safetensors`} aria-label={`Download version ${v.version}`}>
                        ⤓ Download
                      </a>
                      <ExportLinks model={model.name} version={v.version} />
                    </td>
                  </tr>
                );
              })}
              {model.versions.length === 0 && (
                <tr><td colSpan={7} className="empty">No versions yet: set up the training below and press Train.</td></tr>
              )}
            </tbody>
          </table>
        </section>
        <section className="panel lineage-panel" aria-labelledby="lineage-h">
          <h2 id="lineage-h">Lineage</h2>
          <Lineage model={model.name} models={d.models} />
        </section>
      </div>
      <ErrorBox error={schema.error ?? system.error ?? datasets.error} />
      {shown ? (
        <TrainingSetup model={model.name} schema={shown} system={system.data ?? null} datasets={datasets.data ?? []}
          values={values} setValues={setValues} dataset={dataset} setDataset={setDataset}
          onDatasetAdded={(ds) => datasets.set([...(datasets.data ?? []).filter((x) => x.name !== ds.name), ds])} />
      ) : (
        !schema.error && <p className="loading">Loading the run settings…</p>
      )}
    </div>
  );
}
