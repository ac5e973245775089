// A pipeline file as data: {pipeline, seed, cards: [{id, card, in, with, cards}]}, read from
// and written to the YAML `netsmith run` reads (the structure of examples/pipelines/*.yaml).
// Positions on the canvas are not part of the file: a loaded file is laid out by dependency
// depth, left to right.
import YAML, { isMap, isPair, isScalar, isSeq } from "yaml";

export interface CardSpec {
  id: string;
  card: string;
  /** input port -> "card.output" */
  in: Record<string, string>;
  with: Record<string, unknown>;
  /** a loop's own cards */
  cards?: CardSpec[];
}

export interface Pipeline {
  pipeline: string;
  seed?: number;
  cards: CardSpec[];
}

export interface XY {
  x: number;
  y: number;
}

function readCard(raw: unknown, where: string): CardSpec {
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) throw new Error(`${where}: a card must be a map with id and card`);
  const r = raw as Record<string, unknown>;
  if (typeof r.id !== "string" || !r.id) throw new Error(`${where}: a card needs an id`);
  if (typeof r.card !== "string" || !r.card) throw new Error(`${where}: card '${r.id}' needs a card type (card: ...)`);
  const ins: Record<string, string> = {};
  if (r.in !== undefined && r.in !== null) {
    if (typeof r.in !== "object" || Array.isArray(r.in)) throw new Error(`card '${r.id}': in must be a map of input: card.output`);
    for (const [k, v] of Object.entries(r.in as Record<string, unknown>)) ins[k] = String(v);
  }
  const w = r.with !== undefined && r.with !== null && typeof r.with === "object" && !Array.isArray(r.with) ? { ...(r.with as Record<string, unknown>) } : {};
  const c: CardSpec = { id: r.id, card: r.card, in: ins, with: w };
  if (Array.isArray(r.cards)) c.cards = r.cards.map((x, i) => readCard(x, `card '${r.id}', inner card ${i + 1}`));
  else if (r.card === "loop") c.cards = [];
  return c;
}

/** A pipeline from its YAML (or JSON) text; throws with a message saying what is wrong. */
export function parsePipeline(text: string): Pipeline {
  const doc = YAML.parseDocument(text);
  if (doc.errors.length) throw new Error(doc.errors[0].message);
  const raw = doc.toJS() as unknown;
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) throw new Error("a pipeline file is a map with pipeline, seed and cards");
  const r = raw as Record<string, unknown>;
  const cards = Array.isArray(r.cards) ? r.cards.map((c, i) => readCard(c, `card ${i + 1}`)) : [];
  const p: Pipeline = { pipeline: typeof r.pipeline === "string" ? r.pipeline : String(r.pipeline ?? "pipeline"), cards };
  if (typeof r.seed === "number") p.seed = r.seed;
  return p;
}

/** The plain object a file holds (keys in the order of the examples; empty in/with left out). */
export function toPlain(p: Pipeline): Record<string, unknown> {
  const card = (c: CardSpec): Record<string, unknown> => {
    const o: Record<string, unknown> = { id: c.id, card: c.card };
    if (Object.keys(c.in).length) o.in = { ...c.in };
    if (Object.keys(c.with).length) o.with = { ...c.with };
    if (c.cards) o.cards = c.cards.map(card);
    return o;
  };
  const o: Record<string, unknown> = { pipeline: p.pipeline };
  if (p.seed !== undefined) o.seed = p.seed;
  o.cards = p.cards.map(card);
  return o;
}

/** The YAML text: block cards, their in/with (and lists) in flow style as the examples write them. */
export function toYaml(p: Pipeline): string {
  const doc = new YAML.Document(toPlain(p));
  YAML.visit(doc, {
    Pair(_, pair) {
      if (!isPair(pair) || !isScalar(pair.key)) return;
      const k = pair.key.value;
      if ((k === "in" || k === "with") && (isMap(pair.value) || isSeq(pair.value))) pair.value.flow = true;
    },
    Seq(_, seq) {
      if (seq.items.every((i) => isScalar(i))) seq.flow = true;
    },
  });
  return doc.toString({ lineWidth: 0 });
}

// ---- walking the cards ------------------------------------------------------------------

/** Every card, inner ones after their loop, with its enclosing loop (null at the top). */
export function allCards(p: Pipeline): { card: CardSpec; parent: CardSpec | null }[] {
  const out: { card: CardSpec; parent: CardSpec | null }[] = [];
  const walk = (cs: CardSpec[], parent: CardSpec | null) => {
    for (const c of cs) {
      out.push({ card: c, parent });
      if (c.cards) walk(c.cards, c);
    }
  };
  walk(p.cards, null);
  return out;
}

export function findCard(p: Pipeline, id: string): CardSpec | undefined {
  return allCards(p).find((x) => x.card.id === id)?.card;
}

export function parentOf(p: Pipeline, id: string): CardSpec | null {
  return allCards(p).find((x) => x.card.id === id)?.parent ?? null;
}

