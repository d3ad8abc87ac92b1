package cli

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"io"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/kubernetes/fake"
	metadatafake "k8s.io/client-go/metadata/fake"
	clienttesting "k8s.io/client-go/testing"
	"k8s.io/utils/ptr"

	"github.com/zzcloud/zz/internal/contract"
	"github.com/zzcloud/zz/internal/deploy"
	"github.com/zzcloud/zz/internal/syncbuf"
)

func TestStatusAndList(t *testing.T) {
	recent := time.Now().Add(-10 * time.Minute)
	// Sidecars (-o wide's SIDECARS): the spec's native auth proxy, not
	// ready beside a crashing app; shop's webhook-added log shipper.
	auth := corev1.Container{Name: "auth", RestartPolicy: ptr.To(corev1.ContainerRestartPolicyAlways)}
	crash := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "cart-x", Namespace: "ns-a", Labels: map[string]string{contract.LabelApp: "cart"}},
		Spec:       corev1.PodSpec{NodeName: "n1", InitContainers: []corev1.Container{auth}, Containers: []corev1.Container{{Name: "app"}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, InitContainerStatuses: []corev1.ContainerStatus{{
			Name: "auth", State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}}, ContainerStatuses: []corev1.ContainerStatus{{
			Name: "app", RestartCount: 2,
			State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}},
			LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 1, Reason: "Error",
				FinishedAt: metav1.NewTime(time.Now().Add(-15 * time.Minute))}}, // over 10 minutes, HumanDuration drops the seconds: a slow run (-race) printed 5m1s
		}}},
	}
	// Pods the webhook left to the default scheduler while zz-scheduler was
	// down, and one that went to zz-scheduler with the note copied.
	running := func(name, scheduler string) *corev1.Pod {
		return &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns-a", Labels: map[string]string{contract.LabelApp: "shop"},
				Annotations: map[string]string{contract.AnnotationSchedulerFallback: contract.SchedulerName}},
			Spec: corev1.PodSpec{NodeName: "n1", SchedulerName: scheduler, Containers: []corev1.Container{{Name: "app"}, {Name: "log-shipper"}}},
			Status: corev1.PodStatus{Phase: corev1.PodRunning, Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}},
				ContainerStatuses: []corev1.ContainerStatus{{Name: "app", Ready: true}, {Name: "log-shipper", Ready: true}}},
		}
	}
	const budget = "PodDisruptionBudget checkout allows no disruption now: node drains and kubectl zz rebalance wait for this app (1 of 2 pods ready)"
	unbalanced := "2 pods of shop run unbalanced (shop-a, shop-b): zz-scheduler could not schedule when they were created, so the zz webhook left them to default-scheduler; kubectl zz restart shop replaces them once it schedules again (kubectl zz check says whether it does)"
	a := fakeClient(
		running("shop-b", corev1.DefaultSchedulerName), running("shop-a", ""), running("shop-c", contract.SchedulerName),
		fakeDeployment("ns-a", "shop", "shop", "2.0", 3, 3), fakeDeployment("ns-a", "shop-canary", "shop", "2.1", 1, 1),
		revisionSecret(t, "ns-a", "shop", 4, "2.1", "alice", "deploy 2.1", recent),
		fakeDeployment("ns-a", "cart", "cart", "1.0", 2, 1), crash,
		revisionSecret(t, "ns-a", "cart", 1, "1.0", "bob", "deploy 1.0", recent),
		// Another's budget over cart's pods, which a drain waits for now.
		&policyv1.PodDisruptionBudget{ObjectMeta: metav1.ObjectMeta{Name: "checkout", Namespace: "ns-a"},
			Spec:   policyv1.PodDisruptionBudgetSpec{Selector: &metav1.LabelSelector{MatchLabels: map[string]string{contract.LabelApp: "cart"}}},
			Status: policyv1.PodDisruptionBudgetStatus{CurrentHealthy: 1, ExpectedPods: 2}},
		// Another team's shop, in another namespace: only -A shows it.
		fakeDeployment("ns-c", "shop", "shop", "1.9", 1, 1), revisionSecret(t, "ns-c", "shop", 2, "1.9", "dave", "deploy 1.9", recent),
	)
	b := fakeClient(fakeDeployment("ns-b", "shop", "shop", "2.0", 2, 2), revisionSecret(t, "ns-b", "shop", 9, "2.0", "carol", "deploy 2.0", recent))
	zz := withFakeClusters(t, a, b)
	tests := []struct {
		args []string
		want []string // lines, fields separated by single spaces
	}{
		{args: []string{"status", "shop"}, want: []string{
			"APP REVISION VERSION IMAGE READY UP-TO-DATE RESTARTS CANARY STATUS UPDATED DEPLOYED-BY",
			"shop 4 2.0 reg/shop:2.0 3/3 3/3 0 1/1 Ready 10m alice",
			"", unbalanced,
		}},
		{args: []string{"status"}, want: []string{
			"APP REVISION VERSION IMAGE READY UP-TO-DATE RESTARTS CANARY STATUS UPDATED DEPLOYED-BY",
			"cart 1 1.0 reg/cart:1.0 1/2 2/2 2 (15m ago) - Degraded 10m bob",
			"shop 4 2.0 reg/shop:2.0 3/3 3/3 0 1/1 Ready 10m alice",
			"", "cart is Degraded:",
			"pod cart-x: CrashLoopBackOff: container app exited with code 1 (Error), restarted 2 times",
			"cart: " + budget,
			unbalanced,
		}},
		{args: []string{"list"}, want: []string{
			"APP REVISION VERSION READY UP-TO-DATE CANARY STATUS UPDATED",
			"cart 1 1.0 1/2 2/2 - Degraded 10m",
			"shop 4 2.0 3/3 3/3 1/1 Ready 10m",
		}},
		{args: []string{"list", "-l", "zz.io/version=1.0"}, want: []string{
			"APP REVISION VERSION READY UP-TO-DATE CANARY STATUS UPDATED",
			"cart 1 1.0 1/2 2/2 - Degraded 10m",
		}},
		{args: []string{"list", "-A", "-l", "zz.io/version in (1.9, 2.0)"}, want: []string{
			"NAMESPACE APP REVISION VERSION READY UP-TO-DATE CANARY STATUS UPDATED",
			"ns-a shop 4 2.0 3/3 3/3 1/1 Ready 10m",
			"ns-c shop 2 1.9 1/1 1/1 - Ready 10m",
		}},
		{args: []string{"list", "--no-headers"}, want: []string{
			"cart 1 1.0 1/2 2/2 - Degraded 10m",
			"shop 4 2.0 3/3 3/3 1/1 Ready 10m",
		}},
		{args: []string{"status", "shop", "--context", "a,b"}, want: []string{
			"CLUSTER APP REVISION VERSION IMAGE READY UP-TO-DATE RESTARTS CANARY STATUS UPDATED DEPLOYED-BY",
			"a shop 4 2.0 reg/shop:2.0 3/3 3/3 0 1/1 Ready 10m alice",
			"b shop 9 2.0 reg/shop:2.0 2/2 2/2 0 - Ready 10m carol",
			"", "a/shop: " + unbalanced,
		}},
		{args: []string{"list", "-o", "name"}, want: []string{"app.zz.io/cart", "app.zz.io/shop"}},
		// SIDECARS: each sidecar's pods ready over the pods that run it,
		// one field for awk.
		{args: []string{"status", "-o", "wide"}, want: []string{
			"APP REVISION VERSION IMAGE READY UP-TO-DATE RESTARTS SIDECARS CANARY CANARY-UP-TO-DATE CANARY-VERSION CANARY-IMAGE STATUS UPDATED DEPLOYED-BY CHANGE-CAUSE ENDPOINTS",
			"cart 1 1.0 reg/cart:1.0 1/2 2/2 2 (15m ago) auth:0/1 - - - - Degraded 10m bob deploy 1.0 <none>",
			"shop 4 2.0 reg/shop:2.0 3/3 3/3 0 log-shipper:3/3 1/1 1/1 2.1 reg/shop:2.1 Ready 10m alice deploy 2.1 <none>",
			"", "cart is Degraded:",
			"pod cart-x: CrashLoopBackOff: container app exited with code 1 (Error), restarted 2 times",
			"cart: " + budget,
			unbalanced,
		}},
		{args: []string{"list", "-o", "wide", "--context", "b"}, want: []string{
			"APP REVISION VERSION IMAGE READY UP-TO-DATE RESTARTS SIDECARS CANARY CANARY-UP-TO-DATE CANARY-VERSION CANARY-IMAGE STATUS UPDATED DEPLOYED-BY CHANGE-CAUSE ENDPOINTS",
			"shop 9 2.0 reg/shop:2.0 2/2 2/2 0 <none> - - - - Ready 10m carol deploy 2.0 <none>",
		}},
		// Several names, as kubectl get a b: in the order given.
		{args: []string{"status", "shop", "cart", "shop"}, want: []string{
			"APP REVISION VERSION IMAGE READY UP-TO-DATE RESTARTS CANARY STATUS UPDATED DEPLOYED-BY",
			"shop 4 2.0 reg/shop:2.0 3/3 3/3 0 1/1 Ready 10m alice",
			"cart 1 1.0 reg/cart:1.0 1/2 2/2 2 (15m ago) - Degraded 10m bob",
			"", unbalanced, "cart is Degraded:",
			"pod cart-x: CrashLoopBackOff: container app exited with code 1 (Error), restarted 2 times",
			"cart: " + budget,
		}},
		{args: []string{"list", "-A"}, want: []string{
			"NAMESPACE APP REVISION VERSION READY UP-TO-DATE CANARY STATUS UPDATED",
			"ns-a cart 1 1.0 1/2 2/2 - Degraded 10m",
			"ns-a shop 4 2.0 3/3 3/3 1/1 Ready 10m",
			"ns-c shop 2 1.9 1/1 1/1 - Ready 10m",
		}},
		{args: []string{"status", "shop", "-A"}, want: []string{
			"NAMESPACE APP REVISION VERSION IMAGE READY UP-TO-DATE RESTARTS CANARY STATUS UPDATED DEPLOYED-BY",
			"ns-a shop 4 2.0 reg/shop:2.0 3/3 3/3 0 1/1 Ready 10m alice",
			"ns-c shop 2 1.9 reg/shop:1.9 1/1 1/1 0 - Ready 10m dave",
			"", "ns-a/shop: " + unbalanced,
		}},
		{args: []string{"status", "-A"}, want: []string{
			"NAMESPACE APP REVISION VERSION IMAGE READY UP-TO-DATE RESTARTS CANARY STATUS UPDATED DEPLOYED-BY",
			"ns-a cart 1 1.0 reg/cart:1.0 1/2 2/2 2 (15m ago) - Degraded 10m bob",
			"ns-a shop 4 2.0 reg/shop:2.0 3/3 3/3 0 1/1 Ready 10m alice",
			"ns-c shop 2 1.9 reg/shop:1.9 1/1 1/1 0 - Ready 10m dave",
			"", "ns-a/cart is Degraded:",
			"pod cart-x: CrashLoopBackOff: container app exited with code 1 (Error), restarted 2 times",
			"ns-a/cart: " + budget,
			"ns-a/shop: " + unbalanced,
		}},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			checkLines(t, zz, tt.args, tt.want)
		})
	}

	// A name found nowhere fails the command after what was found is shown.
	if out, _, err := zz("status", "shop", "nosuch"); err == nil || !strings.Contains(err.Error(), "no app nosuch in namespace ns-a") || !strings.Contains(out, "alice") {
		t.Errorf("status shop nosuch: %v\n%s", err, out)
	}
	if _, _, err := zz("status", "shop", "cart", "-l", "zz.io/version=1.0"); err == nil || !strings.Contains(err.Error(), "with the apps named (shop, cart), drop it") {
		t.Errorf("names and a selector: %v", err)
	}
	if _, _, err := zz("status", "nosuch", "-A"); err == nil || !strings.Contains(err.Error(), "no app nosuch in any namespace") {
		t.Errorf("status nosuch -A: %v", err)
	}
	// Nothing on stdout for a missing app in a script's format; with
	// --no-headers the prose under the rows goes to stderr (kubectl audit).
	for _, cmd := range []string{"status", "events"} {
		if out, _, err := zz(cmd, "nosuch", "-o", "json"); err == nil || out != "" {
			t.Errorf("%s nosuch -o json: %v, stdout %q", cmd, err, out)
		}
	}
	if out, errOut, err := zz("status", "--no-headers"); err != nil || strings.Contains(out, "Degraded:") || !strings.Contains(errOut, "cart is Degraded:") {
		t.Errorf("status --no-headers: %v\nstdout %q\nstderr %q", err, out, errOut)
	}
	if _, _, err := zz("list", "-A", "--context", "b", "-n", "empty"); err != nil {
		t.Errorf("list -A ignores -n: %v", err)
	}

	out, _, err := zz("status", "--context", "a,b", "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	var list struct {
		Items []struct {
			Cluster, App, Health string
			Canary               *struct{ Ready, Desired int32 }
			Issues               []struct{ Pod, Reason, Detail string }
			Unbalanced           *struct {
				Scheduler string
				Pods      []string
			}
			BlockingBudgets []struct {
				Name        string
				Ready, Pods int32
			}
		}
	}
	if err := json.Unmarshal([]byte(out), &list); err != nil || len(list.Items) != 3 {
		t.Fatalf("json: %v\n%s", err, out)
	}
	if it := list.Items[0]; it.Cluster != "a" || it.App != "cart" || it.Health != "Degraded" || len(it.Issues) != 1 || it.Issues[0].Reason != "CrashLoopBackOff" {
		t.Errorf("first item = %+v", it)
	}
	if b := list.Items[0].BlockingBudgets; len(b) != 1 || b[0].Name != "checkout" || b[0].Ready != 1 || b[0].Pods != 2 || list.Items[1].BlockingBudgets != nil {
		t.Errorf("blocking budgets of cart %+v, of shop %+v; want checkout's of cart", b, list.Items[1].BlockingBudgets)
	}
	if it := list.Items[1]; it.Canary == nil || it.Canary.Desired != 1 {
		t.Errorf("shop in a has no canary: %+v", it)
	}
	if u := list.Items[1].Unbalanced; u == nil || u.Scheduler != contract.SchedulerName || strings.Join(u.Pods, ",") != "shop-a,shop-b" {
		t.Errorf("shop in a unbalanced: %+v", u)
	}
	if _, _, err := zz("status", "nope"); err == nil || !strings.Contains(err.Error(), "no app nope in namespace ns-a") {
		t.Errorf("status of an unknown app: %v", err)
	}
}

