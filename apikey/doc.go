// Package apikey owns the format of keyward API keys: generating, parsing, checksumming, hashing and finding them in text.
//
// A key is one 57-character string with nothing in it that breaks double-click selection:
//
//	kw_ + key id (16 base62) + secret (32 base62) + checksum (6 base62)
//
// The key id is the OAuth client_id and is not secret. The secret carries about 190 bits of
// entropy. The checksum is CRC-32 (IEEE) over everything before it, written as six base62
// digits, so that a scanner can tell a real key from a look-alike without asking the server;
// it is an error-detecting code, not a signature, and proves nothing about who made the key.
package apikey
