// Package reminder tells the owners of API keys that expire soon, by webhook and by mail.
package reminder
