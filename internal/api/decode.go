package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/web"
)

const (
	// maxBody bounds every request body; the largest legitimate one (a key with a long IP list)
	// is a few kilobytes.
	maxBody = 64 << 10
	// maxDepth bounds nesting; no request body nests at all, so this only stops abuse early.
	maxDepth = 16
)

func invalid(format string, args ...any) error {
	return keyward.Errorf(keyward.EINVALID, format, args...)
}

// decodeJSON reads r's body into dst, a pointer to a struct with json tags, strictly: media type
// application/json (415 otherwise), at most maxBody bytes (413), valid UTF-8, one JSON object with
// no duplicate keys, only dst's fields spelled exactly as tagged, values of the right types, and
// nothing after the object (400, naming the problem). encoding/json alone accepts duplicate keys
// (the last wins), field names in any case, and invalid UTF-8 (replaced silently), any of which
// lets two readers of one body disagree.
func decodeJSON(w http.ResponseWriter, r *http.Request, dst any) error {
	_, err := decodePatch(w, r, dst)
	return err
}

// decodePatch is decodeJSON for a partial update, where a field left out and a field set to null
// mean different things: it also returns, for each field the body has, whether it is null.
func decodePatch(w http.ResponseWriter, r *http.Request, dst any) (map[string]bool, error) {
	if err := checkContentType(r.Header); err != nil {
		return nil, err
	}
	tooLarge := web.Errorf(http.StatusRequestEntityTooLarge, "The body is larger than %d bytes.", maxBody)
	if r.ContentLength > maxBody {
		return nil, tooLarge
	}
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, tooLarge
		}
		return nil, invalid("The body could not be read.")
	}
	if err := decodeStrict(data, dst); err != nil {
		return nil, err
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil { // checked strictly above
		return nil, invalid("The body must be a JSON object.")
	}
	fields := make(map[string]bool, len(raw))
	for k, v := range raw {
		fields[k] = string(bytes.TrimSpace(v)) == "null"
	}
	return fields, nil
}

// refuseNull is the answer to a PATCH body that sends null for one of names (fields as
// decodePatch returns them), fields whose null would mean nothing: leaving them out keeps them.
func refuseNull(fields map[string]bool, names ...string) error {
	for _, f := range names {
		if fields[f] {
			return invalid("Field %q cannot be null; leave it out to keep it.", f)
		}
	}
	return nil
}

func checkContentType(h http.Header) error {
	unsupported := web.Errorf(http.StatusUnsupportedMediaType, "Send the body as Content-Type: application/json.")
	values := h.Values("Content-Type")
	if len(values) != 1 {
		return unsupported
	}
	mediaType, params, err := mime.ParseMediaType(values[0])
	if err != nil || mediaType != "application/json" {
		return unsupported
	}
	for k, v := range params {
		if k != "charset" || !strings.EqualFold(v, "utf-8") {
			return web.Errorf(http.StatusUnsupportedMediaType, "The body must be UTF-8 JSON: the only parameter accepted is charset=utf-8.")
		}
	}
	return nil
}

// decodeStrict is decodeJSON after the transport checks.
func decodeStrict(data []byte, dst any) error {
	if len(bytes.TrimSpace(data)) == 0 {
		return invalid("The body is empty; send a JSON object.")
	}
	if !utf8.Valid(data) {
		return invalid("The body is not valid UTF-8.")
	}
	if err := checkStructure(data, jsonFields(dst)); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return describeDecodeError(err)
	}
	return nil
}

// checkStructure walks data's tokens: one object, known top-level fields, no duplicate key in any
// object, bounded depth, nothing after the object.
func checkStructure(data []byte, fields []string) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return syntaxError(err)
	}
	if tok != json.Delim('{') {
		return invalid("The body must be a JSON object.")
	}
	if err := walkObject(dec, 1, fields); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return invalid("The body has data after its JSON object.")
	}
	return nil
}

// walkObject checks the members of an object whose '{' was just read. fields, when not nil, lists
// the only keys allowed.
func walkObject(dec *json.Decoder, depth int, fields []string) error {
	if depth > maxDepth {
		return invalid("The body is nested too deeply.")
	}
	seen := make(map[string]bool)
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return syntaxError(err)
		}
		key, ok := tok.(string)
		if !ok {
			return invalid("The body is not valid JSON.")
		}
		if seen[key] {
			return invalid("Field %q appears more than once.", key)
		}
		seen[key] = true
		if fields != nil && !slices.Contains(fields, key) {
			return invalid("Unknown field %q; the fields are %s.", key, strings.Join(fields, ", "))
		}
		if err := walkValue(dec, depth); err != nil {
			return err
		}
	}
	return closing(dec)
}

func walkValue(dec *json.Decoder, depth int) error {
	tok, err := dec.Token()
	if err != nil {
		return syntaxError(err)
	}
	switch tok {
	case json.Delim('{'):
		return walkObject(dec, depth+1, nil)
	case json.Delim('['):
		if depth+1 > maxDepth {
			return invalid("The body is nested too deeply.")
		}
		for dec.More() {
			if err := walkValue(dec, depth+1); err != nil {
				return err
			}
		}
		return closing(dec)
	}
	return nil
}

// closing reads the '}' or ']' that ends the current object or array.
func closing(dec *json.Decoder) error {
	if _, err := dec.Token(); err != nil {
		return syntaxError(err)
	}
	return nil
}

func syntaxError(err error) error {
	var se *json.SyntaxError
	switch {
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return invalid("The body ends in the middle of its JSON object.")
	case errors.As(err, &se):
		return invalid("The body is not valid JSON at byte %d: %s.", se.Offset, strings.TrimPrefix(se.Error(), "json: "))
	}
	return invalid("The body is not valid JSON.")
}

func describeDecodeError(err error) error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		field := te.Field
		if field == "" {
			return invalid("The body must be a JSON object.")
		}
		return invalid("Field %q must be %s, not %s.", field, jsonKind(te.Type), te.Value)
	}
	return syntaxError(err)
}

// jsonKind names the JSON type a Go type decodes from, for error messages.
func jsonKind(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Struct, reflect.Map:
		return "an object"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	}
	return "a " + t.String()
}

// jsonFields lists the JSON names of the fields of the struct dst points to.
func jsonFields(dst any) []string {
	t := reflect.TypeOf(dst)
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct {
		return nil
	}
	fields := make([]string, 0, t.NumField())
	for f := range t.Fields() {
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" || !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		fields = append(fields, name)
	}
	return fields
}

// query returns the query parameters of r, each at most once and each one of allowed.
func query(r *http.Request, allowed ...string) (map[string]string, error) {
	values, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, invalid("The query string is malformed.")
	}
	out := make(map[string]string, len(values))
	for k, v := range values {
		if !slices.Contains(allowed, k) {
			if len(allowed) == 0 {
				return nil, invalid("Unknown query parameter %q; this path takes none.", k)
			}
			return nil, invalid("Unknown query parameter %q; the parameters are %s.", k, strings.Join(allowed, ", "))
		}
		if len(v) != 1 {
			return nil, invalid("Query parameter %q appears more than once.", k)
		}
		out[k] = v[0]
	}
	return out, nil
}
