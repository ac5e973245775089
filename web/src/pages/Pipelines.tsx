import type { PageProps } from "../App";

export default function PipelinesPage(_props: PageProps) {
  return <h1>Pipelines</h1>;
}
