// Package web serves keyward's own HTTP surfaces, the /v1 API and the dashboard, from handlers that return errors, with one table from error codes to statuses and one set of security headers per surface.
package web