// checkLines runs args through zz and compares its output line by line with
// want, runs of blanks (table padding) read as one space.
func checkLines(t *testing.T, zz func(...string) (string, string, error), args, want []string) {
	t.Helper()
	out, stderr, err := zz(args...)
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	var got []string
	for _, l := range strings.Split(strings.TrimRight(out, "\n"), "\n") {
		got = append(got, strings.Join(strings.Fields(l), " "))
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("got:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestStatusWatch: --watch prints again when a watched object changes, and
// reads the Deployments, pods and records from its informers then: one list
// each at the start, none per change or interval (a scale audit: 9 MB a
// read). The records are read as metadata only.
func TestStatusWatch(t *testing.T) {
	rec := revisionSecret(t, "ns-a", "shop", 4, "2.0", "alice", "deploy 2.0", time.Now().Add(-time.Hour))
	c := fakeClient(fakeDeployment("ns-a", "shop", "shop", "2.0", 3, 2), rec)
	watching := make(chan struct{}, 3)
	c.PrependWatchReactor("*", func(clienttesting.Action) (bool, watch.Interface, error) {
		watching <- struct{}{}
		return false, nil, nil
	})
	sch := metadatafake.NewTestScheme()
	if err := metav1.AddMetaToScheme(sch); err != nil {
		t.Fatal(err)
	}
	md := metadatafake.NewSimpleMetadataClient(sch, &metav1.PartialObjectMetadata{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"}, ObjectMeta: rec.ObjectMeta})
	out := &syncbuf.Buffer{}
	o := newStatusOptions(nil, genericiooptions.IOStreams{In: strings.NewReader(""), Out: out, ErrOut: io.Discard}, false)
	o.App, o.Watch, o.Interval = "shop", true, 10*time.Millisecond
	o.targets = []target{{name: "a", namespace: "ns-a", client: c, meta: md}}
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
	stop := runAsync(t, o.Run)
	for range 2 {
		select {
		case <-watching:
		case <-time.After(10 * time.Second):
			t.Fatal("--watch opened fewer than 2 watches (Deployments, pods)")
		}
	}
	waitOutput(t, out, "2/3")
	if !strings.Contains(out.String(), "alice") {
		t.Errorf("the record's metadata is not shown:\n%s", out)
	}
	d, err := c.AppsV1().Deployments("ns-a").Get(t.Context(), "shop", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	d.Status.ReadyReplicas = 3
	if _, err := c.AppsV1().Deployments("ns-a").UpdateStatus(t.Context(), d, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitOutput(t, out, "3/3")
	time.Sleep(300 * time.Millisecond) // 30 intervals
	if err := stop(); err != nil {
		t.Fatalf("--watch ended with %v", err)
	}
	lists := map[string]int{}
	for _, a := range c.Actions() {
		if a.GetVerb() == "list" {
			lists[a.GetResource().Resource]++
		}
	}
	// The informers' first lists only; the records not as whole Secrets.
	if lists["deployments"] != 1 || lists["pods"] != 1 || lists["secrets"] != 0 {
		t.Errorf("lists %v over a change and 30 intervals: want one of the Deployments and of the pods, none of the Secrets", lists)
	}
	// As kubectl get -w: the table, then the changed row alone, aligned
	// under it.
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "APP ") || !strings.Contains(lines[1], "2/3") || !strings.Contains(lines[2], "3/3") ||
		strings.Index(lines[2], "3/3") != strings.Index(lines[0], "READY") {
		t.Errorf("want the table (2/3), then its row again (3/3) in the same columns:\n%s", out)
	}
}

// TestStatusWatchPrintsChangedRows: with several apps, a change prints the
// rows of the apps it changed and their lines under the table, aligned
// with the first table, and nothing of the others (a scale audit: the
// whole table of 156 rows came again on every change); an app that comes
// or goes prints the whole table again.
func TestStatusWatchPrintsChangedRows(t *testing.T) {
	c := fakeClient(fakeDeployment("ns-a", "shop", "shop", "2.0", 3, 3), fakeDeployment("ns-a", "web", "web", "1.0", 2, 2),
		fakeDeployment("ns-a", "cart", "cart", "1.0", 1, 1))
	sch := metadatafake.NewTestScheme()
	if err := metav1.AddMetaToScheme(sch); err != nil {
		t.Fatal(err)
	}
	out := &syncbuf.Buffer{}
	o := newStatusOptions(nil, genericiooptions.IOStreams{In: strings.NewReader(""), Out: out, ErrOut: io.Discard}, false)
	o.Watch, o.Interval = true, 10*time.Millisecond
	o.targets = []target{{name: "a", namespace: "ns-a", client: c, meta: metadatafake.NewSimpleMetadataClient(sch)}}
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
	stop := runAsync(t, o.Run)
	waitOutput(t, out, "web ")
	first := len(out.String())
	d, err := c.AppsV1().Deployments("ns-a").Get(t.Context(), "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	d.Status.ReadyReplicas = 1
	if _, err := c.AppsV1().Deployments("ns-a").UpdateStatus(t.Context(), d, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitOutput(t, out, "1/2")
	time.Sleep(100 * time.Millisecond) // 10 intervals: nothing else prints
	changed := out.String()[first:]
	table := out.String()[:first]
	rows := strings.Split(strings.TrimSpace(changed), "\n")
	if strings.Contains(changed, "APP") || strings.Contains(changed, "shop") || strings.Contains(changed, "cart") || len(rows) == 0 ||
		!strings.HasPrefix(rows[0], "web ") || strings.Index(rows[0], "1/2") != strings.Index(table, "READY") {
		t.Errorf("a change of web printed more than its row, or out of the table's columns:\n%s---\n%s", table, changed)
	}
	// A new app: the whole table again, set apart.
	before := len(out.String())
	if _, err := c.AppsV1().Deployments("ns-a").Create(t.Context(), fakeDeployment("ns-a", "api", "api", "1.0", 1, 1), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitOutput(t, out, "api ")
	if again := out.String()[before:]; !strings.Contains(again, "\nAPP ") || !strings.Contains(again, "shop ") || !strings.Contains(again, "cart ") {
		t.Errorf("an app that came did not print the whole table again:\n%s", again)
	}
	if err := stop(); err != nil {
		t.Fatalf("--watch ended with %v", err)
	}
}

// TestStatusRollingOut: an app whose new version has no ready pod yet,
// the old ones serving: UP-TO-DATE 0/3 beside READY 3/3, and a line under
// the table that says what the template asks for and what the ready pods
// run; in -o json its updated, serving and rollingOut (an incident audit
// read VERSION 9.9.7 and READY 3/3 as 9.9.7 serving).
func TestStatusRollingOut(t *testing.T) {
	d := fakeDeployment("ns-a", "web", "web", "2.0", 3, 3)
	d.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{contract.LabelApp: "web"}}
	d.Status.UpdatedReplicas = 0
	objs := []runtime.Object{d, revisionSecret(t, "ns-a", "web", 1, "1.0", "alice", "deploy 1.0", time.Now().Add(-10*time.Minute))}
	for _, name := range []string{"web-a", "web-b", "web-c"} {
		objs = append(objs, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns-a",
			Labels:          map[string]string{contract.LabelApp: "web", contract.LabelVersion: "1.0", appsv1.DefaultDeploymentUniqueLabelKey: "5f"},
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "web-5f", Controller: ptr.To(true)}}},
			Spec:   corev1.PodSpec{NodeName: "n1"},
			Status: corev1.PodStatus{Phase: corev1.PodRunning, Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}}})
	}
	zz := withFakeClusters(t, fakeClient(objs...), fakeClient())
	checkLines(t, zz, []string{"status", "web"}, []string{
		"APP REVISION VERSION IMAGE READY UP-TO-DATE RESTARTS CANARY STATUS UPDATED DEPLOYED-BY",
		"web 1 2.0 reg/web:2.0 3/3 0/3 0 - Progressing 10m alice",
		"", "web's rollout is unfinished:",
		"deployment web: its template asks for version 2.0, image reg/web:2.0 (0/3 pods updated); the ready pods run 1.0",
	})
	checkLines(t, zz, []string{"list"}, []string{
		"APP REVISION VERSION READY UP-TO-DATE CANARY STATUS UPDATED",
		"web 1 2.0 3/3 0/3 - Progressing 10m",
	})
	out, _, err := zz("status", "web", "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	var list struct{ Items []deploy.AppStatus }
	if err := json.Unmarshal([]byte(out), &list); err != nil || len(list.Items) != 1 || list.Items[0].Stable == nil {
		t.Fatalf("status -o json: %v\n%s", err, out)
	}
	st := list.Items[0]
	if s := st.Stable; s.Updated != 0 || s.Desired != 3 || !s.RollingOut || len(s.Serving) != 1 || s.Serving[0] != (deploy.VersionPods{Version: "1.0", Pods: 3}) ||
		len(st.Rollout) != 1 || !strings.Contains(out, `"updated": 0`) {
		t.Errorf("status -o json: %+v, rollout %q\n%s", s, st.Rollout, out)
	}
}

// TestStatusWithoutRecords: a user who may not read Secrets (the view
// role) still sees how the apps run, the revision unknown, with a warning.
func TestStatusWithoutRecords(t *testing.T) {
	a := fakeClient(fakeDeployment("ns-a", "shop", "shop", "2.0", 3, 3),
		revisionSecret(t, "ns-a", "shop", 4, "2.0", "alice", "deploy 2.0", time.Now()))
	a.PrependReactor("list", "secrets", func(clienttesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewForbidden(corev1.Resource("secrets"), "", errors.New(`User "viewer" cannot list resource "secrets"`))
	})
	zz := withFakeClusters(t, a, fakeClient())
	checkLines(t, zz, []string{"status", "shop"}, []string{
		"APP REVISION VERSION IMAGE READY UP-TO-DATE RESTARTS CANARY STATUS UPDATED DEPLOYED-BY",
		"shop <unknown> 2.0 reg/shop:2.0 3/3 3/3 0 - Ready <unknown> <unknown>",
	})
	if _, stderr, err := zz("list"); err != nil || !strings.Contains(stderr, "warning: the revision records (Secrets) cannot be read by this user") {
		t.Errorf("list without records: %v, stderr %q", err, stderr)
	}
}

// TestStatusNothingThere: a namespace without apps is no error, as kubectl
// get says "No resources found"; an app that does not exist ends --watch at
// once, as kubectl get -w does, instead of waiting for good.
func TestStatusNothingThere(t *testing.T) {
	zz := withFakeClusters(t, fakeClient(), fakeClient())
	for _, cmd := range []string{"status", "list"} {
		out, errOut, err := zz(cmd, "--context", "a")
		if err != nil || out != "" || errOut != "No apps deployed by kubectl zz in namespace ns-a.\n" {
			t.Errorf("kubectl zz %s in an empty namespace: %v, stdout %q, stderr %q", cmd, err, out, errOut)
		}
	}
	done := make(chan error, 1)
	go func() { _, _, err := zz("status", "-w", "nope", "--context", "a"); done <- err }()
	select {
	case err := <-done:
		if !errors.Is(err, deploy.ErrNoRevision) {
			t.Errorf("status -w of an app that does not exist: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("status -w of an app that does not exist is still waiting")
	}
}

// TestRebalanceSelectsNodes: rebalance's -l picks nodes; a pod selector
// matching no node is an error that says so, not a plan over 0 nodes.
func TestRebalanceSelectsNodes(t *testing.T) {
	zz := withFakeClusters(t, fakeClient(), fakeClient())
	if _, _, err := zz("rebalance", "--dry-run", "-l", "zz.io/app=shop", "--context", "a"); err == nil || !strings.Contains(err.Error(), "no schedulable node matches -l zz.io/app=shop") {
		t.Errorf("rebalance -l of pods: %v", err)
	}
}

// TestStatusDriftOneField: REVISION's drift mark is glued to it, so every
// cell is one field for awk (an audit: "7 (drifted)" shifted VERSION and
// the rest), in the table, in list and in -o wide.
func TestStatusDriftOneField(t *testing.T) {
	paused := fakeDeployment("ns-a", "shop", "shop", "2.0", 2, 2)
	paused.Spec.Paused = true // drift: no new pod template rolls out
	rec := revisionSecret(t, "ns-a", "shop", 7, "2.0", "alice", "deploy 2.0", time.Now().Add(-time.Hour))
	// In context b a command holds shop's and web's locks: what it applied
	// to shop (its apply token, not the record's) is not recorded yet,
	// "changing" (an app-developer audit read a running scale as drift);
	// web's pause, made meanwhile outside kubectl zz, is no command's to
	// record, and stays drift (review 36 #4).
	// The lock carries its holder's apply token: api's unrecorded apply is
	// an earlier command's (token-5), not the holder's (token-9), and is
	// drift (a review: any lock made such a leftover read "changing").
	now := metav1.NewMicroTime(time.Now())
	lock := func(app, token string) *coordinationv1.Lease {
		return &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: deploy.LockName(app), Namespace: "ns-b", Labels: map[string]string{contract.LabelApp: app},
			Annotations: map[string]string{contract.AnnotationApplyID: token}},
			Spec: coordinationv1.LeaseSpec{HolderIdentity: ptr.To("bob (kubectl zz scale)"), LeaseDurationSeconds: ptr.To(int32(60)), AcquireTime: &now, RenewTime: &now}}
	}
	// A lock of a kubectl zz before tokens on Leases: every unrecorded
	// apply is its (a team upgrading one by one; a review).
	oldLock := lock("old", "")
	oldLock.Annotations = nil
	recOld := revisionSecret(t, "ns-b", "old", 7, "2.0", "alice", "deploy 2.0", time.Now().Add(-time.Hour))
	recOld.Annotations[contract.AnnotationApplyID] = "token-1"
	oldScaling := fakeDeployment("ns-b", "old", "old", "2.0", 2, 2)
	oldScaling.Annotations = map[string]string{contract.AnnotationApplyID: "token-2"}
	recAPI := revisionSecret(t, "ns-b", "api", 7, "2.0", "alice", "deploy 2.0", time.Now().Add(-time.Hour))
	recAPI.Annotations[contract.AnnotationApplyID] = "token-4"
	leftover := fakeDeployment("ns-b", "api", "api", "2.0", 2, 2)
	leftover.Annotations = map[string]string{contract.AnnotationApplyID: "token-5"}
	recB := revisionSecret(t, "ns-b", "shop", 7, "2.0", "alice", "deploy 2.0", time.Now().Add(-time.Hour))
	recB.Annotations[contract.AnnotationApplyID] = "token-7"
	scaling := fakeDeployment("ns-b", "shop", "shop", "2.0", 2, 2)
	scaling.Annotations = map[string]string{contract.AnnotationApplyID: "token-8"} // the scale's apply
	pausedB := fakeDeployment("ns-b", "web", "web", "2.0", 2, 2)
	pausedB.Spec.Paused = true
	zz := withFakeClusters(t, fakeClient(paused, rec, fakeDeployment("ns-a", "cart", "cart", "1.0", 1, 1)),
		fakeClient(scaling, recB, lock("shop", "token-8"), pausedB, revisionSecret(t, "ns-b", "web", 7, "2.0", "alice", "deploy 2.0", time.Now().Add(-time.Hour)), lock("web", "token-10"),
			leftover, recAPI, lock("api", "token-9"), oldLock, recOld, oldScaling))
	for _, tc := range []struct {
		args []string
		want [][2]string // per line: $1 and $2, as awk splits them
	}{
		{[]string{"status", "--no-headers"}, [][2]string{{"cart", "<none>"}, {"shop", "7(drifted)"}}},
		{[]string{"status", "shop", "--no-headers", "-o", "wide"}, [][2]string{{"shop", "7(drifted)"}}},
		{[]string{"list", "--no-headers"}, [][2]string{{"cart", "<none>"}, {"shop", "7(drifted)"}}},
		{[]string{"status", "shop", "--no-headers", "--context", "b"}, [][2]string{{"shop", "7(changing)"}}},
		{[]string{"status", "web", "--no-headers", "--context", "b"}, [][2]string{{"web", "7(drifted)"}}},
		{[]string{"status", "api", "--no-headers", "--context", "b"}, [][2]string{{"api", "7(drifted)"}}},
		{[]string{"status", "old", "--no-headers", "--context", "b"}, [][2]string{{"old", "7(changing)"}}},
	} {
		out, _, err := zz(tc.args...)
		if err != nil {
			t.Fatalf("%v: %v", tc.args, err)
		}
		var got [][2]string
		for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
			if f := strings.Fields(l); len(f) > 2 && f[0] != "" && !strings.HasSuffix(f[0], ":") && l[0] != ' ' {
				got = append(got, [2]string{f[0], f[1]})
				if f[2] != "2.0" && f[2] != "1.0" {
					t.Errorf("%v: $3 (VERSION) is %q: %s", tc.args, f[2], l)
				}
			}
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("%v: got %q, want %q\n%s", tc.args, got, tc.want, out)
		}
	}
}

// TestStatusSaysDriftJudgedByName: a user whose dry runs are refused (may
// read, not patch) gets the drift judged by managed-fields entry and a
// line under the table that says so and why, not an error; one line for
// the apps the same refusal hits, not one an app.
func TestStatusSaysDriftJudgedByName(t *testing.T) {
	const judged = ": drift judged by field manager name only, so a write under kubectl zz's own name is not seen: "
	tests := []struct {
		apps []string
		args []string
		want []string // lines of stdout
		not  []string // starts of lines it must lack
	}{
		{apps: []string{"shop"}, args: []string{"status", "shop"},
			want: []string{"shop" + judged + "deployment shop: what kubectl zz's apply of revision 4 would store was not asked (a dry run): it needs the right to patch deployments (Forbidden)"}},
		{apps: []string{"shop", "cart", "blog"}, args: []string{"status"},
			want: []string{"apps blog, cart and shop" + judged + "what kubectl zz's apply of a deployment would store was not asked (a dry run): it needs the right to patch deployments (Forbidden)"},
			not:  []string{"shop" + judged, "deployment shop:"}},
		{apps: []string{"shop", "cart", "blog", "news"}, args: []string{"status"},
			want: []string{"apps blog, cart, news and 1 more" + judged + "what kubectl zz's apply of a deployment would store was not asked (a dry run): it needs the right to patch deployments (Forbidden)"}},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.apps, ","), func(t *testing.T) {
			var objs []runtime.Object
			for _, app := range tt.apps {
				d, rec := recordedApp(t, "ns-a", app)
				objs = append(objs, d, rec)
			}
			a := fakeClient(objs...)
			a.PrependReactor("patch", "deployments", func(act clienttesting.Action) (bool, runtime.Object, error) {
				return true, nil, apierrors.NewForbidden(appsv1.Resource("deployments"), "", errors.New(`User "reader" cannot patch resource "deployments"`))
			})
			zz := withFakeClusters(t, a, fakeClient())
			out, stderr, err := zz(append(tt.args, "--context", "a")...)
			if err != nil {
				t.Fatalf("status with dry runs refused: %v\n%s%s", err, out, stderr)
			}
			lines := strings.Split(out, "\n")
			for _, w := range tt.want {
				if !slices.Contains(lines, w) {
					t.Errorf("stdout lacks the line %q:\n%s", w, out)
				}
			}
			for _, n := range tt.not {
				if slices.ContainsFunc(lines, func(l string) bool { return strings.HasPrefix(l, n) }) {
					t.Errorf("stdout has a line that starts %q:\n%s", n, out)
				}
			}
		})
	}
}

// recordedApp is app's Deployment in ns and its revision 4's record, which
// holds that Deployment: what status judges it against by content.
func recordedApp(t testing.TB, ns, app string) (*appsv1.Deployment, *corev1.Secret) {
	t.Helper()
	d := fakeDeployment(ns, app, app, "2.0", 2, 2)
	rec := revisionSecret(t, ns, app, 4, "2.0", "alice", "deploy 2.0", time.Now())
	recorded := d.DeepCopy()
	recorded.APIVersion, recorded.Kind = "apps/v1", "Deployment"
	objs, err := json.Marshal([]any{recorded})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(objs); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	rec.Data["objects.json.gz"] = buf.Bytes()
	return d, rec
}

// TestStatusJudgesOnlyAskedApps: status of named apps, or of a selector,
// asks the dry runs of the drift judgement for the apps it shows alone,
// not for every app of the namespace.
func TestStatusJudgesOnlyAskedApps(t *testing.T) {
	tests := []struct {
		args   []string
		judged []string // the Deployments asked a dry-run apply
	}{
		{args: []string{"status"}, judged: []string{"blog", "cart", "shop"}},
		{args: []string{"status", "shop", "cart"}, judged: []string{"cart", "shop"}},
		{args: []string{"status", "-l", "tier=web"}, judged: []string{"shop"}},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			var objs []runtime.Object
			for _, app := range []string{"shop", "cart", "blog"} {
				d, rec := recordedApp(t, "ns-a", app)
				if app == "shop" {
					d.Labels["tier"] = "web"
				}
				objs = append(objs, d, rec)
			}
			a := fakeClient(objs...)
			var mu sync.Mutex
			var judged []string
			a.PrependReactor("patch", "deployments", func(act clienttesting.Action) (bool, runtime.Object, error) {
				if p, ok := act.(clienttesting.PatchActionImpl); ok && len(p.PatchOptions.DryRun) > 0 {
					mu.Lock()
					judged = append(judged, p.GetName())
					mu.Unlock()
				}
				return false, nil, nil
			})
			zz := withFakeClusters(t, a, fakeClient())
			out, stderr, err := zz(append(tt.args, "--context", "a")...)
			if err != nil {
				t.Fatalf("%v\n%s%s", err, out, stderr)
			}
			slices.Sort(judged)
			if !slices.Equal(judged, tt.judged) {
				t.Errorf("dry-run applies of %q; want %q\n%s", judged, tt.judged, out)
			}
		})
	}
}

