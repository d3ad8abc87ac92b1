package serve

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func TestGracefulShutdown(t *testing.T) {
	addr := freeAddr(t)
	started := make(chan struct{})
	// In flight when SIGTERM comes, it works under its request's context,
	// as the extender's bind calls the apiserver: SIGTERM must not cancel
	// it (an SRE audit saw binds fail with "context canceled").
	slow := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		select {
		case <-time.After(300 * time.Millisecond):
			_, _ = io.WriteString(w, "done")
		case <-r.Context().Done():
			_, _ = io.WriteString(w, "cancelled: "+r.Context().Err().Error())
		}
	})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, 5*time.Second, []Listener{{Flag: "--a", Addr: addr, Handler: slow}, {Flag: "--none", Addr: ""}},
			func(context.Context) error { return nil }) // done early: not a failure
	}()
	var body string
	got := make(chan error, 1)
	go func() {
		var resp *http.Response
		var err error
		for range 50 {
			if resp, err = http.Get("http://" + addr); err == nil {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		if err != nil {
			got <- err
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		body = string(b)
		got <- err
	}()
	<-started
	cancel()
	if err := <-got; err != nil || body != "done" {
		t.Fatalf("the call in flight was cut: %q %v", body, err)
	}
	if err := <-done; err != nil {
		t.Fatalf("Run after SIGTERM: %v", err)
	}
}

func TestFailures(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	err = Run(t.Context(), time.Second, []Listener{{Flag: "--health-address", Addr: taken.Addr().String(), Handler: http.NotFoundHandler()}})
	if err == nil || !strings.Contains(err.Error(), "--health-address") {
		t.Fatalf("port taken: %v", err)
	}
	boom := errors.New("informer died")
	err = Run(t.Context(), time.Second, []Listener{{Flag: "--a", Addr: freeAddr(t), Handler: http.NotFoundHandler()}},
		func(context.Context) error { return fmt.Errorf("watch: %w", boom) })
	if !errors.Is(err, boom) {
		t.Fatalf("a failing task must end Run with its error: %v", err)
	}
}
