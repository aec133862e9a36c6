package httpapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"

	"github.com/firmflow/firmflow/pkg/apierr"
)

// RequireUTF8 is REST-mux middleware that refuses, with 400 naming the field, any
// path parameter, query parameter or JSON body string that is not valid UTF-8.
// Protobuf strings must be UTF-8: left to the services, such a value fails to
// marshal on its way to them and surfaces as an internal error, and an access event
// carrying it could not be recorded at all. Checking here, once, covers every route;
// it runs after authentication and route matching, so the refusal is recorded with
// its caller and route like any other response.
//
// A NUL character is refused in path and query parameters too: it is valid UTF-8, but
// no PostgreSQL text can hold it, so a filter carrying one would fail in the database.
func RequireUTF8(next runtime.HandlerFunc) runtime.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request, params map[string]string) {
		if field, ok := nulParameter(r, params); ok {
			writeError(w, apierr.InvalidArgument(field, "string.no_nul", "must not contain a NUL character"))
			return
		}
		field, ok := invalidUTF8Field(r, params)
		if !ok {
			next(w, r, params)
			return
		}
		writeError(w, apierr.InvalidArgument(field, "utf8", "must be valid UTF-8"))
	}
}

// nulParameter names the first path or query parameter holding a NUL character.
func nulParameter(r *http.Request, params map[string]string) (string, bool) {
	for _, name := range slices.Sorted(maps.Keys(params)) {
		if strings.ContainsRune(params[name], 0) {
			return escapeInvalidUTF8(name), true
		}
	}
	query := r.URL.Query()
	for _, name := range slices.Sorted(maps.Keys(query)) {
		if strings.ContainsRune(name, 0) || slices.ContainsFunc(query[name], func(v string) bool { return strings.ContainsRune(v, 0) }) {
			return strings.ReplaceAll(escapeInvalidUTF8(name), "\x00", "%00"), true
		}
	}
	return "", false
}

// invalidUTF8Field names the first field of the request that is not UTF-8.
func invalidUTF8Field(r *http.Request, params map[string]string) (string, bool) {
	for _, name := range slices.Sorted(maps.Keys(params)) {
		if !utf8.ValidString(params[name]) {
			return escapeInvalidUTF8(name), true
		}
	}
	query := r.URL.Query()
	for _, name := range slices.Sorted(maps.Keys(query)) {
		if !utf8.ValidString(name) {
			return escapeInvalidUTF8(name), true
		}
		for _, v := range query[name] {
			if !utf8.ValidString(v) {
				return name, true
			}
		}
	}
	if r.Body == nil || r.Body == http.NoBody {
		return "", false
	}
	// LimitBody has already read the body into memory; read it again and put it back.
	body, err := io.ReadAll(r.Body)
	r.Body = io.NopCloser(bytes.NewReader(body))
	if err != nil || utf8.Valid(body) {
		return "", false
	}
	if field := invalidJSONField(body, ""); field != "" {
		return field, true
	}
	return "body", true
}

// invalidJSONField is the dotted path of the first string in raw that is not UTF-8,
// "" for the document itself or when raw is not JSON (the decoder reports that).
func invalidJSONField(raw []byte, path string) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || utf8.Valid(raw) {
		return ""
	}
	switch raw[0] {
	case '{':
		var fields map[string]json.RawMessage
		if json.Unmarshal(raw, &fields) != nil {
			return path
		}
		for _, name := range slices.Sorted(maps.Keys(fields)) {
			child := name
			if path != "" {
				child = path + "." + name
			}
			if field := invalidJSONField(fields[name], child); field != "" {
				return field
			}
		}
	case '[':
		var items []json.RawMessage
		if json.Unmarshal(raw, &items) != nil {
			return path
		}
		for i, item := range items {
			if field := invalidJSONField(item, path+"["+strconv.Itoa(i)+"]"); field != "" {
				return field
			}
		}
	}
	// A scalar, or a name that is not UTF-8 (json replaced it): the enclosing value.
	return path
}

// escapeInvalidUTF8 percent-encodes the bytes of s that are not UTF-8 ("\xff" ->
// "%FF"), so that a value a client sent can be logged and recorded as what it was.
func escapeInvalidUTF8(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			fmt.Fprintf(&b, "%%%02X", s[i])
		} else {
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}
