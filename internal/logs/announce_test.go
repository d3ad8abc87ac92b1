package logs

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/zzcloud/zz/internal/contract"
	"github.com/zzcloud/zz/internal/syncbuf"
)

// crashLooping is appPod with its one container waiting to restart after
// run id ended, as the kubelet reports CrashLoopBackOff.
func crashLooping(name, id string, restarts int32) *corev1.Pod {
	p := appPod(name)
	p.Spec.NodeName, p.Status.Phase = "node-1", corev1.PodRunning
	p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "app", ContainerID: id, RestartCount: restarts,
		State:                corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}},
		LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 1, Reason: "Error", ContainerID: id}}}}
	return p
}

// TestRunCrashLoop: a crash-looping container's last run is printed, with
// a note naming the crash loop, beside the healthy pods (--no-follow); a
// follower prints it once, then follows the next run when it starts, with
// "+"/"-" lines on stderr.
func TestRunCrashLoop(t *testing.T) {
	k := newFakeKubelet()
	k.add("east/ns/crash/app", 2)
	k.add("east/ns/healthy/app", 2)
	client := fake.NewClientset(crashLooping("crash", "cri://c3", 3), appPod("healthy", "app"))
	var out, errOut syncbuf.Buffer
	cfg := &Config{
		Clusters: []Cluster{{Name: "east", Client: client, Namespaces: []string{"ns"}}},
		Format:   Format{Output: OutputText}, Tail: 1, Out: &out, ErrOut: &errOut, OpenStream: k.open,
	}
	if err := Run(t.Context(), cfg); err != nil {
		t.Fatalf("Run = %v", err)
	}
	if got, want := out.String(), "crash/app east/ns/crash/app line 1\nhealthy/app east/ns/healthy/app line 1\n"; !sameLines(got, want) {
		t.Errorf("--no-follow: stdout %q, want %q", got, want)
	}
	if got, want := errOut.String(), "note: context east: pod ns/crash: CrashLoopBackOff: container app exited with code 1 (Error), restarted 3 times\n"; got != want {
		t.Errorf("--no-follow: stderr %q, want %q", got, want)
	}

	// Following: the last run once, then the next run from its first line.
	out, errOut = syncbuf.Buffer{}, syncbuf.Buffer{}
	cfg.Out, cfg.ErrOut, cfg.Follow = &out, &errOut, true
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- Run(ctx, cfg) }()
	waitFor(t, "the last run's line and the healthy pod's", func() bool { return strings.Count(out.String(), "\n") == 2 })
	waitFor(t, "the crashed run's stream to end", func() bool { return strings.Contains(errOut.String(), "- crash/app\n") })
	restarted := appPod("crash", "app")
	restarted.Status.ContainerStatuses[0].ContainerID = "cri://c4"
	restarted.Status.ContainerStatuses[0].RestartCount = 4
	if _, err := client.CoreV1().Pods("ns").UpdateStatus(ctx, restarted, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	k.add("east/ns/crash/app", 1)
	waitFor(t, "the new run, from its first line", func() bool { return strings.Count(out.String(), "crash/app east/") == 4 })
	t.Logf("%q %q", out.String(), errOut.String())
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	wantErr := []string{
		"note: context east: pod ns/crash: CrashLoopBackOff: container app exited with code 1 (Error), restarted 3 times",
		"+ crash/app", "+ healthy/app", "- crash/app", "+ crash/app",
	}
	if got := strings.Split(strings.TrimSuffix(errOut.String(), "\n"), "\n"); !sameLines(strings.Join(got, "\n"), strings.Join(wantErr, "\n")) || got[len(got)-1] != "+ crash/app" {
		t.Errorf("follow: stderr %q, want %q in some order, ending with the restart", errOut.String(), wantErr)
	}
}

// sameLines compares two texts' lines as sets with counts (streams run
// concurrently).
func sameLines(a, b string) bool {
	count := map[string]int{}
	for _, l := range strings.Split(a, "\n") {
		count[l]++
	}
	for _, l := range strings.Split(b, "\n") {
		count[l]--
	}
	for _, n := range count {
		if n != 0 {
			return false
		}
	}
	return true
}

