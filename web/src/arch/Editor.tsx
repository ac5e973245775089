// The architecture editor (/architectures/new and /architectures/NAME): a name, the sizes the
// shapes are worked out for, the layer stack and its JSON view kept in sync both ways, the
// library's check as one types, saving, and Convert To Model.
import { useEffect, useMemo, useRef, useState } from "react";
import { createPortal } from "react-dom";
import { ApiError, get, post, type ArchCheck, type Architecture, type JsonSchema, type Model, type Spec } from "../api";
import { linkProps, navigate } from "../router";
import { ErrorBox, fmt, when } from "../components/ui";
import LayerStack, { type StackProblem } from "./LayerStack";
import { formatSpec, isShortForm, layerOfProblem, parseSpec, sizeQuery, specToStack, stackToSpec, toLayerForm, type Layer, type Sizes } from "./spec";

export interface EditorProps {
  /** the saved architecture opened, or null for a new one */
  saved: Architecture | null;
  /** the spec a new one starts from */
  start: Spec;
  schemas: Record<string, JsonSchema>;
}

type CheckState = { status: "idle" } | { status: "checking" } | { status: "ok"; result: ArchCheck } | { status: "bad"; error: unknown };

/** JSON with sorted keys, so the same spec in another key order compares equal. */
function canonical(v: unknown): string {
  if (Array.isArray(v)) return "[" + v.map(canonical).join(",") + "]";
  if (typeof v === "object" && v !== null)
    return "{" + Object.keys(v).sort().map((k) => JSON.stringify(k) + ":" + canonical((v as Record<string, unknown>)[k])).join(",") + "}";
  return JSON.stringify(v) ?? "null";
}

function sameSpec(a: Spec, b: Spec): boolean {
  return canonical(a) === canonical(b);
}

function initialSizes(spec: Spec): Sizes {
  const input = Array.isArray(spec.input) ? (spec.input as number[]) : null;
  if (input && input.length === 3) return { input: "shape", size: "13", shape: input.join(","), output: "1" };
  return { input: "size", size: input?.length === 1 ? String(input[0]) : "13", shape: "1,28,28", output: "1" };
}

