package scan

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"

	"github.com/keyward/keyward/apikey"
)

// chunkSize is how much of a file is searched at once: files of any size are scanned in constant
// memory. A variable so that tests can make keys straddle chunk boundaries.
var chunkSize = 256 << 10

// binarySniff is how far into a file a NUL byte marks it as binary, as git decides.
const binarySniff = 8000

// Finding is one key-shaped token found. It never holds the key's secret, only its id, which
// lists show anyway: the report of a leak must not leak it again.
type Finding struct {
	// Where is "name:line"; in git history "commit:path:line", the commit abbreviated to 12
	// characters, with "(commit message)" as the path of a commit message's lines.
	Where string
	ID    string // the key id
	Valid bool   // the checksum holds: a real key, not a look-alike
}

// Scanner searches inputs for API keys. Its methods report every finding and every problem
// through its callbacks and go on: one unreadable file does not hide a key in the next.
type Scanner struct {
	// Found receives each key-shaped token, in the order of the input; nil ignores them.
	Found func(Finding)
	// Failed receives each error (an unreadable file, a git failure); nil ignores them.
	Failed func(error)
	// Dir is the folder the git commands run in; empty means the current one.
	Dir string
}

func (s *Scanner) found(f Finding) {
	if s.Found != nil {
		s.Found(f)
	}
}

func (s *Scanner) fail(err error) {
	if s.Failed != nil {
		s.Failed(err)
	}
}

// Path scans a file, or a folder recursively. Inside folders it skips .git, symbolic links (so a
// link cannot lead the walk in circles or out of the tree), anything that is not a regular file,
// and binary files (a NUL byte near the start, as git decides); root itself is followed when it
// is a link.
func (s *Scanner) Path(root string) {
	info, err := os.Stat(root)
	if err != nil {
		s.fail(err)
		return
	}
	if !info.IsDir() {
		s.file(root)
		return
	}
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			s.fail(err)
			return nil
		}
		switch {
		case d.IsDir() && d.Name() == ".git" && p != root:
			return filepath.SkipDir
		case d.Type().IsRegular():
			s.file(p)
		}
		return nil
	})
	if err != nil {
		s.fail(err)
	}
}

func (s *Scanner) file(name string) {
	f, err := os.Open(name)
	if err != nil {
		s.fail(err)
		return
	}
	defer f.Close()
	s.stream(name, f, true)
}

// Reader scans r to its end under name, binary or not: the caller chose to hand it over.
func (s *Scanner) Reader(name string, r io.Reader) { s.stream(name, r, false) }

// stream scans r in chunks, carrying the end of each chunk over to the next so that a key cut by
// the chunk boundary is still found and a longer run of letters is still not mistaken for one.
// With skipBinary, input with a NUL byte near its start is skipped.
func (s *Scanner) stream(name string, r io.Reader, skipBinary bool) {
	buf := make([]byte, 0, chunkSize+apikey.Length+1)
	var (
		line    = 1
		counted int // the newlines of buf[:counted] are counted in line
		from    int // matches starting before from were reported in the previous round
		first   = true
	)
	for {
		n, err := io.ReadFull(r, buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		eof := errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
		if err != nil && !eof {
			s.fail(fmt.Errorf("%s: %w", name, err))
			return
		}
		if first && skipBinary && bytes.IndexByte(buf[:min(len(buf), binarySniff)], 0) >= 0 {
			return
		}
		first = false
		// A match starting at or after limit may run past the end of what was read, or be
		// followed by a letter not read yet: it waits for the next round.
		limit := len(buf)
		if !eof {
			limit = len(buf) - apikey.Length
		}
		for _, m := range apikey.Find(buf) {
			if m.Start < from {
				continue
			}
			if m.Start >= limit {
				break
			}
			line += bytes.Count(buf[counted:m.Start], newline)
			counted = m.Start
			s.found(Finding{Where: name + ":" + strconv.Itoa(line), ID: m.ID, Valid: m.Valid})
		}
		if eof {
			return
		}
		// Keep one byte before the undecided part: it tells whether a key starts right after it.
		keep := limit - 1
		line += bytes.Count(buf[counted:keep], newline)
		buf = buf[:copy(buf, buf[keep:])]
		counted, from = 0, 1
	}
}

var newline = []byte{'\n'}
