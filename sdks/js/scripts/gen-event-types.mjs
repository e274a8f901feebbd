#!/usr/bin/env node
// Writes src/event-types.ts from the server's event schema (lynex_box/schema/event.schema.json): the TypeScript
// types of a native event and EVENT_SCHEMA, the schema with its $refs inlined, which src/validate.ts checks events
// against before they are queued. `--check` writes nothing and exits 1 when the file is not what this script
// would write (the build and test/generated.test.mjs run it, so a schema change cannot ship with stale types).
//
// Only the JSON Schema keywords src/validate.ts implements are carried over; any other keyword in the schema
// stops the script, so a new rule on the server is never silently skipped by the SDK.

import { readFileSync, writeFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
export const PACKAGE_DIR = join(here, "..");
export const SCHEMA_PATH = join(PACKAGE_DIR, "..", "..", "lynex_box", "schema", "event.schema.json");
export const OUTPUT_PATH = join(PACKAGE_DIR, "src", "event-types.ts");

/** Keywords the runtime validator checks; they are kept in EVENT_SCHEMA. */
const CHECKED = new Set([
  "type",
  "enum",
  "oneOf",
  "properties",
  "additionalProperties",
  "items",
  "maxLength",
  "minimum",
  "format",
  "required",
]);
/** Keywords that only annotate; they become doc comments or are dropped. */
const ANNOTATIONS = new Set(["description", "title", "$schema", "$id", "$defs"]);
const FORMATS = new Set(["date-time"]);

function resolve(root, node, at) {
  if (node === true || node === false) return node;
  if (typeof node !== "object" || node === null) throw new Error(`${at}: a schema must be an object or a boolean`);
  if (node.$ref !== undefined) {
    const prefix = "#/$defs/";
    if (!node.$ref.startsWith(prefix)) throw new Error(`${at}: only local $defs references are supported`);
    const target = root.$defs?.[node.$ref.slice(prefix.length)];
    if (target === undefined) throw new Error(`${at}: ${node.$ref} is not defined`);
    const { $ref, ...rest } = node;
    return { ...resolve(root, target, node.$ref), ...resolve(root, rest, at) };
  }
  const out = {};
  for (const [key, value] of Object.entries(node)) {
    if (ANNOTATIONS.has(key)) {
      if (key === "description") out.description = value;
      continue;
    }
    if (!CHECKED.has(key)) {
      throw new Error(
        `${at}: keyword ${JSON.stringify(key)} is not checked by the SDK; hint: teach src/validate.ts and ` +
          `scripts/gen-event-types.mjs about it`,
      );
    }
    if (key === "format" && !FORMATS.has(value)) throw new Error(`${at}: format ${JSON.stringify(value)} is unknown`);
    if (key === "properties") {
      out.properties = Object.fromEntries(
        Object.entries(value).map(([name, sub]) => [name, resolve(root, sub, `${at}.${name}`)]),
      );
    } else if (key === "items" || (key === "additionalProperties" && typeof value === "object")) {
      out[key] = resolve(root, value, `${at}[]`);
    } else if (key === "oneOf") {
      out.oneOf = value.map((sub, i) => resolve(root, sub, `${at}|${i}`));
    } else {
      out[key] = value;
    }
  }
  return out;
}

const TS_TYPES = {
  string: "string",
  number: "number",
  integer: "number",
  boolean: "boolean",
  null: "null",
  array: "unknown[]",
  object: "Record<string, unknown>",
};

function tsType(node, indent) {
  if (node === true || Object.keys(node).filter((k) => k !== "description").length === 0) return "unknown";
  if (node.enum !== undefined) return node.enum.map((v) => JSON.stringify(v)).join(" | ");
  if (node.oneOf !== undefined) return node.oneOf.map((sub) => tsType(sub, indent)).join(" | ");
  const types = node.type === undefined ? [] : [node.type].flat();
  const parts = types.map((t) => {
    if (t === "object" && node.properties !== undefined) return objectType(node, indent);
    if (t === "array" && node.items !== undefined) {
      const item = tsType(node.items, indent);
      return /^[\w.]+$/.test(item) ? `${item}[]` : `Array<${item}>`;
    }
    return TS_TYPES[t];
  });
  return parts.length === 0 ? "unknown" : [...new Set(parts)].join(" | ");
}

function objectType(node, indent) {
  const pad = "  ".repeat(indent + 1);
  const required = new Set(node.required ?? []);
  const lines = ["{"];
  for (const [name, sub] of Object.entries(node.properties)) {
    if (sub.description) lines.push(`${pad}/** ${sub.description.replaceAll("*/", "*\\/")} */`);
    lines.push(`${pad}${name}${required.has(name) ? "" : "?"}: ${tsType(sub, indent + 1)};`);
  }
  lines.push(`${"  ".repeat(indent)}}`);
  return lines.join("\n");
}

function stripDescriptions(node) {
  if (Array.isArray(node)) return node.map(stripDescriptions);
  if (typeof node !== "object" || node === null) return node;
  const out = {};
  for (const [key, value] of Object.entries(node)) {
    if (key === "description") continue;
    out[key] = key === "properties"
      ? Object.fromEntries(Object.entries(value).map(([n, s]) => [n, stripDescriptions(s)]))
      : key === "enum" ? value : stripDescriptions(value);
  }
  return out;
}

/** JSON with objects one key a line and lists of plain values on one line. */
function literal(value, indent = 0) {
  if (Array.isArray(value) && value.every((v) => typeof v !== "object" || v === null)) {
    return `[${value.map((v) => JSON.stringify(v)).join(", ")}]`;
  }
  if (typeof value !== "object" || value === null) return JSON.stringify(value);
  const pad = "  ".repeat(indent + 1);
  const entries = Array.isArray(value)
    ? value.map((v) => `${pad}${literal(v, indent + 1)}`)
    : Object.entries(value).map(([k, v]) => `${pad}${JSON.stringify(k)}: ${literal(v, indent + 1)}`);
  const [open, close] = Array.isArray(value) ? ["[", "]"] : ["{", "}"];
  return `${open}\n${entries.join(",\n")}\n${"  ".repeat(indent)}${close}`;
}

/** The text of src/event-types.ts for `schema` (the parsed event.schema.json). */
export function render(schema) {
  const event = resolve(schema, schema, "event");
  const kinds = event.properties.type.enum.filter((v) => v !== null);
  const source = relative(PACKAGE_DIR, SCHEMA_PATH).replaceAll("\\", "/");
  return [
    `// Generated by scripts/gen-event-types.mjs from ${source}. Do not edit: run \`npm run gen\`.`,
    "",
    `/** A span kind (the event's \`type\`). */`,
    `export type EventType = ${kinds.map((v) => JSON.stringify(v)).join(" | ")};`,
    "",
    `/** ${schema.description.replaceAll("*/", "*\\/")} */`,
    `export interface LynexEvent ${objectType(event, 0)}`,
    "",
    "/** The event schema with its references inlined: what src/validate.ts checks. */",
    `export const EVENT_SCHEMA: JsonSchema = ${literal(stripDescriptions(event))};`,
    "",
    "/** The subset of JSON Schema that EVENT_SCHEMA uses. */",
    "export interface JsonSchema {",
    "  type?: string | string[];",
    "  enum?: unknown[];",
    "  oneOf?: JsonSchema[];",
    "  properties?: Record<string, JsonSchema>;",
    "  additionalProperties?: boolean | JsonSchema;",
    "  items?: JsonSchema;",
    "  maxLength?: number;",
    "  minimum?: number;",
    "  format?: string;",
    "  required?: string[];",
    "}",
    "",
  ].join("\n");
}

function main(argv) {
  const text = render(JSON.parse(readFileSync(SCHEMA_PATH, "utf8")));
  if (argv.includes("--check")) {
    let current = "";
    try {
      current = readFileSync(OUTPUT_PATH, "utf8");
    } catch {
      // missing: reported below
    }
    if (current !== text) {
      console.error(
        `error: ${relative(process.cwd(), OUTPUT_PATH)} is not up to date with ${relative(process.cwd(), SCHEMA_PATH)}; ` +
          "hint: run `npm run gen` in sdks/js and commit src/event-types.ts",
      );
      return 1;
    }
    return 0;
  }
  writeFileSync(OUTPUT_PATH, text);
  return 0;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) process.exitCode = main(process.argv.slice(2));
