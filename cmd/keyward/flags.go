package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/keyward/keyward/client"
)

// parseFlags parses args with fs and turns a mistake into one line that names the command, the
// flag and what is wrong, with the nearest flag for an unknown one and a pointer to -h, rather
// than the flag package's message followed by the whole help. -h prints the usage as before.
func (m *Main) parseFlags(fs *flag.FlagSet, args []string) error {
	usage := fs.Usage
	fs.Usage = func() {}
	fs.SetOutput(io.Discard)
	var bad *badValue
	restore := recordValues(fs, &bad)
	err := fs.Parse(args)
	restore()
	fs.SetOutput(m.Stderr)
	fs.Usage = usage
	switch {
	case err == nil:
		return nil
	case errors.Is(err, flag.ErrHelp):
		if fs.Usage != nil {
			fs.Usage()
		} else {
			fs.PrintDefaults()
		}
		return err
	}
	cmd := fs.Name()
	if bad != nil {
		return &usageError{msg: cmd + ": " + valueProblem("--"+bad.name, bad.flag, bad.value, bad.err), prefixed: true}
	}
	msg := err.Error()
	switch {
	case strings.HasPrefix(msg, "flag provided but not defined: -"):
		name := strings.TrimPrefix(msg, "flag provided but not defined: -")
		msg = "unknown flag --" + name
		var names []string
		fs.VisitAll(func(f *flag.Flag) { names = append(names, f.Name) })
		if near := nearest(name, names); near != "" {
			msg += " (did you mean --" + near + "?)"
		}
	case strings.HasPrefix(msg, "flag needs an argument: -"):
		msg = "--" + strings.TrimPrefix(msg, "flag needs an argument: -") + " needs a value"
	case strings.HasPrefix(msg, "bad flag syntax: "):
		msg = fmt.Sprintf("%q is not a flag", strings.TrimPrefix(msg, "bad flag syntax: "))
	}
	return &usageError{msg: fmt.Sprintf("%s: %s; '%s -h' lists the flags", cmd, msg, cmd), prefixed: true}
}

// badValue is a flag value that its flag refused.
type badValue struct {
	name, value string
	flag        *flag.Flag
	err         error
}

// recordValues wraps every flag's value so that the first refused value is kept in *bad, with the
// flag's name; restore puts the original values back.
func recordValues(fs *flag.FlagSet, bad **badValue) (restore func()) {
	originals := map[*flag.Flag]flag.Value{}
	fs.VisitAll(func(f *flag.Flag) {
		originals[f] = f.Value
		r := recorder{Value: f.Value, flag: f, bad: bad}
		if b, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && b.IsBoolFlag() {
			f.Value = boolRecorder{r}
		} else {
			f.Value = r
		}
	})
	return func() {
		for f, v := range originals {
			f.Value = v
		}
	}
}

type recorder struct {
	flag.Value
	flag *flag.Flag
	bad  **badValue
}

func (r recorder) Set(v string) error {
	err := r.Value.Set(v)
	if err != nil && *r.bad == nil {
		*r.bad = &badValue{name: r.flag.Name, value: v, flag: &flag.Flag{Name: r.flag.Name, Value: r.Value}, err: err}
	}
	return err
}

type boolRecorder struct{ recorder }

func (boolRecorder) IsBoolFlag() bool { return true }

// valueProblem says why value, given to the flag f as name (--access-ttl, or the variable
// KEYWARD_ACCESS_TTL), was refused: what kind of value it takes and an example, for the flag
// package's own types, whose errors say only "parse error"; a flag of this program's own type
// explains itself.
func valueProblem(name string, f *flag.Flag, value string, err error) string {
	var kind any
	if g, ok := f.Value.(flag.Getter); ok {
		kind = g.Get()
	}
	switch kind.(type) {
	case time.Duration:
		return fmt.Sprintf("%s: %q is not a duration; use a value such as 2h or 90m", name, value)
	case bool:
		return fmt.Sprintf("%s: %q is not true or false", name, value)
	case int, int64, uint, uint64:
		return fmt.Sprintf("%s: %q is not a whole number; use a value such as 10", name, value)
	case float64:
		return fmt.Sprintf("%s: %q is not a number; use a value such as 1.5", name, value)
	}
	return fmt.Sprintf("%s: %s", name, strings.TrimSuffix(message(err), "."))
}

