package main

// The parts of the document no proto declares: the error body the gateway writes for
// every failure (pkg/apierr through httpapi's writeStatus), the credentials and
// headers the gateway reads, and the export download the gateway streams itself.

func newDocument() *document {
	return &document{
		OpenAPI: "3.1.0",
		Info: info{
			Title:   "firmflow API",
			Version: "v1",
			Description: "The REST API of firmflow, generated from its protos. JSON uses the proto field " +
				"names (snake_case) and omits unset fields; unknown fields and query parameters are refused " +
				"with 400. Every error has the AIP-193 body `{\"error\": {\"code\", \"status\", \"message\", " +
				"\"details\"}}`: an ErrorInfo detail carries the reason clients switch on, a BadRequest " +
				"detail names each field and rule that failed.\n\nBrowsers sign in with `POST /v1/login`, " +
				"which sets the `firmflow_session` cookie and returns the `csrf_token` to send as " +
				"`X-CSRF-Token` on every request that is not a GET. Integrations send an API key as " +
				"`Authorization: Bearer <key>`; each operation lists the scope it needs.",
		},
		// Relative: the gateway that serves this document (https://localhost:8443 under
		// `make run`).
		Servers: []server{{URL: "/", Description: "The gateway serving this document; https://localhost:8443 under `make run`."}},
		// Operations override this; it is the answer for a route added without one.
		Security: []securityRequirement{{"session": {}}, {"apiKey": {}}},
		Paths:    map[string]*pathItem{},
		Components: components{
			Schemas:    errorSchemas(),
			Responses:  errorResponseComponents(),
			Parameters: parameterComponents(),
			Headers:    headerComponents(),
			SecuritySchemes: map[string]*securityScheme{
				"session": {Type: "apiKey", In: "cookie", Name: sessionCookie,
					Description: "The session cookie `POST /v1/login` sets (HttpOnly; browsers send it themselves)."},
				"csrf": {Type: "apiKey", In: "header", Name: csrfHeader,
					Description: "The `csrf_token` from `POST /v1/login`, required with the session cookie on every request that is not a GET."},
				"apiKey": {Type: "http", Scheme: "bearer", BearerFormat: "API key",
					Description: "An API key (`POST /v1/firms/{firm}/apiKeys`), as `Authorization: Bearer <key>`. The requirement lists the scope the operation needs."},
				"staffSession": {Type: "http", Scheme: "bearer", BearerFormat: "staff session token",
					Description: "A staff session token (`ffst_...`, from `POST /v1/staff/login`); inside a firm only under a support grant named in `X-Support-Grant`."},
			},
		},
	}
}

func errorSchemas() map[string]*schema {
	typeConst := func(t string) *schema {
		return &schema{Type: "string", Const: "type.googleapis.com/google.rpc." + t}
	}
	return map[string]*schema{
		"Error": {
			Type:        "object",
			Description: "The body of every error (AIP-193).",
			Required:    []string{"error"},
			Properties:  map[string]*schema{"error": {Ref: ref("schemas", "Status")}},
		},
		"Status": {
			Type:     "object",
			Required: []string{"code", "status", "message"},
			Properties: map[string]*schema{
				"code":    {Type: "integer", Format: "int32", Description: "The HTTP status code."},
				"status":  {Ref: ref("schemas", "Code")},
				"message": {Type: "string", Description: "For developers; the reason in ErrorInfo is what programs switch on."},
				"details": {Type: "array", Items: &schema{OneOf: []*schema{
					{Ref: ref("schemas", "ErrorInfo")}, {Ref: ref("schemas", "BadRequest")}, {Ref: ref("schemas", "RetryInfo")},
				}}},
			},
		},
		"Code": {
			Type:        "string",
			Description: "The google.rpc.Code name of the error.",
			Enum: []string{"CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND",
				"ALREADY_EXISTS", "PERMISSION_DENIED", "UNAUTHENTICATED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
				"ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS"},
		},
		"ErrorInfo": {
			Type:     "object",
			Required: []string{"@type", "reason", "domain"},
			Properties: map[string]*schema{
				"@type":    typeConst("ErrorInfo"),
				"reason":   {Type: "string", Description: "UPPER_SNAKE reason, e.g. `ETAG_MISMATCH`."},
				"domain":   {Type: "string", Const: "firmflow.dev"},
				"metadata": {Type: "object", AdditionalProperties: &schema{Type: "string"}},
			},
		},
		"BadRequest": {
			Type:     "object",
			Required: []string{"@type", "field_violations"},
			Properties: map[string]*schema{
				"@type": typeConst("BadRequest"),
				"field_violations": {Type: "array", Items: &schema{
					Type:     "object",
					Required: []string{"field", "description"},
					Properties: map[string]*schema{
						"field":       {Type: "string", Description: "The field's path, e.g. `client.display_name` or `rows[3].tax_id`."},
						"reason":      {Type: "string", Description: "The rule that failed, e.g. `string.max_len`, `required`."},
						"description": {Type: "string"},
					},
				}},
			},
		},
		"RetryInfo": {
			Type:     "object",
			Required: []string{"@type", "retry_delay"},
			Properties: map[string]*schema{
				"@type":       typeConst("RetryInfo"),
				"retry_delay": {Type: "string", Description: `How long to wait, e.g. "2s"; also sent as Retry-After.`},
			},
		},
	}
}

