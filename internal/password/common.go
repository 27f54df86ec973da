package password

import (
	"bufio"
	"bytes"
	"compress/gzip"
	_ "embed"
	"strings"
	"sync"

	"golang.org/x/text/unicode/norm"
)

// commonGz is the 10,000 most common passwords of at least MinLength characters, lower-cased,
// one a line, most common first (shorter ones are refused by length already). They are the first
// such entries of the ranked list in the npm package @zxcvbn-ts/language-common 4.1.3
// (src/passwords.json, MIT licence, copyright 2012-2016 Dan Wheeler and Dropbox, Inc., and 2021
// @zxcvbn-ts), which is drawn from leaked password corpora. ASVS 6.2.4 and NIST SP 800-63B ask
// that new passwords be checked against such a list. The licence is in common.LICENSE.txt.
//
//go:embed common.txt.gz
var commonGz []byte

// CommonCount is how many passwords the bundled list holds.
const CommonCount = 10000

// common is the bundled list as a set, read on first use so that a process that never sets a
// password never holds it.
var common = sync.OnceValue(func() map[string]struct{} {
	r, err := gzip.NewReader(bytes.NewReader(commonGz))
	if err != nil {
		panic("password: bundled list: " + err.Error()) // embedded at build time; a test reads it
	}
	set := make(map[string]struct{}, CommonCount)
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		set[sc.Text()] = struct{}{}
	}
	if err := sc.Err(); err != nil {
		panic("password: bundled list: " + err.Error())
	}
	return set
})

// IsCommon reports whether password is on the bundled list of the most common passwords,
// ignoring letter case and compared in the normal form the hash uses (NFKC).
func IsCommon(password string) bool {
	_, ok := common()[strings.ToLower(norm.NFKC.String(password))]
	return ok
}
