package sqlstore

import (
	"context"
	"net"
	"strings"
	"syscall"
	"time"
)

// TCP settings of PostgreSQL connections. A connection whose peer vanished without closing it (a
// host that froze or lost power, a firewall that forgot the flow) is otherwise noticed only when
// the operating system gives up retransmitting, after many minutes. Keepalives find it when it
// is idle in the pool, within tcpKeepAliveIdle + tcpKeepAliveCount × tcpKeepAliveInterval; the
// user timeout when data sent on it stays unacknowledged for tcpUserTimeout (Linux only). Either
// way the connection is closed, and the pool opens a new one. A request does not wait for either:
// its call deadline (DefaultCallTimeout) ends it sooner.
const (
	tcpKeepAliveIdle     = 15 * time.Second
	tcpKeepAliveInterval = 5 * time.Second
	tcpKeepAliveCount    = 3
	tcpUserTimeout       = 10 * time.Second
)

var pgDialer = net.Dialer{
	KeepAliveConfig: net.KeepAliveConfig{
		Enable: true, Idle: tcpKeepAliveIdle, Interval: tcpKeepAliveInterval, Count: tcpKeepAliveCount,
	},
	Control: func(network, _ string, c syscall.RawConn) error {
		if !strings.HasPrefix(network, "tcp") {
			return nil // a Unix socket
		}
		var serr error
		if err := c.Control(func(fd uintptr) { serr = setUserTimeout(fd, tcpUserTimeout) }); err != nil {
			return err
		}
		return serr
	},
}

// dialPostgres opens the TCP (or Unix socket) connections of the PostgreSQL pool.
func dialPostgres(ctx context.Context, network, addr string) (net.Conn, error) {
	return pgDialer.DialContext(ctx, network, addr)
}