func errorResponseComponents() map[string]*response {
	errorBody := func(desc string, headers map[string]*header) *response {
		return &response{
			Description: desc,
			Headers:     headers,
			Content:     map[string]mediaType{"application/json": {Schema: &schema{Ref: ref("schemas", "Error")}}},
		}
	}
	retry := map[string]*header{"Retry-After": {Ref: ref("headers", "RetryAfter")}}
	limited := rateLimitHeaders()
	limited["Retry-After"] = retry["Retry-After"]
	return map[string]*response{
		"BadRequest": errorBody("INVALID_ARGUMENT (a BadRequest detail names each field and rule), FAILED_PRECONDITION "+
			"(the resource's state does not allow it now) or OUT_OF_RANGE.", nil),
		"Unauthenticated": errorBody("UNAUTHENTICATED: no credential, or one that is no longer valid.",
			map[string]*header{"WWW-Authenticate": {Schema: &schema{Type: "string"}, Description: `Bearer realm="firmflow"`}}),
		"PermissionDenied":   errorBody("PERMISSION_DENIED: the caller's role, permissions or scopes do not allow it.", nil),
		"NotFound":           errorBody("NOT_FOUND: no such resource, or one outside the caller's firm (indistinguishable on purpose).", nil),
		"Conflict":           errorBody("ALREADY_EXISTS (a duplicate) or ABORTED (reason ETAG_MISMATCH: changed since it was read).", nil),
		"PreconditionFailed": errorBody("FAILED_PRECONDITION: If-Match names an etag the resource no longer has.", nil),
		"TooManyRequests":    errorBody("RESOURCE_EXHAUSTED: rate limited; Retry-After says when to try again.", limited),
		"Internal":           errorBody("INTERNAL: our fault; the message says nothing more on purpose.", nil),
		"Unavailable":        errorBody("UNAVAILABLE: a service the request needs is away; retry after Retry-After (with the same request_id for creates).", retry),
	}
}

func parameterComponents() map[string]*parameter {
	return map[string]*parameter{
		"SupportGrant": {
			Name: supportGrantHeader, In: "header",
			Description: "Staff only: the support grant to act under, firms/{firm}/supportGrants/{grant}. Members and API keys do not send it.",
			Schema:      &schema{Type: "string", Pattern: "^firms/[^/]+/supportGrants/[^/]+$"},
		},
		"IfMatch": {
			Name: "If-Match", In: "header",
			Description: "The ETag of the version read; a stale one answers 412. `*` matches any version.",
			Schema:      &schema{Type: "string"},
		},
	}
}

