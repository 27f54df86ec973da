// Package mail sends keyward's mail (invitations) to an SMTP server named by a URL.
package mail
