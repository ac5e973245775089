// The form built from the run config's schema: controls by type, ranges and choices checked as
// the library checks them, defaults as placeholders, empty fields left out, and settings no
// section names shown in the last one.
import { afterEach, describe, expect, it } from "vitest";
import { cleanup, fireEvent, render, screen } from "@testing-library/react";
import { useState } from "react";
import type { JsonSchema } from "../src/api";
import { arrange, checkValue, firstProblem, parseText, SchemaForm, type Values } from "../src/components/SchemaForm";

// a part of the schema GET /api/v1/schemas/run-config serves (as the library writes it)
const schema: JsonSchema = {
  type: "object",
  properties: {
    optimizer: { type: "string", enum: ["sgd", "adam", "adamw", "rmsprop"], description: "the update rule", default: null },
    learning_rate: { type: "number", description: "step size", minimum: 0, maximum: 10, default: null },
    epochs: { type: "integer", minimum: 1, maximum: 1e9, default: null },
    nesterov: { type: "boolean", default: false, description: "sgd: Nesterov momentum" },
    betas: { type: "array", items: { type: "number", minimum: 0, maximum: 1 }, default: [0.9, 0.999] },
    monitor: { type: "string", default: "val_loss" },
    brand_new_setting: { type: "integer", minimum: 0, maximum: 5, default: 2 },
  },
};

function Harness({ start, onValues }: { start: Values; onValues: (v: Values) => void }) {
  const [values, setValues] = useState<Values>(start);
  return <SchemaForm schema={schema} values={values} onChange={(v) => { setValues(v); onValues(v); }} />;
}

describe("values against a setting's schema", () => {
  it("checks types, ranges and choices", () => {
    const p = schema.properties!;
    expect(checkValue("learning_rate", p.learning_rate, 0.01)).toBeNull();
    expect(checkValue("learning_rate", p.learning_rate, 11)).toBe("learning_rate must be at most 10");
    expect(checkValue("learning_rate", p.learning_rate, "fast")).toBe("learning_rate must be a number");
    expect(checkValue("epochs", p.epochs, 2.5)).toBe("epochs must be a whole number");
    expect(checkValue("epochs", p.epochs, 0)).toBe("epochs must be at least 1");
    expect(checkValue("optimizer", p.optimizer, "adagrad")).toBe("optimizer must be one of sgd, adam, adamw, rmsprop");
    expect(checkValue("betas", p.betas, [0.9, 1.5])).toBe("each of betas must be at most 1");
    expect(checkValue("epochs", p.epochs, undefined)).toBeNull();
  });
  it("reads field text by type", () => {
    const p = schema.properties!;
    expect(parseText(p.learning_rate, " 3e-3 ")).toBe(0.003);
    expect(parseText(p.learning_rate, "")).toBeUndefined();
    expect(parseText(p.learning_rate, "abc")).toBe("abc");
    expect(parseText(p.betas, "0.8, 0.99")).toEqual([0.8, 0.99]);
    expect(parseText(p.betas, "[0.8 0.99]")).toEqual([0.8, 0.99]);
    expect(firstProblem(schema, { epochs: 0 })).toEqual(["epochs", "epochs must be at least 1"]);
    expect(firstProblem(schema, { epochz: 3 })).toEqual(["epochz", "epochz is not a setting"]);
  });
  it("puts the settings no section names in the last section", () => {
    const secs = arrange(schema, [{ title: "Optimizer", keys: ["optimizer", "learning_rate", "no_such"] }], "Other settings", ["monitor"]);
    expect(secs).toEqual([
      { title: "Optimizer", keys: ["optimizer", "learning_rate"] },
      { title: "Other settings", keys: ["epochs", "nesterov", "betas", "brand_new_setting"] },
    ]);
  });
});

describe("the form", () => {
  afterEach(cleanup);
  it("has a labelled control for every setting, defaults as placeholders", () => {
    render(<Harness start={{}} onValues={() => {}} />);
    expect(screen.getByLabelText("Optimizer").tagName).toBe("SELECT");
    expect(screen.getByLabelText("Nesterov")).toHaveProperty("type", "checkbox");
    expect(screen.getByLabelText("Betas")).toHaveProperty("placeholder", "0.9, 0.999");
    expect(screen.getByLabelText("Brand new setting")).toHaveProperty("placeholder", "2");
    expect(screen.getByRole("option", { name: "default" })).toBeTruthy();
  });
  it("gives the values as typed, leaves empty ones out, and says what is wrong", () => {
    let last: Values = {};
    render(<Harness start={{ epochs: 5 }} onValues={(v) => (last = v)} />);
    fireEvent.change(screen.getByLabelText("Learning rate"), { target: { value: "0.003" } });
    expect(last).toEqual({ epochs: 5, learning_rate: 0.003 });
    fireEvent.change(screen.getByLabelText("Optimizer"), { target: { value: "sgd" } });
    expect(last.optimizer).toBe("sgd");
    fireEvent.change(screen.getByLabelText("Epochs"), { target: { value: "" } });
    expect("epochs" in last).toBe(false);
    fireEvent.change(screen.getByLabelText("Learning rate"), { target: { value: "20" } });
    expect(screen.getByRole("alert").textContent).toBe("learning_rate must be at most 10");
    expect(screen.getByLabelText("Learning rate").getAttribute("aria-invalid")).toBe("true");
  });
});
