// Package names decides when two names a person types are the same name: it refuses characters
// that cannot be seen and maps every name to a key under which look-alikes coincide.
package names
