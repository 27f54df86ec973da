// Package dashboard serves keyward's browser interface: server-rendered pages, the cookie session behind them, and the CSRF and content-security rules that protect them.
package dashboard
