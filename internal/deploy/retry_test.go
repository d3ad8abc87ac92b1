package deploy

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes/fake"
	clienttesting "k8s.io/client-go/testing"
)

// connRefused is the error client-go returns while the apiserver is down.
func connRefused() error {
	return &url.Error{Op: "Get", URL: "https://127.0.0.1:6443/api/v1/namespaces/team-a/services/shop",
		Err: &net.OpError{Op: "dial", Net: "tcp", Err: &os.SyscallError{Syscall: "connect", Err: syscall.ECONNREFUSED}}}
}

func TestTransient(t *testing.T) {
	gr := schema.GroupResource{Resource: "services"}
	for _, tt := range []struct {
		name string
		err  error
		want bool
	}{
		{"connection refused", connRefused(), true},
		{"connection reset", fmt.Errorf("get: %w", &net.OpError{Op: "read", Net: "tcp", Err: &os.SyscallError{Syscall: "read", Err: syscall.ECONNRESET}}), true},
		{"closed connection", errors.New("read tcp 127.0.0.1:6443: use of closed network connection"), true},
		{"503", apierrors.NewServiceUnavailable("apiserver shutting down"), true},
		{"500", apierrors.NewInternalError(errors.New("etcdserver: leader changed")), true},
		{"502 from a proxy", apierrors.NewGenericServerResponse(502, "get", gr, "shop", "", 0, false), true},
		{"429", apierrors.NewTooManyRequests("slow down", 1), true},
		{"server timeout", apierrors.NewServerTimeout(gr, "get", 1), true},
		{"forbidden", apierrors.NewForbidden(gr, "shop", errors.New("no")), false},
		{"not found", apierrors.NewNotFound(gr, "shop"), false},
		{"invalid", apierrors.NewBadRequest("spec.ports: invalid"), false},
		{"conflict", apierrors.NewConflict(gr, "shop", errors.New("modified")), false},
		{"nil", nil, false},
		// A dry run's joined answers: the refusal is the answer, whatever
		// else failed beside it.
		{"forbidden joined with a 500", errors.Join(apierrors.NewForbidden(gr, "shop", errors.New("no")), apierrors.NewInternalError(errors.New("webhook down"))), false},
		{"unauthorized joined with refused", errors.Join(connRefused(), apierrors.NewUnauthorized("token expired")), false},
	} {
		if got := transient(tt.err); got != tt.want {
			t.Errorf("%s: transient(%v) = %v, want %v", tt.name, tt.err, got, tt.want)
		}
	}
}

