// The Pipelines page: the canvas of cards. A palette from the server's card list, the canvas
// (React Flow) where cards are dropped and wired, the side panel of the selected card (its
// id, wires, settings and, after a run, its outputs), and the toolbar that opens, saves,
// checks and runs the pipeline file.
import { useCallback, useEffect, useMemo, useRef, useState, type DragEvent, type KeyboardEvent } from "react";
import {
  Background, Controls, ReactFlow, ReactFlowProvider, applyNodeChanges, useReactFlow,
  type Connection, type Edge, type Node, type NodeChange,
} from "@xyflow/react";
import "@xyflow/react/dist/style.css";
import "./pipelines.css";
import type { PageProps } from "../App";
import { ApiError, get, post, put, type Job, type JsonSchema, type List, type Problem } from "../api";
import { useServerEvents, type ServerEvent } from "../events";
import { navigate } from "../router";
import { ErrorBox, useLoad } from "../components/ui";
import { SchemaForm, type Values } from "../components/SchemaForm";
import {
  addCard, allCards, moveIntoLoop, overlaps, boxOf, CARD_W, findCard, freeSpot, idProblem, layout, LOOP_HEAD, LOOP_PAD, LOOP_RAIL,
  parentOf, parsePipeline, removeCard, renameCard, setWire, splitRef, toYaml, type CardSpec, type Pipeline, type Sizes, type XY,
} from "../canvas/model";
import { candidates, checkWire, defOf, LOOP_OWN, loopPassed, refKind, type Palette, type PortDef } from "../canvas/wires";
import { kindColor, nodeTypes, statusText, type CardData, type CardStatus, type LoopData } from "../canvas/nodes";
import { OutputsView, type CardOutputs } from "../canvas/outputs";
import { EXAMPLES } from "../canvas/examples";

interface Saved {
  name: string;
  text: string;
}

const EMPTY: Pipeline = { pipeline: "my-pipeline", seed: 0, cards: [] };

export default function PipelinesPage({ args }: PageProps) {
  const palette = useLoad(() => get<Palette>("/cards"), []);
  const aliases = useLoad(async () => {
    // a setting's other names (optimizer_type for optimizer, ...): the run config's schema lists them
    const s = await get<JsonSchema>("/schemas/run-config");
    const m: Record<string, string> = {};
    for (const [k, v] of Object.entries(s.properties ?? {})) for (const a of v.aliases ?? []) m[a] = k;
    return m;
  }, []);
  return (
    <div className="pipelines-page">
      <h1>Pipelines</h1>
      <ErrorBox error={palette.error} title="The card list" />
      {palette.data ? (
        <ReactFlowProvider>
          <Editor palette={palette.data} aliases={aliases.data ?? {}} name={args[0] ?? null} />
        </ReactFlowProvider>
      ) : (
        !palette.error && <p className="loading">Loading the cards…</p>
      )}
    </div>
  );
}

/** Absolute canvas position of a card (inner positions are relative to their loop). */
function absolute(p: Pipeline, pos: Record<string, XY>, id: string): XY {
  let x = 0, y = 0;
  for (let q: CardSpec | null | undefined = findCard(p, id); q; q = parentOf(p, q.id)) {
    x += pos[q.id]?.x ?? 0;
    y += pos[q.id]?.y ?? 0;
  }
  return { x, y };
}