// TestStatusKeepsVerdicts: a second list or status asks no dry run of the
// apps unchanged since the first (their verdicts kept under kubectl's
// cache directory, readable by this user alone), and one of an app changed
// since (a scale audit: list -A asked five requests an app at every run).
func TestStatusKeepsVerdicts(t *testing.T) {
	var objs []runtime.Object
	for _, app := range []string{"shop", "cart"} {
		d, rec := recordedApp(t, "ns-a", app)
		objs = append(objs, d, rec)
	}
	a := fakeClient(objs...)
	var mu sync.Mutex
	var judged []string
	a.PrependReactor("patch", "deployments", func(act clienttesting.Action) (bool, runtime.Object, error) {
		p, ok := act.(clienttesting.PatchActionImpl)
		if !ok || len(p.PatchOptions.DryRun) == 0 {
			return false, nil, nil
		}
		mu.Lock()
		judged = append(judged, p.GetName())
		mu.Unlock()
		// The apply would store what runs: a verdict, kept (the fake
		// answers an apply patch with an error, judged again each run).
		live, err := a.Tracker().Get(appsv1.SchemeGroupVersion.WithResource("deployments"), p.GetNamespace(), p.GetName())
		return true, live, err
	})
	zz := withFakeClusters(t, a, fakeClient())
	run := func(args ...string) []string {
		t.Helper()
		mu.Lock()
		judged = nil
		mu.Unlock()
		if out, stderr, err := zz(append(args, "--context", "a")...); err != nil {
			t.Fatalf("%v\n%s%s", err, out, stderr)
		}
		mu.Lock()
		defer mu.Unlock()
		slices.Sort(judged)
		return judged
	}
	if got := run("list"); !slices.Equal(got, []string{"cart", "shop"}) {
		t.Fatalf("the first list judged %q", got)
	}
	if got := run("status"); len(got) != 0 {
		t.Errorf("status after list judged %q again; want none", got)
	}
	d, err := a.AppsV1().Deployments("ns-a").Get(t.Context(), "cart", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	d.Spec.Template.Spec.Containers[0].Image = "reg/cart:hotfix"
	if _, err := a.AppsV1().Deployments("ns-a").Update(t.Context(), d, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if got := run("list"); !slices.Equal(got, []string{"cart"}) {
		t.Errorf("list after cart changed judged %q; want cart alone", got)
	}
}

// TestAbsentNamespace: a command that finds nothing in a namespace that
// does not exist (a typo in -n) says so, where it said only that the app
// had no revisions there (a new user's audit); where the namespace cannot
// be read (a developer holds no role in it) or exists, nothing is claimed.
func TestAbsentNamespace(t *testing.T) {
	const absent = "namespace nosuch does not exist"
	forbidden := fake.NewClientset()
	forbidden.PrependReactor("get", "namespaces", func(clienttesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewForbidden(corev1.Resource("namespaces"), "nosuch", errors.New(`User "dev" cannot get resource "namespaces"`))
	})
	for _, tc := range []struct {
		name   string
		client *fake.Clientset
		ns     string
		said   bool
	}{
		{"absent", fake.NewClientset(), "nosuch", true},
		{"forbidden", forbidden, "nosuch", false},
		{"exists, empty", fakeClient(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "nosuch"}}), "nosuch", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			zz := withFakeClusters(t, tc.client, fakeClient())
			for _, args := range [][]string{
				{"status"}, {"list"}, {"status", "web"}, {"history", "web"}, {"rollback", "web"},
				{"scale", "web", "--replicas", "2"}, {"restart", "web"}, {"diff", "web"}, {"events"}, {"events", "web"},
			} {
				_, stderr, err := zz(append(args, "-n", tc.ns)...)
				said := stderr
				if err != nil {
					said += err.Error()
				}
				if strings.Contains(said, absent) != tc.said {
					t.Errorf("%s -n %s: %v, stderr %q; want %q said: %v", strings.Join(args, " "), tc.ns, err, stderr, absent, tc.said)
				}
				if wantErr := len(args) > 1; (err != nil) != wantErr {
					t.Errorf("%s -n %s: %v, want an error: %v", strings.Join(args, " "), tc.ns, err, wantErr)
				}
			}
		})
	}
}

