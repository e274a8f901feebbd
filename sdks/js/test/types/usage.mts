// Compiled (not run) by test/packaging.test.mjs: the ESM type declarations serve a TypeScript user.
import OpenAI from "openai";

import { type LynexEvent, Lynex, LynexDeliveryError, wrapOpenAI } from "@lynex/sdk";

const lynex = new Lynex({ apiKey: "k", baseUrl: "http://127.0.0.1:4318", projectId: "p" });
const event: LynexEvent = { name: "x", type: "llm", usage: { input_tokens: 1 }, start_time: Date.now() };
const id: string | undefined = lynex.logEvent(event);
// @ts-expect-error: type must be a span kind of the schema
lynex.logEvent({ type: "bogus" });
// @ts-expect-error: usage counts are numbers
lynex.logEvent({ usage: { input_tokens: "3" } });
const add = lynex.observe(async (a: number, b: number) => a + b);
const sum: Promise<number> = add(1, 2);
const openai: OpenAI = wrapOpenAI(new OpenAI({ apiKey: "k" }), lynex);
const span = lynex.trace({ name: "t" }).generation({ name: "g", model: "m" });
span.end({ usage: { input_tokens: 1, output_tokens: 2 } });
const done: Promise<boolean> = lynex.flush(1000);
const isDelivery = (e: unknown): boolean => e instanceof LynexDeliveryError;
export { add, done, id, isDelivery, openai, sum };
