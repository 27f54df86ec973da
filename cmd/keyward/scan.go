package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/keyward/keyward/apikey"
	"github.com/keyward/keyward/apikey/scan"
)

func (m *Main) scan(ctx context.Context, args []string) error {
	fs := m.flagSet("scan", "scan [--git | --staged] [PATH…]\n       keyward scan --export-patterns\n\n"+
		"Finds keyward API keys in files and folders (recursively, skipping .git and binary files),\n"+
		"in standard input (PATH -), in every commit of the current repository (--git), or in the\n"+
		"changes staged for the next commit (--staged). With no PATH it scans the current folder.\n"+
		"Exit status: 1 when a key with a valid checksum is found, 0 when none is (look-alikes with\n"+
		"a bad checksum are only warned about), 2 on errors. --export-patterns prints the key's\n"+
		"regular expression for GitHub secret scanning custom patterns, and a gitleaks rule.")
	history := fs.Bool("git", false, "scan every commit of the current repository (git log -p --all); PATHs limit the files")
	staged := fs.Bool("staged", false, "scan the changes staged for the next commit (git diff --cached), as a pre-commit hook")
	allow := fs.String("allow", "", "a file of key ids to ignore, one a line, # for comments (default: "+allowFile+" at the repository's root, if there is one)")
	export := fs.Bool("export-patterns", false, "print the key's pattern for GitHub custom patterns and a gitleaks rule, and scan nothing")
	paths, err := m.parseArgs(fs, args)
	if err != nil {
		return err
	}
	if *export {
		if len(paths) > 0 || *history || *staged {
			return usagef("scan: --export-patterns takes no PATH and no other flag")
		}
		_, err := fmt.Fprintf(m.Stdout, "# GitHub secret scanning custom pattern\n"+
			"Secret format:        %s\nBefore secret:        %s\nAfter secret:         %s\n\n# gitleaks (.gitleaks.toml)\n%s",
			apikey.Pattern, apikey.PatternBefore, apikey.PatternAfter, apikey.GitleaksRule())
		return err
	}
	if *history && *staged {
		return usagef("scan: --git and --staged exclude each other")
	}
	r := &scanReport{out: m.Stdout, warn: m.Stderr, staged: *staged}
	if r.allowed, err = readAllowList(ctx, *allow); err != nil {
		return usagef("scan: %v", err)
	}
	s := &scan.Scanner{Found: r.found, Failed: r.failed}
	switch {
	case *history:
		s.GitHistory(ctx, paths)
	case *staged:
		s.GitStaged(ctx, paths)
	default:
		if len(paths) == 0 {
			paths = []string{"."}
		}
		for _, p := range paths {
			if p == "-" {
				s.Reader("(standard input)", m.Stdin)
			} else {
				s.Path(p)
			}
		}
	}
	return r.finish()
}

// scanReport prints what a scan finds and counts it for the verdict.
type scanReport struct {
	out, warn io.Writer

	staged  bool            // scanning staged changes, which are not committed yet
	allowed map[string]bool // key ids to ignore
	ignored int

	keys, errs int
	ids        map[string]bool
}

// allowFile is the allow-list read by default, at the root of the repository scanned from.
const allowFile = ".keywardscanignore"

// readAllowList reads the key ids that a scan ignores (documentation's example keys, test
// fixtures) from name, or from .keywardscanignore at the root of the current git repository (else
// in the current folder) when name is "" and that file exists. A line holds one key id; blank
// lines and everything after # are ignored. Only ids are accepted: a file of secrets would be a
// leak of its own.
func readAllowList(ctx context.Context, name string) (map[string]bool, error) {
	if name == "" {
		root := "."
		if out, err := exec.CommandContext(ctx, "git", "rev-parse", "--show-toplevel").Output(); err == nil {
			root = strings.TrimSpace(string(out))
		}
		name = filepath.Join(root, allowFile)
		if _, err := os.Stat(name); errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
	}
	data, err := os.ReadFile(name)
	if err != nil {
		return nil, fmt.Errorf("the allow-list: %w", err)
	}
	ids := map[string]bool{}
	for i, line := range strings.Split(string(data), "\n") {
		line, _, _ = strings.Cut(line, "#")
		if line = strings.TrimSpace(line); line == "" {
			continue
		}
		if !apikey.ValidID(line) {
			// Not echoed: the line may be a whole key.
			return nil, fmt.Errorf("%s:%d: not a key id (the %d characters after %s; never the whole key)", name, i+1, apikey.IDLength, apikey.Prefix)
		}
		ids[line] = true
	}
	return ids, nil
}

func (r *scanReport) found(f scan.Finding) {
	if !f.Valid {
		fmt.Fprintf(r.warn, "%s: warning: %s… looks like an API key but its checksum is wrong, so it is not one\n", f.Where, apikey.Prefix+f.ID)
		return
	}
	if r.allowed[f.ID] {
		r.ignored++
		return
	}
	r.keys++
	if r.ids == nil {
		r.ids = map[string]bool{}
	}
	r.ids[f.ID] = true
	fmt.Fprintf(r.out, "%s: key id %s\n", f.Where, f.ID)
}

func (r *scanReport) failed(err error) {
	r.errs++
	fmt.Fprintf(r.warn, "keyward: scan: %v\n", err)
}

// finish prints the verdict and returns the exit status: a found key wins over errors, so that a
// script testing for status 1 never misses a key because another file was unreadable.
func (r *scanReport) finish() error {
	if r.ignored > 0 {
		fmt.Fprintf(r.warn, "keyward: ignored %s of allow-listed keys.\n", plural(r.ignored, "occurrence", "occurrences"))
	}
	switch {
	case r.keys > 0 && r.staged:
		fmt.Fprintf(r.warn, "keyward: found %s in the staged changes. Remove it from the files and stage them again "+
			"before you commit; if the key was ever shared or committed elsewhere, treat it as leaked: delete it (keyward keys delete ID) "+
			"and create a new one.\n", plural(len(r.ids), "API key", "API keys"))
		return exitCode(1)
	case r.keys > 0:
		found := plural(len(r.ids), "API key", "API keys")
		if r.keys > len(r.ids) {
			found += " in " + plural(r.keys, "place", "places")
		}
		fmt.Fprintf(r.warn, "keyward: found %s. Treat a found key as leaked: delete it (keyward keys delete ID) "+
			"and create a new one; removing it from the file is not enough once it was committed or shared.\n", found)
		return exitCode(1)
	case r.errs > 0:
		return exitCode(2)
	}
	return nil
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
}