// TestWatchRowsLines: under --watch, a change prints the lines under the
// table of the apps it changed only, and the lines of no one app's only
// when they changed; without headers the lines go to stderr.
func TestWatchRowsLines(t *testing.T) {
	item := func(v string) *unstructured.Unstructured {
		return &unstructured.Unstructured{Object: map[string]any{"kind": "App", "v": v}}
	}
	r := newWatchRows()
	render := func(shopV, webV, shared string, noHeaders bool) (string, string) {
		tbl := newTable("APP", "V")
		tbl.noHeaders = noHeaders
		tbl.add("a", "shop", shopV)
		tbl.add("a", "web", webV)
		r.read = r.read[:0]
		r.app("a/ns/shop", item(shopV), "shop is "+shopV+"\n")
		r.app("a/ns/web", item(webV), "web is "+webV+"\n")
		var out, errOut bytes.Buffer
		if err := r.print(&out, &errOut, tbl, false, "shop is "+shopV+"\nweb is "+webV+"\n"+shared, shared); err != nil {
			t.Fatal(err)
		}
		r.printed()
		return out.String(), errOut.String()
	}
	if out, _ := render("1", "1", "both: shared\n", false); out != "APP    V\nshop   1\nweb    1\n\nshop is 1\nweb is 1\nboth: shared\n" {
		t.Errorf("first print:\n%s", out)
	}
	if out, _ := render("1", "2", "both: shared\n", false); out != "\nweb    2\n\nweb is 2\n" {
		t.Errorf("web changed:\n%q", out)
	}
	if out, _ := render("1", "2", "both: other\n", false); out != "\nboth: other\n" {
		t.Errorf("the shared lines changed:\n%q", out)
	}
	if out, errOut := render("3", "2", "both: other\n", true); out != "shop   3\n" || errOut != "shop is 3\n" {
		t.Errorf("without headers: %q, stderr %q", out, errOut)
	}
	// No app: nothing on stdout, at first or once every app is gone (a
	// review saw a bare header); the next app prints the whole table.
	empty := newWatchRows()
	for range 2 {
		var out bytes.Buffer
		if err := empty.print(&out, io.Discard, newTable("APP", "V"), false, "", ""); err != nil || out.Len() != 0 {
			t.Errorf("no app: %q, %v", out.String(), err)
		}
		empty.printed()
	}
	r.read = r.read[:0] // as render starts
	if err := r.print(io.Discard, io.Discard, newTable("APP", "V"), false, "", ""); err != nil {
		t.Fatal(err)
	}
	r.printed()
	if out, _ := render("1", "1", "", false); !strings.HasPrefix(out, "APP ") {
		t.Errorf("an app after none: %q; want the whole table", out)
	}
}
