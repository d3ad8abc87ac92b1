package deploy

import (
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/zzcloud/zz/internal/prose"
)

// SoakLeft is how long until every ready pod of pods has stayed ready for
// minReady (spec.minReadySeconds), by its Ready condition's
// lastTransitionTime: what the ReplicaSet controller waits out before it
// counts a pod available. 0 when none is still in its soak; a transition
// ahead of now (clock skew) counts as just now. Pods that are not ready
// are not counted: their soak has not begun.
func SoakLeft(pods []corev1.Pod, minReady time.Duration, now time.Time) time.Duration {
	var left time.Duration
	for i := range pods {
		p := &pods[i]
		if p.DeletionTimestamp != nil {
			continue
		}
		for _, c := range p.Status.Conditions {
			if c.Type != corev1.PodReady || c.Status != corev1.ConditionTrue {
				continue
			}
			since := max(now.Sub(c.LastTransitionTime.Time), 0)
			left = max(left, minReady-since)
		}
	}
	return left
}

// soaking says some pods are ready but not yet available: they wait out
// spec.minReadySeconds (the Deployment's minReadySeconds).
func (s Status) soaking() bool {
	return s.MinReady > 0 && s.Observed && s.Ready > s.Available
}

// soakWords is what the progress line adds while pods soak: when they are
// all ready, how long until the last is available (SoakLeft), else how
// many are (", 1/3 available (minReadySeconds 10)"); "" when none soaks.
func (s Status) soakWords() string {
	if !s.soaking() {
		return ""
	}
	if s.Ready >= s.Want && s.SoakLeft > 0 {
		return fmt.Sprintf(", available in %s (minReadySeconds %d)", prose.Duration((s.SoakLeft + time.Second - 1).Truncate(time.Second)), s.MinReady)
	}
	return fmt.Sprintf(", %d/%d available (minReadySeconds %d)", s.Available, s.Want, s.MinReady)
}

// notAvailable is what a wait that ended while pods soaked says: ready is
// not yet enough.
func (s Status) notAvailable(after time.Duration) string {
	return fmt.Sprintf("not available after %s: %d/%d ready, %d available; a new pod counts once it has stayed ready for spec.minReadySeconds (%ds)",
		after, s.Ready, s.Want, s.Available, s.MinReady)
}
