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
	"net"
	"net/http"
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
		srv := &http.Server{Handler: l.Handler, ReadHeaderTimeout: 5 * time.Second, TLSConfig: l.TLS,
			BaseContext: func(net.Listener) context.Context { return ctx }}
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

func shutdown(ctx context.Context, servers []*http.Server, grace time.Duration) error {
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), grace)
	defer cancel()
	var err error
	for _, srv := range servers {
		err = errors.Join(err, srv.Shutdown(sctx))
	}
	return err
}
