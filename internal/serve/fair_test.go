package serve

import (
	"context"
	"io"
	"net"
	"net/http"
	"testing"
	"time"
)

// dialFrom opens a TCP connection to addr from the loopback address src
// (127.0.0.2 stands for another pod).
func dialFrom(t *testing.T, src, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 2 * time.Second}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// closedWithin reports whether the server closes c within d.
func closedWithin(c net.Conn, d time.Duration) bool {
	_ = c.SetReadDeadline(time.Now().Add(d))
	_, err := c.Read(make([]byte, 1))
	return err == io.EOF
}

// TestOneClientCannotHoldEverySlot: a client holding every connection slot
// with connections that send nothing (a tenant's pod against the webhook)
// does not keep another client out: its next request is served at once,
// where it waited in the backlog until the hog's connections timed out (a
// hostile-tenant audit: the apiserver's webhook calls failed after 5 s).
func TestOneClientCannotHoldEverySlot(t *testing.T) {
	addr := freeAddr(t)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	handler := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") })
	lim := Limits{ReadHeaderTimeout: 20 * time.Second, MaxConns: 4}
	go func() {
		_ = Run(ctx, time.Second, []Listener{{Flag: "--a", Addr: addr, Handler: handler, Limits: lim}})
	}()
	waitListening(t, addr)
	for range 12 {
		dialFrom(t, "127.0.0.2", addr)
	}
	time.Sleep(100 * time.Millisecond) // the server has accepted what it will
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DialContext: (&net.Dialer{
		LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.1")}}).DialContext}}
	start := time.Now()
	resp, err := client.Get("http://" + addr + "/")
	if err != nil {
		t.Fatalf("another client's request with every slot held by one (%s): %v", time.Since(start), err)
	}
	_ = resp.Body.Close()
}

// TestFairListener: under the cap every connection stays; past it, the one
// given up is the newest of the client holding the most (the new one, when
// that is its own client), and a closed one frees its slot.
func TestFairListener(t *testing.T) {
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := newFairListener(raw, 3)
	defer l.Close()
	accepted := make(chan net.Conn, 16)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			accepted <- c
		}
	}()
	addr := raw.Addr().String()
	server := map[string]net.Conn{} // the server's side, by the client's address
	dial := func(src string) net.Conn {
		c := dialFrom(t, src, addr)
		s := <-accepted
		server[s.RemoteAddr().String()] = s
		return c
	}
	a1, a2, b1 := dial("127.0.0.2"), dial("127.0.0.2"), dial("127.0.0.3")
	// Past the cap: 127.0.0.2 holds the most, so its newest (a2) goes.
	c1 := dial("127.0.0.4")
	if !closedWithin(a2, time.Second) {
		t.Errorf("the heaviest client's newest connection was kept")
	}
	for name, c := range map[string]net.Conn{"a1": a1, "b1": b1, "c1": c1} {
		if closedWithin(c, 100*time.Millisecond) {
			t.Errorf("connection %s was closed", name)
		}
	}
	// Now three clients with one each: a fourth of 127.0.0.4 is its own
	// client's second, the most, so it is the one closed, unserved.
	c2 := dialFrom(t, "127.0.0.4", addr)
	if !closedWithin(c2, time.Second) {
		t.Errorf("a connection past the cap from the heaviest client was served")
	}
	select {
	case c := <-accepted:
		t.Errorf("Accept returned the connection it closed: %v", c.RemoteAddr())
	default:
	}
	// A connection the server closes frees its slot.
	_ = server[b1.LocalAddr().String()].Close()
	time.Sleep(100 * time.Millisecond)
	l.mu.Lock()
	total := l.total
	l.mu.Unlock()
	if total != 2 {
		t.Errorf("%d connections counted after one closed; want 2", total)
	}
}

// waitListening waits until addr accepts connections.
func waitListening(t *testing.T, addr string) {
	t.Helper()
	for range 100 {
		if c, err := net.Dial("tcp", addr); err == nil {
			_ = c.Close()
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s never listened", addr)
}
