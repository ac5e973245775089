// A card's outputs after a run, as GET /jobs/{id}/outputs/{card} summarises them: a dataset's
// first rows, metrics with the confusion matrix, a history plot, a model's layers.
import { href } from "../api";
import { fmt } from "../components/ui";
import { Plot } from "../components/Plot";

interface DatasetSummary {
  rows: number;
  features: number;
  task: string;
  classes: number;
  feature_names: string[];
  target_names: string[];
  class_names: string[];
  head: { x: number[]; y: number[] }[];
}

interface ModelSummary {
  input_size: number;
  output_size: number;
  params: number;
  layers: { index: number; kind: string; shape: number[]; params: number }[];
}

export interface OutputEntry {
  port: string;
  kind: string;
  file?: string;
  value?: unknown;
  dataset?: DatasetSummary;
  model?: ModelSummary;
  error?: string;
}

export interface CardOutputs {
  card: string;
  outputs: OutputEntry[];
}

function DatasetView({ d, name }: { d: DatasetSummary; name: string }) {
  const cols = d.feature_names.length ? d.feature_names : Array.from({ length: d.features }, (_, i) => `x${i}`);
  const shown = cols.slice(0, 8);
  const targets = d.target_names.length ? d.target_names : ["target"];
  const label = (y: number) => (d.class_names.length && Number.isInteger(y) ? d.class_names[y] ?? String(y) : fmt(y));
  return (
    <>
      <p className="muted">
        {fmt(d.rows)} rows, {fmt(d.features)} features, {d.task}
        {d.classes ? `, ${d.classes} classes` : ""}
      </p>
      <div className="table-scroll">
        <table className="list compact" aria-label={`${name} preview`}>
          <thead>
            <tr>
              {shown.map((c) => <th key={c} className="num">{c}</th>)}
              {cols.length > shown.length && <th>…</th>}
              {targets.map((t) => <th key={"t" + t} className="num">{t}</th>)}
            </tr>
          </thead>
          <tbody>
            {d.head.map((r, i) => (
              <tr key={i}>
                {shown.map((_, j) => <td key={j} className="num">{fmt(r.x[j])}</td>)}
                {cols.length > shown.length && <td>…</td>}
                {r.y.map((y, j) => <td key={"y" + j} className="num">{label(y)}</td>)}
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </>
  );
}

function MetricsView({ m, name }: { m: Record<string, unknown>; name: string }) {
  const rows = Object.entries(m).filter(([, v]) => typeof v === "number");
  const cm = Array.isArray(m.confusion_matrix) ? (m.confusion_matrix as number[][]) : null;
  const names = Array.isArray(m.class_names) ? (m.class_names as string[]) : [];
  return (
    <>
      <table className="list compact" aria-label={`${name} metrics`}>
        <thead><tr><th>metric</th><th className="num">value</th></tr></thead>
        <tbody>
          {rows.map(([k, v]) => (
            <tr key={k}><td>{k}</td><td className="num" data-metric={k}>{fmt(v)}</td></tr>
          ))}
          {typeof m.task === "string" && <tr><td>task</td><td className="num">{m.task}</td></tr>}
        </tbody>
      </table>
      {cm && (
        <table className="list compact confusion" aria-label={`${name} confusion matrix`}>
          <caption>Confusion matrix (rows: true class)</caption>
          <thead>
            <tr><th></th>{cm[0]?.map((_, j) => <th key={j} className="num">{names[j] ?? j}</th>)}</tr>
          </thead>
          <tbody>
            {cm.map((row, i) => (
              <tr key={i}><th>{names[i] ?? i}</th>{row.map((v, j) => <td key={j} className={i === j ? "num diag" : "num"}>{fmt(v)}</td>)}</tr>
            ))}
          </tbody>
        </table>
      )}
    </>
  );
}

function HistoryView({ h, name }: { h: { epochs?: { epoch: number; train?: Record<string, number | null>; val?: Record<string, number | null> }[] }; name: string }) {
  const eps = h.epochs ?? [];
  if (!eps.length) return <p className="muted">No epochs.</p>;
  const x = eps.map((e) => e.epoch);
  const series = [{ label: "train loss", values: eps.map((e) => e.train?.loss ?? null) }];
  if (eps.some((e) => e.val)) series.push({ label: "val loss", values: eps.map((e) => e.val?.loss ?? null) });
  return <Plot title={`${name}: loss per epoch`} x={x} series={series} width={290} height={200} xLabel="epoch" ariaLabel={`${name} history plot`} />;
}

function ModelView({ m, name }: { m: ModelSummary; name: string }) {
  return (
    <>
      <p className="muted">{fmt(m.input_size)} inputs → {fmt(m.output_size)} outputs, {fmt(m.params)} parameters</p>
      <table className="list compact" aria-label={`${name} layers`}>
        <thead><tr><th>#</th><th>layer</th><th>shape</th><th className="num">params</th></tr></thead>
        <tbody>
          {m.layers.map((l) => (
            <tr key={l.index}><td>{l.index}</td><td>{l.kind}</td><td>[{l.shape.join(", ")}]</td><td className="num">{fmt(l.params)}</td></tr>
          ))}
        </tbody>
      </table>
    </>
  );
}

export function OutputsView({ job, data }: { job: number; data: CardOutputs }) {
  if (!data.outputs.length) return <p className="muted">This card kept no outputs.</p>;
  return (
    <div className="outputs">
      {data.outputs.map((o) => {
        const name = `${data.card}.${o.port}`;
        let body;
        if (o.error) body = <p className="error">{o.error}</p>;
        else if (o.dataset) body = <DatasetView d={o.dataset} name={name} />;
        else if (o.model) body = <ModelView m={o.model} name={name} />;
        else if (o.kind === "metrics" && o.value && typeof o.value === "object") body = <MetricsView m={o.value as Record<string, unknown>} name={name} />;
        else if (o.kind === "history" && o.value && typeof o.value === "object") body = <HistoryView h={o.value as never} name={name} />;
        else if (o.value !== undefined) body = <pre className="value">{JSON.stringify(o.value, null, 1)}</pre>;
        else body = null;
        return (
          <section key={o.port} className="output">
            <h4>
              {o.port} <span className="muted">({o.kind})</span>
              {o.file && (
                <a className="file-link" href={href(`/jobs/${job}/outputs/${encodeURIComponent(data.card)}/${encodeURIComponent(o.file)}`)} download>
                  {o.file}
                </a>
              )}
            </h4>
            {body}
          </section>
        );
      })}
    </div>
  );
}
