package serve

import (
	"net"
	"sync"
)

// fairListener caps a listener's open connections at max without ever
// leaving a client waiting for a slot: at the cap, the connection given up
// is one of the peer (remote IP) holding the most, its newest. A client
// that opens many connections so only crowds itself out, and another
// client's next connection is served at once.
//
// netutil.LimitListener, used before, served the first max connections
// and left the rest in the kernel's backlog: a hostile-tenant audit's one
// pod held all 512 of the webhook's slots with bare TCP connections (each
// cut after ReadHeaderTimeout, and opened again at once), and once the
// apiserver's kept-alive connection closed, every pod creation in every
// opted-in namespace failed its 5 s webhook call. Keeping the apiserver out
// now takes as many attacking addresses (pods) as there are slots.
type fairListener struct {
	net.Listener
	max int

	mu    sync.Mutex
	peers map[string][]*fairConn // by remote IP, oldest first
	total int
}

func newFairListener(l net.Listener, max int) *fairListener {
	return &fairListener{Listener: l, max: max, peers: map[string][]*fairConn{}}
}

// Accept returns the next connection; one that would exceed the cap while
// its own peer holds the most is closed unserved, and the next is waited for.
func (l *fairListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		fc := &fairConn{Conn: c, l: l, peer: peerOf(c)}
		victim := l.add(fc)
		if victim != nil {
			_ = victim.Close()
		}
		if victim != fc {
			return fc, nil
		}
	}
}

// add counts c and, past the cap, returns the connection to give up: the
// newest of the peer holding the most, another peer's on a tie with c's
// own (a client with a single connection is not cut for a crowd of them).
func (l *fairListener) add(c *fairConn) *fairConn {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.peers[c.peer] = append(l.peers[c.peer], c)
	l.total++
	if l.total <= l.max {
		return nil
	}
	heaviest, most := c.peer, len(l.peers[c.peer])
	for p, cs := range l.peers {
		if len(cs) > most || len(cs) == most && heaviest == c.peer {
			heaviest, most = p, len(cs)
		}
	}
	cs := l.peers[heaviest]
	return cs[len(cs)-1]
}

// remove forgets c, once.
func (l *fairListener) remove(c *fairConn) {
	l.mu.Lock()
	defer l.mu.Unlock()
	cs := l.peers[c.peer]
	for i, o := range cs {
		if o == c {
			cs = append(cs[:i], cs[i+1:]...)
			l.total--
			break
		}
	}
	if len(cs) == 0 {
		delete(l.peers, c.peer)
	} else {
		l.peers[c.peer] = cs
	}
}

// fairConn is a connection counted by its fairListener until closed.
type fairConn struct {
	net.Conn
	l    *fairListener
	peer string
	once sync.Once
}

func (c *fairConn) Close() error {
	c.once.Do(func() { c.l.remove(c) })
	return c.Conn.Close()
}

// peerOf is c's remote IP (its address whole when it has no port).
func peerOf(c net.Conn) string {
	a := c.RemoteAddr().String()
	if host, _, err := net.SplitHostPort(a); err == nil {
		return host
	}
	return a
}
