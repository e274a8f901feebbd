/**
 * Checks an event against EVENT_SCHEMA (generated from the server's event.schema.json) before it is queued,
 * so a bad event is reported to the caller at once instead of being rejected by the server later. It checks
 * the value as JSON.stringify will send it (`toJSON` applied, `undefined` properties absent). It implements
 * exactly the keywords scripts/gen-event-types.mjs lets through; the server's limits that are not in the
 * schema (field sizes, time window) are still checked by the server, and its rejections are reported too.
 */

import { EVENT_SCHEMA, type JsonSchema } from "./event-types.js";

const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;

function jsonValue(value: unknown): unknown {
  if (value !== null && typeof value === "object" && typeof (value as { toJSON?: unknown }).toJSON === "function") {
    return (value as { toJSON: () => unknown }).toJSON();
  }
  return value;
}

function isType(value: unknown, type: string): boolean {
  switch (type) {
    case "null":
      return value === null;
    case "string":
      return typeof value === "string";
    case "boolean":
      return typeof value === "boolean";
    case "number":
      return typeof value === "number" && Number.isFinite(value);
    case "integer":
      return typeof value === "number" && Number.isInteger(value);
    case "array":
      return Array.isArray(value);
    case "object":
      return value !== null && typeof value === "object" && !Array.isArray(value);
    default:
      return false;
  }
}

function describe(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "array";
  if (typeof value === "number" && !Number.isFinite(value)) return String(value);
  return typeof value;
}

function typesOf(schema: JsonSchema | undefined): string[] {
  if (schema?.type === undefined) return [];
  return Array.isArray(schema.type) ? schema.type : [schema.type];
}

function codePoints(text: string, max: number): number {
  return text.length <= max ? text.length : [...text].length;
}

function check(schema: JsonSchema, raw: unknown, path: string, problems: string[]): void {
  const value = jsonValue(raw);
  if (schema.oneOf !== undefined) {
    const results = schema.oneOf.map((sub) => validate(sub, value, path));
    const matches = results.filter((r) => r.length === 0).length;
    if (matches === 1) return;
    if (matches > 1) {
      problems.push(`${path}: matches more than one allowed form`);
      return;
    }
    // Report the branch whose type fits (e.g. a string that is not a date-time), else the types allowed.
    const fitting = results.find((r, i) => typesOf(schema.oneOf?.[i]).some((t) => isType(value, t)));
    if (fitting) problems.push(...fitting);
    else problems.push(`${path}: expected ${schema.oneOf.flatMap(typesOf).join(" or ")}, got ${describe(value)}`);
    return;
  }
  if (schema.enum !== undefined && !schema.enum.includes(value)) {
    problems.push(`${path}: ${JSON.stringify(value)} is not one of ${schema.enum.map((v) => JSON.stringify(v)).join(", ")}`);
    return;
  }
  if (schema.type !== undefined) {
    const types = Array.isArray(schema.type) ? schema.type : [schema.type];
    if (!types.some((t) => isType(value, t))) {
      problems.push(`${path}: expected ${types.join(" or ")}, got ${describe(value)}`);
      return;
    }
  }
  if (typeof value === "string") {
    if (schema.maxLength !== undefined && codePoints(value, schema.maxLength) > schema.maxLength) {
      problems.push(`${path}: longer than ${schema.maxLength} characters`);
    }
    if (schema.format === "date-time" && (!RFC3339.test(value) || Number.isNaN(Date.parse(value)))) {
      problems.push(`${path}: ${JSON.stringify(value)} is not an RFC 3339 time with an offset`);
    }
  }
  if (typeof value === "number" && schema.minimum !== undefined && value < schema.minimum) {
    problems.push(`${path}: ${value} is less than ${schema.minimum}`);
  }
  if (Array.isArray(value) && schema.items !== undefined) {
    value.forEach((item, i) => check(schema.items as JsonSchema, item, `${path}[${i}]`, problems));
  }
  if (isType(value, "object")) checkObject(schema, value as Record<string, unknown>, path, problems);
}

function checkObject(schema: JsonSchema, value: Record<string, unknown>, path: string, problems: string[]): void {
  const properties = schema.properties ?? {};
  for (const name of schema.required ?? []) {
    if (value[name] === undefined) problems.push(`${path}.${name}: required`);
  }
  for (const [name, item] of Object.entries(value)) {
    if (item === undefined) continue; // JSON.stringify leaves it out
    if (typeof item === "function" || typeof item === "symbol" || typeof item === "bigint") {
      problems.push(`${path}.${name}: a ${typeof item} is not JSON`);
      continue;
    }
    const sub = properties[name];
    if (sub !== undefined) {
      check(sub, item, `${path}.${name}`, problems);
    } else if (schema.additionalProperties === false) {
      problems.push(`${path}.${name}: unknown property`);
    } else if (typeof schema.additionalProperties === "object") {
      check(schema.additionalProperties, item, `${path}.${name}`, problems);
    }
  }
}

/** The problems of `value` against `schema`, each naming its path; empty when valid. */
export function validate(schema: JsonSchema, value: unknown, path = "event"): string[] {
  const problems: string[] = [];
  check(schema, value, path, problems);
  return problems;
}

/** The problems of a native event; empty when it may be sent. */
export function validateEvent(event: unknown): string[] {
  return validate(EVENT_SCHEMA, event);
}
