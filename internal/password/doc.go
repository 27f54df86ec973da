// Package password owns how user passwords are checked, hashed with argon2id and verified.
package password
