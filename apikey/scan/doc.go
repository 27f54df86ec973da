// Package scan finds keyward API keys in files, folders, readers and git history, telling real keys from look-alikes by their checksum.
package scan
