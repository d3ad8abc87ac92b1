package logs

import (
	"fmt"
	"regexp"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func running(name, id string) corev1.ContainerStatus {
	return corev1.ContainerStatus{Name: name, ContainerID: id, State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}
}

func testPod() *corev1.Pod {
	restarted := running("app", "cri://a1")
	restarted.RestartCount, restarted.LastTerminationState.Terminated = 1, &corev1.ContainerStateTerminated{ExitCode: 1, ContainerID: "cri://a0"}
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "shop-7d9f-abcde", UID: "u1"},
		Status: corev1.PodStatus{
			InitContainerStatuses: []corev1.ContainerStatus{{Name: "migrate", State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ContainerID: "cri://m1"}}}},
			ContainerStatuses: []corev1.ContainerStatus{
				restarted,
				running("istio-proxy", "cri://p1"),
				{Name: "starting", State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ContainerCreating"}}},
				{Name: "noid", State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}, // kwok without containerID
				{Name: "done", ContainerID: "cri://d1", State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 0}}},
			},
			EphemeralContainerStatuses: []corev1.ContainerStatus{running("debugger", "cri://e1")},
		},
	}
}

func TestSelectorTargets(t *testing.T) {
	re := regexp.MustCompile
	tests := []struct {
		name string
		sel  Selector
		want []string // container:running
	}{
		{"default: started regular containers", Selector{}, []string{"app:true", "istio-proxy:true", "done:false"}},
		{"pod regex matches", Selector{Pod: re(`^shop-`)}, []string{"app:true", "istio-proxy:true", "done:false"}},
		{"pod regex misses", Selector{Pod: re(`^cart-`)}, nil},
		{"pod excluded", Selector{Pod: re(`^shop-`), ExcludePod: re(`-abcde$`)}, nil},
		{"exclusion misses", Selector{ExcludePod: re(`^cart-`)}, []string{"app:true", "istio-proxy:true", "done:false"}},
		{"container regex", Selector{Container: re(`^app$`)}, []string{"app:true"}},
		{"exclude container", Selector{ExcludeContainer: re(`proxy`)}, []string{"app:true", "done:false"}},
		{"init on request", Selector{Init: true}, []string{"migrate:false", "app:true", "istio-proxy:true", "done:false"}},
		{"ephemeral on request", Selector{Ephemeral: true, Container: re(`debug`)}, []string{"debugger:true"}},
		{"container regex applies to init too", Selector{Init: true, Container: re(`migr`)}, []string{"migrate:false"}},
		// Only app restarted: its run before the current one, ended.
		{"previous runs", Selector{Previous: true, Init: true, Ephemeral: true}, []string{"app:false"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, tg := range tt.sel.Targets(testPod()) {
				if tg.Namespace != "ns" || tg.Pod != "shop-7d9f-abcde" || tg.PodUID != "u1" || tg.ContainerID == "" {
					t.Errorf("target %+v lacks pod identity or containerID", tg)
				}
				got = append(got, tg.Container+":"+map[bool]string{true: "true", false: "false"}[tg.Running])
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("Targets = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestTargetKindsAndIDs(t *testing.T) {
	sel := Selector{Init: true, Ephemeral: true}
	kinds := map[string]ContainerKind{}
	ids := map[string]string{}
	for _, tg := range sel.Targets(testPod()) {
		kinds[tg.Container], ids[tg.Container] = tg.Kind, tg.ContainerID
	}
	if kinds["migrate"] != KindInit || kinds["app"] != KindRegular || kinds["debugger"] != KindEphemeral {
		t.Errorf("kinds = %v", kinds)
	}
	if ids["migrate"] != "cri://m1" || ids["done"] != "cri://d1" || ids["app"] != "cri://a1" {
		t.Errorf("terminated containers' IDs = %v", ids)
	}
	prevSel := Selector{Previous: true}
	prev := prevSel.Targets(testPod())
	if len(prev) != 1 || prev[0].ContainerID != "cri://a0" || !prev[0].Previous || prev[0].Running {
		t.Errorf("previous targets = %+v, want app's run cri://a0", prev)
	}
}

func mustRe(t *testing.T, s string) *regexp.Regexp {
	t.Helper()
	return regexp.MustCompile(s)
}

// crashPod has a crash-looping app container (waiting, its last run
// ended), a native sidecar, a run-to-completion init container and a
// debug container.
func crashPod() *corev1.Pod {
	always := corev1.ContainerRestartPolicyAlways
	crash := corev1.ContainerStatus{Name: "app", ContainerID: "cri://a3", RestartCount: 3,
		State:                corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}},
		LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 1, Reason: "Error", ContainerID: "cri://a3"}}}
	noLastID := corev1.ContainerStatus{Name: "noid", State: crash.State,
		LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 1}}}
	restarting := corev1.ContainerStatus{Name: "restarting", State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 1}},
		LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 1, ContainerID: "cri://r1"}}}
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "crash", UID: "u2"},
		Spec:       corev1.PodSpec{InitContainers: []corev1.Container{{Name: "migrate"}, {Name: "proxy", RestartPolicy: &always}}},
		Status: corev1.PodStatus{
			InitContainerStatuses: []corev1.ContainerStatus{
				{Name: "migrate", State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ContainerID: "cri://m1"}}},
				running("proxy", "cri://p1"),
			},
			ContainerStatuses:          []corev1.ContainerStatus{crash, noLastID, restarting},
			EphemeralContainerStatuses: []corev1.ContainerStatus{running("debugger", "cri://e1")},
		},
	}
}

