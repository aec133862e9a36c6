// Runs against a live stack: FIRMFLOW_URL is the gateway, NODE_EXTRA_CA_CERTS its CA.
// The Go test TestTypeScriptClientAgainstTheStack (cmd/firmflow/internal/e2e) boots a
// stack and runs this with `npm test`.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { test } from "node:test";

import { createFirmflowClient, errorReason, fieldViolations, pages, sessionCookie, type Schemas } from "../src/index.js";

const baseUrl = process.env.FIRMFLOW_URL ?? "";

test("an integration signs up, gets an API key, syncs clients page by page and reads a typed error", async () => {
  assert.ok(baseUrl, "FIRMFLOW_URL must name a running gateway, e.g. https://localhost:8443 under make run");
  const email = `owner@sdk-${randomBytes(4).toString("hex")}.example`;
  const password = "correct horse battery staple";
  const anonymous = createFirmflowClient({ baseUrl });

  const signedUp = await anonymous.POST("/v1/signup", {
    body: { firm_display_name: "SDK Bookkeeping", email, display_name: "SDK Owner", password },
  });
  assert.equal(signedUp.response.status, 201, JSON.stringify(signedUp.error));
  const firm: string = signedUp.data?.firm?.name?.replace(/^firms\//, "") ?? "";
  assert.ok(firm, "sign-up names the firm");

  const login = await anonymous.POST("/v1/login", { body: { email, password } });
  assert.equal(login.response.status, 200, JSON.stringify(login.error));
  const owner = createFirmflowClient({
    baseUrl,
    session: { cookie: sessionCookie(login.response), csrfToken: login.data?.csrf_token ?? "" },
  });

  const key = await owner.POST("/v1/firms/{firm}/apiKeys", {
    params: { path: { firm } },
    body: { display_name: "CRM sync", scopes: ["clients:read", "clients:write"] },
  });
  assert.equal(key.response.status, 201, JSON.stringify(key.error));
  const secret: string = key.data?.secret ?? "";
  assert.ok(secret, "the new key's secret is returned once");
  const crm = createFirmflowClient({ baseUrl, apiKey: secret });

  const created = new Set<string>();
  for (let i = 0; i < 7; i++) {
    const client: Schemas["Client"] = { display_name: `Client ${i}`, external_id: `crm-${i}`, tags: ["sync"] };
    const made = await crm.POST("/v1/firms/{firm}/clients", {
      params: { path: { firm }, query: { request_id: `sdk-${i}` } },
      body: client,
    });
    assert.equal(made.response.status, 201, JSON.stringify(made.error));
    const name: string | undefined = made.data?.name;
    assert.ok(name);
    created.add(name);
  }

  // Three to a page: 3 + 3 + 1, each page found by the previous one's next_page_token.
  const seen: string[] = [];
  let pageCount = 0;
  for await (const page of pages((page_token) =>
    crm.GET("/v1/firms/{firm}/clients", { params: { path: { firm }, query: { page_size: 3, page_token, tag: "sync" } } }),
  )) {
    pageCount++;
    for (const c of page.clients ?? []) seen.push(c.name ?? "");
  }
  assert.equal(pageCount, 3);
  assert.deepEqual(new Set(seen), created);
  assert.equal(seen.length, created.size, "no client twice");

  // A name over 200 characters: 400 with the typed error naming the field and rule.
  const refused = await crm.POST("/v1/firms/{firm}/clients", {
    params: { path: { firm } },
    body: { display_name: "x".repeat(201) },
  });
  assert.equal(refused.response.status, 400);
  assert.equal(refused.data, undefined);
  const error = refused.error;
  assert.ok(error);
  assert.equal(error.error.status, "INVALID_ARGUMENT");
  assert.equal(error.error.code, 400);
  assert.equal(errorReason(error), "INVALID_ARGUMENT");
  const violations = fieldViolations(error);
  assert.ok(
    violations.some((v) => v.field.endsWith("display_name") && v.reason === "string.max_len"),
    JSON.stringify(violations),
  );

  // Reading without the scope's key: 401 with the same typed error.
  const denied = await createFirmflowClient({ baseUrl, apiKey: "ffk_not_a_key" }).GET("/v1/firms/{firm}/clients", {
    params: { path: { firm } },
  });
  assert.equal(denied.response.status, 401);
  assert.equal(denied.error?.error.status, "UNAUTHENTICATED");
});
