package serve

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"sync"
)

// fairListener caps a listener's open connections at max without ever
// leaving a client waiting for a slot, and without cutting a request in
// flight where it can: at the cap, the connection given up is one of the
// peer (remote IP) holding the most connections it could give up (none
// whose request a handler is serving), its newest that has served nothing
// yet, else the one idle longest. A client that opens many connections so
// only crowds itself out, and another client's next connection is served
// at once. Only where every other slot is in a handler does a request in
// flight go, and only one still reading its body: the newest of the peer
// holding the most such.
//
// netutil.LimitListener, used before, served the first max connections
// and left the rest in the kernel's backlog: a hostile-tenant audit's one
// pod held all 512 of the webhook's slots with bare TCP connections (each
// cut after ReadHeaderTimeout, and opened again at once), and once the
// apiserver's kept-alive connection closed, every pod creation in every
// opted-in namespace failed its 5 s webhook call. Counting every connection
// alike (review 36 #1) closed the apiserver's newest, the one carrying a
// review (an HTTP/1.1 client's concurrency is its connections, so under
// load it is the heaviest peer), failing that pod's creation, and a few
// tenant pods squeezed it to max/(pods+1) slots. A connection in a handler
// is given up last now, and one that has served nothing (what a hog's bare
// or slow-header connection stays) goes first: the apiserver's reviews in
// flight keep their slots, and its idle connections (redialled at need) go
// last, the least recently used first (a client reuses its most recent).
// Never giving up one in a handler (review 37 #1) let one pod whose
// requests trickle their bodies hold every slot.
type fairListener struct {
	net.Listener
	max int

	mu    sync.Mutex
	peers map[string][]*fairConn // by remote IP, oldest first
	total int
	clock uint64 // orders idleness: a handler's end takes the next tick
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

// add counts c and, past the cap, returns the connection to give up (see
// fairListener), another peer's on a tie with c's own (a client with a
// single connection is not cut for a crowd of them). c itself, new, can
// always be given up, so there is always one.
func (l *fairListener) add(c *fairConn) *fairConn {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.peers[c.peer] = append(l.peers[c.peer], c)
	l.total++
	if l.total <= l.max {
		return nil
	}
	// Of the peers with a connection to give up besides c, the one holding
	// the most of them: c's own peer counts c.
	givable := func(p string, cs []*fairConn) int {
		n := 0
		for _, o := range cs {
			if o.busy == 0 {
				n++
			}
		}
		if p == c.peer && n == 1 {
			return 0 // c alone
		}
		return n
	}
	if p := l.heaviest(c.peer, givable); p != "" {
		return idlest(l.peers[p])
	}
	// Every other slot serves a request: of those, only one still reading
	// its request's body may go (a pod trickling bodies holds slots that
	// way), of the peer holding the most of them; a review whose body is
	// read (the apiserver's) never goes, and c does where none reads
	// (review 37 #1, then review 37b: counting busy connections closed the
	// apiserver's reviews in flight for any pod's new connection).
	reading := func(_ string, cs []*fairConn) int {
		n := 0
		for _, o := range cs {
			if o.reading > 0 {
				n++
			}
		}
		return n
	}
	if p := l.heaviest(c.peer, reading); p != "" {
		cs := l.peers[p]
		for i := len(cs) - 1; i >= 0; i-- {
			if cs[i].reading > 0 {
				return cs[i] // its newest
			}
		}
	}
	return c
}

// heaviest is the peer for which weigh is the largest, another than own
// on a tie; "" when it is 0 for every peer.
func (l *fairListener) heaviest(own string, weigh func(string, []*fairConn) int) string {
	heaviest, most := "", 0
	for p, cs := range l.peers {
		if n := weigh(p, cs); n > most || n == most && n > 0 && heaviest == own {
			heaviest, most = p, n
		}
	}
	return heaviest
}

// idlest is the connection of cs to give up first of those no handler
// serves: the newest that has served nothing, else the one idle longest;
// nil when every one is in a handler.
func idlest(cs []*fairConn) *fairConn {
	var victim *fairConn
	for _, o := range cs {
		switch {
		case o.busy > 0:
		case !o.served:
			victim = o // the newest that has served nothing: later ones win
		case victim == nil || victim.served && o.idleSince < victim.idleSince:
			victim = o
		}
	}
	return victim
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

// serving marks c as in a handler until the returned func is called, and
// as reading its request's body (body true) until read is called or the
// handler ends.
func (l *fairListener) serving(c *fairConn, body bool) (read, done func()) {
	l.mu.Lock()
	c.busy++
	if body {
		c.reading++
	}
	l.mu.Unlock()
	var once sync.Once
	read = func() {
		if body {
			once.Do(func() {
				l.mu.Lock()
				c.reading--
				l.mu.Unlock()
			})
		}
	}
	return read, func() {
		read()
		l.mu.Lock()
		c.busy--
		c.served = true
		l.clock++
		c.idleSince = l.clock
		l.mu.Unlock()
	}
}

// fairConn is a connection counted by its fairListener until closed. Its
// state fields are guarded by the listener's mu.
type fairConn struct {
	net.Conn
	l    *fairListener
	peer string
	once sync.Once

	busy      int    // requests in a handler (several: HTTP/2 streams)
	reading   int    // of those, the ones whose body is not read to its end
	served    bool   // a request was served on it
	idleSince uint64 // the listener's clock when its last request ended
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

// fairConnKey holds a request's *fairConn in its context (fairContext).
type fairConnKey struct{}

// fairContext is an http.Server's ConnContext: it keeps the connection's
// *fairConn (under TLS, the one the tls.Conn wraps) for fairHandler.
func fairContext(ctx context.Context, c net.Conn) context.Context {
	if tc, ok := c.(*tls.Conn); ok {
		c = tc.NetConn()
	}
	if fc, ok := c.(*fairConn); ok {
		return context.WithValue(ctx, fairConnKey{}, fc)
	}
	return ctx
}

// fairHandler marks the request's connection as in a handler while h
// serves it, and as reading its body until the body's end: its
// fairListener gives up a connection in a handler only while it reads.
func fairHandler(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if fc, ok := r.Context().Value(fairConnKey{}).(*fairConn); ok {
			body := r.Body != nil && r.Body != http.NoBody && r.ContentLength != 0
			read, done := fc.l.serving(fc, body)
			defer done()
			if body {
				r.Body = &fairBody{ReadCloser: r.Body, read: read}
			}
		}
		h.ServeHTTP(w, r)
	})
}

// fairBody is a request's body that says when it has been read to its end
// (or failed, or was closed).
type fairBody struct {
	io.ReadCloser
	read func()
}

func (b *fairBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil {
		b.read()
	}
	return n, err
}

func (b *fairBody) Close() error {
	b.read()
	return b.ReadCloser.Close()
}
