// The Architectures page: the registry's named specs with their parameter counts for a chosen
// input, and the editor (/architectures/new, /architectures/NAME).
import { useEffect, useState } from "react";
import type { PageProps } from "../App";
import { getAll, post, type ArchCheck, type Architecture } from "../api";
import { linkProps, navigate, useQueryParam } from "../router";
import { ErrorBox, fmt, useLoad, when } from "../components/ui";
import { EditorPage } from "../arch/Editor";
import { EMPTY_SPEC, formOf, SEED_SPEC, sizeQuery, type Sizes } from "../arch/spec";
import "./architectures.css";

export default function ArchitecturesPage({ args }: PageProps) {
  const from = useQueryParam("from");
  if (args[0] === "new") return <EditorPage key={"new-" + from} name={null} start={from === "seed" ? SEED_SPEC : EMPTY_SPEC} />;
  if (args[0]) return <EditorPage key={args[0]} name={args[0]} start={EMPTY_SPEC} />;
  return <ArchitectureList />;
}

type Count = { params: number } | { error: string };

function ArchitectureList() {
  const list = useLoad(() => getAll<Architecture>("/architectures"), []);
  const [size, setSize] = useState("13");
  const [output, setOutput] = useState("1");
  const [counts, setCounts] = useState<Record<string, Count>>({});

  // each architecture's parameters for the chosen sizes, as the library counts them
  useEffect(() => {
    const items = list.data ?? [];
    const ctl = new AbortController();
    const timer = setTimeout(() => {
      for (const a of items) {
        const sizes: Sizes = { input: "size", size, shape: "", output };
        post<ArchCheck>("/architectures/check", { spec: a.spec }, { query: sizeQuery(sizes, a.spec), signal: ctl.signal }).then(
          (r) => setCounts((c) => ({ ...c, [a.name]: r.params !== undefined ? { params: r.params } : { error: "give an input size" } })),
          (e) => {
            if ((e as Error).name !== "AbortError") setCounts((c) => ({ ...c, [a.name]: { error: (e as Error).message } }));
          },
        );
      }
    }, 250);
    return () => {
      clearTimeout(timer);
      ctl.abort();
    };
  }, [list.data, size, output]);

  const items = list.data ?? [];
  return (
    <div className="arch-list">
      <div className="row">
        <h1>Architectures</h1>
        <span className="grow" />
        <button type="button" className="primary" onClick={() => navigate("/architectures/new")}>New architecture</button>
        <button type="button" onClick={() => navigate("/architectures/new?from=seed")}>New from the seed blueprint</button>
      </div>
      <p className="muted intro">
        An architecture is a named model spec: its layers and training defaults, no weights. Open one to see its layers and shapes;
        Convert To Model on its page makes a model to train.
      </p>
      <form className="row sizes" onSubmit={(e) => e.preventDefault()} aria-label="Parameters for">
        <span className="muted">Parameters for</span>
        <label>Input size <input className="num" value={size} inputMode="numeric" onChange={(e) => setSize(e.target.value)} /></label>
        <label>Output size <input className="num" value={output} inputMode="numeric" onChange={(e) => setOutput(e.target.value)} /></label>
      </form>
      <ErrorBox error={list.error} />
      <table className="list">
        <caption>Architectures</caption>
        <thead>
          <tr><th>Name</th><th>Form</th><th className="num">Params ({size || "?"} → {output || "?"})</th><th>Created</th></tr>
        </thead>
        <tbody>
          {items.map((a) => {
            const c = counts[a.name];
            return (
              <tr key={a.name} className="clickable" onClick={() => navigate("/architectures/" + encodeURIComponent(a.name))}>
                <td><a {...linkProps("/architectures/" + encodeURIComponent(a.name))}>{a.name}</a></td>
                <td>{formOf(a.spec)}</td>
                <td className="num">
                  {!c ? <span className="muted">…</span> : "params" in c ? fmt(c.params) : <span className="muted" title={c.error}>does not fit</span>}
                </td>
                <td>{when(a.created)}</td>
              </tr>
            );
          })}
          {!list.loading && items.length === 0 && (
            <tr><td colSpan={4} className="empty">No architectures yet: start a new one, or from the seed blueprint.</td></tr>
          )}
        </tbody>
      </table>
    </div>
  );
}