// TestTargetsCrashLoopAndKinds: a container waiting to restart is read as
// its last run (the kubelet serves it: validateContainerLogStatus), once;
// native sidecars are in by default; -c looks at init and ephemeral
// containers without --init-containers or --ephemeral-containers.
func TestTargetsCrashLoopAndKinds(t *testing.T) {
	re := regexp.MustCompile
	tests := []struct {
		name string
		sel  Selector
		want []string // container:containerID:running
	}{
		{"default: sidecar and last runs", Selector{}, []string{"proxy:cri://p1:true", "app:cri://a3:false", "restarting:cri://r1:false"}},
		{"init containers", Selector{Init: true}, []string{"migrate:cri://m1:false", "proxy:cri://p1:true", "app:cri://a3:false", "restarting:cri://r1:false"}},
		{"-c names an init container", Selector{Container: re(`^migrate$`)}, []string{"migrate:cri://m1:false"}},
		{"-c names a sidecar", Selector{Container: re(`^proxy$`)}, []string{"proxy:cri://p1:true"}},
		{"-c names a debug container", Selector{Container: re(`^debugger$`)}, []string{"debugger:cri://e1:true"}},
		{"-E leaves the sidecar out", Selector{ExcludeContainer: re(`proxy`)}, []string{"app:cri://a3:false", "restarting:cri://r1:false"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, tg := range tt.sel.Targets(crashPod()) {
				got = append(got, fmt.Sprintf("%s:%s:%v", tg.Container, tg.ContainerID, tg.Running))
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("Targets = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestSlimPodKeepsWhatTargetsRead: the informer's slim copy yields the
// same targets and the same pod problem as the full pod.
func TestSlimPodKeepsWhatTargetsRead(t *testing.T) {
	for _, sel := range []Selector{{}, {Init: true}, {Container: regexp.MustCompile(`^migrate$`)}} {
		full := crashPod()
		full.Status.Phase, full.Spec.NodeName = corev1.PodRunning, "node-1"
		full.Status.ContainerStatuses[0].LastTerminationState.Terminated.Message = "open /etc/x: no such file\ngoroutine 1"
		slim, err := slimPod(full)
		if err != nil {
			t.Fatal(err)
		}
		if a, b := sel.Targets(full), sel.Targets(slim.(*corev1.Pod)); !slices.Equal(a, b) {
			t.Errorf("targets of the full pod %v, of the slim one %v", a, b)
		}
		p1, _, ok1 := sel.podProblem(full)
		p2, _, ok2 := sel.podProblem(slim.(*corev1.Pod))
		if ok1 != ok2 || p1.String() != p2.String() {
			t.Errorf("problem of the full pod %q, of the slim one %q", p1, p2)
		}
	}
}
