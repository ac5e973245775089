// The lineage of a model's versions: every version connected to them by fine-tunes, across
// models (a version's parent is a ref like other@2), drawn left to right from parent to child.
import type { Model } from "../api";
import { linkProps } from "../router";
import { fmt } from "../components/ui";

export interface LineageNode {
  ref: string;
  model: string;
  version: number;
  parent: string | null;
  depth: number;
  row: number;
  metric: string;
}

export interface LineageGraph {
  nodes: LineageNode[];
  edges: { from: string; to: string }[];
}

/** The main metric of a version, as people compare them. */
export function mainMetric(m: Record<string, number> | null | undefined): string {
  if (!m) return "";
  for (const k of ["accuracy", "rmse", "f1", "mae", "loss"]) if (typeof m[k] === "number") return `${k} ${fmt(m[k])}`;
  return "";
}

/** The versions connected to model's by parent links among all models' versions. */
export function lineageGraph(model: string, models: Model[]): LineageGraph {
  const all = new Map<string, { model: string; version: number; parent: string | null; metric: string }>();
  for (const m of models)
    for (const v of m.versions ?? [])
      all.set(`${m.name}@${v.version}`, { model: m.name, version: v.version, parent: v.parent ?? null, metric: mainMetric(v.metrics) });
  const children = new Map<string, string[]>();
  for (const [ref, v] of all) if (v.parent) children.set(v.parent, [...(children.get(v.parent) ?? []), ref]);
  // the component of the model's versions: walk parents and children
  const seen = new Set<string>();
  const queue = [...all.keys()].filter((r) => all.get(r)!.model === model);
  while (queue.length) {
    const r = queue.pop()!;
    if (seen.has(r)) continue;
    seen.add(r);
    const p = all.get(r)?.parent;
    if (p && all.has(p)) queue.push(p);
    queue.push(...(children.get(r) ?? []));
  }
  const depthOf = (r: string, guard = 0): number => {
    const p = all.get(r)?.parent;
    return p && all.has(p) && guard < 1000 ? 1 + depthOf(p, guard + 1) : 0;
  };
  const refs = [...seen].sort((a, b) => {
    const x = all.get(a)!, y = all.get(b)!;
    return x.model === y.model ? x.version - y.version : x.model === model ? -1 : y.model === model ? 1 : x.model.localeCompare(y.model);
  });
  const rows = new Map<number, number>();
  const nodes: LineageNode[] = refs.map((ref) => {
    const v = all.get(ref)!;
    const depth = depthOf(ref);
    const row = rows.get(depth) ?? 0;
    rows.set(depth, row + 1);
    return { ref, model: v.model, version: v.version, parent: v.parent && seen.has(v.parent) ? v.parent : null, depth, row, metric: v.metric };
  });
  const edges = nodes.filter((n) => n.parent).map((n) => ({ from: n.parent!, to: n.ref }));
  return { nodes, edges };
}

const W = 150, H = 40, GX = 60, GY = 14, PAD = 8;

export default function Lineage({ model, models }: { model: string; models: Model[] }) {
  const g = lineageGraph(model, models);
  if (g.nodes.length === 0) return <p className="muted">No versions yet: train the model to make its first.</p>;
  const cols = Math.max(...g.nodes.map((n) => n.depth)) + 1;
  const rows = Math.max(...g.nodes.map((n) => n.row)) + 1;
  const pos = new Map(g.nodes.map((n) => [n.ref, { x: PAD + n.depth * (W + GX), y: PAD + n.row * (H + GY) }]));
  const width = PAD * 2 + cols * W + (cols - 1) * GX;
  const height = PAD * 2 + rows * H + (rows - 1) * GY;
  return (
    <div className="lineage">
      <svg role="group" aria-label="Lineage" width={width} height={height} viewBox={`0 0 ${width} ${height}`}>
        <defs>
          <marker id="lineage-arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse">
            <path d="M 0 0 L 10 5 L 0 10 z" fill="#94a3b8" />
          </marker>
        </defs>
        {g.edges.map((e) => {
          const a = pos.get(e.from)!, b = pos.get(e.to)!;
          const x1 = a.x + W, y1 = a.y + H / 2, x2 = b.x, y2 = b.y + H / 2, mx = (x1 + x2) / 2;
          return (
            <path key={e.from + ">" + e.to} data-edge={`${e.from}->${e.to}`} className="lineage-edge" markerEnd="url(#lineage-arrow)"
              d={`M ${x1} ${y1} C ${mx} ${y1}, ${mx} ${y2}, ${x2 - 2} ${y2}`}>
              <title>{`${e.to} fine-tuned from ${e.from}`}</title>
            </path>
          );
        })}
        {g.nodes.map((n) => {
          const p = pos.get(n.ref)!;
          const own = n.model === model;
          const link = linkProps("/models/" + encodeURIComponent(n.model));
          return (
            <a key={n.ref} href={link.href} onClick={link.onClick} data-ref={n.ref} className={own ? "lineage-node own" : "lineage-node"}
              aria-label={n.parent ? `${n.ref}, fine-tuned from ${n.parent}` : `${n.ref}, trained from scratch`}>
              <rect x={p.x} y={p.y} width={W} height={H} rx={5} />
              <title>{n.parent ? `${n.ref} (fine-tuned from ${n.parent})` : n.ref}</title>
              <text x={p.x + 8} y={p.y + 16} className="lineage-ref">{n.ref.length > 19 ? n.ref.slice(0, 18) + "…" : n.ref}</text>
              <text x={p.x + 8} y={p.y + 31} className="lineage-metric">{n.metric}</text>
            </a>
          );
        })}
      </svg>
      {g.edges.length === 0 && <p className="help">No fine-tunes yet: each version was trained from scratch.</p>}
    </div>
  );
}
