package serve

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestRequestsInFlightKeepTheirSlots: the apiserver (127.0.0.1) has 3
// reviews in flight on 3 connections (the webhook serves HTTP/1.1 only, so
// its concurrency is its connections) when a tenant pod (127.0.0.2) opens
// 2 bare ones past the cap: the tenant's go, every review is answered.
// Counted alike, the apiserver was the heaviest peer and its newest
// connection, carrying a review, was closed (review 36 #1).
func TestRequestsInFlightKeepTheirSlots(t *testing.T) {
	addr := freeAddr(t)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	handler := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		time.Sleep(700 * time.Millisecond) // a review in flight
		_, _ = io.WriteString(w, "ok")
	})
	lim := Limits{ReadHeaderTimeout: 20 * time.Second, MaxConns: 4}
	go func() {
		_ = Run(ctx, time.Second, []Listener{{Flag: "--a", Addr: addr, Handler: handler, Limits: lim}})
	}()
	waitListening(t, addr)
	time.Sleep(50 * time.Millisecond)
	apiserver := &http.Client{Timeout: 3 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 10, DialContext: (&net.Dialer{
		LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.1")}}).DialContext}}
	var wg sync.WaitGroup
	errs := make(chan error, 3)
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := apiserver.Get("http://" + addr + "/")
			if err != nil {
				errs <- err
				return
			}
			_, _ = io.ReadAll(resp.Body)
			_ = resp.Body.Close()
		}()
	}
	time.Sleep(200 * time.Millisecond) // the three reviews are in flight
	dialFrom(t, "127.0.0.2", addr)
	dialFrom(t, "127.0.0.2", addr)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("a review in flight was cut by a tenant's bare connections: %v", err)
	}
}

// TestFairListenerGivesUpNoneInFlight: 16 tenant pods hold 32 bare
// connections each (512, the webhook's cap) when the apiserver opens the 40
// it needs for reviews in flight: it keeps all 40, the tenants' go. Counted
// alike, it kept 31 (max/(pods+1)), its next closed unserved. Among a
// peer's connections, one that has served nothing goes before an idle one,
// and of idle ones the one idle longest (a client reuses its most recent).
func TestFairListenerGivesUpNoneInFlight(t *testing.T) {
	l := &fairListener{max: 512, peers: map[string][]*fairConn{}}
	add := func(peer string, busy bool) *fairConn {
		c := &fairConn{l: l, peer: peer}
		if v := l.add(c); v != nil {
			l.remove(v)
			if v == c {
				return nil
			}
		}
		if busy {
			l.serving(c, false) // its handler runs, not done
		}
		return c
	}
	for p := range 16 {
		for range 32 {
			add(fmt.Sprintf("10.0.0.%d", p), false)
		}
	}
	for range 40 {
		add("192.168.0.1", true)
	}
	if n := len(l.peers["192.168.0.1"]); n != 40 || l.total != 512 {
		t.Errorf("the apiserver holds %d of the 40 connections its reviews in flight need (%d in all) against 16 tenant pods", n, l.total)
	}

	// One peer's: served-nothing first, then the longest idle.
	l = &fairListener{max: 4, peers: map[string][]*fairConn{}}
	idle1, idle2 := add("a", false), add("a", false)
	_, done := l.serving(idle2, false)
	done()
	_, done = l.serving(idle1, false)
	done() // idle2 is now the one idle longest
	fresh := add("a", false)
	add("b", false)
	if v := l.add(&fairConn{l: l, peer: "c"}); v != fresh {
		t.Errorf("gave up %p; want the connection that served nothing (%p)", v, fresh)
	}
	l.remove(fresh)
	if v := l.add(&fairConn{l: l, peer: "d"}); v != idle2 {
		t.Errorf("gave up %p; want the one idle longest (%p), not the most recent (%p)", v, idle2, idle1)
	}
}

// TestFairSlowBodyHog: a tenant that keeps its connections in a handler
// (requests whose bodies it trickles: the handler blocks reading them until
// ReadTimeout) gives up its newest past its fair share, so another client
// is served (review 37 #1: such connections were never given up, and the
// apiserver's next connection, the only idle one, was closed unserved).
func TestFairSlowBodyHog(t *testing.T) {
	addr := freeAddr(t)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.ReadAll(r.Body) // what /mutate-pods does (readBody)
		_, _ = io.WriteString(w, "ok")
	})
	lim := Limits{ReadTimeout: 10 * time.Second, MaxConns: 4}
	go func() {
		_ = Run(ctx, time.Second, []Listener{{Flag: "--a", Addr: addr, Handler: handler, Limits: lim}})
	}()
	waitListening(t, addr)
	time.Sleep(50 * time.Millisecond)
	for range 4 {
		c := dialFrom(t, "127.0.0.2", addr)
		_, _ = io.WriteString(c, "POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{")
	}
	time.Sleep(300 * time.Millisecond) // the four handlers are reading bodies
	apiserver := &http.Client{Timeout: 3 * time.Second, Transport: &http.Transport{DialContext: (&net.Dialer{
		LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.1")}}).DialContext}}
	resp, err := apiserver.Get("http://" + addr + "/")
	if err != nil {
		t.Fatalf("one tenant peer holding %d slow-body requests keeps every other client out: %v", lim.MaxConns, err)
	}
	_ = resp.Body.Close()
}

// TestFairBusyPastShare: the same at the listener. Every slot in a
// handler: only a connection still reading its request's body may go, of
// the peer holding the most of them, its newest; requests whose body is
// read (the apiserver's reviews) never go, and the new connection does
// (review 37b: counted by connections, any pod's new one cut an apiserver
// review in flight). A hog spread over pods loses one of its own.
func TestFairBusyPastShare(t *testing.T) {
	type conn struct {
		peer    string
		reading bool
	}
	for _, tt := range []struct {
		name  string
		held  []conn
		next  string
		wantP string // the peer whose connection goes; "" for next itself
	}{
		{"one tenant trickles every slot", []conn{{"tenant", true}, {"tenant", true}, {"tenant", true}, {"tenant", true}}, "apiserver", "tenant"},
		{"the apiserver's reviews, read, and a tenant's bare connection", []conn{{"apiserver", false}, {"apiserver", false}, {"apiserver", false}, {"apiserver", false}}, "tenant", ""},
		{"a hog spread over pods", []conn{{"apiserver", false}, {"apiserver", false}, {"apiserver", false}, {"t1", true}, {"t1", true}, {"t2", true}, {"t2", true}, {"t3", true}}, "apiserver", "t"},
		{"reviews in flight beside a tenant's", []conn{{"apiserver", false}, {"apiserver", false}, {"apiserver", false}, {"tenant", false}, {"tenant", false}}, "tenant", ""},
	} {
		l := &fairListener{max: len(tt.held), peers: map[string][]*fairConn{}}
		for _, h := range tt.held {
			c := &fairConn{l: l, peer: h.peer}
			if v := l.add(c); v != nil {
				t.Fatalf("%s: under the cap, gave up %+v", tt.name, v)
			}
			l.serving(c, h.reading)
		}
		next := &fairConn{l: l, peer: tt.next}
		v := l.add(next)
		switch {
		case tt.wantP == "" && v != next:
			t.Errorf("%s: gave up %s's (reading %d); want the new connection", tt.name, v.peer, v.reading)
		case tt.wantP != "" && (v == next || v.reading == 0 || !strings.HasPrefix(v.peer, tt.wantP)):
			t.Errorf("%s: gave up %s's (reading %d); want one of %s* still reading", tt.name, v.peer, v.reading, tt.wantP)
		}
	}
}
