// Package serve runs a server component's listeners and background loops
// until SIGTERM (its context ends) or one of them fails, then shuts the
// listeners down gracefully: calls in flight finish within the grace period.
// The extender, the webhook and the device plugin share it.
package serve

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"k8s.io/klog/v2"
)

// Listener is one address a component serves.
type Listener struct {
	// Flag names the flag that sets Addr, for the error when the port is taken.
	Flag    string
	Addr    string
	Handler http.Handler
	// TLS, when set, serves HTTPS with it (certificates from GetCertificate).
	TLS *tls.Config
	// Limits bound what one client may hold; zero fields take DefaultLimits'.
	Limits Limits
	// Protocols, when set, are the HTTP versions served (net/http's default:
	// HTTP/1.1, and HTTP/2 over TLS).
	Protocols *http.Protocols
}

// Limits bound a listener's connections, so that a slow or hostile client
// holds memory and goroutines for a bounded time only.
type Limits struct {
	// ReadHeaderTimeout and ReadTimeout bound reading a request's headers,
	// and its headers plus body (a slow sender is cut off).
	ReadHeaderTimeout, ReadTimeout time.Duration
	// WriteTimeout bounds a request from the end of its headers to the end
	// of the reply.
	WriteTimeout time.Duration
	// IdleTimeout closes a kept-alive connection that sends nothing.
	IdleTimeout time.Duration
	// MaxHeaderBytes caps a request's headers.
	MaxHeaderBytes int
	// MaxConns caps open connections: past it, a connection of the client
	// (remote IP) holding the most that no handler is serving is closed,
	// so one client cannot keep another out (fairListener).
	MaxConns int
}

// DefaultLimits suit zz's servers: every call they serve is short (an
// admission review, an extender verb, a probe, a scrape) and none streams.
var DefaultLimits = Limits{
	ReadHeaderTimeout: 5 * time.Second,
	ReadTimeout:       30 * time.Second,
	WriteTimeout:      30 * time.Second,
	IdleTimeout:       90 * time.Second,
	MaxHeaderBytes:    64 << 10,
	MaxConns:          1024,
}

func (l Limits) withDefaults() Limits {
	d := DefaultLimits
	pick := func(v, def time.Duration) time.Duration {
		if v > 0 {
			return v
		}
		return def
	}
	l.ReadHeaderTimeout = pick(l.ReadHeaderTimeout, d.ReadHeaderTimeout)
	l.ReadTimeout = pick(l.ReadTimeout, d.ReadTimeout)
	l.WriteTimeout = pick(l.WriteTimeout, d.WriteTimeout)
	l.IdleTimeout = pick(l.IdleTimeout, d.IdleTimeout)
	if l.MaxHeaderBytes <= 0 {
		l.MaxHeaderBytes = d.MaxHeaderBytes
	}
	if l.MaxConns <= 0 {
		l.MaxConns = d.MaxConns
	}
	return l
}

// EnvMemoryLimit is the container's memory limit in bytes, given by the
// downward API (resourceFieldRef limits.memory) in zz's manifests.
const EnvMemoryLimit = "MEMORY_LIMIT"

// MemoryLimitShare is the part of the container's limit the Go runtime aims
// to stay under: the rest is for what its accounting does not see (the
// binary's text, kernel buffers of open connections, fragmentation).
const MemoryLimitShare = 0.9