/** The loops that enclose a card, innermost first. */
export function ancestors(p: Pipeline, id: string): CardSpec[] {
  const out: CardSpec[] = [];
  for (let q = parentOf(p, id); q; q = parentOf(p, q.id)) out.push(q);
  return out;
}

/** A deep copy, changed by fn. */
export function edit(p: Pipeline, fn: (q: Pipeline) => void): Pipeline {
  const q = structuredClone(p);
  fn(q);
  return q;
}

export function splitRef(ref: string): [string, string] {
  const i = ref.indexOf(".");
  return i < 0 ? [ref, ""] : [ref.slice(0, i), ref.slice(i + 1)];
}

/** The short id a new card of a type gets (the examples' names), made unique. */
const SHORT: Record<string, string> = {
  data_load: "load", data_split: "split", normalize: "norm", model_define: "define", build_model: "build",
  init_optimizer: "optim", loop: "epochs", prepare_batch: "batch", zero_grad: "zero", forward: "fwd",
  calculate_loss: "loss", backward: "bwd", optimizer_step: "step", evaluate: "eval", save_model: "save",
  inference: "predict", load_model: "model", train: "train",
};

export function freshId(p: Pipeline, card: string): string {
  const taken = new Set(allCards(p).map((x) => x.card.id));
  const base = SHORT[card] ?? card;
  if (!taken.has(base)) return base;
  for (let i = 2; ; i++) if (!taken.has(base + i)) return base + i;
}

/** Adds a card at the top or inside a loop. */
export function addCard(p: Pipeline, card: string, loopId: string | null): { pipeline: Pipeline; id: string } {
  const id = freshId(p, card);
  const pipeline = edit(p, (q) => {
    const c: CardSpec = { id, card, in: {}, with: {} };
    if (card === "loop") c.cards = [];
    const loop = loopId ? findCard(q, loopId) : undefined;
    if (loop?.cards) loop.cards.push(c);
    else q.cards.push(c);
  });
  return { pipeline, id };
}

/** Moves a top-level card into a loop (its wires stay; the check says if one no longer fits). */
export function moveIntoLoop(p: Pipeline, id: string, loopId: string): Pipeline {
  return edit(p, (q) => {
    const i = q.cards.findIndex((c) => c.id === id);
    const loop = findCard(q, loopId);
    if (i < 0 || !loop?.cards || id === loopId) return;
    const [c] = q.cards.splice(i, 1);
    loop.cards.push(c);
  });
}

/** Removes a card (a loop with its inner cards) and every wire from it. */
export function removeCard(p: Pipeline, id: string): Pipeline {
  return edit(p, (q) => {
    const gone = new Set<string>();
    const strip = (cs: CardSpec[]): CardSpec[] =>
      cs.filter((c) => {
        if (c.id === id) {
          allCards({ pipeline: "", cards: [c] }).forEach((x) => gone.add(x.card.id));
          return false;
        }
        if (c.cards) c.cards = strip(c.cards);
        return true;
      });
    q.cards = strip(q.cards);
    for (const { card } of allCards(q))
      for (const [port, ref] of Object.entries(card.in)) if (gone.has(splitRef(ref)[0])) delete card.in[port];
  });
}

/** Renames a card and every wire that names it. */
export function renameCard(p: Pipeline, from: string, to: string): Pipeline {
  return edit(p, (q) => {
    for (const { card } of allCards(q)) {
      if (card.id === from) card.id = to;
      for (const [port, ref] of Object.entries(card.in)) {
        const [src, out] = splitRef(ref);
        if (src === from) card.in[port] = `${to}.${out}`;
      }
    }
  });
}

/** What is wrong with a new id for a card (null when it is fine). */
export function idProblem(p: Pipeline, id: string, self: string): string | null {
  if (!/^[A-Za-z0-9_][A-Za-z0-9_-]*$/.test(id)) return "an id is letters, digits, '_' and '-' (no dots or spaces)";
  if (id !== self && findCard(p, id)) return `there is already a card '${id}'`;
  return null;
}

/** Sets or clears a wire into card's port. */
export function setWire(p: Pipeline, card: string, port: string, ref: string | null): Pipeline {
  return edit(p, (q) => {
    const c = findCard(q, card);
    if (!c) return;
    if (ref === null) delete c.in[port];
    else c.in[port] = ref;
  });
}

// ---- layout -------------------------------------------------------------------------------

export const CARD_W = 200;
export const GAP_X = 56;
export const GAP_Y = 28;
/** a loop's header and its port rail on the left */
export const LOOP_HEAD = 44;
export const LOOP_RAIL = 170;
/** room on a loop's right edge for the names of what it passes on */
export const LOOP_AFTER = 90;
export const LOOP_PAD = 24;

export interface Sizes {
  /** ports of a card type: [inputs, outputs] */
  ports: (card: CardSpec) => [number, number];
}

export function cardHeight(ins: number, outs: number): number {
  return 58 + 22 * Math.max(ins, outs, 1);
}

/** A loop's rail rows: its wired inputs, epoch and batch_index, and the row that takes a new input. */
export function loopRailRows(c: CardSpec): number {
  const passed = new Set(Object.keys(c.in));
  passed.add("dataset");
  passed.add("epoch");
  return passed.size + 3;
}