// nearest returns the candidate closest to got in edit distance, when it is close enough to be
// what was meant (at most a third of its length, and at most 2, away), else "".
func nearest(got string, candidates []string) string {
	best, bestDist := "", 3
	for _, c := range candidates {
		limit := min(2, max(1, len(c)/3))
		if d := editDistance(got, c); d <= limit && d < bestDist {
			best, bestDist = c, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b, counting an exchange of two adjacent
// letters as one edit.
func editDistance(a, b string) int {
	prev2 := make([]int, len(b)+1)
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(b)]
}

// listFlags are the flags of a list command that reads the server's pages: --search, --limit
// and --all.
type listFlags struct {
	fs     *flag.FlagSet
	search *string
	limit  *int
	all    *bool
}

// pageFlags adds --search, --limit and --all to fs, for a list of what ("keys"); search says
// what --search finds.
func pageFlags(fs *flag.FlagSet, what, search string) *listFlags {
	return &listFlags{
		fs:     fs,
		search: fs.String("search", "", search),
		limit:  fs.Int("limit", 100, "list at most this many "+what+", 1 to 1000"),
		all:    fs.Bool("all", false, "list every one, however many"),
	}
}

// check refuses --limit with --all and a limit out of range, naming cmd ("keys list").
func (l *listFlags) check(cmd string) error {
	limitSet := false
	l.fs.Visit(func(f *flag.Flag) { limitSet = limitSet || f.Name == "limit" })
	switch {
	case *l.all && limitSet:
		return usagef("%s: give --limit or --all, not both", cmd)
	case *l.limit < 1 || *l.limit > 1000:
		return usagef("%s: --limit takes a number from 1 to 1000", cmd)
	}
	return nil
}

// readPages reads the pages the flags ask for: the first --limit items, saying on standard
// error when there are more, or with --all every page.
func readPages[T any](m *Main, l *listFlags, what string, page func(client.ListOptions) (*client.Page[T], error)) ([]T, error) {
	opts := client.ListOptions{Limit: *l.limit, Search: *l.search}
	if *l.all {
		opts.Limit = 1000
	}
	var items []T
	for {
		p, err := page(opts)
		if err != nil {
			return nil, err
		}
		items = append(items, p.Data...)
		if p.Next == nil {
			return items, nil
		}
		if !*l.all {
			fmt.Fprintf(m.Stderr, "keyward: showing the first %d %s; --all lists every one, --search finds one\n", len(items), what)
			return items, nil
		}
		opts.Cursor = *p.Next
	}
}

// pagedList is a list command of one project's objects, read page by page: keys list, roles
// list.
type pagedList[T any] struct {
	name, help   string // "keys list"; what -h says after the usage line
	what, search string // "keys"; what --search finds
	page         func(ctx context.Context, r *remote, project string, opts client.ListOptions) (*client.Page[T], error)
	// arg, when set, is where the one argument of a list of something's items goes ("webhooks
	// messages ID"), before page is called; argName names it in the usage line.
	arg     *string
	argName string
}

// run parses args, connects, and reads the pages the flags ask for. With --json it prints them
// and returns printed; otherwise the command prints its table of items, of project ref, where
// search is the --search given.
func (l pagedList[T]) run(ctx context.Context, m *Main, args []string) (items []T, ref, search string, printed bool, err error) {
	synopsis := l.name
	if l.arg != nil {
		synopsis += " " + l.argName
	}
	fs := m.flagSet(l.name, synopsis+" [--search Q] [--limit N|--all] [--project P] [--json]\n\n"+l.help)
	project := projectFlag(fs)
	asJSON := fs.Bool("json", false, "print a JSON array of "+l.what)
	pages := pageFlags(fs, l.what, l.search)
	rest, err := m.parseArgs(fs, args, "project")
	if err != nil {
		return nil, "", "", false, err
	}
	switch {
	case l.arg != nil && len(rest) != 1:
		return nil, "", "", false, usagef("usage: keyward %s %s [--search Q] [--limit N|--all] [--project P] [--json]", l.name, l.argName)
	case l.arg != nil:
		*l.arg = rest[0]
	case len(rest) > 0:
		return nil, "", "", false, usagef("%s takes no arguments, got %q", l.name, rest[0])
	}
	if err := pages.check(l.name); err != nil {
		return nil, "", "", false, err
	}
	r, ref, err := m.connectToProject(ctx, *project)
	if err != nil {
		return nil, "", "", false, err
	}
	items, err = readPages(m, pages, l.what, func(opts client.ListOptions) (*client.Page[T], error) {
		return l.page(ctx, r, ref, opts)
	})
	if err != nil {
		return nil, "", "", false, r.explain(err)
	}
	if *asJSON {
		return nil, "", "", true, printJSON(m.Stdout, nonNil(items))
	}
	return items, ref, *pages.search, false, nil
}
