package cli

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/kubernetes/fake"
	clienttesting "k8s.io/client-go/testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/zzcloud/zz/internal/contract"
	"github.com/zzcloud/zz/internal/syncbuf"
)

func fakeEvent(ns, name, kind, obj, uid, typ, reason string, ago time.Duration) *corev1.Event {
	return &corev1.Event{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		InvolvedObject: corev1.ObjectReference{Kind: kind, Name: obj, Namespace: ns, UID: types.UID(uid)},
		Type:           typ, Reason: reason, Message: reason + " " + obj, LastTimestamp: metav1.NewTime(time.Now().Add(-ago)), Count: 1}
}

// TestEvents: kubectl zz events lists an app's events oldest first, filters
// by type, prints -o json, puts two clusters in one table, and with
// --watch prints the new ones as they come.
func TestEvents(t *testing.T) {
	shop := func(ns string) *appsv1.Deployment {
		d := fakeDeployment(ns, "shop", "shop", "1.0", 2, 2)
		d.UID = types.UID("d-" + ns)
		return d
	}
	a := fakeClient(shop("ns-a"),
		fakeEvent("ns-a", "e1", "Deployment", "shop", "d-ns-a", corev1.EventTypeNormal, "ScalingReplicaSet", 22*time.Hour),
		fakeEvent("ns-a", "e2", "Pod", "shop-7d9c6b8f5-x2x4z", "gone", corev1.EventTypeWarning, "BackOff", 20*time.Hour),
		fakeEvent("ns-a", "e3", "Pod", "web-7d9c6b8f5-x2x4z", "other", corev1.EventTypeWarning, "BackOff", 20*time.Hour))
	// A tenant's event with terminal escapes (clear screen, a title): shown
	// escaped, as kubectl get shows them.
	hostile := fakeEvent("ns-b", "e5", "Deployment", "shop", "d-ns-b", corev1.EventTypeNormal, "Hello", 23*time.Hour)
	hostile.Message = "\x1b[2J\x1b]0;pwned\x07all good"
	b := fakeClient(shop("ns-b"), fakeEvent("ns-b", "e4", "Deployment", "shop", "d-ns-b", corev1.EventTypeNormal, "ScalingReplicaSet", 21*time.Hour), hostile)
	zz := withFakeClusters(t, a, b)
	checkLines(t, zz, []string{"events", "shop"}, []string{
		"LAST SEEN TYPE REASON OBJECT MESSAGE",
		"22h Normal ScalingReplicaSet deployment/shop ScalingReplicaSet shop",
		"20h Warning BackOff pod/shop-7d9c6b8f5-x2x4z BackOff shop-7d9c6b8f5-x2x4z",
	})
	checkLines(t, zz, []string{"events", "--types", "warning"}, []string{
		"APP LAST SEEN TYPE REASON OBJECT MESSAGE",
		"shop 20h Warning BackOff pod/shop-7d9c6b8f5-x2x4z BackOff shop-7d9c6b8f5-x2x4z",
	})
	checkLines(t, zz, []string{"events", "shop", "--context", "a,b"}, []string{
		"CLUSTER LAST SEEN TYPE REASON OBJECT MESSAGE",
		"b 23h Normal Hello deployment/shop ^[[2J^[]0;pwned\\aall good",
		"a 22h Normal ScalingReplicaSet deployment/shop ScalingReplicaSet shop",
		"b 21h Normal ScalingReplicaSet deployment/shop ScalingReplicaSet shop",
		"a 20h Warning BackOff pod/shop-7d9c6b8f5-x2x4z BackOff shop-7d9c6b8f5-x2x4z",
	})
	out, _, err := zz("events", "shop", "-o", "json")
	var list struct {
		Items []struct {
			Kind, App, Reason, Object string
		}
	}
	if err != nil || json.Unmarshal([]byte(out), &list) != nil || len(list.Items) != 2 || list.Items[1].Kind != contract.OutputKindAppEvent ||
		list.Items[1].Object != "pod/shop-7d9c6b8f5-x2x4z" || list.Items[1].App != "shop" {
		t.Errorf("-o json: %v\n%s", err, out)
	}
	if _, stderr, err := zz("events", "shop", "--context", "b", "--types", "Warning"); err != nil || !strings.Contains(stderr, "No events of shop found.") {
		t.Errorf("an app without such events: %v, stderr %q", err, stderr)
	}
	// No events and no app: a typo, said as status says it.
	if _, _, err := zz("events", "cart"); err == nil || !strings.Contains(err.Error(), "no app cart in namespace ns-a") {
		t.Errorf("events of an app that does not exist: %v", err)
	}
	if _, _, err := zz("events", "--types", "Error"); err == nil || !strings.Contains(err.Error(), "--types: not an event type: \"Error\"; use Normal, Warning") {
		t.Errorf("--types Error: %v", err)
	}

	// --watch: a new event of the app is printed, another app's is not.
	stdout := &syncbuf.Buffer{}
	stop := watchEvents(t, a, &EventsOptions{App: "shop", refresh: time.Hour}, stdout)
	waitOutput(t, stdout, "deployment/shop")
	for _, ev := range []*corev1.Event{
		fakeEvent("ns-a", "e5", "Pod", "web-7d9c6b8f5-aaaaa", "other", corev1.EventTypeWarning, "Failed", 0),
		fakeEvent("ns-a", "e6", "Pod", "shop-7d9c6b8f5-bbbbb", "new", corev1.EventTypeWarning, "FailedScheduling", 0),
	} {
		if _, err := a.CoreV1().Events("ns-a").Create(t.Context(), ev, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	waitOutput(t, stdout, "pod/shop-7d9c6b8f5-bbbbb")
	if err := stop(); err != nil {
		t.Fatalf("--watch ended with %v", err)
	}
	if s := stdout.String(); strings.Contains(s, "web-7d9c6b8f5-aaaaa") || strings.Count(s, "LAST SEEN") != 1 {
		t.Errorf("--watch output:\n%s", s)
	}

	// -A: one cluster holding both namespaces.
	both := withFakeClusters(t, fakeClient(shop("ns-a"), shop("ns-b"),
		fakeEvent("ns-a", "e1", "Deployment", "shop", "d-ns-a", corev1.EventTypeNormal, "ScalingReplicaSet", 22*time.Hour),
		fakeEvent("ns-a", "e2", "Pod", "shop-7d9c6b8f5-x2x4z", "gone", corev1.EventTypeWarning, "BackOff", 20*time.Hour),
		fakeEvent("ns-b", "e4", "Deployment", "shop", "d-ns-b", corev1.EventTypeNormal, "ScalingReplicaSet", 21*time.Hour),
		fakeEvent("ns-c", "e5", "Pod", "shop-7d9c6b8f5-x2x4z", "gone-c", corev1.EventTypeWarning, "BackOff", 19*time.Hour)), fakeClient())
	checkLines(t, both, []string{"events", "-A", "--types", "Normal,Warning"}, []string{
		"NAMESPACE APP LAST SEEN TYPE REASON OBJECT MESSAGE",
		"ns-a shop 22h Normal ScalingReplicaSet deployment/shop ScalingReplicaSet shop",
		"ns-b shop 21h Normal ScalingReplicaSet deployment/shop ScalingReplicaSet shop",
		"ns-a shop 20h Warning BackOff pod/shop-7d9c6b8f5-x2x4z BackOff shop-7d9c6b8f5-x2x4z",
	})
}

// watchEvents runs o with --watch on namespace ns-a of a (cluster "a"),
// printing to stdout, and returns once it watches the events; stop ends it
// (Ctrl-C) and returns its error.
func watchEvents(t *testing.T, a *fake.Clientset, o *EventsOptions, stdout io.Writer) (stop func() error) {
	t.Helper()
	watching := make(chan struct{})
	var once sync.Once
	a.PrependWatchReactor("events", func(clienttesting.Action) (bool, watch.Interface, error) {
		once.Do(func() { close(watching) })
		return false, nil, nil
	})
	o.Watch, o.print, o.now = true, newPrintFlags(), time.Now
	o.IOStreams = genericiooptions.IOStreams{In: strings.NewReader(""), Out: stdout, ErrOut: io.Discard}
	o.targets = []target{{name: "a", namespace: "ns-a", client: a}}
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
	stop = runAsync(t, o.Run)
	select {
	case <-watching:
	case <-time.After(10 * time.Second):
		t.Fatal("--watch never watched")
	}
	return stop
}

func waitOutput(t *testing.T, b *syncbuf.Buffer, want string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(b.String(), want); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("output never had %q:\n%s", want, b.String())
		}
	}
}

