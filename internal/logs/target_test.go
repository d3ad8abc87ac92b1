package logs

import (
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
