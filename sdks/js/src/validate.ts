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

type Check = (value: unknown, path: string, problems: string[]) => void;

/** Turns a schema into a checking function once, so each event costs only the checks themselves. */
function compile(schema: JsonSchema): Check {
  const types = typesOf(schema);
  const branches = schema.oneOf?.map((sub) => ({ check: compile(sub), types: typesOf(sub) }));
  const items = schema.items === undefined ? undefined : compile(schema.items);
  const properties = new Map(Object.entries(schema.properties ?? {}).map(([name, sub]) => [name, compile(sub)]));
  const extra = typeof schema.additionalProperties === "object" ? compile(schema.additionalProperties) : undefined;
  const closed = schema.additionalProperties === false;
  const required = schema.required ?? [];
  const enumValues = schema.enum;
  const { maxLength, minimum, format } = schema;

  return (raw, path, problems) => {
    const value = jsonValue(raw);
    if (branches !== undefined) {
      const results = branches.map((b) => {
        const found: string[] = [];
        b.check(value, path, found);
        return found;
      });
      const matches = results.filter((r) => r.length === 0).length;
      if (matches === 1) return;
      if (matches > 1) {
        problems.push(`${path}: matches more than one allowed form`);
        return;
      }
      // Report the branch whose type fits (e.g. a string that is not a date-time), else the types allowed.
      const fitting = results.find((_, i) => branches[i]?.types.some((t) => isType(value, t)));
      if (fitting) problems.push(...fitting);
      else problems.push(`${path}: expected ${branches.flatMap((b) => b.types).join(" or ")}, got ${describe(value)}`);
      return;
    }
    if (enumValues !== undefined && !enumValues.includes(value)) {
      problems.push(`${path}: ${JSON.stringify(value)} is not one of ${enumValues.map((v) => JSON.stringify(v)).join(", ")}`);
      return;
    }
    if (types.length > 0 && !types.some((t) => isType(value, t))) {
      problems.push(`${path}: expected ${types.join(" or ")}, got ${describe(value)}`);
      return;
    }
    if (typeof value === "string") {
      if (maxLength !== undefined && codePoints(value, maxLength) > maxLength) {
        problems.push(`${path}: longer than ${maxLength} characters`);
      }
      if (format === "date-time" && (!RFC3339.test(value) || Number.isNaN(Date.parse(value)))) {
        problems.push(`${path}: ${JSON.stringify(value)} is not an RFC 3339 time with an offset`);
      }
    } else if (typeof value === "number") {
      if (minimum !== undefined && value < minimum) problems.push(`${path}: ${value} is less than ${minimum}`);
    } else if (Array.isArray(value)) {
      if (items !== undefined) value.forEach((item, i) => items(item, `${path}[${i}]`, problems));
    } else if (value !== null && typeof value === "object") {
      const obj = value as Record<string, unknown>;
      for (const name of required) if (obj[name] === undefined) problems.push(`${path}.${name}: required`);
      for (const name in obj) {
        if (!Object.prototype.hasOwnProperty.call(obj, name)) continue;
        const item = obj[name];
        if (item === undefined) continue; // JSON.stringify leaves it out
        if (typeof item === "function" || typeof item === "symbol" || typeof item === "bigint") {
          problems.push(`${path}.${name}: a ${typeof item} is not JSON`);
          continue;
        }
        const sub = properties.get(name);
        if (sub !== undefined) sub(item, `${path}.${name}`, problems);
        else if (closed) problems.push(`${path}.${name}: unknown property`);
        else if (extra !== undefined) extra(item, `${path}.${name}`, problems);
      }
    }
  };
}

const checkEvent = compile(EVENT_SCHEMA);

/** The problems of a native event, each naming its field; empty when it may be sent. */
export function validateEvent(event: unknown): string[] {
  const problems: string[] = [];
  checkEvent(event, "event", problems);
  return problems;
}
