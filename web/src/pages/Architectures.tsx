import type { PageProps } from "../App";

export default function ArchitecturesPage(_props: PageProps) {
  return <h1>Architectures</h1>;
}
