package apikey

import "strconv"

// Pattern is the regular expression of a key, for scanners that are not keyward (GitHub custom
// patterns, gitleaks): the prefix and the key's number of base62 characters. It cannot check the
// checksum, which Find does, so a look-alike matches too.
var Pattern = Prefix + "[0-9A-Za-z]{" + strconv.Itoa(Length-len(Prefix)) + "}"

// Boundaries of a key as Find sees them: no base62 character right before or after it, so that a
// longer run of letters and digits is not a key.
const (
	PatternBefore = `\A|[^0-9A-Za-z]`
	PatternAfter  = `\z|[^0-9A-Za-z]`
)

// GitleaksRule returns a gitleaks rule, in TOML, that finds keys as Find does.
func GitleaksRule() string {
	return "[[rules]]\n" +
		"id = \"keyward-api-key\"\n" +
		"description = \"keyward API key\"\n" +
		"regex = '''(?:^|[^0-9A-Za-z])(" + Pattern + ")(?:[^0-9A-Za-z]|$)'''\n" +
		"secretGroup = 1\n" +
		"keywords = [\"" + Prefix + "\"]\n"
}
