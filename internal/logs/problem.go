package logs

import (
	corev1 "k8s.io/api/core/v1"

	"github.com/zzcloud/zz/internal/deploy"
)

// podProblem says why a matched pod has a selected container with no
// current run to follow: waiting to start (ImagePullBackOff, a crash loop
// between runs, ContainerCreating), or a pod no node runs yet. It is worded
// as kubectl zz deploy and status word pod problems (deploy.PodProblem).
// transient marks a pod on its way up (Pending: not scheduled yet, or its
// containers being created): a follower picks it up once it starts, so only
// --no-follow, which ends before that, names it. ok is false when there is
// nothing to say: every selected container runs or has ended.
func (s *Selector) podProblem(pod *corev1.Pod) (p deploy.Problem, transient, ok bool) {
	if s.Previous || !s.MatchPod(pod) || !s.waits(pod) {
		return p, false, false
	}
	p, ok = deploy.PodProblem(pod)
	if !ok || p.Reason == "NotReady" {
		return p, false, false
	}
	// A regular container the filter leaves out is not this command's
	// business; an init container that fails holds every other back.
	if p.Container != "" && isRegular(pod, p.Container) && !s.wants(pod, KindRegular, p.Container) {
		return p, false, false
	}
	return p, p.Reason == "Pending", true
}

// waits reports whether a container the selector picks is waiting (to
// start, or to restart), or none has a status yet.
func (s *Selector) waits(pod *corev1.Pod) bool {
	st := pod.Status
	if len(st.InitContainerStatuses)+len(st.ContainerStatuses)+len(st.EphemeralContainerStatuses) == 0 {
		kept, known := s.containerNames(pod, map[string]bool{})
		return kept || !known // its spec, when known, has one to wait for
	}
	for kind, statuses := range map[ContainerKind][]corev1.ContainerStatus{KindInit: st.InitContainerStatuses, KindRegular: st.ContainerStatuses, KindEphemeral: st.EphemeralContainerStatuses} {
		for _, cs := range statuses {
			if cs.State.Waiting != nil && s.wants(pod, kind, cs.Name) {
				return true
			}
		}
	}
	return false
}

func isRegular(pod *corev1.Pod, name string) bool {
	for _, cs := range pod.Status.ContainerStatuses {
		if cs.Name == name {
			return true
		}
	}
	return false
}
