package logs

import (
	"regexp"
	"strings"

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

// filtersContainers reports whether -c or --exclude-container is set.
func (s *Selector) filtersContainers() bool {
	return s.Container != nil || s.ExcludeContainer != nil
}

// containerNames adds to names the containers of pod that the selector looks
// at (init and ephemeral ones only when asked for), from its spec and its
// status, whether started or not; it reports whether the container filter
// keeps any of them, and whether any were found: a pod not scheduled yet, seen
// through the informer's slim copy (no spec, no status), has none to tell.
func (s *Selector) containerNames(pod *corev1.Pod, names map[string]bool) (kept, known bool) {
	add := func(name string) {
		names[name], known = true, true
		if s.matchContainer(name) {
			kept = true
		}
	}
	if s.Init {
		for _, c := range pod.Spec.InitContainers {
			add(c.Name)
		}
		for _, st := range pod.Status.InitContainerStatuses {
			add(st.Name)
		}
	}
	for _, c := range pod.Spec.Containers {
		add(c.Name)
	}
	for _, st := range pod.Status.ContainerStatuses {
		add(st.Name)
	}
	if s.Ephemeral {
		for _, c := range pod.Spec.EphemeralContainers {
			add(c.Name)
		}
		for _, st := range pod.Status.EphemeralContainerStatuses {
			add(st.Name)
		}
	}
	return kept, known
}

// filterFlags names the container filter as given on the command line.
func (s *Selector) filterFlags() string {
	var parts []string
	if s.Container != nil {
		parts = append(parts, "-c "+shellWord(s.Container.String()))
	}
	if s.ExcludeContainer != nil {
		parts = append(parts, "--exclude-container "+shellWord(s.ExcludeContainer.String()))
	}
	return strings.Join(parts, " ")
}

// shellWord quotes a regex that a shell would not take as one word.
func shellWord(s string) string {
	if s != "" && !strings.ContainsAny(s, " \t\n'\"\\$`*?[]{}()|&;<>!#~") {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
