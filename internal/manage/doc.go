// Package manage owns who may do what in a project, and the project management operations that apply it, shared by the API, the dashboard and the token endpoint.
package manage
