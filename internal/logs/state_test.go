package logs

import (
	"context"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/zzcloud/zz/internal/syncbuf"
)

func TestParseContainerStates(t *testing.T) {
	for _, tt := range []struct {
		words   []string
		want    []ContainerState
		wantErr string
	}{
		{nil, nil, ""},
		{[]string{"running"}, []ContainerState{StateRunning}, ""},
		{[]string{"Running", "waiting", "running"}, []ContainerState{StateRunning, StateWaiting}, ""},
		{[]string{"terminated", "all"}, nil, ""},
		{[]string{"ready"}, nil, `--container-state "ready": want running, waiting, terminated, all`},
	} {
		got, err := ParseContainerStates(tt.words)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("%v: %v, want %q", tt.words, err, tt.wantErr)
			}
			continue
		}
		if err != nil || !slices.Equal(got, tt.want) {
			t.Errorf("%v: %v, %v; want %v", tt.words, got, err, tt.want)
		}
	}
}

// TestRunContainerState: --container-state picks, among the containers
// found at start, those in the states named (stern's semantics): a
// crash-looping container's last run and a completed container are left
// out with running, and the crash-looping one's next run is streamed
// (a new containerID), while an update of a run left out does not bring it
// back. --no-follow that leaves everything out says why.
func TestRunContainerState(t *testing.T) {
	done := appPod("done", "app")
	done.Status.ContainerStatuses[0].State = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 0, ContainerID: "cri://done-app"}}
	pods := func() []*corev1.Pod {
		return []*corev1.Pod{crashLooping("crash", "cri://c3", 3), appPod("healthy", "app"), done}
	}
	for _, tt := range []struct {
		name    string
		states  []ContainerState
		sources []string // read with --no-follow
	}{
		{"every state (the default)", nil, []string{"crash/app", "done/app", "healthy/app"}},
		{"running", []ContainerState{StateRunning}, []string{"healthy/app"}},
		{"waiting and terminated", []ContainerState{StateWaiting, StateTerminated}, []string{"crash/app", "done/app"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			k := newFakeKubelet()
			for _, p := range []string{"crash", "healthy", "done"} {
				k.add("east/ns/"+p+"/app", 1)
			}
			client := fake.NewClientset()
			for _, p := range pods() {
				if _, err := client.CoreV1().Pods("ns").Create(t.Context(), p, metav1.CreateOptions{}); err != nil {
					t.Fatal(err)
				}
			}
			var out, errOut syncbuf.Buffer
			cfg := &Config{
				Clusters: []Cluster{{Name: "east", Client: client, Namespaces: []string{"ns"}}}, Selector: Selector{States: tt.states},
				Format: Format{Output: OutputText}, Tail: -1, Out: &out, ErrOut: &errOut, OpenStream: k.open,
			}
			if err := Run(t.Context(), cfg); err != nil {
				t.Fatalf("Run = %v", err)
			}
			var got []string
			for _, l := range strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n") {
				src, _, _ := strings.Cut(l, " ")
				got = append(got, src)
			}
			slices.Sort(got)
			if !slices.Equal(got, tt.sources) {
				t.Errorf("--no-follow read %q, want %q", got, tt.sources)
			}
		})
	}

	// Following with running: the next run of a container left out at start
	// is streamed (a new containerID), not an update of the run left out.
	// A container waiting that never ran has no containerID yet: its first
	// run gets one and is streamed too (review 15 L4).
	waiting := appPod("crash", "app")
	waiting.Spec.NodeName, waiting.Status.Phase = "node-1", corev1.PodPending
	waiting.Status.ContainerStatuses[0].ContainerID = ""
	waiting.Status.ContainerStatuses[0].State = corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ContainerCreating"}}
	for _, tc := range []struct {
		name  string
		start *corev1.Pod
		again *corev1.Pod // the same run, updated: not streamed
		next  string      // the next run's containerID
		noLog string      // --no-follow's last line on stderr
	}{
		{"a crash loop's next run", crashLooping("crash", "cri://c3", 3), crashLooping("crash", "cri://c3", 4), "cri://c4",
			"1 pod matched, but --container-state running left out the 1 container found, so nothing was logged\n"},
		{"waiting, never ran, then starts", waiting, waiting.DeepCopy(), "cri://c1",
			"1 pod matched, but no selected container has run yet, so nothing was logged; follow (drop --no-follow) to see them start\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k := newFakeKubelet()
			k.add("east/ns/crash/app", 1)
			client := fake.NewClientset(tc.start)
			var out, errOut syncbuf.Buffer
			cfg := &Config{
				Clusters: []Cluster{{Name: "east", Client: client, Namespaces: []string{"ns"}}}, Selector: Selector{States: []ContainerState{StateRunning}},
				Format: Format{Output: OutputText}, Tail: -1, Out: &out, ErrOut: &errOut, OpenStream: k.open,
			}
			if err := Run(t.Context(), cfg); err != nil {
				t.Fatalf("Run = %v", err)
			}
			if !strings.HasSuffix(errOut.String(), tc.noLog) || out.String() != "" {
				t.Errorf("--no-follow: stdout %q, stderr %q; want stderr ending %q", out.String(), errOut.String(), tc.noLog)
			}
			out, errOut = syncbuf.Buffer{}, syncbuf.Buffer{}
			cfg.Out, cfg.ErrOut, cfg.Follow, cfg.Quiet = &out, &errOut, true, true
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			runDone := make(chan error, 1)
			go func() { runDone <- Run(ctx, cfg) }()
			waitFor(t, "the follower's watch", func() bool {
				return slices.ContainsFunc(client.Actions(), func(a k8stesting.Action) bool { return a.GetVerb() == "watch" })
			})
			if _, err := client.CoreV1().Pods("ns").UpdateStatus(ctx, tc.again, metav1.UpdateOptions{}); err != nil {
				t.Fatal(err)
			}
			restarted := appPod("crash", "app")
			restarted.Status.ContainerStatuses[0].ContainerID = tc.next
			if _, err := client.CoreV1().Pods("ns").UpdateStatus(ctx, restarted, metav1.UpdateOptions{}); err != nil {
				t.Fatal(err)
			}
			k.add("east/ns/crash/app", 1)
			waitFor(t, "the next run", func() bool { return strings.Contains(out.String(), "line 1") })
			cancel()
			if err := <-runDone; err != nil {
				t.Fatal(err)
			}
			if got := out.String(); got != "crash/app east/ns/crash/app line 0\ncrash/app east/ns/crash/app line 1\n" {
				t.Errorf("follow: stdout %q, want the next run's whole log once", got)
			}
			if opens := k.openCount("east/ns/crash/app"); len(opens) != 1 {
				t.Errorf("%d log requests, want 1 (the next run's)", len(opens))
			}
		})
	}
}
