// The UI's own routing over the History API: paths like /models/boston-mlp. The server
// answers every such path with index.html, so a reload or a shared link opens the same page.
import { useSyncExternalStore } from "react";

const listeners = new Set<() => void>();
const notify = () => listeners.forEach((l) => l());
if (typeof window !== "undefined") window.addEventListener("popstate", notify);

export function navigate(path: string, replace = false): void {
  if (path === location.pathname + location.search) return;
  if (replace) history.replaceState(null, "", path);
  else history.pushState(null, "", path);
  notify();
}

function subscribe(l: () => void) {
  listeners.add(l);
  return () => listeners.delete(l);
}

/** The current path split into its decoded parts ("/models/a%20b" -> ["models", "a b"]). */
export function useRoute(): string[] {
  const path = useSyncExternalStore(subscribe, () => location.pathname, () => "/");
  return path.split("/").filter(Boolean).map(decodeURIComponent);
}

/** A query parameter of the current address. */
export function useQueryParam(name: string): string | null {
  const search = useSyncExternalStore(subscribe, () => location.search, () => "");
  return new URLSearchParams(search).get(name);
}

/** A link the router follows without reloading the page. */
export function linkProps(path: string) {
  return {
    href: path,
    onClick: (e: { preventDefault(): void; metaKey: boolean; ctrlKey: boolean; button?: number }) => {
      if (e.metaKey || e.ctrlKey || (e.button ?? 0) !== 0) return;
      e.preventDefault();
      navigate(path);
    },
  };
}
