package framework

import (
	"context"
	"errors"
	"io"
	"net"
	"net/url"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"k8s.io/client-go/tools/clientcmd"
)

// Proxy is a TCP relay in front of the test cluster's apiserver that a test
// can cut and restore: a client pointed at it (Kubeconfig) lives through an
// apiserver outage as it would through a restart or a network blip (refused
// connections, broken watches), while the cluster itself, and every other
// client of it, goes on untouched.
type Proxy struct {
	// Kubeconfig is the test cluster's kubeconfig with every server moved
	// to the proxy (same certificates: they name 127.0.0.1, not a port).
	Kubeconfig string

	addr, upstream string
	mu             sync.Mutex
	ln             net.Listener
	conns          map[net.Conn]struct{}
}

// Proxy starts a relay to the cluster's apiserver, stopped at the test's end.
func (c *Cluster) Proxy(t testing.TB) *Proxy {
	t.Helper()
	u, err := url.Parse(c.Config.Host)
	if err != nil {
		t.Fatalf("apiserver address %q: %v", c.Config.Host, err)
	}
	p := &Proxy{upstream: u.Host, conns: map[net.Conn]struct{}{}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p.addr = ln.Addr().String()
	p.serve(ln)
	t.Cleanup(p.Cut)

	cfg, err := clientcmd.LoadFromFile(c.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	for _, cl := range cfg.Clusters {
		cl.Server = "https://" + p.addr
	}
	p.Kubeconfig = filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, p.Kubeconfig); err != nil {
		t.Fatal(err)
	}
	return p
}

// Cut stops listening (a new connection is refused) and breaks every
// relayed connection (open watches and requests end mid-stream).
func (p *Proxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		_ = p.ln.Close()
		p.ln = nil
	}
	for conn := range p.conns {
		_ = conn.Close()
	}
	clear(p.conns)
}

// Restore listens again on the same address. The port is an ephemeral one:
// an outgoing connection may hold it for a moment, so a refused listen is
// tried again for a few seconds.
func (p *Proxy) Restore(t testing.TB) {
	t.Helper()
	var ln net.Listener
	err := Poll(t.Context(), 10*time.Second, func(context.Context) (bool, string, error) {
		var err error
		ln, err = net.Listen("tcp", p.addr)
		if err != nil {
			return false, err.Error(), nil
		}
		return true, "", nil
	})
	if err != nil {
		t.Fatalf("listen again on %s: %v", p.addr, err)
	}
	p.serve(ln)
}

func (p *Proxy) serve(ln net.Listener) {
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	go func() {
		for {
			in, err := ln.Accept()
			if err != nil {
				return // closed by Cut
			}
			go p.relay(in)
		}
	}()
}

// relay copies one connection both ways until either side closes or Cut
// breaks it.
func (p *Proxy) relay(in net.Conn) {
	out, err := net.Dial("tcp", p.upstream)
	if err != nil {
		_ = in.Close()
		return
	}
	if !p.track(in, out) {
		return
	}
	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn) {
		_, _ = io.Copy(dst, src)
		done <- struct{}{}
	}
	go pipe(out, in)
	go pipe(in, out)
	<-done
	_ = in.Close()
	_ = out.Close()
	<-done
	p.mu.Lock()
	delete(p.conns, in)
	delete(p.conns, out)
	p.mu.Unlock()
}

// track registers a relayed pair, or closes it when Cut came first.
func (p *Proxy) track(in, out net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln == nil {
		_ = errors.Join(in.Close(), out.Close())
		return false
	}
	p.conns[in], p.conns[out] = struct{}{}, struct{}{}
	return true
}
