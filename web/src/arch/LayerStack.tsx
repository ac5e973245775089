// The layer stack: one row a layer with its kind and its settings (fields from the layer
// kind's schema the server serves), moved, removed and added with real buttons.
import { useEffect, useRef, useState } from "react";
import type { JsonSchema } from "../api";
import { SchemaForm, type Values } from "../components/SchemaForm";
import { changeKind, moveLayer, newLayer, removeLayer, type Layer } from "./spec";

export interface StackProblem {
  index: number;
  key: string | null;
  message: string;
}

export interface LayerStackProps {
  layers: Layer[];
  schemas: Record<string, JsonSchema>;
  onChange: (layers: Layer[]) => void;
  /** the library's message for one layer (marks its row) */
  problem?: StackProblem | null;
  /** the output shape of each layer, when the check knows it */
  shapes?: (number[] | undefined)[];
}

// terse library names read better with a word beside them
const LABELS: Record<string, string> = { p: "Drop rate (p)", units: "Units", eps: "Epsilon" };

/** A layer kind's settings schema without its "type" member. */
function settingsSchema(s: JsonSchema | undefined): JsonSchema {
  const props = { ...(s?.properties ?? {}) };
  delete props.type;
  return { ...s, properties: props };
}

export default function LayerStack({ layers, schemas, onChange, problem, shapes }: LayerStackProps) {
  const kinds = Object.keys(schemas);
  const [addKind, setAddKind] = useState("linear");
  const set = (i: number, layer: Layer) => onChange(layers.map((l, k) => (k === i ? layer : l)));
  // a moved layer keeps the keyboard's focus on its button
  const list = useRef<HTMLOListElement>(null);
  const [focus, setFocus] = useState<string | null>(null);
  useEffect(() => {
    if (!focus) return;
    // at an end of the stack the button that way is disabled: the other one then
    const other = focus.endsWith(" up") ? focus.replace(/ up$/, " down") : focus.replace(/ down$/, " up");
    const pick = (label: string) => list.current?.querySelector<HTMLButtonElement>(`button[aria-label="${label}"]:not(:disabled)`);
    (pick(focus) ?? pick(other))?.focus();
    setFocus(null);
  }, [focus, layers]);
  const move = (i: number, d: number) => {
    onChange(moveLayer(layers, i, d));
    setFocus(`Move layer ${i + d + 1} ${d < 0 ? "up" : "down"}`);
  };
  return (
    <div className="layer-stack">
      <ol className="layers" ref={list}>
        {layers.map((layer, i) => {
          const n = i + 1;
          const schema = schemas[layer.type];
          const bad = problem && problem.index === i ? problem : null;
          const values: Values = { ...layer };
          delete values.type;
          const shape = shapes?.[i];
          return (
            <li key={i} className={bad ? "layer has-problem" : "layer"}>
              <div role="group" aria-label={`Layer ${n}`} className="layer-body">
                <span className="layer-n" aria-hidden="true">{n}</span>
                <select aria-label={`Layer ${n} kind`} value={layer.type} aria-invalid={bad && !bad.key ? true : undefined}
                  onChange={(e) => set(i, changeKind(layer, e.target.value, schemas[e.target.value]))}>
                  {!schema && <option value={layer.type}>{layer.type} (unknown)</option>}
                  {kinds.map((k) => <option key={k} value={k}>{k}</option>)}
                </select>
                <div className="layer-settings">
                  {schema && Object.keys(settingsSchema(schema).properties ?? {}).length > 0 ? (
                    <SchemaForm schema={settingsSchema(schema)} values={values} labels={LABELS}
                      errors={bad?.key ? { [bad.key]: bad.message } : undefined}
                      onChange={(v) => set(i, { type: layer.type, ...v } as Layer)} />
                  ) : (
                    <span className="muted no-settings">{schema ? "no settings" : ""}</span>
                  )}
                </div>
                <span className="layer-shape mono" title="output shape">{shape ? "→ " + shape.join("×") : ""}</span>
                <span className="layer-buttons">
                  <button type="button" className="icon" aria-label={`Move layer ${n} up`} title="Move up" disabled={i === 0}
                    onClick={() => move(i, -1)}>↑</button>
                  <button type="button" className="icon" aria-label={`Move layer ${n} down`} title="Move down" disabled={i === layers.length - 1}
                    onClick={() => move(i, 1)}>↓</button>
                  <button type="button" className="icon danger" aria-label={`Remove layer ${n}`} title="Remove"
                    onClick={() => onChange(removeLayer(layers, i))}>✕</button>
                </span>
              </div>
              {bad && <p className="layer-problem" aria-hidden="true">{bad.message}</p>}
            </li>
          );
        })}
      </ol>
      {layers.length === 0 && <p className="muted">No layers yet: add the first one below.</p>}
      <form className="row add-layer" onSubmit={(e) => {
        e.preventDefault();
        onChange([...layers, newLayer(addKind, schemas[addKind])]);
      }}>
        <label>
          New layer kind{" "}
          <select value={addKind} onChange={(e) => setAddKind(e.target.value)}>
            {kinds.map((k) => <option key={k} value={k}>{k}</option>)}
          </select>
        </label>
        <button type="submit">Add layer</button>
      </form>
    </div>
  );
}
