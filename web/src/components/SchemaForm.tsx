// Forms built from the JSON schemas the library writes (the run config's settings, a card's
// settings, a layer kind's): one field per setting, its control chosen by the setting's type,
// its range and choices checked as the library checks them, its default shown as the
// placeholder. A setting left empty is left out, so the library's own default applies.
// Settings the layout does not place go to a last section, so a setting new to the library
// appears in every form without UI code.
import { useId } from "react";
import type { JsonSchema } from "../api";

export type Values = Record<string, unknown>;

function typeOf(s: JsonSchema): string {
  const t = Array.isArray(s.type) ? s.type.find((x) => x !== "null") : s.type;
  return t ?? "any";
}

/** What is wrong with value for schema (null when it is fine or unset). */
export function checkValue(name: string, s: JsonSchema, value: unknown): string | null {
  if (value === undefined || value === null || value === "") return null;
  const t = typeOf(s);
  const range = (v: number, what: string) => {
    if (s.minimum !== undefined && v < s.minimum) return `${what} must be at least ${s.minimum}`;
    if (s.maximum !== undefined && v > s.maximum) return `${what} must be at most ${s.maximum}`;
    return null;
  };
  if (t === "integer" || t === "number") {
    if (typeof value !== "number" || !Number.isFinite(value)) return `${name} must be a number`;
    if (t === "integer" && !Number.isInteger(value)) return `${name} must be a whole number`;
    return range(value, name);
  }
  if (t === "boolean") return typeof value === "boolean" ? null : `${name} must be true or false`;
  if (t === "string") {
    if (typeof value !== "string") return `${name} must be text`;
    if (s.enum && !s.enum.includes(value)) return `${name} must be one of ${s.enum.join(", ")}`;
    return null;
  }
  if (t === "array") {
    if (!Array.isArray(value)) return `${name} must be a list`;
    const item = s.items ?? {};
    for (const v of value) {
      if (typeof v !== "number" || !Number.isFinite(v)) return `${name} must be a list of numbers`;
      const r = checkValue(`each of ${name}`, { ...item, type: item.type ?? "number" }, v);
      if (r) return r;
    }
  }
  return null;
}

/** The value a field's text stands for: undefined for empty, or the text itself when it
 * does not parse (checkValue then says why). */
export function parseText(s: JsonSchema, text: string): unknown {
  const t = typeOf(s);
  const trimmed = text.trim();
  if (trimmed === "") return undefined;
  if (t === "integer" || t === "number") {
    const v = Number(trimmed);
    return Number.isNaN(v) ? trimmed : v;
  }
  if (t === "array") {
    const body = trimmed.replace(/^\[|\]$/g, "");
    const parts = body.split(/[\s,]+/).filter(Boolean);
    const nums = parts.map(Number);
    return nums.some((n) => Number.isNaN(n)) ? trimmed : nums;
  }
  if (t === "any") {
    try {
      return JSON.parse(trimmed);
    } catch {
      return trimmed;
    }
  }
  return trimmed;
}

/** A value as its field's text. */
export function formatValue(value: unknown): string {
  if (value === undefined || value === null) return "";
  if (Array.isArray(value)) return value.map((v) => (typeof v === "object" ? JSON.stringify(v) : String(v))).join(", ");
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}

/** A setting's name as a label: "learning_rate" -> "Learning rate". */
export function labelOf(name: string): string {
  const s = name.replace(/_/g, " ");
  return s.charAt(0).toUpperCase() + s.slice(1);
}

export interface Section {
  title: string;
  keys: string[];
}

/** The layout's sections with only the keys the schema has, then a last section (rest) with
 * every setting of the schema no section names and none of skip names. */