export default function Editor({ saved, start, schemas }: EditorProps) {
  const first = saved ? saved.spec : start;
  const [spec, setSpec] = useState<Spec>(first);
  const [text, setText] = useState(() => formatSpec(first));
  const [parseError, setParseError] = useState<string | null>(null);
  const [sizes, setSizes] = useState<Sizes>(() => initialSizes(first));
  const [name, setName] = useState(saved ? saved.name : "");
  const [check, setCheck] = useState<CheckState>({ status: "idle" });
  const [saveError, setSaveError] = useState<unknown>(null);
  const [saving, setSaving] = useState(false);
  const dirty = saved ? !sameSpec(spec, saved.spec) : true;
  const nameTouched = useRef(false);

  // an opened architecture keeps its name; once edited it is saved under a new one
  useEffect(() => {
    if (!saved) return;
    if (dirty && !nameTouched.current && name === saved.name) setName(saved.name + "-2");
    if (!dirty) {
      nameTouched.current = false;
      setName(saved.name);
    }
  }, [dirty, saved, name]);

  // the library's check, a moment after the last change
  const query = useMemo(() => sizeQuery(sizes, spec), [sizes, spec]);
  useEffect(() => {
    if (parseError) return;
    const ctl = new AbortController();
    const timer = setTimeout(() => {
      setCheck({ status: "checking" });
      post<ArchCheck>("/architectures/check", { spec }, { query, signal: ctl.signal }).then(
        (result) => setCheck({ status: "ok", result }),
        (error) => {
          if ((error as Error).name !== "AbortError") setCheck({ status: "bad", error });
        },
      );
    }, 250);
    return () => {
      clearTimeout(timer);
      ctl.abort();
    };
  }, [spec, query, parseError]);

  const lastGood = useRef<ArchCheck | null>(null);
  if (check.status === "ok") lastGood.current = check.result;
  const short = isShortForm(spec);
  const expanded = short ? lastGood.current?.layer_form ?? null : null;
  const stack: Layer[] | null = short ? (expanded ? specToStack(expanded) : null) : specToStack(spec);

  function fromStack(layers: Layer[]) {
    const base = short && expanded ? toLayerForm(spec, expanded) : spec;
    const next = stackToSpec(base, layers);
    setSpec(next);
    setText(formatSpec(next));
    setParseError(null);
  }
  function fromText(t: string) {
    setText(t);
    const r = parseSpec(t);
    if ("error" in r) setParseError(r.error);
    else {
      setParseError(null);
      setSpec(r.spec);
    }
  }

  const problem: StackProblem | null = (() => {
    if (check.status !== "bad" || !(check.error instanceof ApiError)) return null;
    const at = layerOfProblem(check.error.path, check.error.message);
    return at ? { ...at, message: check.error.message } : null;
  })();
  const result = check.status === "ok" ? check.result : null;
  const shapes = result?.layers?.map((l) => l.shape);

  async function save(e: React.FormEvent) {
    e.preventDefault();
    setSaveError(null);
    setSaving(true);
    try {
      const a = await post<Architecture>("/architectures", { name: name.trim(), spec });
      navigate("/architectures/" + encodeURIComponent(a.name), true);
    } catch (err) {
      if (err instanceof ApiError && err.status === 409)
        setSaveError(new Error(`The name '${name.trim()}' is taken by another spec (architectures never change): choose a new name. The server says: ${err.message}`));
      else setSaveError(err);
    } finally {
      setSaving(false);
    }
  }

  const nameLocked = saved !== null && !dirty;
  const ownInput = Array.isArray(spec.input);
  return (
    <div className="arch-editor">
      <div className="row arch-head">
        <h1>{saved ? saved.name : "New architecture"}</h1>
        {saved && <span className="muted">saved {when(saved.created)} · hash <code title={saved.hash}>{saved.hash.slice(0, 12)}</code></span>}
        <span className="grow" />
        <a {...linkProps("/architectures")}>All architectures</a>
      </div>
      <form className="panel arch-form" onSubmit={save}>
        <div className="row">
          <label>
            Name{" "}
            <input value={name} readOnly={nameLocked} aria-readonly={nameLocked || undefined} required spellCheck={false} placeholder="e.g. house-mlp"
              title={nameLocked ? "an architecture never changes: edit it, then save it under a new name" : undefined}
              onChange={(e) => {
                nameTouched.current = true;
                setName(e.target.value);
              }} />
          </label>
          <fieldset className="input-kind" disabled={ownInput}>
            <legend className="sr-only">Input kind</legend>
            <label><input type="radio" name="input-kind" checked={sizes.input === "size"} onChange={() => setSizes({ ...sizes, input: "size" })} /> features</label>
            <label><input type="radio" name="input-kind" checked={sizes.input === "shape"} onChange={() => setSizes({ ...sizes, input: "shape" })} /> image</label>
          </fieldset>
          {sizes.input === "size" ? (
            <label>
              Input size <input className="num" value={sizes.size} disabled={ownInput} inputMode="numeric" onChange={(e) => setSizes({ ...sizes, size: e.target.value })} />
            </label>
          ) : (
            <label>
              Input shape <input className="shape" value={sizes.shape} disabled={ownInput} placeholder="1,28,28" onChange={(e) => setSizes({ ...sizes, shape: e.target.value })} />
            </label>
          )}
          <label>
            Output size <input className="num" value={sizes.output} inputMode="numeric" onChange={(e) => setSizes({ ...sizes, output: e.target.value })} />
          </label>
          <span className="grow" />
          <button type="submit" className="primary" disabled={saving || !dirty || !name.trim() || parseError !== null}>Save architecture</button>
          {saved && <ConvertToModel arch={saved.name} disabled={dirty} />}
        </div>
        {ownInput && <p className="help">The spec's own input ({(spec.input as number[]).join("×")}) is used for the shapes.</p>}
        {nameLocked && <p className="help">Architectures never change: edit the stack or the JSON, then save it under a new name.</p>}
        <ErrorBox error={saveError} title="Not saved" />
      </form>
      <div className="arch-columns">
        <section className="panel" aria-labelledby="stack-h">
          <h2 id="stack-h">Layers</h2>
          {short && (
            <p className="help">
              A short-form blueprint: the library expands it to these layers for this output size. Editing a layer turns it into a
              layer list and keeps its training settings.
            </p>
          )}
          {stack ? (
            <LayerStack layers={stack} schemas={schemas} onChange={fromStack} problem={problem} shapes={shapes} />
          ) : (
            <p className="muted">{short ? "The library expands the blueprint once it checks: see its message." : "The JSON's layers are not a list of layer objects: see the message."}</p>
          )}
        </section>
        <div className="arch-side">
          <section className="panel" aria-labelledby="json-h">
            <h2 id="json-h">JSON</h2>
            <textarea className="code spec-json" aria-label="Spec JSON" value={text} spellCheck={false} rows={14}
              aria-invalid={parseError ? true : undefined} onChange={(e) => fromText(e.target.value)} />
            {parseError && <div className="error" role="alert">Not JSON: {parseError}</div>}
          </section>
          <section className="panel" aria-labelledby="check-h" aria-busy={check.status === "checking"}>
            <h2 id="check-h">Check <span className="muted check-state">{parseError ? "waiting for valid JSON" : check.status === "checking" ? "checking…" : check.status === "ok" ? "✓ the library accepts it" : ""}</span></h2>
            {check.status === "bad" && <ErrorBox error={check.error} title="The library says" />}
            {result?.layers && <ShapesTable result={result} />}
          </section>
        </div>
      </div>
    </div>
  );
}

function ShapesTable({ result }: { result: ArchCheck }) {
  return (
    <table className="list shapes">
      <caption>Layer shapes</caption>
      <thead>
        <tr><th className="num">#</th><th>Kind</th><th>Output shape</th><th className="num">Params</th></tr>
      </thead>
      <tbody>
        <tr className="muted"><td className="num">–</td><td>input</td><td className="mono">{result.input_shape?.join(" × ")}</td><td className="num">–</td></tr>
        {result.layers!.map((l) => (
          <tr key={l.index}>
            <td className="num">{l.index + 1}</td>
            <td>{l.kind}</td>
            <td className="mono">{l.shape.join(" × ")}</td>
            <td className="num">{fmt(l.params)}</td>
          </tr>
        ))}
      </tbody>
      <tfoot>
        <tr><th colSpan={3} scope="row">Total params</th><td className="num total-params">{fmt(result.params)}</td></tr>
      </tfoot>
    </table>
  );
}

/** The Convert To Model button and its dialog: a model of the saved architecture. */
function ConvertToModel({ arch, disabled }: { arch: string; disabled: boolean }) {
  const ref = useRef<HTMLDialogElement>(null);
  const [name, setName] = useState(arch.replace(/-(arch|spec)$/, "") + "-model");
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  async function create(e: React.FormEvent) {
    e.preventDefault();
    e.stopPropagation(); // the dialog sits in the editor's form in React's tree
    setError(null);
    setBusy(true);
    try {
      const m = await post<Model>("/models", { name: name.trim(), architecture: arch });
      ref.current?.close();
      navigate("/models/" + encodeURIComponent(m.name));
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  }
  return (
    <>
      <button type="button" disabled={disabled} title={disabled ? "save the edits first (under a new name)" : undefined}
        onClick={() => {
          setError(null);
          ref.current?.showModal();
        }}>Convert To Model</button>
      {createPortal(<dialog ref={ref} aria-labelledby="convert-h" className="convert-dialog">
        <form onSubmit={create}>
          <h2 id="convert-h">Convert To Model</h2>
          <p className="help">A model is a named instance of the architecture <strong>{arch}</strong>: train it to make its versions.</p>
          <label className="stacked">
            Model name
            <input value={name} onChange={(e) => setName(e.target.value)} required spellCheck={false} autoFocus />
          </label>
          <ErrorBox error={error} />
          <div className="row dialog-buttons">
            <button type="button" onClick={() => ref.current?.close()}>Cancel</button>
            <button type="submit" className="primary" disabled={busy || !name.trim()}>Create model</button>
          </div>
        </form>
      </dialog>, document.body)}
    </>
  );
}

/** The editor's page: loads the layer schemas and the architecture, then the editor. */
export function EditorPage({ name, start }: { name: string | null; start: Spec }) {
  const [state, setState] = useState<{ schemas: Record<string, JsonSchema>; saved: Architecture | null } | null>(null);
  const [error, setError] = useState<unknown>(null);
  useEffect(() => {
    let live = true;
    setState(null);
    setError(null);
    Promise.all([
      get<Record<string, JsonSchema>>("/schemas/layers"),
      name ? get<Architecture>("/architectures/" + encodeURIComponent(name)) : Promise.resolve(null),
    ]).then(
      ([schemas, saved]) => live && setState({ schemas, saved }),
      (e) => live && setError(e),
    );
    return () => {
      live = false;
    };
  }, [name]);
  if (error) return (<><h1>{name ?? "New architecture"}</h1><ErrorBox error={error} /></>);
  if (!state) return <p className="loading">Loading…</p>;
  return <Editor key={name ?? "new"} saved={state.saved} start={start} schemas={state.schemas} />;
}
