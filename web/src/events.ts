// The server's live events (GET /api/v1/events, Server-Sent Events replayed from the store's
// event log): one stream per tab, shared by every page. EventSource reconnects by itself and
// sends Last-Event-ID, so the server replays what was missed.
import { useEffect, useRef } from "react";
import { API } from "./api";

export interface ServerEvent {
  id: number;
  job: number;
  type: string; // "job", "epoch", "checkpoint", "card", ...
  data: Record<string, unknown>;
  time: number;
}

type Listener = (e: ServerEvent) => void;
const listeners = new Set<Listener>();
let source: EventSource | null = null;
const TYPES = ["job", "epoch", "checkpoint", "card", "cancel_requested"];

function open(): void {
  if (source !== null || typeof EventSource === "undefined") return;
  source = new EventSource(API + "/events", { withCredentials: true });
  const deliver = (m: MessageEvent) => {
    let e: ServerEvent;
    try {
      e = JSON.parse(m.data as string) as ServerEvent;
    } catch {
      return;
    }
    for (const l of [...listeners]) l(e);
  };
  for (const t of TYPES) source.addEventListener(t, deliver as EventListener);
  source.onmessage = deliver;
}

/** Calls fn for every event until the returned function is called. */
export function subscribe(fn: Listener): () => void {
  listeners.add(fn);
  open();
  return () => {
    listeners.delete(fn);
    if (listeners.size === 0 && source !== null) {
      source.close();
      source = null;
    }
  };
}

/** React: fn (the latest one rendered) for every event while the component is mounted. */
export function useServerEvents(fn: Listener): void {
  const ref = useRef(fn);
  ref.current = fn;
  useEffect(() => subscribe((e) => ref.current(e)), []);
}