export function loopMinSize(c: CardSpec): { w: number; h: number } {
  return { w: LOOP_RAIL + CARD_W + 2 * LOOP_PAD + LOOP_AFTER, h: Math.max(LOOP_HEAD + 22 * loopRailRows(c) + 40, 200) };
}

/** The box a card takes (a loop: with its inner cards at the positions given, relative to it). */
export function boxOf(c: CardSpec, sizes: Sizes, pos: Record<string, XY>): { w: number; h: number } {
  if (c.card !== "loop") {
    const [i, o] = sizes.ports(c);
    return { w: CARD_W, h: cardHeight(i, o) };
  }
  const min = loopMinSize(c);
  let w = min.w, h = min.h;
  for (const k of c.cards ?? []) {
    const at = pos[k.id];
    if (!at) continue;
    const b = boxOf(k, sizes, pos);
    w = Math.max(w, at.x + b.w + LOOP_PAD + LOOP_AFTER);
    h = Math.max(h, at.y + b.h + LOOP_PAD);
  }
  return { w, h };
}

/** Positions for every card (inner ones relative to their loop): columns by dependency depth
 * within each scope, cards of a column stacked in file order; columns that would pass the
 * scope's width go on a band below, so a long pipeline stays readable on one screen. */
export function layout(p: Pipeline, sizes: Sizes, width = 1400, innerWidth = 3 * (CARD_W + GAP_X)): Record<string, XY> {
  const pos: Record<string, XY> = {};
  const scope = (cards: CardSpec[], x0: number, y0: number, maxW: number) => {
    // inner loops first, so a loop's box is known
    for (const c of cards) if (c.cards) scope(c.cards, LOOP_RAIL + LOOP_PAD, LOOP_HEAD + 12, innerWidth);
    const here = new Map(cards.map((c) => [c.id, c]));
    // which card of this scope holds an id (itself or a loop around it)
    const owner = new Map<string, string>();
    for (const c of cards) for (const x of allCards({ pipeline: "", cards: [c] })) owner.set(x.card.id, c.id);
    const depth = new Map<string, number>();
    const depthOf = (id: string, seen: Set<string>): number => {
      if (depth.has(id)) return depth.get(id)!;
      if (seen.has(id)) return 0;
      seen.add(id);
      let d = 0;
      const c = here.get(id)!;
      for (const x of allCards({ pipeline: "", cards: [c] }))
        for (const ref of Object.values(x.card.in)) {
          const o = owner.get(splitRef(ref)[0]);
          if (o && o !== id) d = Math.max(d, depthOf(o, seen) + 1);
        }
      depth.set(id, d);
      return d;
    };
    cards.forEach((c) => depthOf(c.id, new Set()));
    const cols: CardSpec[][] = [];
    for (const c of cards) (cols[depth.get(c.id)!] ??= []).push(c);
    let x = x0, top = y0, bottom = y0;
    for (const col of cols) {
      if (!col) continue;
      const w = Math.max(...col.map((c) => boxOf(c, sizes, pos).w));
      if (x > x0 && x + w > x0 + maxW) {
        x = x0;
        top = bottom + GAP_Y * 2;
      }
      let y = top;
      for (const c of col) {
        pos[c.id] = { x, y };
        y += boxOf(c, sizes, pos).h + GAP_Y;
      }
      bottom = Math.max(bottom, y - GAP_Y);
      x += w + GAP_X;
    }
  };
  scope(p.cards, 0, 0, width);
  return pos;
}

/** Does a box at `at` overlap a card of the scope (other than `self`)? */
export function overlaps(cards: CardSpec[], sizes: Sizes, pos: Record<string, XY>, at: XY, size: { w: number; h: number }, self?: string): boolean {
  return cards.some((c) => {
    const p = pos[c.id];
    if (!p || c.id === self) return false;
    const b = boxOf(c, sizes, pos);
    return at.x < p.x + b.w && at.x + size.w > p.x && at.y < p.y + b.h && at.y + size.h > p.y;
  });
}

/** A free spot for a new card: the first cell of a grid that overlaps no card of the scope. */
export function freeSpot(cards: CardSpec[], sizes: Sizes, pos: Record<string, XY>, x0: number, y0: number, columns = 4, size?: { w: number; h: number }): XY {
  const boxes = cards.filter((c) => pos[c.id]).map((c) => ({ ...pos[c.id], ...boxOf(c, sizes, pos) }));
  const cell = cardHeight(4, 4);
  const w = size?.w ?? CARD_W, h = size?.h ?? cell;
  for (let i = 0; ; i++) {
    const x = x0 + (i % columns) * (CARD_W + GAP_X), y = y0 + Math.floor(i / columns) * (cell + GAP_Y);
    const hit = boxes.some((b) => x < b.x + b.w + GAP_X / 2 && x + w + GAP_X / 2 > b.x && y < b.y + b.h + GAP_Y / 2 && y + h + GAP_Y / 2 > b.y);
    if (!hit) return { x, y };
  }
}
