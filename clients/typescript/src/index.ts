// The firmflow REST API for TypeScript: openapi-fetch over the types openapi-typescript
// generates from the gateway's OpenAPI document (src/schema.ts, made by `make gen`).
// Paths, parameters, bodies, responses and errors are all typed from the document.
import createClient, { type Client, type ClientOptions } from "openapi-fetch";
import type { components, paths } from "./schema.js";

export type { components, operations, paths } from "./schema.js";

/** Every schema of the API by name: Schemas["Client"], Schemas["ListClientsResponse"]... */
export type Schemas = components["schemas"];

/** The body of every error (AIP-193): {"error": {"code", "status", "message", "details"}}. */
export type ApiError = Schemas["Error"];

/** One field and rule a 400 names. */
export type FieldViolation = Schemas["BadRequest"]["field_violations"][number];

export interface FirmflowOptions extends ClientOptions {
  /** The gateway, e.g. https://localhost:8443. */
  baseUrl: string;
  /** An API key, sent as Authorization: Bearer <key>. */
  apiKey?: string;
  /**
   * A browser session outside the browser (scripts, tests): the session cookie and the
   * csrf_token that POST /v1/login returned. In a browser the cookie travels by itself;
   * pass only csrfToken.
   */
  session?: { cookie?: string; csrfToken: string };
}

export type FirmflowClient = Client<paths>;

/** A client for the API; every call is typed by its path and method. */
export function createFirmflowClient({ apiKey, session, headers, ...options }: FirmflowOptions): FirmflowClient {
  const auth: Record<string, string> = {};
  if (apiKey) auth["Authorization"] = `Bearer ${apiKey}`;
  if (session?.cookie) auth["Cookie"] = session.cookie;
  if (session?.csrfToken) auth["X-CSRF-Token"] = session.csrfToken;
  return createClient<paths>({ ...options, headers: { ...auth, ...(headers as Record<string, string> | undefined) } });
}

/** The firmflow_session cookie a login response sets, as a Cookie header value. */
export function sessionCookie(response: Response): string | undefined {
  for (const c of response.headers.getSetCookie()) {
    const pair = c.split(";", 1)[0];
    if (pair?.startsWith("firmflow_session=")) return pair;
  }
  return undefined;
}

/** The ErrorInfo reason of an error (e.g. "ETAG_MISMATCH"), which programs switch on. */
export function errorReason(error: ApiError): string | undefined {
  for (const d of error.error.details ?? []) {
    if (d["@type"] === "type.googleapis.com/google.rpc.ErrorInfo") return d.reason;
  }
  return undefined;
}

/** The fields and rules a 400 names. */
export function fieldViolations(error: ApiError): FieldViolation[] {
  const out: FieldViolation[] = [];
  for (const d of error.error.details ?? []) {
    if (d["@type"] === "type.googleapis.com/google.rpc.BadRequest") out.push(...d.field_violations);
  }
  return out;
}

/** Thrown by pages() when a page cannot be read: the HTTP status and the typed error. */
export class FirmflowError extends Error {
  constructor(
    readonly status: number,
    readonly body: ApiError,
  ) {
    super(`${status} ${body.error.status}: ${body.error.message}`);
  }
}

/**
 * Walks a list page by page, following next_page_token until it is empty:
 *
 *   for await (const page of pages((page_token) =>
 *     api.GET("/v1/firms/{firm}/clients", { params: { path: { firm }, query: { page_token } } }))) { ... }
 */
export async function* pages<T extends { next_page_token?: string }>(
  fetchPage: (pageToken: string | undefined) => Promise<{ data?: T; error?: ApiError; response: Response }>,
): AsyncGenerator<T> {
  let token: string | undefined;
  do {
    const { data, error, response } = await fetchPage(token);
    if (error !== undefined || data === undefined) {
      throw new FirmflowError(response.status, error ?? { error: { code: response.status, status: "UNKNOWN", message: "no body" } });
    }
    yield data;
    token = data.next_page_token || undefined;
  } while (token);
}
