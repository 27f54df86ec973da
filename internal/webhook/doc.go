// Package webhook signs and delivers a project's webhook messages per the Standard Webhooks
// specification, and keeps their signing secrets sealed at rest.
package webhook
