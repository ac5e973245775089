// The frame: every page opens from the navigation, with a heading and no script errors.
import { journey } from "./harness.mjs";

journey("smoke", async (t) => {
  const { page } = t;
  for (const name of ["Architectures", "Models", "Training", "Pipelines"]) {
    await page.getByRole("navigation", { name: "Pages" }).getByRole("link", { name }).click();
    await page.getByRole("heading", { level: 1, name: new RegExp(name) }).waitFor();
    t.check(new URL(page.url()).pathname === "/" + name.toLowerCase(), `${name} has its own address`);
    await t.shot(name.toLowerCase());
  }
  await page.goto(t.url + "/models");
  await page.getByRole("heading", { level: 1, name: /Models/ }).waitFor();
  t.check(true, "a page's address opens that page after a reload");
});
