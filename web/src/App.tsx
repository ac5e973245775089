// The app's frame: the navigation, the login screen when the session is missing, and the page
// the address names. A page is one file under pages/ and one row of PAGES.
import { useEffect, useState, type ComponentType } from "react";
import { ApiError, get, type SystemInfo } from "./api";
import { linkProps, navigate, useRoute } from "./router";
import { ErrorBox } from "./components/ui";
import ArchitecturesPage from "./pages/Architectures";
import ModelsPage from "./pages/Models";
import TrainingPage from "./pages/Training";
import PipelinesPage from "./pages/Pipelines";
import TuningPage from "./pages/Tuning";

export interface PageProps {
  /** the address's parts after the page's own ("/models/a" -> ["a"]) */
  args: string[];
}

const PAGES: { path: string; title: string; page: ComponentType<PageProps> }[] = [
  { path: "architectures", title: "Architectures", page: ArchitecturesPage },
  { path: "models", title: "Models", page: ModelsPage },
  { path: "training", title: "Training", page: TrainingPage },
  { path: "pipelines", title: "Pipelines", page: PipelinesPage },
  { path: "tuning", title: "Tuning", page: TuningPage },
];

function Login({ onDone }: { onDone: () => void }) {
  const [token, setToken] = useState("");
  const [error, setError] = useState<unknown>(null);
  async function submit(e: React.FormEvent) {
    e.preventDefault();
    setError(null);
    try {
      // a login link made with the token, then followed: the server sets the session cookie
      const res = await fetch("/api/v1/login-links", {
        method: "POST",
        headers: { Authorization: "Bearer " + token.trim(), "Content-Type": "application/json" },
        body: "{}",
      });
      const body = (await res.json()) as { link?: string; error?: { message: string } };
      if (!res.ok || !body.link) throw new Error(body.error?.message ?? "the token was refused");
      const link = new URL(body.link, location.href);
      location.assign(link.pathname + link.search); // sets the cookie, then back to the UI
      onDone();
    } catch (err) {
      setError(err);
    }
  }
  return (
    <main className="login">
      <h1>netsmith</h1>
      <p>
        Open the login link that <code>netsmith serve</code> printed (each works once), or paste the server's
        token (in its token file, <code>~/.config/netsmith/token</code> by default).
      </p>
      <form onSubmit={submit}>
        <label>
          Token <input type="password" value={token} onChange={(e) => setToken(e.target.value)} autoComplete="off" />
        </label>
        <button type="submit" disabled={!token.trim()}>Log in</button>
      </form>
      <ErrorBox error={error} />
    </main>
  );
}

export default function App() {
  const route = useRoute();
  const [system, setSystem] = useState<SystemInfo | null>(null);
  const [auth, setAuth] = useState<"checking" | "in" | "out">("checking");
  const [error, setError] = useState<unknown>(null);
  const [tick, setTick] = useState(0);

  useEffect(() => {
    get<SystemInfo>("/system").then(
      (s) => {
        setSystem(s);
        setAuth("in");
      },
      (e) => {
        if (e instanceof ApiError && e.status === 401) setAuth("out");
        else {
          setError(e);
          setAuth("in");
        }
      },
    );
  }, [tick]);

  useEffect(() => {
    if (route.length === 0) navigate("/architectures", true);
  }, [route.length]);

  const current = PAGES.find((p) => p.path === route[0]) ?? PAGES[0];
  useEffect(() => {
    document.title = `${current.title} · netsmith`;
  }, [current.title]);

  if (auth === "checking") return <p className="loading">Loading…</p>;
  if (auth === "out") return <Login onDone={() => setTick((t) => t + 1)} />;
  const Page = current.page;
  return (
    <div className="app">
      <header className="top">
        <a className="brand" {...linkProps("/architectures")}>netsmith</a>
        <nav aria-label="Pages">
          {PAGES.map((p) => (
            <a key={p.path} {...linkProps("/" + p.path)} aria-current={p === current ? "page" : undefined}>
              {p.title}
            </a>
          ))}
        </nav>
        <span className="system" title={system ? `kernels: ${system.kernel_path}` : undefined}>
          {system ? `${system.version} · ${system.store.backend} · ${system.workers.in_process} worker${system.workers.in_process === 1 ? "" : "s"}` : ""}
        </span>
      </header>
      <ErrorBox error={error} title="The server" />
      <main className="page" id="main">
        <Page args={route.slice(1)} />
      </main>
    </div>
  );
}

