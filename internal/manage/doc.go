// Package manage owns project management operations with their authorization rules, shared by the API and the dashboard.
package manage