export function arrange(schema: JsonSchema, layout: Section[], rest: string, skip: string[] = []): Section[] {
  const props = schema.properties ?? {};
  const placed = new Set<string>(skip);
  const out: Section[] = [];
  for (const sec of layout) {
    const keys = sec.keys.filter((k) => k in props);
    keys.forEach((k) => placed.add(k));
    if (keys.length) out.push({ title: sec.title, keys });
  }
  const others = Object.keys(props).filter((k) => !placed.has(k));
  if (others.length) out.push({ title: rest, keys: others });
  return out;
}

export interface FieldProps {
  name: string;
  schema: JsonSchema;
  value: unknown;
  onChange: (value: unknown) => void;
  label?: string;
  /** a message from the server for this setting */
  error?: string | null;
}

/** One setting's control, its label and its message. */
export function SettingField({ name, schema, value, onChange, label, error }: FieldProps) {
  const id = useId();
  const t = typeOf(schema);
  const problem = error ?? checkValue(name, schema, value);
  const def = schema.default;
  const title = label ?? labelOf(name);
  const help = [schema.description, def !== undefined && def !== null ? `default ${formatValue(def)}` : ""].filter(Boolean).join("; ");
  let control;
  if (t === "boolean") {
    control = (
      <input id={id} type="checkbox" checked={value === undefined ? def === true : value === true}
        onChange={(e) => onChange(e.target.checked === (def === true) && value === undefined ? undefined : e.target.checked)}
        aria-describedby={id + "-help"} />
    );
  } else if (schema.enum) {
    control = (
      <select id={id} value={value === undefined || value === null ? "" : String(value)} aria-invalid={problem ? true : undefined}
        onChange={(e) => onChange(e.target.value === "" ? undefined : e.target.value)} aria-describedby={id + "-help"}>
        <option value="">{def !== undefined && def !== null ? `default (${formatValue(def)})` : "default"}</option>
        {schema.enum.map((v) => (
          <option key={String(v)} value={String(v)}>{String(v)}</option>
        ))}
      </select>
    );
  } else {
    const numeric = t === "integer" || t === "number";
    control = (
      <input id={id} type="text" inputMode={numeric ? "decimal" : undefined} value={formatValue(value)}
        placeholder={def !== undefined && def !== null ? formatValue(def) : ""} aria-invalid={problem ? true : undefined}
        onChange={(e) => onChange(parseText(schema, e.target.value))} aria-describedby={id + "-help"} spellCheck={false} />
    );
  }
  return (
    <>
      <label htmlFor={id} title={name}>{title}</label>
      <div className="field">
        {control}
        <div id={id + "-help"} className={problem ? "help field-error" : "help"} role={problem ? "alert" : undefined}>
          {problem ?? help}
        </div>
      </div>
    </>
  );
}

export interface SchemaFormProps {
  schema: JsonSchema;
  /** the settings shown, in order (default: every one the schema has) */
  keys?: string[];
  values: Values;
  onChange: (values: Values) => void;
  labels?: Record<string, string>;
  /** messages by setting name (the server's, for the setting its error path names) */
  errors?: Record<string, string>;
}

export function SchemaForm({ schema, keys, values, onChange, labels, errors }: SchemaFormProps) {
  const props = schema.properties ?? {};
  const shown = (keys ?? Object.keys(props)).filter((k) => k in props);
  return (
    <div className="fields">
      {shown.map((k) => (
        <SettingField key={k} name={k} schema={props[k]} value={values[k]} label={labels?.[k]} error={errors?.[k]}
          onChange={(v) => {
            const next = { ...values };
            if (v === undefined) delete next[k];
            else next[k] = v;
            onChange(next);
          }} />
      ))}
    </div>
  );
}

/** The first problem of values against schema, as [setting, message], or null. */
export function firstProblem(schema: JsonSchema, values: Values): [string, string] | null {
  const props = schema.properties ?? {};
  for (const [k, v] of Object.entries(values)) {
    if (!(k in props)) return [k, `${k} is not a setting`];
    const p = checkValue(k, props[k], v);
    if (p) return [k, p];
  }
  return null;
}
