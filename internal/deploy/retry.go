package deploy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	utilnet "k8s.io/apimachinery/pkg/util/net"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/util/retry"
)

// restoreRetry bounds how long a restore (--rollback-on-failure, the
// Ctrl-C restore) retries calls the control plane did not answer: an
// apiserver restart at the deadline left the app on the broken template
// after one refused connection (an incident audit). The sleeps (1s × 1.5^n,
// ten of them) add up to about two minutes; For ends it there.
var restoreRetry = struct {
	Backoff wait.Backoff
	For     time.Duration
}{
	Backoff: wait.Backoff{Duration: time.Second, Factor: 1.5, Jitter: 0.1, Steps: 11},
	For:     2 * time.Minute,
}

// transient says whether err is the control plane not answering, rather
// than an answer about the request: no connection (refused, reset, closed,
// timed out) or a status a restarting or overloaded apiserver or a proxy
// in front of it gives (429, 5xx). An error that joins such a failure with
// a lasting answer (a dry run refused beside a webhook's 500) is the
// answer: retrying cannot change it.
func transient(err error) bool {
	switch {
	case err == nil, Lasting(err), apierrors.IsUnauthorized(err):
		return false
	case apierrors.IsTooManyRequests(err), apierrors.IsServerTimeout(err), apierrors.IsTimeout(err),
		apierrors.IsInternalError(err), apierrors.IsServiceUnavailable(err), apierrors.IsUnexpectedServerError(err):
		return true
	case utilnet.IsConnectionRefused(err), utilnet.IsConnectionReset(err), utilnet.IsProbableEOF(err),
		utilnet.IsHTTP2ConnectionLost(err), utilnet.IsTimeout(err):
		return true
	}
	var status apierrors.APIStatus
	if errors.As(err, &status) {
		return status.Status().Code >= http.StatusInternalServerError
	}
	var nerr net.Error
	return errors.As(err, &nerr) && nerr.Timeout()
}

// retryTransient runs call again while it fails with a transient error,
// with restoreRetry's backoff, until ctx ends or restoreRetry.For has
// passed; it says once on out (the progress line) that it retries. Any
// other error ends it at once.
func retryTransient(ctx context.Context, out io.Writer, what string, call func() error) error {
	deadline := time.Now().Add(restoreRetry.For)
	said := false
	return retry.OnError(restoreRetry.Backoff, func(err error) bool {
		if ctx.Err() != nil || !transient(err) || time.Now().After(deadline) {
			return false
		}
		if !said && out != nil {
			fmt.Fprintf(out, "%s: the apiserver did not answer (%v): retrying for up to %s\n", what, err, restoreRetry.For)
			said = true
		}
		return true
	}, call)
}
