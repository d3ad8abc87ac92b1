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
	// Init and Ephemeral include those containers too (native sidecars
	// are in without Init; a -c filter looks at every kind: see wants).
	Init      bool
	Ephemeral bool
	// Previous picks, instead of each container's current run, the one
	// before it: only containers that restarted have one (kubectl logs
	// --previous).
	Previous bool
	// States, when set, are the states a container found at start must be
	// in for its log to be streamed (see startsWith); nil is any state.
	States []ContainerState
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
	// State is the state the container is in (a crash loop's last run is
	// read while it waits).
	State ContainerState
}

// Key identifies a source (namespace/pod/container), the same across restarts.
func (t Target) Key() string { return t.Namespace + "/" + t.Pod + "/" + t.Container }

// MatchPod reports whether the pod's name passes the selector.
func (s *Selector) MatchPod(pod *corev1.Pod) bool {
	return (s.Pod == nil || s.Pod.MatchString(pod.Name)) && (s.ExcludePod == nil || !s.ExcludePod.MatchString(pod.Name))
}

// Targets lists the containers of pod whose logs can be read now: those the
// selector picks that have run (a containerID, as the kubelet requires
// before it serves a log). A pod that is being deleted still yields its
// running containers, whose last lines matter most.
func (s *Selector) Targets(pod *corev1.Pod) []Target {
	if !s.MatchPod(pod) {
		return nil
	}
	var out []Target
	add := func(kind ContainerKind, statuses []corev1.ContainerStatus) {
		for _, st := range statuses {
			if !s.wants(pod, kind, st.Name) {
				continue
			}
			t, ok := targetOf(pod, kind, st, s.Previous)
			if ok {
				out = append(out, t)
			}
		}
	}
	add(KindInit, pod.Status.InitContainerStatuses)
	add(KindRegular, pod.Status.ContainerStatuses)
	add(KindEphemeral, pod.Status.EphemeralContainerStatuses)
	return out
}

// wants reports whether the selector picks a container of pod. Regular
// containers and native sidecars (init containers with restartPolicy
// Always: they run beside the app for the pod's whole life) are picked by
// default; other init containers and ephemeral ones with --init-containers
// and --ephemeral-containers, or when -c names them (kubectl logs -c init),
// so that -c never waits for a container the pod has under another kind.
func (s *Selector) wants(pod *corev1.Pod, kind ContainerKind, name string) bool {
	return s.includes(pod, kind, name) && s.matchContainer(name)
}

// includes is wants without the container name filter.
func (s *Selector) includes(pod *corev1.Pod, kind ContainerKind, name string) bool {
	switch kind {
	case KindInit:
		return s.Init || s.Container != nil || isSidecar(pod, name)
	case KindEphemeral:
		return s.Ephemeral || s.Container != nil
	}
	return true
}

// isSidecar reports whether pod's init container name is a native sidecar
// (restartPolicy: Always).
func isSidecar(pod *corev1.Pod, name string) bool {
	for _, c := range pod.Spec.InitContainers {
		if c.Name == name {
			return c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways
		}
	}
	return false
}

func (s *Selector) matchContainer(name string) bool {
	if s.Container != nil && !s.Container.MatchString(name) {
		return false
	}
	return s.ExcludeContainer == nil || !s.ExcludeContainer.MatchString(name)
}

// targetOf is the stream of one container status, if its log can be read,
// in the kubelet's order (validateContainerLogStatus): the current run when
// it is running or has terminated, else the last run that ended (a
// container waiting in CrashLoopBackOff: kubectl logs prints its last
// crash), read once; the next run has a new containerID, hence a new
// stream. With previous, the run before the current one, which the kubelet
// keeps until the next restart; a container that never restarted has none.
func targetOf(pod *corev1.Pod, kind ContainerKind, st corev1.ContainerStatus, previous bool) (Target, bool) {
	t := Target{Namespace: pod.Namespace, Pod: pod.Name, PodUID: string(pod.UID), Container: st.Name, Kind: kind, Previous: previous, State: stateOf(st.State)}
	last := st.LastTerminationState.Terminated
	switch {
	case previous:
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
	case st.State.Running == nil && last != nil && last.ContainerID != "":
		t.ContainerID = last.ContainerID // waiting to restart: its last run
	default:
		return t, false // not started yet
	}
	return t, true
}

// filtersContainers reports whether -c or --exclude-container is set.
func (s *Selector) filtersContainers() bool {
	return s.Container != nil || s.ExcludeContainer != nil
}

// containerNames adds to names the containers of pod that the selector looks
// at (init and ephemeral ones as wants says, -c naming them included), from
// its spec and its status, whether started or not; it reports whether the
// container filter keeps any of them, and whether any were found: a pod not
// scheduled yet, seen through the informer's slim copy (no container spec,
// no status), has none to tell.
func (s *Selector) containerNames(pod *corev1.Pod, names map[string]bool) (kept, known bool) {
	add := func(kind ContainerKind, name string) {
		if !s.includes(pod, kind, name) {
			return
		}
		names[name], known = true, true
		if s.matchContainer(name) {
			kept = true
		}
	}
	for _, c := range pod.Spec.InitContainers {
		add(KindInit, c.Name)
	}
	for _, st := range pod.Status.InitContainerStatuses {
		add(KindInit, st.Name)
	}
	for _, c := range pod.Spec.Containers {
		add(KindRegular, c.Name)
	}
	for _, st := range pod.Status.ContainerStatuses {
		add(KindRegular, st.Name)
	}
	for _, c := range pod.Spec.EphemeralContainers {
		add(KindEphemeral, c.Name)
	}
	for _, st := range pod.Status.EphemeralContainerStatuses {
		add(KindEphemeral, st.Name)
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
