import type { PageProps } from "../App";

export default function ModelsPage(_props: PageProps) {
  return <h1>Models</h1>;
}
