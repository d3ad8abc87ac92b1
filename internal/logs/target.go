package logs

import (
	"regexp"

	corev1 "k8s.io/api/core/v1"
)

// ContainerKind says where a container is declared in the pod spec.
type ContainerKind string

// Container kinds.
const (
	KindRegular   ContainerKind = "container"
	KindInit      ContainerKind = "init"
	KindEphemeral ContainerKind = "ephemeral"
)

// Selector chooses pods and containers. The label selector is applied by the
// API server (see Config.LabelSelector); Selector does what a label cannot.
type Selector struct {
	// Pod, when set, must match the pod name; ExcludePod must not.
	Pod        *regexp.Regexp
	ExcludePod *regexp.Regexp
	// Container and ExcludeContainer match container names.
	Container        *regexp.Regexp
	ExcludeContainer *regexp.Regexp
	// Init and Ephemeral include those containers too.
	Init      bool
	Ephemeral bool
	// Previous picks, instead of each container's current run, the one
	// before it: only containers that restarted have one (kubectl logs
	// --previous).
	Previous bool
}

// Target is one container run whose log can be streamed.
type Target struct {
	Namespace string
	Pod       string
	PodUID    string
	Container string
	Kind      ContainerKind
	// ContainerID changes when the container restarts; a new ID is a new stream.
	ContainerID string
	// Running is false for a container that has terminated: its stream ends at
	// the end of its log.
	Running bool
	// Previous is the run before the current one (Selector.Previous).
	Previous bool
}

// Key identifies a source (namespace/pod/container), the same across restarts.
func (t Target) Key() string { return t.Namespace + "/" + t.Pod + "/" + t.Container }

// MatchPod reports whether the pod's name passes the selector.
func (s *Selector) MatchPod(pod *corev1.Pod) bool {
	return (s.Pod == nil || s.Pod.MatchString(pod.Name)) && (s.ExcludePod == nil || !s.ExcludePod.MatchString(pod.Name))
}

// Targets lists the containers of pod whose logs can be read now: those the
// selector picks that have started (they carry a containerID, as the kubelet
// requires before it serves a log). A pod that is being deleted still yields its
// running containers, whose last lines matter most.
func (s *Selector) Targets(pod *corev1.Pod) []Target {
	if !s.MatchPod(pod) {
		return nil
	}
	var out []Target
	add := func(kind ContainerKind, statuses []corev1.ContainerStatus) {
		for _, st := range statuses {
			if !s.matchContainer(st.Name) {
				continue
			}
			t, ok := targetOf(pod, kind, st, s.Previous)
			if ok {
				out = append(out, t)
			}
		}
	}
	if s.Init {
		add(KindInit, pod.Status.InitContainerStatuses)
	}
	add(KindRegular, pod.Status.ContainerStatuses)
	if s.Ephemeral {
		add(KindEphemeral, pod.Status.EphemeralContainerStatuses)
	}
	return out
}

func (s *Selector) matchContainer(name string) bool {
	if s.Container != nil && !s.Container.MatchString(name) {
		return false
	}
	return s.ExcludeContainer == nil || !s.ExcludeContainer.MatchString(name)
}

// targetOf is the stream of one container status, if its log can be read: the
// current run when it is running or has terminated, else the last run. With
// previous, the run before the current one, which the kubelet keeps until the
// next restart; a container that never restarted has none.
func targetOf(pod *corev1.Pod, kind ContainerKind, st corev1.ContainerStatus, previous bool) (Target, bool) {
	t := Target{Namespace: pod.Namespace, Pod: pod.Name, PodUID: string(pod.UID), Container: st.Name, Kind: kind, Previous: previous}
	switch {
	case previous:
		last := st.LastTerminationState.Terminated
		if last == nil {
			return t, false
		}
		t.ContainerID = last.ContainerID
	case st.State.Running != nil && st.ContainerID != "":
		t.ContainerID, t.Running = st.ContainerID, true
	case st.State.Terminated != nil && st.State.Terminated.ContainerID != "":
		t.ContainerID = st.State.Terminated.ContainerID
	case st.State.Terminated != nil && st.ContainerID != "":
		t.ContainerID = st.ContainerID
	default:
		return t, false // waiting, or not started yet
	}
	return t, true
}
