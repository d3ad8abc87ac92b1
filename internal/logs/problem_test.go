package logs

import (
	"regexp"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

func waitingStatus(name, reason, msg string) corev1.ContainerStatus {
	return corev1.ContainerStatus{Name: name, State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason, Message: msg}}}
}

func TestPodProblem(t *testing.T) {
	onNode := func(p *corev1.Pod) *corev1.Pod {
		p.Spec.NodeName, p.Status.Phase = "node-1", corev1.PodPending
		return p
	}
	pull := onNode(appPod("pull"))
	pull.Status.ContainerStatuses = []corev1.ContainerStatus{waitingStatus("app", "ImagePullBackOff", `Back-off pulling image "registry.local/x:1"`)}
	initCrash := onNode(appPod("initstuck"))
	initCrash.Status.InitContainerStatuses = []corev1.ContainerStatus{waitingStatus("migrate", "CrashLoopBackOff", "")}
	initCrash.Status.InitContainerStatuses[0].RestartCount = 4
	initCrash.Status.InitContainerStatuses[0].LastTerminationState.Terminated = &corev1.ContainerStateTerminated{ExitCode: 1, Reason: "Error", ContainerID: "cri://m4"}
	initCrash.Status.ContainerStatuses = []corev1.ContainerStatus{waitingStatus("app", "PodInitializing", "")}
	creating := onNode(appPod("creating"))
	creating.Status.ContainerStatuses = []corev1.ContainerStatus{waitingStatus("app", "ContainerCreating", "")}
	unsched := appPod("unsched")
	unsched.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: "Unschedulable", Message: "0/3 nodes are available: 3 Insufficient cpu."}}
	sidecarPull := onNode(appPod("side", "app"))
	sidecarPull.Status.ContainerStatuses = append(sidecarPull.Status.ContainerStatuses, waitingStatus("log-agent", "ErrImagePull", "not found"))

	tests := []struct {
		name      string
		pod       *corev1.Pod
		sel       Selector
		want      string // "" for none
		transient bool
	}{
		{"crash loop between runs", crashPod(), Selector{}, "CrashLoopBackOff: container app exited with code 1 (Error), restarted 3 times", false},
		{"image pull", pull, Selector{}, `ImagePullBackOff: Back-off pulling image "registry.local/x:1"`, false},
		{"init container crash loop", initCrash, Selector{}, "CrashLoopBackOff: init container migrate exited with code 1 (Error), restarted 4 times", false},
		{"init crash loop holds -c app back too", initCrash, Selector{Container: regexp.MustCompile(`^app$`)}, "CrashLoopBackOff: init container migrate exited with code 1 (Error), restarted 4 times", false},
		{"being created", creating, Selector{}, "Pending: phase Pending on node node-1", true},
		{"not scheduled: no container status", unsched, Selector{}, "Unschedulable: 0/3 nodes are available: 3 Insufficient cpu.", false},
		{"running", appPod("ok", "app"), Selector{}, "", false},
		{"a container -c leaves out", sidecarPull, Selector{Container: regexp.MustCompile(`^app$`)}, "", false},
		{"a container -c keeps", sidecarPull, Selector{}, "ErrImagePull: not found", false},
		{"--previous says nothing", crashPod(), Selector{Previous: true}, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, transient, ok := tt.sel.podProblem(tt.pod)
			got := ""
			if ok {
				got = p.String()
			}
			if got != tt.want || transient != tt.transient {
				t.Errorf("podProblem = %q (transient %v), want %q (transient %v)", got, transient, tt.want, tt.transient)
			}
		})
	}
}