function Editor({ palette, aliases, name }: { palette: Palette; aliases: Record<string, string>; name: string | null }) {
  const flow = useReactFlow();
  const [pipe, setPipe] = useState<Pipeline>(EMPTY);
  const [pos, setPos] = useState<Record<string, XY>>({});
  const [selected, setSelected] = useState<string | null>(null);
  const [refusal, setRefusal] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [note, setNote] = useState<string | null>(null);
  const [problems, setProblems] = useState<Problem[]>([]);
  const [statuses, setStatuses] = useState<Record<string, CardStatus>>({});
  const [job, setJob] = useState<Job | null>(null);
  const [outCards, setOutCards] = useState<Set<string>>(new Set());
  const [showYaml, setShowYaml] = useState(false);
  const [busy, setBusy] = useState<string | null>(null);
  const [nodes, setNodes] = useState<Node[]>([]);
  const [choice, setChoice] = useState("example:boston_steps");
  const saved = useLoad(() => get<List<Saved>>("/pipelines", { limit: 500 }).then((l) => l.items), []);

  const sizes: Sizes = useMemo(
    () => ({
      ports: (c) => {
        const d = defOf(palette, c.card);
        return [d?.inputs.length ?? 0, d?.outputs.length ?? 0];
      },
    }),
    [palette],
  );
  const text = useMemo(() => toYaml(pipe), [pipe]);

  const load = useCallback(
    (t: string, fit = true) => {
      const p = parsePipeline(t);
      setPipe(p);
      setPos(layout(p, sizes));
      setSelected(null);
      setRefusal(null);
      setProblems([]);
      setStatuses({});
      setJob(null);
      setOutCards(new Set());
      if (fit) setTimeout(() => flow.fitView({ padding: 0.08, maxZoom: 1 }), 60);
      return p;
    },
    [sizes, flow],
  );

  // a saved pipeline named by the address
  useEffect(() => {
    if (!name || name === pipe.pipeline) return;
    get<Saved>(`/pipelines/${encodeURIComponent(name)}`).then(
      (s) => load(s.text),
      (e) => setError(e),
    );
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [name]);

  // ---- the nodes and edges React Flow draws -------------------------------------------
  const problemCards = useMemo(() => new Set(problems.map((p) => p.card).filter(Boolean) as string[]), [problems]);
  useEffect(() => {
    setNodes((prev) => {
      const before = new Map(prev.map((n) => [n.id, n]));
      return allCards(pipe).map(({ card, parent }) => {
        const def = defOf(palette, card.card);
        const old = before.get(card.id);
        const base: CardData = {
          id: card.id, card: card.card, description: def?.description ?? "unknown card type",
          ins: def?.inputs ?? [], outs: def?.outputs ?? [], status: statuses[card.id], problem: problemCards.has(card.id),
          hasOutputs: outCards.has(card.id),
        };
        const common = {
          id: card.id,
          position: pos[card.id] ?? { x: 0, y: 0 },
          selected: selected === card.id,
          measured: old?.measured,
          ...(parent ? { parentId: parent.id, extent: "parent" as const, expandParent: true } : {}),
        };
        if (def?.loop) {
          const b = boxOf(card, sizes, pos);
          const data: LoopData = {
            ...base, passed: loopPassed(palette, pipe, card), over: String(card.with.over ?? "batches"),
            outs: LOOP_OWN.filter((o) => o.name !== "batch_index" || (card.with.over ?? "batches") === "batches"),
          };
          return { ...common, type: "loop", data, style: { width: b.w, height: b.h }, dragHandle: ".loop-head", ariaLabel: `loop ${card.id}` } as Node;
        }
        return { ...common, type: "card", data: base, ariaLabel: `card ${card.id} (${card.card})` } as Node;
      });
    });
  }, [pipe, pos, selected, statuses, problemCards, outCards, palette, sizes]);

  const edges: Edge[] = useMemo(() => {
    const out: Edge[] = [];
    for (const { card } of allCards(pipe))
      for (const [port, ref] of Object.entries(card.in)) {
        const [sid, o] = splitRef(ref);
        const src = findCard(pipe, sid);
        if (!src) continue;
        const inside = defOf(palette, src.card)?.loop && allCards({ pipeline: "", cards: [src] }).some((x) => x.card.id === card.id);
        const kind = refKind(palette, pipe, ref) ?? "";
        out.push({
          id: `${card.id}:${port}`, source: sid, target: card.id, sourceHandle: `${inside ? "inner" : "out"}:${o}`, targetHandle: `in:${port}`,
          style: { stroke: kindColor(kind), strokeWidth: 2 }, ariaLabel: `wire ${ref} to ${card.id}.${port}`,
        });
      }
    return out;
  }, [pipe, palette]);

  const onNodesChange = useCallback((changes: NodeChange[]) => {
    setNodes((nds) => applyNodeChanges(changes, nds));
    const moved: Record<string, XY> = {};
    for (const c of changes) {
      if (c.type === "position" && c.position && !c.dragging) moved[c.id] = c.position;
      if (c.type === "select" && c.selected) setSelected(c.id);
    }
    if (Object.keys(moved).length) setPos((p) => ({ ...p, ...moved }));
  }, []);

  // ---- adding, wiring, removing ----------------------------------------------------------
  const add = useCallback(
    (card: string, loopId: string | null, at: XY | null) => {
      const r = addCard(pipe, card, loopId);
      const scope = loopId ? findCard(r.pipeline, loopId)!.cards! : r.pipeline.cards;
      const others = scope.filter((c) => c.id !== r.id);
      const made = loopId ? findCard(r.pipeline, loopId)!.cards!.find((c) => c.id === r.id)! : r.pipeline.cards.find((c) => c.id === r.id)!;
      const size = boxOf(made, sizes, pos);
      // a drop on another card goes to the scope's next free spot instead
      const free = () => (loopId ? freeSpot(others, sizes, pos, LOOP_RAIL + LOOP_PAD, LOOP_HEAD + 12, 3, size) : freeSpot(others, sizes, pos, 0, 0, 4, size));
      const spot = at && !overlaps(others, sizes, pos, at, size) ? at : free();
      setPipe(r.pipeline);
      setPos((p) => ({ ...p, [r.id]: spot }));
      setSelected(r.id);
      setRefusal(null);
      return r.id;
    },
    [pipe, pos, sizes],
  );

  const onDrop = (e: DragEvent) => {
    e.preventDefault();
    const card = e.dataTransfer.getData("application/x-netsmith-card");
    if (!card) return;
    const at = flow.screenToFlowPosition({ x: e.clientX, y: e.clientY });
    // the innermost loop under the drop point takes the card
    let inLoop: CardSpec | null = null;
    for (const { card: c } of allCards(pipe)) {
      if (!c.cards) continue;
      const a = absolute(pipe, pos, c.id), b = boxOf(c, sizes, pos);
      if (at.x >= a.x && at.x <= a.x + b.w && at.y >= a.y && at.y <= a.y + b.h) inLoop = c;
    }
    if (inLoop) {
      const a = absolute(pipe, pos, inLoop.id);
      add(card, inLoop.id, { x: Math.max(LOOP_RAIL + LOOP_PAD, at.x - a.x - CARD_W / 2), y: Math.max(LOOP_HEAD + 8, at.y - a.y - 20) });
    } else add(card, null, { x: at.x - CARD_W / 2, y: at.y - 20 });
  };

  const wire = useCallback(
    (source: string, out: string, target: string, port: string): boolean => {
      const r = checkWire(palette, pipe, source, out, target, port);
      if (!r.ok) {
        setRefusal(r.message);
        return false;
      }
      setRefusal(null);
      setPipe(setWire(pipe, target, port, `${source}.${out}`));
      return true;
    },
    [palette, pipe],
  );

  const onConnect = (c: Connection) => {
    if (!c.source || !c.target || !c.sourceHandle || !c.targetHandle) return;
    const out = c.sourceHandle.replace(/^(out|inner):/, "");
    let port = c.targetHandle.replace(/^in:/, "");
    if (port === "+") port = out; // a loop passes a new input on under its own name
    wire(c.source, out, c.target, port);
  };

  // a top-level card let go over a loop becomes one of its cards
  const onNodeDragStop = (_: unknown, n: Node) => {
    const c = findCard(pipe, n.id);
    if (!c || c.cards || parentOf(pipe, n.id)) return;
    const b = boxOf(c, sizes, pos);
    const mid = { x: n.position.x + b.w / 2, y: n.position.y + 20 };
    const loop = pipe.cards.find((l) => {
      if (!l.cards || l.id === n.id) return false;
      const a = pos[l.id], lb = boxOf(l, sizes, pos);
      return a && mid.x >= a.x && mid.x <= a.x + lb.w && mid.y >= a.y && mid.y <= a.y + lb.h;
    });
    if (!loop) return;
    const a = pos[loop.id];
    let at = { x: Math.max(LOOP_RAIL + LOOP_PAD, n.position.x - a.x), y: Math.max(LOOP_HEAD + 8, n.position.y - a.y) };
    if (overlaps(loop.cards!, sizes, pos, at, b)) at = freeSpot(loop.cards!, sizes, pos, LOOP_RAIL + LOOP_PAD, LOOP_HEAD + 12, 3, b);
    setPipe(moveIntoLoop(pipe, n.id, loop.id));
    setPos((p) => ({ ...p, [n.id]: at }));
    setNote(`${n.id} is now a card of loop ${loop.id}.`);
  };

  const onEdgesDelete = (es: Edge[]) => {
    let p = pipe;
    for (const e of es) p = setWire(p, e.target, (e.targetHandle ?? "").replace(/^in:/, ""), null);
    setPipe(p);
  };
  const onNodesDelete = (ns: Node[]) => {
    let p = pipe;
    for (const n of ns) p = removeCard(p, n.id);
    setPipe(p);
    if (selected && !findCard(p, selected)) setSelected(null);
  };

  // ---- running -------------------------------------------------------------------------
  const jobId = useRef<number | null>(null);
  const early = useRef<ServerEvent[] | null>(null);
  const finished = useCallback(async (id: number) => {
    try {
      const j = await get<Job>(`/jobs/${id}`);
      setJob(j);
      if (j.state === "succeeded") {
        const o = await get<{ cards: { card: string }[] }>(`/jobs/${id}/outputs`);
        setOutCards(new Set(o.cards.map((c) => c.card)));
      }
    } catch (e) {
      setError(e);
    }
  }, []);

  const apply = useCallback(
    (e: ServerEvent) => {
      if (e.type === "card") {
        const d = e.data as { event: string; id: string; seconds?: number; message?: string | null; iteration?: number; iterations?: number };
        setStatuses((s) => {
          const prev = s[d.id];
          let next: CardStatus;
          if (d.event === "started") next = { state: "running", iteration: prev?.iteration, iterations: prev?.iterations };
          else if (d.event === "iteration") next = { state: "running", iteration: d.iteration, iterations: d.iterations };
          else if (d.event === "finished") next = { state: "done", seconds: d.seconds };
          else if (d.event === "failed") next = { state: "failed", seconds: d.seconds, message: d.message };
          else if (d.event === "skipped") next = { state: "skipped", message: d.message };
          else return s;
          return { ...s, [d.id]: next };
        });
      } else if (e.type === "job") {
        const st = (e.data as { state?: string }).state;
        if (st) setJob((j) => (j ? { ...j, state: st } : j));
        if (st === "succeeded" || st === "failed" || st === "cancelled") void finished(e.job);
      }
    },
    [finished],
  );

  useServerEvents((e) => {
    if (jobId.current === null) {
      early.current?.push(e); // a run whose job id is not known yet
      return;
    }
    if (e.job === jobId.current) apply(e);
  });

  // a fallback for a stream that misses the end of the job
  useEffect(() => {
    if (!job || (job.state !== "queued" && job.state !== "running")) return;
    const t = setInterval(async () => {
      try {
        const j = await get<Job>(`/jobs/${job.id}`);
        if (j.state !== "queued" && j.state !== "running") void finished(j.id);
      } catch {
        /* the stream or the next poll says more */
      }
    }, 2000);
    return () => clearInterval(t);
  }, [job, finished]);

  const save = async (): Promise<string | null> => {
    const n = pipe.pipeline.trim();
    setError(null);
    setNote(null);
    try {
      try {
        await put(`/pipelines/${encodeURIComponent(n)}`, { pipeline: text });
      } catch (e) {
        if (!(e instanceof ApiError && e.status === 404)) throw e;
        await post("/pipelines", { name: n, pipeline: text });
      }
      setProblems([]);
      saved.reload();
      navigate(`/pipelines/${encodeURIComponent(n)}`, true);
      return n;
    } catch (e) {
      if (e instanceof ApiError) setProblems(e.problems);
      setError(e);
      return null;
    }
  };

  const run = async () => {
    setBusy("run");
    const n = await save();
    if (!n) {
      setBusy(null);
      return;
    }
    setStatuses({});
    setOutCards(new Set());
    setJob(null);
    jobId.current = null;
    early.current = [];
    try {
      const j = await post<Job>(`/pipelines/${encodeURIComponent(n)}/run`, {});
      jobId.current = j.id;
      setJob(j);
      for (const e of early.current ?? []) if (e.job === j.id) apply(e);
      early.current = null;
    } catch (e) {
      setError(e);
    }
    setBusy(null);
  };

  const check = async () => {
    setError(null);
    setNote(null);
    setBusy("check");
    try {
      const r = await post<{ cards?: unknown[] }>("/pipelines/check", { pipeline: text, source: pipe.pipeline });
      setProblems([]);
      setNote(`No problems: ${r.cards?.length ?? allCards(pipe).length} cards, ready to run.`);
    } catch (e) {
      if (e instanceof ApiError && e.problems.length) {
        setProblems(e.problems);
        const first = e.problems.find((p) => p.card)?.card;
        if (first && findCard(pipe, first)) setSelected(first);
      } else setError(e);
    }
    setBusy(null);
  };

  const download = () => {
    const a = document.createElement("a");
    a.href = URL.createObjectURL(new Blob([text], { type: "application/yaml" }));
    a.download = `${pipe.pipeline || "pipeline"}.yaml`;
    document.body.appendChild(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(a.href), 1000);
  };

  const openChoice = () => {
    setError(null);
    try {
      if (choice.startsWith("example:")) {
        const ex = EXAMPLES.find((x) => "example:" + x.name === choice);
        if (ex) load(ex.text);
      } else {
        const s = saved.data?.find((x) => "saved:" + x.name === choice);
        if (s) load(s.text);
      }
    } catch (e) {
      setError(e);
    }
  };

  const openFile = async (f: File | undefined) => {
    if (!f) return;
    setError(null);
    try {
      load(await f.text());
      setNote(`Opened ${f.name}.`);
    } catch (e) {
      setError(new Error(`${f.name}: ${(e as Error).message}`));
    }
  };

  const running = job !== null && (job.state === "queued" || job.state === "running");
  const sel = selected ? findCard(pipe, selected) ?? null : null;

  return (
    <>
      <div className="toolbar row" role="toolbar" aria-label="Pipeline">
        <label className="inline">
          Pipeline name
          <input value={pipe.pipeline} onChange={(e) => setPipe({ ...pipe, pipeline: e.target.value })} spellCheck={false} size={14} />
        </label>
        <button type="button" onClick={() => { load(toYaml(EMPTY)); navigate("/pipelines", true); }}>New</button>
        <label className="button file-button">
          Open file…
          <input type="file" accept=".yaml,.yml,.json,application/yaml,application/json" aria-label="Open pipeline file"
            onChange={(e) => { void openFile(e.target.files?.[0]); e.target.value = ""; }} />
        </label>
        <select aria-label="Saved pipelines and examples" value={choice} onChange={(e) => setChoice(e.target.value)}>
          <optgroup label="Examples">
            {EXAMPLES.map((x) => <option key={x.name} value={"example:" + x.name}>{x.title}</option>)}
          </optgroup>
          {!!saved.data?.length && (
            <optgroup label="Saved">
              {saved.data.map((s) => <option key={s.name} value={"saved:" + s.name}>{s.name}</option>)}
            </optgroup>
          )}
        </select>
        <button type="button" onClick={openChoice}>Load example</button>
        <button type="button" onClick={() => { setPos(layout(pipe, sizes)); setTimeout(() => flow.fitView({ padding: 0.08, maxZoom: 1 }), 60); }}
          disabled={pipe.cards.length === 0} title="Lay the cards out left to right by their wires">Arrange</button>
        <span className="grow" />
        <button type="button" onClick={() => void save().then((n) => n && setNote(`Saved as ${n}.`))}>Save</button>
        <button type="button" onClick={download}>Download YAML</button>
        <button type="button" onClick={() => void check()} disabled={busy !== null}>Check</button>
        <button type="button" className="primary" onClick={() => void run()} disabled={busy !== null || running || pipe.cards.length === 0}>
          {running ? "Running…" : "Run"}
        </button>
        <button type="button" aria-pressed={showYaml} onClick={() => setShowYaml(!showYaml)}>YAML</button>
      </div>
      <div className="messages">
        <ErrorBox error={error} />
        {refusal && <div className="error refusal" role="alert"><strong>Wire refused: </strong>{refusal}</div>}
        {problems.length > 0 && !error && (
          <div className="error" role="alert">
            <strong>The check found {problems.length === 1 ? "a problem" : `${problems.length} problems`}:</strong>
            <ul>
              {problems.map((p, i) => (
                <li key={i}>
                  {p.line ? `line ${p.line}: ` : ""}
                  {p.card ? <button type="button" className="link" onClick={() => setSelected(p.card!)}>{p.card_type} '{p.card}'</button> : null} {p.message}
                </li>
              ))}
            </ul>
          </div>
        )}
        {note && !error && problems.length === 0 && <p className="ok-note" role="status">{note}</p>}
        {job && <JobLine job={job} />}
      </div>
      <div className="pipeline-editor">
        <CardPalette palette={palette} onAdd={(card) => {
          const loopId = sel ? (sel.cards ? sel.id : parentOf(pipe, sel.id)?.id ?? null) : null;
          add(card, loopId, null);
        }} />
        <div className="canvas" onDragOver={(e) => { e.preventDefault(); e.dataTransfer.dropEffect = "move"; }} onDrop={onDrop}>
          <ReactFlow nodes={nodes} edges={edges} nodeTypes={nodeTypes} onNodesChange={onNodesChange}
            onConnect={onConnect} onNodeDragStop={onNodeDragStop} onEdgesDelete={onEdgesDelete} onNodesDelete={onNodesDelete}
            onPaneClick={() => setSelected(null)} deleteKeyCode={["Delete", "Backspace"]}
            minZoom={0.2} maxZoom={2} aria-label="Pipeline canvas" proOptions={{ hideAttribution: true }}
            defaultEdgeOptions={{ type: "default" }}>
            <Background gap={16} />
            <Controls fitViewOptions={{ padding: 0.08, maxZoom: 1 }} />
          </ReactFlow>
          {pipe.cards.length === 0 && (
            <p className="canvas-empty muted">Drag cards here from the list on the left (or focus one and press Enter), then wire an output's dot to an input's dot.</p>
          )}
        </div>
        <aside className="side panel" aria-label="Card">
          {showYaml ? (
            <YamlPanel text={text} onApply={(t) => { try { load(t); setNote("The YAML was read into the canvas."); return null; } catch (e) { return (e as Error).message; } }} />
          ) : sel ? (
            <CardPanel key={sel.id} card={sel} pipe={pipe} palette={palette} aliases={aliases} job={job} hasOutputs={outCards.has(sel.id)}
              status={statuses[sel.id]}
              onPipe={setPipe} onWire={wire} onRename={(to) => {
                setPipe(renameCard(pipe, sel.id, to));
                setPos((p) => { const q = { ...p, [to]: p[sel.id] }; delete q[sel.id]; return q; });
                setSelected(to);
              }} onRemove={() => { setPipe(removeCard(pipe, sel.id)); setSelected(null); }} onRefuse={setRefusal} />
          ) : (
            <PipelinePanel pipe={pipe} onPipe={setPipe} />
          )}
        </aside>
      </div>
    </>
  );
}

function JobLine({ job }: { job: Job }) {
  return (
    <p className="job-line" role="status" aria-label="Run">
      Job {job.id}: <span className={`badge ${job.state}`}>{job.state}</span>
      {job.error && <span className="error-message"> {job.error}</span>}
    </p>
  );
}

function CardPalette({ palette, onAdd }: { palette: Palette; onAdd: (card: string) => void }) {
  const [filter, setFilter] = useState("");
  const shown = palette.cards.filter((c) => !filter || c.card.includes(filter.toLowerCase()) || c.description.toLowerCase().includes(filter.toLowerCase()));
  return (
    <nav className="palette panel" aria-labelledby="palette-heading">
      <h2 id="palette-heading">Cards</h2>
      <input type="search" placeholder="Filter" aria-label="Filter cards" value={filter} onChange={(e) => setFilter(e.target.value)} />
      <ul>
        {shown.map((c) => (
          <li key={c.card}>
            <div draggable tabIndex={0} role="button" aria-label={c.card} title={c.description}
              aria-describedby={`card-doc-${c.card}`} className={c.loop ? "palette-card loop" : "palette-card"}
              onDragStart={(e) => { e.dataTransfer.setData("application/x-netsmith-card", c.card); e.dataTransfer.effectAllowed = "move"; }}
              onKeyDown={(e: KeyboardEvent) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); onAdd(c.card); } }}>
              <span className="palette-name">{c.card}</span>
              <span className="palette-ports" aria-hidden="true">
                {c.inputs.map((p) => <i key={"i" + p.name} style={{ background: kindColor(p.kind) }} title={`in ${p.name}: ${p.kind}`} />)}
                <span className="arrow">→</span>
                {c.outputs.map((p) => <i key={"o" + p.name} style={{ background: kindColor(p.kind) }} title={`out ${p.name}: ${p.kind}`} />)}
              </span>
              <span id={`card-doc-${c.card}`} className="visually-hidden">{c.description}</span>
            </div>
          </li>
        ))}
      </ul>
      <p className="help">Drag a card onto the canvas, or focus it and press Enter (it goes into the selected card's loop).</p>
    </nav>
  );
}

