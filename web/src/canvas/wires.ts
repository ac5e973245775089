// The wire check of the canvas, as the library checks a file (src/pipeline/parse.c): kinds
// must match (the library's sentence and hint otherwise), no cycles, values used only where
// they exist (a loop's epoch and batch_index inside it, an inner card's outputs inside its
// loop). A loop passes whatever is wired into it on under the same name.
import { allCards, ancestors, findCard, parentOf, splitRef, type CardSpec, type Pipeline } from "./model";
import type { JsonSchema } from "../api";

export interface PortDef {
  name: string;
  kind: string;
  required: boolean;
  description?: string;
}

export interface CardDef {
  card: string;
  description: string;
  loop: boolean;
  inputs: PortDef[];
  outputs: PortDef[];
  settings: JsonSchema;
}

export interface Palette {
  kinds: Record<string, string>;
  cards: CardDef[];
  wire_hints: Record<string, Record<string, string>>;
}

export const defOf = (pal: Palette, card: string) => pal.cards.find((c) => c.card === card);

/** The ports a loop makes itself (inside it only). */
export const LOOP_OWN: PortDef[] = [
  { name: "epoch", kind: "integer", required: false, description: "inside: the current epoch (from 0)" },
  { name: "batch_index", kind: "batch_index", required: false, description: "inside a loop over batches: the current batch" },
];

const article = (w: string) => ("aeiou".includes(w[0]) ? "an" : "a");

/** The kind of the value "src.out" stands for (null when there is none). */
export function refKind(pal: Palette, p: Pipeline, ref: string, depth = 0): string | null {
  const [sid, out] = splitRef(ref);
  const s = findCard(p, sid);
  if (!s || depth > 64) return null;
  const def = defOf(pal, s.card);
  if (def?.loop) {
    if (out === "epoch") return "integer";
    if (out === "batch_index") return "batch_index";
    const w = s.in[out];
    return w ? refKind(pal, p, w, depth + 1) : null;
  }
  return def?.outputs.find((o) => o.name === out)?.kind ?? null;
}

/** The ports a loop passes on: what is wired into it, with the kinds they carry. */
export function loopPassed(pal: Palette, p: Pipeline, loop: CardSpec): PortDef[] {
  return Object.entries(loop.in)
    .filter(([port]) => port !== "epoch")
    .map(([port, ref]) => ({ name: port, kind: refKind(pal, p, ref) ?? "?", required: false, description: `passed on from ${ref}` }));
}

/** The kind an input of a card takes (null: a loop's pass-through input takes any). */
export function inputKind(pal: Palette, card: CardSpec, port: string): string | null {
  const def = defOf(pal, card.card);
  return def?.inputs.find((i) => i.name === port)?.kind ?? null;
}

const isInside = (p: Pipeline, loopId: string, id: string) => ancestors(p, id).some((a) => a.id === loopId);

/** Does card `from` depend (through wires, or by holding a card that does) on card `to`? */
export function dependsOn(p: Pipeline, from: string, to: string): boolean {
  // edges: source -> user of its output, and inner card -> its loop (a loop ends after its cards)
  const next = new Map<string, Set<string>>();
  const add = (a: string, b: string) => (next.get(a) ?? next.set(a, new Set()).get(a)!).add(b);
  for (const { card, parent } of allCards(p)) {
    if (parent) add(card.id, parent.id);
    for (const ref of Object.values(card.in)) {
      const sid = splitRef(ref)[0];
      if (!isInside(p, sid, card.id)) add(sid, card.id); // an enclosing loop's value is no dependency
    }
  }
  const seen = new Set<string>();
  const stack = [to];
  while (stack.length) {
    const x = stack.pop()!;
    if (x === from) return true;
    if (seen.has(x)) continue;
    seen.add(x);
    for (const y of next.get(x) ?? []) stack.push(y);
  }
  return false;
}

export type WireCheck = { ok: true } | { ok: false; message: string };

/** May `target`'s input `port` take "source.out"? The message is the library's sentence. */
export function checkWire(pal: Palette, p: Pipeline, source: string, out: string, target: string, port: string): WireCheck {
  const s = findCard(p, source), n = findCard(p, target);
  if (!s || !n) return { ok: false, message: `there is no card '${!s ? source : target}'` };
  const ref = `${source}.${out}`;
  const who = `${n.card} '${n.id}'`;
  const fail = (m: string): WireCheck => ({ ok: false, message: `${who} ${m}` });
  if (s === n) return fail(`input '${port}' uses the card's own output '${ref}': that is a cycle`);
  const sdef = defOf(pal, s.card);
  const ndef = defOf(pal, n.card);
  if (ndef?.loop && port === "batch_index") return fail(`'${port}' is made by the loop itself; do not wire it`);
  if (sdef?.loop) {
    const inside = isInside(p, s.id, n.id);
    const own = out === "epoch" || out === "batch_index";
    if (out === "batch_index" && (s.with.over ?? "batches") !== "batches")
      return fail(`input '${port}' uses '${ref}', but loop '${s.id}' runs over epochs and has no batch position; set its over: batches (with a dataset) or use a loop over batches inside it`);
    if (own && !inside) return fail(`input '${port}' uses '${ref}', which exists only inside loop '${s.id}' while it runs; move this card into the loop`);
    if (!own && !(out in s.in)) {
      const list = ["epoch", "batch_index", ...Object.keys(s.in)].join(", ");
      return fail(`input '${port}' names '${ref}', but loop '${s.id}' passes on only what is wired into it (${list}); wire ${out} into the loop first`);
    }
  } else if (!sdef?.outputs.some((o) => o.name === out)) {
    return fail(`input '${port}' names '${ref}', but ${s.card} '${s.id}' has no output '${out}'`);
  }
  if (isInside(p, n.id, s.id))
    return fail(`input '${port}' uses '${ref}' from inside this loop: a loop's inputs must come from before it (what its cards make stays inside it)`);
  const sp = parentOf(p, s.id), np = parentOf(p, n.id);
  if (!isInside(p, s.id, n.id) && sp && !isInside(p, sp.id, n.id) && sp.id !== np?.id)
    return fail(`input '${port}' uses '${ref}', which exists only inside loop '${sp.id}' while it runs; use what the loop passes on (e.g. '${sp.id}.model') or move this card into it`);
  if (!isInside(p, s.id, n.id) && dependsOn(p, s.id, n.id))
    return fail(`input '${port}' uses '${ref}', but ${s.card} '${s.id}' already depends on '${n.id}': that is a cycle`);
  const want = inputKind(pal, n, port);
  if (want === null) return { ok: true }; // a loop passes any other input on as it is
  const got = refKind(pal, p, ref);
  if (got !== want) {
    const hint = (got && pal.wire_hints[want]?.[got]) || `wire an output of kind ${want}`;
    return fail(`needs ${article(want)} ${want} on '${port}', but '${ref}' is ${article(got ?? "nothing")} ${got ?? "nothing"}: ${hint}`);
  }
  return { ok: true };
}

/** The outputs a card's input may take: every "card.output" the check lets through. */
export function candidates(pal: Palette, p: Pipeline, target: string, port: string): { ref: string; kind: string }[] {
  const out: { ref: string; kind: string }[] = [];
  for (const { card } of allCards(p)) {
    if (card.id === target) continue;
    const def = defOf(pal, card.card);
    const ports = def?.loop ? [...loopPassed(pal, p, card), ...LOOP_OWN] : def?.outputs ?? [];
    for (const o of ports)
      if (checkWire(pal, p, card.id, o.name, target, port).ok) out.push({ ref: `${card.id}.${o.name}`, kind: o.kind });
  }
  return out;
}
