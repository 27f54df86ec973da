package dashboard

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"html/template"
	"io/fs"
	"net/http"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/clientip"
	"github.com/keyward/keyward/internal/manage"
)

//go:embed templates static
var files embed.FS

// pages are the page templates, each parsed with the layout and the shared partials.
var pages = mustParsePages()

// assetVersion is a digest of each static file, appended to its URL so that browsers may cache
// it for long and still fetch a new release's at once.
var assetVersion = func() map[string]string {
	out := map[string]string{}
	entries, err := fs.ReadDir(files, "static")
	if err != nil {
		panic(err)
	}
	for _, e := range entries {
		data, err := fs.ReadFile(files, "static/"+e.Name())
		if err != nil {
			panic(err)
		}
		sum := sha256.Sum256(data)
		out[e.Name()] = hex.EncodeToString(sum[:6])
	}
	return out
}()

var funcs = template.FuncMap{
	"asset":    func(name string) string { return "/static/" + name + "?v=" + assetVersion[name] },
	"when":     func(t time.Time) string { return t.UTC().Format("2 Jan 2006, 15:04 UTC") },
	"day":      func(t time.Time) string { return t.UTC().Format("2 Jan 2006") },
	"clock":    func(t time.Time) string { return t.UTC().Format("15:04 UTC") },
	"iso":      func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
	"networks": clientip.FormatNetworks,
	"duration": duration,
	"slug": func(s string) string {
		return strings.Trim(strings.Map(func(r rune) rune {
			if unicode.IsLetter(r) || unicode.IsDigit(r) {
				return unicode.ToLower(r)
			}
			return '-'
		}, s), "-")
	},
}

func mustParsePages() map[string]*template.Template {
	entries, err := fs.Glob(files, "templates/*.html")
	if err != nil {
		panic(err)
	}
	out := map[string]*template.Template{}
	for _, file := range entries {
		name := path.Base(file)
		name = name[:len(name)-len(".html")]
		if name == "layout" || name == "partials" {
			continue
		}
		out[name] = template.Must(template.New(name).Funcs(funcs).ParseFS(files,
			"templates/layout.html", "templates/partials.html", file))
	}
	return out
}

// render writes a whole page or, if the template fails, a plain 500: the page is rendered to
// memory first, so a failure never leaves half a page behind.
func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, name string, data any) {
	var buf bytes.Buffer
	t, ok := pages[name]
	if !ok {
		s.Logger.ErrorContext(r.Context(), "no such dashboard template", "name", name)
		http.Error(w, "Internal error.", http.StatusInternalServerError)
		return
	}
	if err := t.ExecuteTemplate(&buf, "layout", data); err != nil {
		s.Logger.ErrorContext(r.Context(), "render dashboard page", "name", name, "err", err)
		http.Error(w, "Internal error.", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

func staticHandler() http.Handler {
	sub, err := fs.Sub(files, "static")
	if err != nil {
		panic(err)
	}
	fileServer := http.StripPrefix("/static/", http.FileServerFS(sub))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, ok := assetVersion[path.Base(r.URL.Path)]; !ok || path.Dir(r.URL.Path) != "/static" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Cache-Control", "public, max-age=86400")
		fileServer.ServeHTTP(w, r)
	})
}

// pageBase is what every page's layout needs.
type pageBase struct {
	Title  string
	Visit  *visit // nil on the login page and on errors before sign-in
	Notice string // a confirmation shown above the content
}

// projectBase is what every project settings page needs: the project, the caller's permissions
// there (which decide the buttons shown) and the active tab.
type projectBase struct {
	pageBase
	Access *manage.Access
	Tab    string
}

// Project is the project's name, used in every link of its pages.
func (p *projectBase) Project() *keyward.Project { return p.Access.Project }

// Can reports whether the signed-in person holds perm in the project.
func (p *projectBase) Can(perm string) bool { return p.Access.Has(perm) }

type errorPage struct {
	pageBase
	Status  int
	Message string
}

// permGroup is one group of the catalog, as checkboxes.
type permGroup struct {
	Name  string
	Perms []permChoice
}

type permChoice struct {
	Name, Description string
	Checked           bool
}

// choices groups offer, in catalog order, with checked ticked.
func choices(offer []keyward.Permission, checked []string) []permGroup {
	var out []permGroup
	index := map[string]int{} // a group shows once, where it first appears in the catalog
	for _, p := range offer {
		i, ok := index[p.Group]
		if !ok {
			i = len(out)
			index[p.Group] = i
			out = append(out, permGroup{Name: p.Group})
		}
		out[i].Perms = append(out[i].Perms, permChoice{Name: p.Name, Description: p.Description, Checked: slices.Contains(checked, p.Name)})
	}
	return out
}