function PipelinePanel({ pipe, onPipe }: { pipe: Pipeline; onPipe: (p: Pipeline) => void }) {
  return (
    <>
      <h2>{pipe.pipeline}</h2>
      <p className="muted">{allCards(pipe).length} cards. Select a card to edit its id, wires and settings.</p>
      <div className="fields">
        <label htmlFor="pipeline-seed">Seed</label>
        <input id="pipeline-seed" type="text" inputMode="numeric" value={pipe.seed ?? ""} placeholder="0"
          onChange={(e) => {
            const v = e.target.value.trim();
            const q = { ...pipe };
            if (v === "" || Number.isNaN(Number(v))) delete q.seed;
            else q.seed = Number(v);
            onPipe(q);
          }} />
      </div>
      <p className="help">The seed is every card's default seed: the same seed and settings give the same weights.</p>
    </>
  );
}

function YamlPanel({ text, onApply }: { text: string; onApply: (t: string) => string | null }) {
  const [draft, setDraft] = useState(text);
  const [problem, setProblem] = useState<string | null>(null);
  useEffect(() => setDraft(text), [text]);
  return (
    <>
      <h2>YAML</h2>
      <textarea className="code yaml" aria-label="Pipeline YAML" value={draft} onChange={(e) => setDraft(e.target.value)} spellCheck={false} />
      <div className="row">
        <button type="button" disabled={draft === text} onClick={() => setProblem(onApply(draft))}>Apply to the canvas</button>
        <button type="button" disabled={draft === text} onClick={() => { setDraft(text); setProblem(null); }}>Revert</button>
      </div>
      {problem && <div className="error" role="alert">{problem}</div>}
      <p className="help">This is the file <code>netsmith run</code> runs. Card positions are not part of it.</p>
    </>
  );
}

