// The canvas's two node types: a card (id, type, typed input handles on the left and output
// handles on the right, its run status) and a loop (a group holding its inner cards, with a
// rail of the ports it passes on: outside on its left edge, inside next to them, and after it
// on its right edge).
import { Handle, Position, type Node, type NodeProps } from "@xyflow/react";
import { duration } from "../components/ui";
import type { PortDef } from "./wires";

export interface CardStatus {
  state: "running" | "done" | "failed" | "skipped";
  seconds?: number;
  message?: string | null;
  iteration?: number;
  iterations?: number;
}

export interface CardData extends Record<string, unknown> {
  id: string;
  card: string;
  description: string;
  ins: PortDef[];
  outs: PortDef[];
  status?: CardStatus;
  problem?: boolean;
  hasOutputs?: boolean;
}

export interface LoopData extends CardData {
  /** what is wired into it and passed on */
  passed: PortDef[];
  over: string;
}

export type CardNodeT = Node<CardData, "card">;
export type LoopNodeT = Node<LoopData, "loop">;

const KIND_COLORS: Record<string, string> = {
  dataset: "#2563eb", model_spec: "#9333ea", data_shape: "#0891b2", model: "#dc2626", optimizer: "#ea580c",
  batch_index: "#65a30d", batch_data: "#16a34a", predictions: "#db2777", loss: "#b45309", metrics: "#0d9488",
  history: "#4f46e5", integer: "#64748b", file: "#475569",
};
export const kindColor = (k: string) => KIND_COLORS[k] ?? "#6b7280";

export function statusText(s: CardStatus | undefined): string {
  if (!s) return "";
  if (s.state === "running") return s.iterations && s.iteration && s.iterations > 1 && s.iteration <= s.iterations ? `running ${s.iteration}/${s.iterations}` : "running";
  if (s.state === "done") return `done ${duration(s.seconds ?? 0)}`;
  // the file, line and card are on the canvas already: the node keeps the library's reason
  if (s.state === "failed") return `failed: ${(s.message ?? "no message").replace(/^[^:\s]*:\d+: \S+ '[^']*' failed: /, "")}`;
  return "skipped";
}

function Status({ status }: { status?: CardStatus }) {
  if (!status) return null;
  const cls = status.state === "done" ? "succeeded" : status.state;
  return (
    <div className={`node-status badge ${cls}`} role="status" title={status.message ?? undefined}>
      {statusText(status)}
    </div>
  );
}

function Port({ p, side, id, owner, label }: { p: PortDef; side: "in" | "out"; id: string; owner: string; label?: string }) {
  const color = kindColor(p.kind);
  return (
    <div className={`port port-${side}`} title={`${p.name}: ${p.kind}${p.description ? " — " + p.description : ""}`}>
      <Handle type={side === "in" ? "target" : "source"} position={side === "in" ? Position.Left : Position.Right} id={id}
        style={{ background: color, borderColor: color }} aria-label={`${owner} ${side === "in" ? "input" : "output"} ${p.name}`} />
      <span className="port-name">{label ?? p.name}{!p.required && side === "in" ? "" : ""}</span>
      {p.kind !== p.name && <span className="port-kind" style={{ color }}>{p.kind}</span>}
    </div>
  );
}

export function CardNode({ data, selected }: NodeProps<CardNodeT>) {
  const rows = Math.max(data.ins.length, data.outs.length);
  return (
    <div className={`card-node${selected ? " selected" : ""}${data.problem ? " problem" : ""}`} data-card={data.id}
      title={data.description}>
      <div className="node-head">
        <strong className="node-id">{data.id}</strong>
        <span className="node-type">{data.card}</span>
      </div>
      <div className="node-ports">
        {Array.from({ length: rows }, (_, i) => (
          <div className="port-row" key={i}>
            <div className="port-cell">{data.ins[i] && <Port p={data.ins[i]} side="in" id={`in:${data.ins[i].name}`} owner={data.id} />}</div>
            <div className="port-cell right">{data.outs[i] && <Port p={data.outs[i]} side="out" id={`out:${data.outs[i].name}`} owner={data.id} />}</div>
          </div>
        ))}
      </div>
      <Status status={data.status} />
    </div>
  );
}

export function LoopNode({ data, selected }: NodeProps<LoopNodeT>) {
  const passed = data.passed.filter((p) => p.name !== "epoch");
  const names = new Set(passed.map((p) => p.name));
  const declared = data.ins.filter((p) => !names.has(p.name));
  return (
    <div className={`loop-node${selected ? " selected" : ""}${data.problem ? " problem" : ""}`} data-card={data.id} title={data.description}>
      <div className="node-head loop-head">
        <strong className="node-id">{data.id}</strong>
        <span className="node-type">loop over {data.over}</span>
        <Status status={data.status} />
      </div>
      <div className="loop-rail" aria-label={`${data.id} ports`}>
        {passed.map((p) => (
          <div className="rail-row" key={p.name}>
            <Handle type="target" position={Position.Left} id={`in:${p.name}`} style={{ background: kindColor(p.kind) }} aria-label={`${data.id} input ${p.name}`} />
            <span className="port-name">{p.name}</span>
            {p.kind !== p.name && <span className="port-kind" style={{ color: kindColor(p.kind) }}>{p.kind}</span>}
            <Handle type="source" position={Position.Right} id={`inner:${p.name}`} className="inner-handle" style={{ background: kindColor(p.kind) }} aria-label={`${data.id} inside ${p.name}`} />
          </div>
        ))}
        {declared.map((p) => (
          <div className="rail-row" key={p.name}>
            <Handle type="target" position={Position.Left} id={`in:${p.name}`} style={{ background: kindColor(p.kind) }} aria-label={`${data.id} input ${p.name}`} />
            <span className="port-name muted">{p.name}</span>
            {p.kind !== p.name && <span className="port-kind" style={{ color: kindColor(p.kind) }}>{p.kind}</span>}
          </div>
        ))}
        <div className="rail-caption">made inside</div>
        {data.outs.map((p) => (
          <div className="rail-row own" key={p.name}>
            <span className="port-name">{p.name}</span>
            {p.kind !== p.name && <span className="port-kind" style={{ color: kindColor(p.kind) }}>{p.kind}</span>}
            <Handle type="source" position={Position.Right} id={`inner:${p.name}`} className="inner-handle" style={{ background: kindColor(p.kind) }} aria-label={`${data.id} inside ${p.name}`} />
          </div>
        ))}
        <div className="rail-row add">
          <Handle type="target" position={Position.Left} id="in:+" aria-label={`${data.id} pass on a new input`} />
          <span className="muted">+ pass on an input</span>
        </div>
      </div>
      <div className="loop-after" aria-label={`${data.id} outputs after the loop`}>
        {passed.map((p) => (
          <div className="after-row" key={p.name}>
            <span className="port-name">{p.name}</span>
            <Handle type="source" position={Position.Right} id={`out:${p.name}`} style={{ background: kindColor(p.kind) }} aria-label={`${data.id} output ${p.name}`} />
          </div>
        ))}
      </div>
    </div>
  );
}

export const nodeTypes = { card: CardNode, loop: LoopNode };
