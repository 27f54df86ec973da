package clustertest

import (
	"bytes"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Proxy forwards TCP connections to a database and fails them on demand: Cut drops every
// connection and refuses new ones until Restore, and CutInTransaction drops one connection at a
// chosen point of the next transaction, and Hang keeps every connection open but stops forwarding
// anything, as a database host that froze or a network that silently drops packets does. The
// database itself is never touched, so other users of the machine's PostgreSQL are not disturbed.
type Proxy struct {
	target string
	ln     net.Listener

	mu    sync.Mutex
	down  bool
	hung  bool
	conns map[*link]struct{}
	held  map[net.Conn]struct{} // connections accepted while hung, never forwarded
	arm   *txCut
	wg    sync.WaitGroup
}

// txCut is an armed CutInTransaction.
type txCut struct {
	after int   // client writes to forward after BEGIN before cutting (0: cut right after BEGIN)
	on    *link // the connection whose transaction is being counted; nil until BEGIN is seen
	seen  int
	fired chan bool // receives whether the cut happened, once
}

// link is one proxied connection.
type link struct {
	client, server *net.TCPConn
	once           sync.Once
	hung           atomic.Bool // bytes are read and dropped in both directions
}

// reset drops both sides at once, with a TCP reset rather than an orderly close: what a crashed
// database host or a broken network looks like to the driver. Bytes in flight are lost.
func (l *link) reset() {
	l.once.Do(func() {
		_ = l.client.SetLinger(0)
		_ = l.server.SetLinger(0)
		l.client.Close()
		l.server.Close()
	})
}

// NewProxy listens on a free loopback port and forwards every connection to target.
func NewProxy(target string) (*Proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &Proxy{target: target, ln: ln, conns: map[*link]struct{}{}, held: map[net.Conn]struct{}{}}
	p.wg.Go(p.serve)
	return p, nil
}

// Addr is the proxy's host:port.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Cut resets every open connection and refuses new ones until Restore: the database is down.
func (p *Proxy) Cut() {
	p.mu.Lock()
	p.down = true
	conns := p.conns
	p.conns = map[*link]struct{}{}
	p.mu.Unlock()
	for l := range conns {
		l.reset()
	}
}

// Hang stops forwarding without closing anything: every open connection stays open while the
// bytes sent on it, either way, are read and dropped, and new connections are accepted but never
// reach the database. No side sees an error; only a deadline ends a wait. Restore ends it.
func (p *Proxy) Hang() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.hung = true
	for l := range p.conns {
		l.hung.Store(true)
	}
}

// Restore accepts and forwards connections again: the database is back. Connections that hung
// are reset, since bytes were lost in the middle of their conversation.
func (p *Proxy) Restore() {
	p.mu.Lock()
	p.down, p.hung = false, false
	var hung []*link
	for l := range p.conns {
		if l.hung.Load() {
			hung = append(hung, l)
			delete(p.conns, l)
		}
	}
	held := p.held
	p.held = map[net.Conn]struct{}{}
	p.mu.Unlock()
	for _, l := range hung {
		l.reset()
	}
	for c := range held {
		_ = c.(*net.TCPConn).SetLinger(0)
		c.Close()
	}
}

// CutInTransaction arms a one-shot fault: in the next transaction that begins on any connection,
// the proxy forwards BEGIN and then after more of the client's writes (each write is one round
// trip: a statement, or the COMMIT), and resets that connection right after forwarding the last
// of them, before any answer can come back. The returned channel receives true when the cut
// happened and the server has hung up (so the database's state is final), or false when the
// transaction ended with fewer writes. Other connections go on.
func (p *Proxy) CutInTransaction(after int) <-chan bool {
	c := &txCut{after: after, fired: make(chan bool, 1)}
	p.mu.Lock()
	if p.arm != nil {
		p.arm.fired <- false
	}
	p.arm = c
	p.mu.Unlock()
	return c.fired
}

// Close stops the proxy and resets every connection.
func (p *Proxy) Close() error {
	err := p.ln.Close()
	p.Restore()
	p.Cut()
	p.wg.Wait()
	return err
}

func (p *Proxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		down, hung := p.down, p.hung
		if hung {
			p.held[c] = struct{}{}
		}
		p.mu.Unlock()
		switch {
		case down:
			_ = c.(*net.TCPConn).SetLinger(0)
			c.Close()
		case hung:
			// Read and dropped until Restore or Close closes it.
			p.wg.Go(func() { _, _ = io.Copy(io.Discard, c) })
		default:
			p.wg.Go(func() { p.forward(c) })
		}
	}
}

func (p *Proxy) forward(c net.Conn) {
	client := c.(*net.TCPConn)
	sc, err := net.Dial("tcp", p.target)
	if err != nil {
		client.Close()
		return
	}
	l := &link{client: client, server: sc.(*net.TCPConn)}
	p.mu.Lock()
	if p.down {
		p.mu.Unlock()
		l.reset()
		return
	}
	p.conns[l] = struct{}{}
	l.hung.Store(p.hung)
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		delete(p.conns, l)
		if p.arm != nil && p.arm.on == l {
			// The connection ended before the transaction did.
			p.arm.fired <- false
			p.arm = nil
		}
		p.mu.Unlock()
	}()

	// Server to client. Once the client side is gone the server's answers are read and dropped
	// until the server hangs up, so that a cut never hides from the server what was forwarded.
	var wg sync.WaitGroup
	wg.Go(func() {
		buf := make([]byte, 32<<10)
		clientOK := true
		for {
			n, err := l.server.Read(buf)
			if n > 0 && clientOK && !l.hung.Load() {
				_, werr := l.client.Write(buf[:n])
				clientOK = werr == nil
			}
			if err != nil {
				break
			}
		}
		l.client.Close()
	})

	buf := make([]byte, 64<<10)
	for {
		n, err := l.client.Read(buf)
		if n > 0 && !l.hung.Load() {
			fired := p.inspect(l, buf[:n])
			if _, werr := l.server.Write(buf[:n]); werr != nil {
				break
			}
			if fired != nil {
				// The client loses its connection at once; the server receives everything
				// forwarded, then the end of the stream, so it runs the last statement (a COMMIT
				// commits) and its answer is lost, as when a network breaks at that moment.
				_ = l.client.SetLinger(0)
				l.client.Close()
				_ = l.server.CloseWrite()
				_ = l.server.SetReadDeadline(time.Now().Add(10 * time.Second))
				wg.Wait()
				l.server.Close()
				// Reported only now that the server has hung up: whatever it did with the last
				// statement is done, so a test may look at the database.
				fired <- true
				return
			}
		}
		if err != nil {
			break
		}
	}
	l.server.Close()
	wg.Wait()
}

var (
	beginSQL    = []byte("begin")
	commitSQL   = []byte("commit")
	rollbackSQL = []byte("rollback")
)

// inspect follows the armed transaction through the client's writes. When l must be cut once
// chunk has been forwarded, it disarms and returns the channel to report the cut on.
func (p *Proxy) inspect(l *link, chunk []byte) chan<- bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	a := p.arm
	if a == nil {
		return nil
	}
	lower := bytes.ToLower(chunk)
	switch {
	case a.on == nil:
		if !bytes.Contains(lower, beginSQL) {
			return nil
		}
		a.on = l
	case a.on != l:
		return nil
	default:
		a.seen++
	}
	if a.seen == a.after {
		p.arm = nil
		return a.fired
	}
	if a.seen > 0 && (bytes.Contains(lower, commitSQL) || bytes.Contains(lower, rollbackSQL)) {
		a.fired <- false
		p.arm = nil
	}
	return nil
}