// TestRestoreRetriesTransientErrors: a --rollback-on-failure whose restore
// meets a control plane that does not answer (an apiserver restart at the
// deadline) tries again and rolls back, saying so on the progress line,
// where it gave up after one refused connection and left the app on the
// broken template (an incident audit); a refusal, or an outage past the
// bound, is not retried (further) and the error's first line says NOT
// rolled back.
func TestRestoreRetriesTransientErrors(t *testing.T) {
	saved := restoreRetry
	t.Cleanup(func() { restoreRetry = saved })
	restoreRetry.Backoff = wait.Backoff{Duration: 10 * time.Millisecond, Factor: 1, Steps: 50}
	restoreRetry.For = 300 * time.Millisecond
	gr := schema.GroupResource{Resource: "services"}
	for _, tt := range []struct {
		name     string
		err      error
		failures int // of the restore's calls; -1: all
		back     bool
	}{
		{"connection refused, then answers", connRefused(), 3, true},
		{"503, then answers", apierrors.NewServiceUnavailable("shutting down"), 2, true},
		{"down past the bound", connRefused(), -1, false},
		{"forbidden", apierrors.NewForbidden(gr, "shop", errors.New("no")), 1, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := fake.NewClientset()
			var mu sync.Mutex
			left, calls := tt.failures, 0
			// The restore's reads of the Service, while the Deployment
			// has the broken template (the deploy's own apply read it
			// before writing that).
			c.PrependReactor("get", "services", func(clienttesting.Action) (bool, runtime.Object, error) {
				mu.Lock()
				defer mu.Unlock()
				obj, err := c.Tracker().Get(appsv1.SchemeGroupVersion.WithResource("deployments"), ns, "shop")
				if err != nil || obj.(*appsv1.Deployment).Spec.Template.Spec.Containers[0].Image != "reg/shop:2" {
					return false, nil, nil
				}
				if left == 0 {
					return false, nil, nil
				}
				left--
				calls++
				return true, nil, tt.err
			})
			ctl := startController(t, c)
			deployOK(t, c, spec(t, "reg/shop:1", ""), 0)
			ctl.setStuck("reg/shop:2")
			var progress bytes.Buffer
			o := opts()
			o.Timeout = 300 * time.Millisecond
			o.Progress = &progress
			res, err := Run(t.Context(), c, &Config{Options: o, App: spec(t, "reg/shop:2", ""), RollbackOnFailure: true})
			if !errors.Is(err, ErrRolloutFailed) {
				t.Fatalf("want a failed rollout, got %v", err)
			}
			first := strings.SplitN(err.Error(), "\n", 2)[0]
			if tt.back {
				if res.RolledBackTo != 1 || !strings.Contains(err.Error(), "rolled back to revision 1") || image(t, c) != "reg/shop:1" {
					t.Fatalf("not rolled back (%d, %s): %v", res.RolledBackTo, image(t, c), err)
				}
				if !strings.Contains(progress.String(), "restoring revision 1: the apiserver did not answer") {
					t.Errorf("the progress line does not say the restore retries:\n%s", progress.String())
				}
				return
			}
			if res.RolledBackTo != 0 || !strings.HasPrefix(first, "NOT rolled back: shop still runs what no revision records: restoring revision 1 failed") {
				t.Fatalf("first line %q (rolled back to %d): %v", first, res.RolledBackTo, err)
			}
			if tt.failures == 1 && calls != 1 {
				t.Errorf("a refusal was tried %d times", calls)
			}
			if image(t, c) != "reg/shop:2" {
				t.Errorf("the Deployment runs %s", image(t, c))
			}
		})
	}
}

// TestRestoreFailureSaysWhatRuns: a deploy that followed a revision
// recorded by --wait=false and whose restore is refused says that revision
// runs, not "what no revision records" (a review), and names the way back
// by number.
func TestRestoreFailureSaysWhatRuns(t *testing.T) {
	c := fake.NewClientset()
	// The restore's patch is refused once the second deploy is applied;
	// the reactor is added before the controller lists, as the fake's
	// reactor chain may not change while it is read (-race).
	var refuse atomic.Bool
	c.PrependReactor("patch", "deployments", func(a clienttesting.Action) (bool, runtime.Object, error) {
		if p, ok := a.(clienttesting.PatchActionImpl); ok && refuse.Load() && strings.Contains(string(p.GetPatch()), "reg/shop:1") {
			return true, nil, apierrors.NewForbidden(appsv1.Resource("deployments"), "shop", errors.New("denied by a policy"))
		}
		return false, nil, nil
	})
	ctl := startController(t, c)
	deployOK(t, c, spec(t, "reg/shop:1", ""), 0)
	ctl.setStuck("reg/shop:bad")
	o := opts()
	o.NoWait = true
	if _, err := Run(t.Context(), c, &Config{Options: o, App: spec(t, "reg/shop:bad", "")}); err != nil {
		t.Fatal(err)
	}
	refuse.Store(true)
	o.NoWait, o.Timeout = false, 300*time.Millisecond
	_, err := Run(t.Context(), c, &Config{Options: o, App: spec(t, "reg/shop:bad", ""), RollbackOnFailure: true})
	want := "NOT rolled back: shop still runs revision 2 (recorded by a deploy without waiting), not ready: restoring revision 1 failed: "
	if err == nil || !strings.HasPrefix(err.Error(), want) || !strings.Contains(err.Error(), "(kubectl zz rollback shop --to-revision 1 returns to it)") {
		t.Errorf("the refused restore after a --wait=false revision: %v\nwant it to start %q", err, want)
	}
}