// TestEventsMissingApp: an app missing in one of several clusters, or in
// every namespace with -A, fails as status does (exit 1, each cluster
// named), after the rows of the clusters that have it; an app there without
// events of the asked type is no error.
func TestEventsMissingApp(t *testing.T) {
	shop := fakeDeployment("ns-a", "shop", "shop", "1.0", 2, 2)
	shop.UID = "d-shop"
	quiet := fakeDeployment("ns-b", "shop", "shop", "1.0", 1, 1) // shop in b, no events
	ev := fakeEvent("ns-a", "e1", "Deployment", "shop", "d-shop", corev1.EventTypeNormal, "ScalingReplicaSet", time.Hour)
	for _, tc := range []struct {
		name       string
		bHasShop   bool
		args       []string
		wantOut    []string // stdout lines (fields joined by one space); nil: nothing
		wantErr    []string // "" when none
		notWantErr string
	}{
		{name: "missing in one context", args: []string{"events", "shop", "--context", "a,b"},
			wantOut: []string{"CLUSTER LAST SEEN TYPE REASON OBJECT MESSAGE", "a 60m Normal ScalingReplicaSet deployment/shop ScalingReplicaSet shop"},
			wantErr: []string{"context b: no app shop in namespace ns-b"}, notWantErr: "context a"},
		{name: "missing in one context, json", args: []string{"events", "shop", "--context", "b,a", "-o", "name"},
			wantOut: []string{"appevent.zz.io/e1"}, wantErr: []string{"context b: no app shop in namespace ns-b"}},
		{name: "missing in both", args: []string{"events", "cart", "--context", "a,b"},
			wantErr: []string{"context a: no app cart in namespace ns-a", "context b: no app cart in namespace ns-b"}},
		{name: "-A, nowhere", args: []string{"events", "nope", "-A"},
			wantErr: []string{"no app nope in any namespace"}},
		{name: "-A, nowhere, json", args: []string{"events", "nope", "-A", "-o", "json"},
			wantErr: []string{"no app nope in any namespace"}},
		{name: "there without such events", bHasShop: true, args: []string{"events", "shop", "--context", "a,b", "--types", "Warning"}},
		{name: "-A, there", args: []string{"events", "shop", "-A", "--no-headers"},
			wantOut: []string{"ns-a 60m Normal ScalingReplicaSet deployment/shop ScalingReplicaSet shop"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := fakeClient()
			if tc.bHasShop {
				b = fakeClient(quiet)
			}
			zz := withFakeClusters(t, fakeClient(shop, ev), b)
			out, _, err := zz(tc.args...)
			var got []string
			for _, l := range strings.Split(strings.TrimRight(out, "\n"), "\n") {
				if l != "" {
					got = append(got, strings.Join(strings.Fields(l), " "))
				}
			}
			if strings.Join(got, "\n") != strings.Join(tc.wantOut, "\n") {
				t.Errorf("stdout:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.wantOut, "\n"))
			}
			if len(tc.wantErr) == 0 {
				if err != nil {
					t.Errorf("error %v, want none", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("no error, want %q", tc.wantErr)
			}
			for _, w := range tc.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if tc.notWantErr != "" && strings.Contains(err.Error(), tc.notWantErr) {
				t.Errorf("error %q names %q", err, tc.notWantErr)
			}
		})
	}
}

// TestEventsWatchOutage: --watch outlives an apiserver restart (the watch
// closed, reopens refused, a 410 Gone whose re-list fails too): the loss is
// said once, the recovery once, and the events after it are printed; only a
// refusal (Forbidden) ends the command.
func TestEventsWatchOutage(t *testing.T) {
	shop := fakeDeployment("ns-a", "shop", "shop", "1.0", 2, 2)
	shop.UID = types.UID("d-ns-a")
	refused := &url.Error{Op: "Get", URL: "https://127.0.0.1:6443/api/v1/namespaces/ns-a/events?watch=true", Err: errors.New("dial tcp 127.0.0.1:6443: connect: connection refused")}
	a := fakeClient(shop, fakeEvent("ns-a", "e1", "Deployment", "shop", "d-ns-a", corev1.EventTypeNormal, "ScalingReplicaSet", time.Hour))
	var mu sync.Mutex
	watches, lists := 0, 0
	resumed := watch.NewFakeWithChanSize(1, false)
	a.PrependWatchReactor("events", func(clienttesting.Action) (bool, watch.Interface, error) {
		mu.Lock()
		defer mu.Unlock()
		watches++
		switch watches {
		case 1: // the apiserver goes away: the watch ends
			w := watch.NewFakeWithChanSize(0, false)
			w.Stop()
			return true, w, nil
		case 2, 3, 4:
			return true, nil, refused
		case 5: // back, but the resourceVersion is too old
			w := watch.NewFakeWithChanSize(1, false)
			w.Error(&metav1.Status{Status: metav1.StatusFailure, Code: http.StatusGone, Reason: metav1.StatusReasonExpired})
			w.Stop()
			return true, w, nil
		case 6: // followed again: the test sends the next event itself
			return true, resumed, nil
		}
		return false, nil, nil
	})
	a.PrependReactor("list", "events", func(clienttesting.Action) (bool, runtime.Object, error) {
		mu.Lock()
		defer mu.Unlock()
		if lists++; lists == 2 { // the first is the events so far; the re-list fails once
			return true, nil, refused
		}
		return false, nil, nil
	})
	stdout, stderr := &syncbuf.Buffer{}, &syncbuf.Buffer{}
	streams := genericiooptions.IOStreams{In: strings.NewReader(""), Out: stdout, ErrOut: stderr}
	o := &EventsOptions{App: "shop", Watch: true, print: newPrintFlags(), IOStreams: streams, now: time.Now, refresh: time.Hour,
		retryMin: time.Millisecond, retryMax: 5 * time.Millisecond,
		targets: []target{{name: "a", context: "play", namespace: "ns-a", client: a}}}
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
	stop := runAsync(t, o.Run)
	waitOutput(t, stderr, "answers again")
	// The recovery is said once the re-list answers, before the watch
	// opens again: wait for that open (CI's -race run saw 5 here).
	opened := func() int {
		mu.Lock()
		defer mu.Unlock()
		return watches
	}
	for deadline := time.Now().Add(10 * time.Second); opened() < 6 && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	if n := opened(); n < 6 {
		t.Fatalf("the watch was opened %d times, want 6 (closed, 3 refused, 410, resumed)", n)
	}
	resumed.Add(fakeEvent("ns-a", "e2", "Pod", "shop-7d9c6b8f5-bbbbb", "new", corev1.EventTypeWarning, "BackOff", 0))
	waitOutput(t, stdout, "pod/shop-7d9c6b8f5-bbbbb")
	if err := stop(); err != nil {
		t.Fatalf("--watch ended with %v", err)
	}
	want := "warning: context play: lost the apiserver (dial tcp 127.0.0.1:6443: connect: connection refused); retrying the watch of events in ns-a\n" +
		"note: context play: the apiserver answers again; events in ns-a followed again\n"
	if got := stderr.String(); got != want {
		t.Errorf("stderr:\n%s\nwant:\n%s", got, want)
	}

	// A refusal ends it: retrying cannot change it.
	b := fakeClient(shop)
	b.PrependWatchReactor("events", func(clienttesting.Action) (bool, watch.Interface, error) {
		return true, nil, apierrors.NewForbidden(corev1.Resource("events"), "", errors.New("RBAC: access denied"))
	})
	o.targets, o.IOStreams = []target{{name: "b", namespace: "ns-a", client: b}}, genericiooptions.IOStreams{In: strings.NewReader(""), Out: io.Discard, ErrOut: io.Discard}
	cmd := &cobra.Command{}
	cmd.SetContext(t.Context())
	if err := o.Run(cmd); err == nil || !strings.Contains(err.Error(), "watch events in ns-a: events is forbidden") {
		t.Errorf("--watch refused: %v", err)
	}
}

// TestEventsWatchNoSpin: a watch the server ends at once with nothing in it
// (an error event, a proxy that drops streams) is reopened after the
// back-off, not in a tight loop, and a 410 at the open (not as an event)
// lists again from now instead of reopening the stale resourceVersion
// forever.
func TestEventsWatchNoSpin(t *testing.T) {
	shop := fakeDeployment("ns-a", "shop", "shop", "1.0", 2, 2)
	shop.UID = types.UID("d-ns-a")
	a := fakeClient(shop)
	var mu sync.Mutex
	watches, gone := 0, 0
	var rvs []string
	a.PrependWatchReactor("events", func(act clienttesting.Action) (bool, watch.Interface, error) {
		mu.Lock()
		defer mu.Unlock()
		watches++
		rv := act.(clienttesting.WatchActionImpl).WatchRestrictions.ResourceVersion
		rvs = append(rvs, rv)
		if rv == "stale" {
			gone++
			return true, nil, apierrors.NewResourceExpired("too old resource version: stale")
		}
		w := watch.NewFakeWithChanSize(0, false)
		w.Stop() // closed at once, nothing in it
		return true, w, nil
	})
	lists := 0
	a.PrependReactor("list", "events", func(clienttesting.Action) (bool, runtime.Object, error) {
		mu.Lock()
		defer mu.Unlock()
		lists++
		rv := "stale"
		if lists > 1 {
			rv = "fresh"
		}
		return true, &corev1.EventList{ListMeta: metav1.ListMeta{ResourceVersion: rv}}, nil
	})
	stderr := &syncbuf.Buffer{}
	streams := genericiooptions.IOStreams{In: strings.NewReader(""), Out: &syncbuf.Buffer{}, ErrOut: stderr}
	o := &EventsOptions{App: "shop", Watch: true, print: newPrintFlags(), IOStreams: streams, now: time.Now, refresh: time.Hour,
		retryMin: 20 * time.Millisecond, retryMax: 50 * time.Millisecond,
		targets: []target{{name: "a", context: "play", namespace: "ns-a", client: a}}}
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
	stop := runAsync(t, o.Run)
	time.Sleep(500 * time.Millisecond)
	stop()
	mu.Lock()
	defer mu.Unlock()
	// 500 ms at 20-50 ms between opens: about 12; a spin is thousands.
	if watches > 40 {
		t.Errorf("the watch was reopened %d times in 500ms: it spins", watches)
	}
	if gone != 1 || lists < 2 {
		t.Errorf("a 410 at the open: %d stale opens, %d lists (want 1 stale open, then a list from now); resourceVersions %v", gone, lists, rvs[:min(len(rvs), 6)])
	}
	if strings.Contains(stderr.String(), "lost the apiserver") {
		t.Errorf("the apiserver answered throughout, yet:\n%s", stderr.String())
	}
}

// TestEventsWatchNewApp: events --watch of a namespace prints the events of
// an app deployed after it started. They come within seconds of the
// deploy, before the matcher's next list of the apps' objects, and were
// dropped for good (a scale audit: 0 of the 7 events of a new app, where
// kubectl get events -w printed them); they wait for that list now, made
// within --watch's refresh of the first of them even when no other event
// comes.
func TestEventsWatchNewApp(t *testing.T) {
	shop := fakeDeployment("ns-a", "shop", "shop", "1.0", 2, 2)
	shop.UID = types.UID("d-shop")
	a := fakeClient(shop)
	stdout := &syncbuf.Buffer{}
	stop := watchEvents(t, a, &EventsOptions{refresh: 300 * time.Millisecond}, stdout)
	cart := fakeDeployment("ns-a", "cart", "cart", "1.0", 3, 0)
	cart.UID = types.UID("d-cart")
	if _, err := a.AppsV1().Deployments("ns-a").Create(t.Context(), cart, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, ev := range []*corev1.Event{
		fakeEvent("ns-a", "c1", "Deployment", "cart", "d-cart", corev1.EventTypeNormal, "ScalingReplicaSet", 0),
		fakeEvent("ns-a", "c2", "ReplicaSet", "cart-7d9c6b8f5", "rs-cart", corev1.EventTypeWarning, "FailedCreate", 0),
		fakeEvent("ns-a", "o1", "Deployment", "plain", "d-plain", corev1.EventTypeNormal, "ScalingReplicaSet", 0),
	} {
		if _, err := a.CoreV1().Events("ns-a").Create(t.Context(), ev, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	waitOutput(t, stdout, "replicaset/cart-7d9c6b8f5")
	if err := stop(); err != nil {
		t.Fatalf("--watch ended with %v", err)
	}
	if s := stdout.String(); !strings.Contains(s, "deployment/cart") || strings.Contains(s, "plain") || strings.Count(s, "replicaset/cart-7d9c6b8f5") != 1 {
		t.Errorf("--watch output:\n%s", s)
	}
}
