import type { PageProps } from "../App";

export default function TrainingPage(_props: PageProps) {
  return <h1>Training</h1>;
}
