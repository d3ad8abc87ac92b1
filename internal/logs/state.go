package logs

import (
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// ContainerState is a state a container is in (stern's --container-state):
// Selector.States picks, among the containers found at start, those to
// stream by the state they are in then.
type ContainerState string

// Container states; StateAll is any of them.
const (
	StateRunning    ContainerState = "running"
	StateWaiting    ContainerState = "waiting"
	StateTerminated ContainerState = "terminated"
	StateAll        ContainerState = "all"
)

// ContainerStates are the words --container-state takes, for help and
// completion.
var ContainerStates = []string{string(StateRunning), string(StateWaiting), string(StateTerminated), string(StateAll)}

// ParseContainerStates reads --container-state words (repeated or
// comma-separated, as stern takes them); none, or "all" among them, is
// every state (nil).
func ParseContainerStates(words []string) ([]ContainerState, error) {
	var out []ContainerState
	for _, w := range words {
		w = strings.ToLower(strings.TrimSpace(w))
		if !slices.Contains(ContainerStates, w) {
			return nil, fmt.Errorf("--container-state %q: want %s (repeat the flag or separate them with commas)", w, strings.Join(ContainerStates, ", "))
		}
		if ContainerState(w) == StateAll {
			return nil, nil
		}
		if !slices.Contains(out, ContainerState(w)) {
			out = append(out, ContainerState(w))
		}
	}
	return out, nil
}

// stateOf names the state a container status is in.
func stateOf(st corev1.ContainerState) ContainerState {
	switch {
	case st.Running != nil:
		return StateRunning
	case st.Terminated != nil:
		return StateTerminated
	}
	return StateWaiting
}

// startsWith reports whether a container found at start in state is
// streamed. As in stern, the filter holds only for those: a container's
// next run (a new containerID) is always streamed, so that --container-state
// running still shows a crash-looping container when it starts again.
func (s *Selector) startsWith(state ContainerState) bool {
	return len(s.States) == 0 || slices.Contains(s.States, state)
}

// leftOutByState is how many containers found at start --container-state
// left out.
func (m *manager) leftOutByState() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.statesLeftOut
}

func statesWord(states []ContainerState) string {
	words := make([]string, len(states))
	for i, st := range states {
		words[i] = string(st)
	}
	return strings.Join(words, ",")
}
