// Small pieces every page uses: an error box with the server's message, a loader hook, and
// number and time formats.
import { useCallback, useEffect, useRef, useState } from "react";
import { ApiError } from "../api";

export function ErrorBox({ error, title }: { error: unknown; title?: string }) {
  if (error === null || error === undefined) return null;
  const e = error instanceof ApiError ? error : null;
  const message = error instanceof Error ? error.message : String(error);
  return (
    <div className="error" role="alert">
      {title && <strong>{title}: </strong>}
      <span className="error-message">{message}</span>
      {e?.path && <span className="error-path"> (at <code>{e.path}</code>)</span>}
      {e && e.problems.length > 1 && (
        <ul>
          {e.problems.map((p, i) => (
            <li key={i}>{p.line ? `line ${p.line}: ` : ""}{p.message}</li>
          ))}
        </ul>
      )}
    </div>
  );
}

export interface Loaded<T> {
  data: T | undefined;
  error: unknown;
  loading: boolean;
  reload: () => void;
  set: (v: T) => void;
}

/** Runs load when deps change (and on reload()); the latest answer wins. */
export function useLoad<T>(load: () => Promise<T>, deps: unknown[]): Loaded<T> {
  const [data, setData] = useState<T | undefined>(undefined);
  const [error, setError] = useState<unknown>(null);
  const [loading, setLoading] = useState(true);
  const [tick, setTick] = useState(0);
  const seq = useRef(0);
  useEffect(() => {
    const n = ++seq.current;
    setLoading(true);
    load().then(
      (v) => {
        if (n !== seq.current) return;
        setData(v);
        setError(null);
        setLoading(false);
      },
      (e) => {
        if (n !== seq.current) return;
        setError(e);
        setLoading(false);
      },
    );
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [...deps, tick]);
  const reload = useCallback(() => setTick((t) => t + 1), []);
  return { data, error, loading, reload, set: setData };
}

/** A number as people read it: 4 significant digits, no trailing zeros. */
export function fmt(v: unknown, digits = 4): string {
  if (typeof v !== "number" || !Number.isFinite(v)) return v === null || v === undefined ? "–" : String(v);
  if (Number.isInteger(v) && Math.abs(v) < 1e9) return v.toLocaleString("en-US");
  const a = Math.abs(v);
  if (a !== 0 && (a < 1e-3 || a >= 1e6)) return v.toExponential(digits - 1);
  return String(Number(v.toPrecision(digits)));
}

/** A store time (seconds since 1970) as a local date and time. */
export function when(t: number | null | undefined): string {
  if (!t) return "–";
  const d = new Date(t * 1000);
  return d.toLocaleString("en-GB", { year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", second: "2-digit" });
}

/** Seconds as "4.2 s", "3 min 5 s"; under a second in ms or µs ("35 ms", "373 µs"), so a
 * fast step still shows its time. */
export function duration(s: number): string {
  if (!Number.isFinite(s) || s < 0) return "–";
  if (s < 0.001) return `${Math.max(1, Math.round(s * 1e6))} µs`;
  if (s < 1) return `${Number((s * 1000).toPrecision(2))} ms`;
  if (s < 60) return `${s < 10 ? s.toFixed(1) : Math.round(s)} s`;
  const m = Math.floor(s / 60);
  return `${m} min ${Math.round(s - 60 * m)} s`;
}
