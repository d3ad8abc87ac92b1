package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/zzcloud/zz/internal/cli"
	"github.com/zzcloud/zz/internal/syncbuf"
)

// TestClientRidesOutAnOutage: kubectl zz against an apiserver that stops
// answering for a while (a restart, a network blip), through a relay the
// test cuts and restores, while the cluster goes on: events --watch says the
// loss and the recovery and prints what happened meanwhile, logs -f resumes
// every stream with the lines written meanwhile, each once, and a failed
// deploy's --rollback-on-failure whose deadline falls in the outage retries
// its restore until the apiserver answers, and keeps the pods' last seen
// cause in its error. Unit tests cover each piece against fakes; this is
// the same against real connections breaking.
func TestClientRidesOutAnOutage(t *testing.T) {
	ns := cluster.Namespace(t, nil)
	mustZZ(t, ns, "deploy", "-f", shopSpec(t, "1.0", "one", 8080, ""), "--timeout", "60s")
	proxy := cluster.Proxy(t)

	t.Run("events --watch", func(t *testing.T) {
		var out, errOut syncbuf.Buffer
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		root := cli.NewCmdZZ(genericiooptions.IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut})
		root.SetArgs([]string{"--kubeconfig", proxy.Kubeconfig, "-n", ns, "events", "shop", "--watch"})
		done := make(chan error, 1)
		go func() { done <- root.ExecuteContext(ctx) }()

		// Events go straight to the cluster, past the relay.
		n := 0
		post := func(msg string) {
			n++
			d, err := cluster.Client.AppsV1().Deployments(ns).Get(t.Context(), "shop", metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			now := metav1.Now()
			ev := &corev1.Event{ObjectMeta: metav1.ObjectMeta{GenerateName: "shop-", Namespace: ns},
				InvolvedObject: corev1.ObjectReference{Kind: "Deployment", APIVersion: "apps/v1", Name: d.Name, Namespace: ns, UID: d.UID},
				Type:           corev1.EventTypeNormal, Reason: "Outage", Count: 1, FirstTimestamp: now, LastTimestamp: now,
				Message: msg, Source: corev1.EventSource{Component: "e2e"}}
			if _, err := cluster.Client.CoreV1().Events(ns).Create(t.Context(), ev, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		printed := func(what, want string) {
			t.Helper()
			cluster.WaitFor(t, 60*time.Second, what, func(context.Context) (bool, string, error) {
				return strings.Contains(out.String()+errOut.String(), want), "stdout:\n" + out.String() + "stderr:\n" + errOut.String(), nil
			})
		}
		// The watch is open once an event posted now is printed (the
		// first listing may or may not include it).
		cluster.WaitFor(t, 60*time.Second, "the watch to print a new event", func(context.Context) (bool, string, error) {
			post("before the outage")
			time.Sleep(time.Second)
			return strings.Contains(out.String(), "before the outage"), out.String() + errOut.String(), nil
		})

		proxy.Cut()
		printed("the loss said", "lost the apiserver")
		post("during the outage")
		proxy.Restore(t)
		printed("the recovery said", "the apiserver answers again")
		printed("the event posted during the outage", "during the outage")
		post("after the outage")
		printed("an event posted after the outage", "after the outage")

		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("events --watch ended with %v after the outage\nstderr:\n%s", err, errOut.String())
			}
		case <-time.After(10 * time.Second):
			t.Fatal("events --watch did not stop 10s after its context was cancelled")
		}
		if c := strings.Count(errOut.String(), "lost the apiserver"); c != 1 {
			t.Errorf("the loss said %d times, want once:\n%s", c, errOut.String())
		}
	})

	t.Run("logs -f", func(t *testing.T) {
		file := cluster.PodLogFile()
		f := startLogs(t, "--kubeconfig", proxy.Kubeconfig, "-n", ns, "shop", "-f", "--tail", "0", "-o", "json")
		attach(t, file, f.out.String, 2)
		proxy.Cut()
		cluster.WaitFor(t, 60*time.Second, "the loss said", func(context.Context) (bool, string, error) {
			return strings.Contains(f.errOut.String(), "lost the apiserver"), f.errOut.String(), nil
		})
		// Lines written while the streams are cut come after them, each
		// once: the streams resume from their last line's time.
		const n = 50
		prefix := ns + "-outage-"
		appendLog(t, file, prefix, 0, n)
		proxy.Restore(t)
		appendLog(t, file, prefix, n, 2*n)
		cluster.WaitFor(t, 90*time.Second, "every line on both streams", func(context.Context) (bool, string, error) {
			complete := 0
			for _, c := range jsonCounts(t, f.out.String(), prefix) {
				if len(c) == 2*n {
					complete++
				}
			}
			return complete == 2, fmt.Sprintf("%d of 2 streams complete; stderr:\n%s", complete, f.errOut.String()), nil
		})
		time.Sleep(time.Second)
		f.stop(t)
		for src, c := range jsonCounts(t, f.out.String(), prefix) {
			if problem := exactlyOnce(c, prefix, 2*n); problem != "" {
				t.Errorf("%s: %s", src, problem)
			}
		}
		if !strings.Contains(f.errOut.String(), "the apiserver answers again; log streams resumed") {
			t.Errorf("logs -f did not say the recovery:\n%s", f.errOut.String())
		}
	})

	t.Run("rollback on failure at a deadline in the outage", func(t *testing.T) {
		var errOut syncbuf.Buffer
		root := cli.NewCmdZZ(genericiooptions.IOStreams{In: strings.NewReader(""), Out: &errOut, ErrOut: &errOut})
		root.SetArgs([]string{"--kubeconfig", proxy.Kubeconfig, "-n", ns,
			"deploy", "-f", shopSpec(t, "2.0", "two", 8080, "nowhere"), "--timeout", "12s", "--rollback-on-failure"})
		done := make(chan error, 1)
		start := time.Now()
		go func() { done <- root.ExecuteContext(t.Context()) }()
		// Cut once the deploy waits on the unschedulable pod, so the
		// deadline (12 s after the apply) falls in the outage.
		cluster.WaitFor(t, 60*time.Second, "the deploy to wait for an unschedulable pod", func(context.Context) (bool, string, error) {
			return strings.Contains(errOut.String(), "Unschedulable"), errOut.String(), nil
		})
		proxy.Cut()
		cut := time.Since(start)
		time.Sleep(max(12*time.Second-cut+4*time.Second, 4*time.Second))
		proxy.Restore(t)
		var err error
		select {
		case err = <-done:
		case <-time.After(3 * time.Minute):
			t.Fatalf("the deploy did not end 3 min after the apiserver came back:\n%s", errOut.String())
		}
		t.Logf("deploy ended after %s (cut at %s): %v\n%s", time.Since(start).Round(time.Millisecond), cut.Round(time.Millisecond), err, errOut.String())
		if err == nil {
			t.Fatal("a deploy whose pods cannot be scheduled succeeded")
		}
		all := err.Error() + "\n" + errOut.String()
		for _, want := range []string{
			"Unschedulable",                   // the last seen cause, not only the failed read
			"the apiserver did not answer",    // the restore's retry, said once
			"rolled back to revision 1 (1.0)", // and it worked
		} {
			if !strings.Contains(all, want) {
				t.Errorf("the failed deploy's words lack %q", want)
			}
		}
		if strings.Contains(all, "NOT rolled back") {
			t.Errorf("the restore gave up although the apiserver came back")
		}
		checkApp(t, ns, "1.0", "one", 8080)
	})
}