interface CardPanelProps {
  card: CardSpec;
  pipe: Pipeline;
  palette: Palette;
  aliases: Record<string, string>;
  job: Job | null;
  hasOutputs: boolean;
  status?: CardStatus;
  onPipe: (p: Pipeline) => void;
  onWire: (source: string, out: string, target: string, port: string) => boolean;
  onRename: (to: string) => void;
  onRemove: () => void;
  onRefuse: (m: string | null) => void;
}

function CardPanel({ card, pipe, palette, aliases, job, hasOutputs, status, onPipe, onWire, onRename, onRemove, onRefuse }: CardPanelProps) {
  const def = defOf(palette, card.card);
  const [id, setId] = useState(card.id);
  const idBad = id === card.id ? null : idProblem(pipe, id, card.id);
  const schema = def?.settings ?? { type: "object", properties: {} };
  const props = schema.properties ?? {};
  // settings as written (optimizer_type) shown under the card's own names (optimizer)
  const written: Record<string, string> = {};
  const values: Values = {};
  const other: [string, unknown][] = [];
  for (const [k, v] of Object.entries(card.with)) {
    const canon = k in props ? k : aliases[k] && aliases[k] in props ? aliases[k] : null;
    if (canon) {
      written[canon] = k;
      values[canon] = v;
    } else other.push([k, v]);
  }
  const keys = [...Object.keys(props).filter((k) => k !== "execution" && k !== "device"), "execution", "device"];
  const setValues = (v: Values) => {
    const w: Record<string, unknown> = Object.fromEntries(other);
    for (const [k, x] of Object.entries(v)) w[written[k] ?? k] = x;
    onPipe({ ...pipe, cards: replaceWith(pipe.cards, card.id, w) });
  };
  const ports: PortDef[] = def?.loop
    ? [...(def.inputs ?? []), ...loopPassed(palette, pipe, card).filter((p) => !def.inputs.some((i) => i.name === p.name))]
    : def?.inputs ?? [];
  const passable = def?.loop ? candidates(palette, pipe, card.id, "\u0000any").filter((c) => !Object.values(card.in).includes(c.ref)) : [];

  const outputs = useLoad<CardOutputs | null>(
    () => (job && hasOutputs ? get<CardOutputs>(`/jobs/${job.id}/outputs/${encodeURIComponent(card.id)}`) : Promise.resolve(null)),
    [job?.id, hasOutputs, card.id],
  );

  return (
    <>
      <h2 title="Card ID">{card.id}</h2>
      <p className="muted card-type">{card.card}{def ? ": " + def.description.replace(/^[^:]*:\s*/, "") : " (not a card of this server)"}</p>
      {status && status.state === "failed" ? (
        <div className="error" role="status"><strong>Failed: </strong>{status.message ?? "no message"}</div>
      ) : status ? (
        <p className={`badge ${status.state === "done" ? "succeeded" : status.state}`} role="status">{statusText(status)}</p>
      ) : null}
      {hasOutputs && job && (
        <section aria-label={`Outputs of ${card.id}`}>
          <h3>Outputs</h3>
          <ErrorBox error={outputs.error} />
          {outputs.loading && <p className="muted">Loading…</p>}
          {outputs.data && <OutputsView job={job.id} data={outputs.data} />}
        </section>
      )}
      {job?.state === "succeeded" && !hasOutputs && allCards(pipe).some((x) => x.card.id === card.id && x.parent) && (
        <p className="help">A loop's inner cards keep no outputs; the loop passes on what they changed.</p>
      )}
      <div className="fields">
        <label htmlFor="card-id">Card id</label>
        <div className="field">
          <input id="card-id" value={id} aria-invalid={idBad ? true : undefined} spellCheck={false}
            onChange={(e) => setId(e.target.value)}
            onBlur={() => { if (id !== card.id && !idBad) onRename(id); }}
            onKeyDown={(e) => { if (e.key === "Enter" && id !== card.id && !idBad) onRename(id); }} />
          {idBad && <div className="help field-error" role="alert">{idBad}</div>}
        </div>
      </div>

      <h3>Inputs</h3>
      {ports.length === 0 && <p className="muted">This card takes no inputs.</p>}
      <div className="fields">
        {ports.map((p) => {
          const cur = card.in[p.name] ?? "";
          const opts = candidates(palette, pipe, card.id, p.name);
          if (cur && !opts.some((o) => o.ref === cur)) opts.unshift({ ref: cur, kind: refKind(palette, pipe, cur) ?? "?" });
          const sid = `input-${p.name}`;
          return (
            <div className="contents" key={p.name}>
              <label htmlFor={sid} title={p.description}>Input: {p.name}</label>
              <div className="field">
                <select id={sid} value={cur} onChange={(e) => {
                  const v = e.target.value;
                  if (!v) { onRefuse(null); onPipe(setWire(pipe, card.id, p.name, null)); return; }
                  const [s, o] = splitRef(v);
                  onWire(s, o, card.id, p.name);
                }}>
                  <option value="">{p.required ? "— not wired (needed) —" : "— not wired —"}</option>
                  {opts.map((o) => <option key={o.ref} value={o.ref}>{o.ref}</option>)}
                </select>
                <div className="help"><span className="kind-dot" style={{ background: kindColor(p.kind) }} /> {p.kind}{p.description ? ": " + p.description : ""}</div>
              </div>
            </div>
          );
        })}
        {def?.loop && (
          <>
            <label htmlFor="loop-pass">Pass on</label>
            <div className="field">
              <select id="loop-pass" value="" onChange={(e) => { const [s, o] = splitRef(e.target.value); if (s) onWire(s, o, card.id, o); }}>
                <option value="">— add an input the loop passes on —</option>
                {passable.map((o) => <option key={o.ref} value={o.ref}>{o.ref} ({o.kind})</option>)}
              </select>
              <div className="help">Its cards use it as {card.id}.NAME, and so do the cards after the loop.</div>
            </div>
          </>
        )}
      </div>

      <h3>Settings</h3>
      <SchemaForm schema={schema} keys={keys} values={values} onChange={setValues} />
      {other.length > 0 && (
        <p className="help">Also in the file: {other.map(([k, v]) => `${k}: ${JSON.stringify(v)}`).join(", ")}</p>
      )}

      <div className="row remove-row">
        <button type="button" className="danger" onClick={onRemove}>Remove card</button>
      </div>
    </>
  );
}

function replaceWith(cards: CardSpec[], id: string, w: Record<string, unknown>): CardSpec[] {
  return cards.map((c) => (c.id === id ? { ...c, with: w } : c.cards ? { ...c, cards: replaceWith(c.cards, id, w) } : c));
}
