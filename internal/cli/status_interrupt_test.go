package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	clienttesting "k8s.io/client-go/testing"

	"github.com/zzcloud/zz/internal/syncbuf"
)

// TestStatusInterrupted: Ctrl-C (or SIGTERM) while list or status reads
// prints nothing and exits 130 (143), as a one-shot kubectl read killed by
// the signal. The dry runs the signal cut short were judged by field
// manager name, so the table read as complete, exit 0 (a scale audit:
// `list -A` stopped after 1.5 s printed its 134 rows).
func TestStatusInterrupted(t *testing.T) {
	for _, tt := range []struct {
		name  string
		list  bool
		cause string
		code  int
	}{
		{name: "list, Ctrl-C", list: true, cause: "interrupt signal received", code: 130},
		{name: "status, Ctrl-C", cause: "interrupt signal received", code: 130},
		{name: "status, SIGTERM", cause: "terminated signal received", code: 143},
	} {
		t.Run(tt.name, func(t *testing.T) {
			shop, shopRec := recordedApp(t, "ns-a", "shop")
			cart, cartRec := recordedApp(t, "ns-a", "cart")
			a := fakeClient(shop, shopRec, cart, cartRec)
			ctx, cancel := context.WithCancelCause(t.Context())
			defer cancel(nil)
			var once sync.Once
			// The signal comes while the drift of the apps is judged.
			a.PrependReactor("patch", "deployments", func(clienttesting.Action) (bool, runtime.Object, error) {
				once.Do(func() { cancel(errors.New(tt.cause)) })
				return false, nil, nil
			})
			out := &syncbuf.Buffer{}
			o := newStatusOptions(nil, genericiooptions.IOStreams{In: strings.NewReader(""), Out: out, ErrOut: io.Discard}, tt.list)
			o.Interval = time.Second
			o.targets = []target{{name: "a", namespace: "ns-a", client: a}}
			if err := o.Validate(); err != nil {
				t.Fatal(err)
			}
			cmd := &cobra.Command{}
			cmd.SetContext(ctx)
			err := o.Run(cmd)
			exit, ok := errors.AsType[*ExitError](err)
			if !ok || exit.Code != tt.code || !strings.Contains(err.Error(), "interrupted") {
				t.Errorf("err = %v (%T), want an ExitError %d saying it was interrupted", err, err, tt.code)
			}
			if out.String() != "" {
				t.Errorf("printed after the signal:\n%s", out)
			}
		})
	}
}

// TestInterrupted: a read the signal cut short (its error wraps
// context.Canceled) exits 130 (143 for SIGTERM) whatever the command, as
// status and list do; not where no signal came (a command's own
// cancellation), nor for an error with its own code, nor for one the
// command made of the signal without wrapping the cancellation (deploy's
// restore says what it did, exit 1).
func TestInterrupted(t *testing.T) {
	cut := fmt.Errorf("list events in ns-a: %w", context.Canceled)
	for _, tt := range []struct {
		name  string
		cause error // nil: no signal
		err   error
		code  int // 0: err kept as it is
	}{
		{"Ctrl-C", errors.New("interrupt signal received"), cut, 130},
		{"SIGTERM", errors.New("terminated signal received"), cut, 143},
		{"no signal", nil, cut, 0},
		{"its own code", errors.New("interrupt signal received"), &ExitError{Code: 2, Err: cut}, 0},
		{"not the cancellation", errors.New("interrupt signal received"), errors.New("interrupted while waiting for ns/shop (context canceled)"), 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithCancelCause(t.Context())
			defer cancel(nil)
			if tt.cause != nil {
				cancel(tt.cause)
			}
			got := Interrupted(ctx, tt.err)
			exit, ok := errors.AsType[*ExitError](got)
			switch {
			case tt.code == 0 && got != tt.err:
				t.Errorf("Interrupted = %v; want the error kept", got)
			case tt.code != 0 && (!ok || exit.Code != tt.code || !errors.Is(got, context.Canceled)):
				t.Errorf("Interrupted = %v (%T); want exit %d wrapping it", got, got, tt.code)
			}
		})
	}
}
