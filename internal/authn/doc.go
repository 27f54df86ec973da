// Package authn decides who is calling keyward's HTTP APIs and what they may do in each project.
package authn
