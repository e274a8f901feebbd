/**
 * The SDK's version and the API major it speaks, and the one-time check against the server's `GET
 * /v1/version` ({"version": "...", "api": "1"}). A mismatch is a warning, never an error: events still go.
 * A server without the endpoint (404) or an unreachable one says nothing: older appliances predate it.
 */

import type { Transport } from "./transport.js";

export const SDK_VERSION = "0.1.0";
/** The major version of the appliance's HTTP API this SDK is written against. */
export const API_VERSION = "1";

function major(version: string): string {
  return version.split(".")[0] ?? version;
}

/** How long the check may take: it must never hold a process up (it is ended early by shutdown too). */
const CHECK_TIMEOUT_MS = 5000;

/** Asks the server once; calls `warn` when it reports another API major. */
export async function checkServerVersion(
  transport: Transport,
  baseUrl: string,
  warn: (message: string) => void,
  signal: AbortSignal,
): Promise<void> {
  const answer = await transport.getJson("/v1/version", signal, CHECK_TIMEOUT_MS);
  if (answer === undefined || answer.status !== 200) return;
  const api = (answer.body as { api?: unknown } | undefined)?.api;
  if (api === undefined || api === null) return;
  if (major(String(api)) !== API_VERSION) {
    warn(
      `lynex: the server at ${baseUrl} speaks API ${String(api)}, this SDK (@lynex/sdk ${SDK_VERSION}) speaks API ` +
        `${API_VERSION}; hint: upgrade @lynex/sdk or the server so their API versions match`,
    );
  }
}