// SetMemoryLimit gives the Go runtime a soft memory limit (GOMEMLIMIT) of
// MemoryLimitShare of $MEMORY_LIMIT, so the garbage collector works harder
// near the container's limit instead of the kernel killing the process. A
// GOMEMLIMIT set by hand wins. It returns the limit in force (0: none).
func SetMemoryLimit(logger klog.Logger) int64 {
	if v := os.Getenv("GOMEMLIMIT"); v != "" {
		limit := debug.SetMemoryLimit(-1)
		logger.Info("Memory limit from GOMEMLIMIT", "GOMEMLIMIT", v, "bytes", limit)
		return limit
	}
	v := os.Getenv(EnvMemoryLimit)
	if v == "" {
		return 0
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n <= 0 {
		logger.Info("Ignoring an invalid memory limit; the Go runtime runs without one", "env", EnvMemoryLimit, "value", v)
		return 0
	}
	limit := int64(float64(n) * MemoryLimitShare)
	debug.SetMemoryLimit(limit)
	logger.Info("Memory limit set from the container's", "containerBytes", n, "goMemLimitBytes", limit)
	return limit
}

// Task is a background loop that runs until its context ends; an error ends
// the component.
type Task func(ctx context.Context) error

// Run listens on every listener (those with an empty Addr are skipped), runs
// the tasks, and returns when ctx ends (nil, after a graceful shutdown) or a
// listener or task fails (its error). A task that returns nil early is done;
// the rest go on.
func Run(ctx context.Context, grace time.Duration, listeners []Listener, tasks ...Task) error {
	logger := klog.FromContext(ctx)
	var servers []*http.Server
	errs := make(chan error, len(listeners)+len(tasks))
	for _, l := range listeners {
		if l.Addr == "" {
			continue
		}
		lis, err := net.Listen("tcp", l.Addr)
		if err != nil {
			shutdown(ctx, servers, grace)
			return fmt.Errorf("listen on %s: %w (is another instance running? pick another %s)", l.Addr, err, l.Flag)
		}
		lim := l.Limits.withDefaults()
		lis = newFairListener(lis, lim.MaxConns)
		srv := &http.Server{Handler: fairHandler(l.Handler), ConnContext: fairContext, TLSConfig: l.TLS,
			ReadHeaderTimeout: lim.ReadHeaderTimeout, ReadTimeout: lim.ReadTimeout, WriteTimeout: lim.WriteTimeout,
			IdleTimeout: lim.IdleTimeout, MaxHeaderBytes: lim.MaxHeaderBytes, Protocols: l.Protocols,
			// A call keeps ctx's values (the logger) but not its end: SIGTERM
			// stops new calls, and those in flight finish within the grace.
			BaseContext: func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
			ErrorLog:    log.New(httpErrors{logger.WithValues("address", l.Addr)}, "", 0)}
		servers = append(servers, srv)
		go func() {
			if l.TLS != nil {
				errs <- srv.ServeTLS(lis, "", "")
				return
			}
			errs <- srv.Serve(lis)
		}()
		logger.Info("Serving", "address", lis.Addr().String(), "flag", l.Flag, "tls", l.TLS != nil)
	}
	for _, task := range tasks {
		go func() { errs <- task(ctx) }()
	}
	var failed error
wait:
	for {
		select {
		case <-ctx.Done():
			break wait
		case err := <-errs:
			// A task that is done is fine; one that fails ends the component.
			if err != nil && !errors.Is(err, http.ErrServerClosed) && ctx.Err() == nil {
				failed = err
				break wait
			}
		}
	}
	logger.Info("Shutting down: finishing calls in flight", "grace", grace)
	return errors.Join(failed, shutdown(ctx, servers, grace))
}

// httpErrors writes net/http's own error lines (a TLS handshake that
// failed: a client with a stale CA bundle, plain HTTP to the HTTPS port;
// a malformed request) to klog, structured, at V(2), where the log package
// wrote them unstructured (an SRE audit).
type httpErrors struct{ logger klog.Logger }

func (h httpErrors) Write(p []byte) (int, error) {
	h.logger.V(2).Info("HTTP server error", "msg", strings.TrimSpace(string(p)))
	return len(p), nil
}

func shutdown(ctx context.Context, servers []*http.Server, grace time.Duration) error {
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), grace)
	defer cancel()
	var err error
	for _, srv := range servers {
		err = errors.Join(err, srv.Shutdown(sctx))
	}
	return err
}