func headerComponents() map[string]*header {
	return map[string]*header{
		"ETag": {
			Description: "The resource's etag, to send back in If-Match (or as `etag`).",
			Schema:      &schema{Type: "string"},
		},
		"Location": {
			Description: "The path of the created resource, /v1/{name}.",
			Required:    true, Schema: &schema{Type: "string"},
		},
		"RetryAfter": {
			Description: "Seconds to wait before trying again.",
			Required:    true, Schema: &schema{Type: "integer", Minimum: f64(1)},
		},
		"RateLimitLimit": {
			Description: "Requests in a full budget: the tighter of the caller's address's and credential's limits.",
			Schema:      &schema{Type: "integer", Minimum: f64(0)},
		},
		"RateLimitRemaining": {
			Description: "Requests left in the budget now.",
			Schema:      &schema{Type: "integer", Minimum: f64(0)},
		},
		"RateLimitReset": {
			Description: "Seconds until the budget is full again.",
			Schema:      &schema{Type: "integer", Minimum: f64(0)},
		},
	}
}

// rateLimitHeaders are the budget headers the gateway's rate limits add to every API
// response.
func rateLimitHeaders() map[string]*header {
	return map[string]*header{
		"RateLimit-Limit":     {Ref: ref("headers", "RateLimitLimit")},
		"RateLimit-Remaining": {Ref: ref("headers", "RateLimitRemaining")},
		"RateLimit-Reset":     {Ref: ref("headers", "RateLimitReset")},
	}
}

// addExportDownload documents the one REST route that is not a google.api.http
// binding: the gateway streams a finished export's archive from lifecycle's
// ReadExportArchive, with byte ranges.
func (g *generator) addExportDownload() {
	pol := policy{roles: []string{"owner"}}
	op := &operation{
		OperationID: "DownloadExport",
		Summary:     "Downloads a finished export's archive (application/zip).",
		Description: "Streams the archive of an export whose operation is done, with Content-Length. " +
			"One byte range (`Range: bytes=a-b`, `a-` or `-n`) answers 206 with Content-Range, so an " +
			"interrupted download resumes; a range past the end answers 400 RANGE_NOT_SATISFIABLE. Owners of the firm.",
		Tags:     []string{"LifecycleService"},
		Security: security(pol, "GET"),
		Parameters: []*parameter{
			{Name: "firm", In: "path", Required: true, Description: "The firm id.", Schema: &schema{Type: "string", Pattern: "^[^/]+$"}},
			{Name: "export", In: "path", Required: true, Description: "The export id (the last segment of the operation's response `name`).", Schema: &schema{Type: "string", Pattern: "^[^/]+$"}},
			{Name: "Range", In: "header", Description: "One byte range: `bytes=a-b`, `bytes=a-` or `bytes=-n`.", Schema: &schema{Type: "string", Pattern: `^bytes=([0-9]+-[0-9]*|-[0-9]+)$`}},
			{Ref: ref("parameters", "SupportGrant")},
		},
		Responses: map[string]*response{},
		Policy:    &policyExtension{RPC: "firmflow.lifecycle.v1.LifecycleService.ReadExportArchive", Roles: pol.roles},
	}
	archive := map[string]mediaType{"application/zip": {Schema: &schema{Type: "string", ContentMediaType: "application/zip"}}}
	length := &header{Description: "Bytes in this response.", Required: true, Schema: &schema{Type: "integer"}}
	ranges := &header{Description: "Always `bytes`: ranges are served.", Required: true, Schema: &schema{Type: "string", Const: "bytes"}}
	whole, part := rateLimitHeaders(), rateLimitHeaders()
	whole["Content-Length"], whole["Accept-Ranges"] = length, ranges
	part["Content-Length"], part["Accept-Ranges"] = length, ranges
	part["Content-Range"] = &header{Description: "bytes first-last/total", Required: true, Schema: &schema{Type: "string"}}
	op.Responses["200"] = &response{Description: "The whole archive.", Content: archive, Headers: whole}
	op.Responses["206"] = &response{Description: "The requested range.", Content: archive, Headers: part}
	for _, code := range errorResponses(pol, "GET", false) {
		op.Responses[code] = &response{Ref: ref("responses", errorResponseNames[code])}
	}
	g.doc.Tags = appendTag(g.doc.Tags, "LifecycleService")
	_ = g.put("/v1/firms/{firm}/exports/{export}:download", "GET", op)
}

func appendTag(tags []tag, name string) []tag {
	for _, t := range tags {
		if t.Name == name {
			return tags
		}
	}
	return append(tags, tag{Name: name})
}