// TestRunJoinLeave: a follower says "+ pod/container" when a stream starts
// and "- pod/container" when its pod goes away, on stderr only; once every
// pod is gone, what it waits for; a pod that cannot start is named once per
// reason. --quiet leaves out the +/- lines.
func TestRunJoinLeave(t *testing.T) {
	for _, quiet := range []bool{false, true} {
		k := newFakeKubelet()
		k.add("east/ns/shop-a/app", 1)
		client := fake.NewClientset(appPod("shop-a", "app"))
		var out, errOut syncbuf.Buffer
		cfg := &Config{
			Clusters:      []Cluster{{Name: "east", Client: client, Namespaces: []string{"ns"}}},
			LabelSelector: contract.LabelApp + "=shop",
			Format:        Format{Output: OutputText}, Follow: true, Quiet: quiet, Tail: -1, Out: &out, ErrOut: &errOut, OpenStream: k.open,
		}
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- Run(ctx, cfg) }()
		waitFor(t, "shop-a's line", func() bool { return strings.Count(out.String(), "\n") == 1 })

		pull := appPod("shop-b")
		pull.Spec.NodeName = "node-1"
		pull.Status.ContainerStatuses = []corev1.ContainerStatus{waitingStatus("app", "ContainerCreating", "")}
		if _, err := client.CoreV1().Pods("ns").Create(ctx, pull, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		for _, reason := range []string{"ErrImagePull", "ImagePullBackOff", "ImagePullBackOff"} {
			pull.Status.ContainerStatuses[0].State.Waiting.Reason = reason
			if _, err := client.CoreV1().Pods("ns").UpdateStatus(ctx, pull, metav1.UpdateOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		waitFor(t, "the pull problem", func() bool { return strings.Contains(errOut.String(), "ImagePullBackOff") })
		for _, name := range []string{"shop-a", "shop-b"} {
			if err := client.CoreV1().Pods("ns").Delete(ctx, name, metav1.DeleteOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		waitFor(t, "the waiting line", func() bool { return strings.Contains(errOut.String(), "no pod matches any more") })
		if !quiet {
			waitFor(t, "the - line", func() bool { return strings.Contains(errOut.String(), "- shop-a/app\n") })
		} else {
			time.Sleep(goneGrace + 200*time.Millisecond)
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		want := "note: context east: pod ns/shop-b: ErrImagePull\n" +
			"note: context east: pod ns/shop-b: ImagePullBackOff\n" +
			"no pod matches any more; waiting for pods with " + contract.LabelApp + "=shop in namespace ns of context east (Ctrl-C to stop)\n"
		if !quiet {
			want = "+ shop-a/app\n" + want + "- shop-a/app\n"
		}
		if errOut.String() != want {
			t.Errorf("quiet %v: stderr %q, want %q", quiet, errOut.String(), want)
		}
		if out.String() != "shop-a/app east/ns/shop-a/app line 0\n" {
			t.Errorf("quiet %v: stdout %q, want shop-a's line only", quiet, out.String())
		}
	}
}

// TestRunAppOrPod: an APP that names no app's pods but a pod is read as
// that pod (kubectl logs POD), saying so; an app of that name wins.
func TestRunAppOrPod(t *testing.T) {
	k := newFakeKubelet()
	k.add("east/ns/shop-7d9f-x2x/app", 1)
	k.add("east/ns/other/app", 1)
	other := appPod("other", "app")
	other.Labels[contract.LabelApp] = "shop-7d9f-x2x"
	for _, tc := range []struct {
		name       string
		pods       []*corev1.Pod
		wantOut    string
		wantStderr string
	}{
		{"a pod of that name", []*corev1.Pod{appPod("shop-7d9f-x2x", "app")},
			"east/ns/shop-7d9f-x2x/app line 0\n", "no app shop-7d9f-x2x; showing pod shop-7d9f-x2x\n"},
		{"an app of that name wins", []*corev1.Pod{appPod("shop-7d9f-x2x", "app"), other},
			"east/ns/other/app line 0\n", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			client := fake.NewClientset()
			for _, p := range tc.pods {
				if _, err := client.CoreV1().Pods("ns").Create(t.Context(), p, metav1.CreateOptions{}); err != nil {
					t.Fatal(err)
				}
			}
			var out, errOut syncbuf.Buffer
			cfg := &Config{
				Clusters: []Cluster{{Name: "east", Client: client, Namespaces: []string{"ns"}}},
				App:      "shop-7d9f-x2x", LabelSelector: contract.LabelApp + "=shop-7d9f-x2x",
				Format: Format{Output: OutputRaw}, Tail: -1, Out: &out, ErrOut: &errOut, OpenStream: k.open,
			}
			if err := Run(t.Context(), cfg); err != nil {
				t.Fatalf("Run = %v; stderr %q", err, errOut.String())
			}
			if out.String() != tc.wantOut || errOut.String() != tc.wantStderr {
				t.Errorf("stdout %q, stderr %q; want %q, %q", out.String(), errOut.String(), tc.wantOut, tc.wantStderr)
			}
		})
	}
}

// TestRunListOnly: a user who may list pods but not watch them is followed
// with one warning, not client-go's error at every retry of the watch.
func TestRunListOnly(t *testing.T) {
	k := newFakeKubelet()
	k.add("east/ns/shop-a/app", 1)
	client := fake.NewClientset(appPod("shop-a", "app"))
	client.PrependWatchReactor("pods", func(k8stesting.Action) (bool, watch.Interface, error) {
		return true, nil, apierrors.NewForbidden(corev1.Resource("pods"), "", errors.New(`User "lr" cannot watch resource "pods"`))
	})
	var out, errOut syncbuf.Buffer
	cfg := &Config{
		Clusters: []Cluster{{Name: "east", Client: client, Namespaces: []string{"ns"}}},
		Format:   Format{Output: OutputRaw}, Follow: true, Quiet: true, Tail: -1, Out: &out, ErrOut: &errOut, OpenStream: k.open,
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- Run(ctx, cfg) }()
	waitFor(t, "the line and the warning", func() bool {
		return strings.Count(out.String(), "\n") == 1 && strings.Contains(errOut.String(), "may not watch pods")
	})
	time.Sleep(3 * time.Second) // the reflector retries the watch
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(errOut.String(), "\n"); n != 1 || !strings.HasPrefix(errOut.String(), "warning: context east: may not watch pods in namespace ns (kubectl zz logs needs list and watch on pods") {
		t.Errorf("stderr %q, want one warning", errOut.String())
	}
}

// TestRunSameProblemSaidOnce: pods that wait alike are said once in full,
// the next ones pointing to it (a scale audit: ten pending pods gave ten
// 400-character notes before the first line); another reason is said whole.
func TestRunSameProblemSaidOnce(t *testing.T) {
	k := newFakeKubelet()
	for _, name := range []string{"crash-a", "crash-b", "crash-c"} {
		k.add("east/ns/"+name+"/app", 1)
	}
	other := crashLooping("crash-c", "cri://c9", 7)
	client := fake.NewClientset(crashLooping("crash-a", "cri://c1", 3), crashLooping("crash-b", "cri://c2", 3), other)
	var out, errOut syncbuf.Buffer
	cfg := &Config{
		Clusters: []Cluster{{Name: "east", Client: client, Namespaces: []string{"ns"}}},
		Format:   Format{Output: OutputText}, Tail: 1, Out: &out, ErrOut: &errOut, OpenStream: k.open,
	}
	if err := Run(t.Context(), cfg); err != nil {
		t.Fatalf("Run = %v", err)
	}
	lines := strings.Split(strings.TrimSpace(errOut.String()), "\n")
	full := "CrashLoopBackOff: container app exited with code 1 (Error), restarted 3 times"
	if len(lines) != 3 || strings.Count(errOut.String(), full) != 1 ||
		!slices.Contains(lines, "note: context east: pod ns/crash-c: CrashLoopBackOff: container app exited with code 1 (Error), restarted 7 times") ||
		!slices.ContainsFunc(lines, func(l string) bool {
			return strings.HasSuffix(l, ": CrashLoopBackOff, as said of pod crash-a") || strings.HasSuffix(l, ": CrashLoopBackOff, as said of pod crash-b")
		}) {
		t.Errorf("stderr:\n%s", errOut.String())
	}
}
