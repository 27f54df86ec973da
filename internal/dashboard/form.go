package dashboard

import (
	"errors"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/manage"
	"github.com/keyward/keyward/internal/web"
)

// maxForm bounds a form body; the largest legitimate one (a key with a long IP list) is a few
// kilobytes.
const maxForm = 64 << 10

// form is a submitted form body. The query string is ignored: a POST's meaning is its body.
type form struct{ values url.Values }

func parseForm(r *http.Request) (form, error) {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/x-www-form-urlencoded" {
		return form{}, keyward.Errorf(keyward.EINVALID, "Send the form as application/x-www-form-urlencoded.")
	}
	if err := r.ParseForm(); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return form{}, web.Errorf(http.StatusRequestEntityTooLarge, "The form is too large.")
		}
		return form{}, keyward.Errorf(keyward.EINVALID, "The form could not be read.")
	}
	for k, vs := range r.PostForm {
		for _, v := range append([]string{k}, vs...) {
			if !utf8.ValidString(v) {
				return form{}, keyward.Errorf(keyward.EINVALID, "The form is not valid UTF-8.")
			}
		}
	}
	return form{r.PostForm}, nil
}

// get returns a single-valued field; a field sent twice is as good as missing, so that two
// readers of one form can never disagree on its value.
func (f form) get(name string) string {
	if vs := f.values[name]; len(vs) == 1 {
		return vs[0]
	}
	return ""
}

// list returns every value of a multi-valued field, such as checked checkboxes.
func (f form) list(name string) []string { return f.values[name] }

// splitNetworks reads the IP restriction as people type it: addresses and CIDRs separated by
// commas, spaces or new lines.
func splitNetworks(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ',' || unicode.IsSpace(r) })
}

// fieldErrors sorts err for a form: the message of a *manage.FieldError goes next to its field
// (true), anything else is not about the input (false) and is rendered as an error page.
func fieldErrors(err error, into map[string]string) bool {
	var fe *manage.FieldError
	if !errors.As(err, &fe) {
		return false
	}
	into[fe.Field] = fe.Message
	return true
}
