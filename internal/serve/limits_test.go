package serve

import (
	"context"
	"io"
	"net"
	"net/http"
	"runtime/debug"
	"testing"
	"time"

	"k8s.io/klog/v2"
)

// TestSlowClientIsCutOff: a client that sends its headers, or its body,
// too slowly loses the connection after the listener's timeouts.
func TestSlowClientIsCutOff(t *testing.T) {
	addr := freeAddr(t)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.Copy(io.Discard, r.Body) })
	lim := Limits{ReadHeaderTimeout: 200 * time.Millisecond, ReadTimeout: 400 * time.Millisecond, MaxConns: 4}
	go func() {
		_ = Run(ctx, time.Second, []Listener{{Flag: "--a", Addr: addr, Handler: handler, Limits: lim}})
	}()
	var conn net.Conn
	var err error
	for range 50 {
		if conn, err = net.Dial("tcp", addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	tests := []struct {
		name, send string
	}{
		{"headers never end", "POST / HTTP/1.1\r\nHost: x\r\n"},
		{"body never ends", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if _, err := io.WriteString(c, tt.send); err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
			_, _ = io.ReadAll(c) // until the server closes it
			if d := time.Since(start); d > 3*time.Second {
				t.Fatalf("the connection stayed open %s", d)
			}
		})
	}
}

func TestSetMemoryLimit(t *testing.T) {
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(-1))
	tests := []struct {
		name, gomemlimit, env string
		want                  int64
	}{
		{"from the container's limit", "", "268435456", 241591910},
		{"no limit", "", "", 0},
		{"not a number", "", "256Mi", 0},
		{"GOMEMLIMIT wins", "100MiB", "268435456", -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("GOMEMLIMIT", tt.gomemlimit)
			t.Setenv(EnvMemoryLimit, tt.env)
			got := SetMemoryLimit(klog.Background())
			if tt.want == -1 {
				tt.want = debug.SetMemoryLimit(-1)
			}
			if got != tt.want {
				t.Fatalf("limit %d, want %d", got, tt.want)
			}
			if got > 0 && debug.SetMemoryLimit(-1) != got {
				t.Fatalf("runtime limit %d, want %d", debug.SetMemoryLimit(-1), got)
			}
		})
	}
}
