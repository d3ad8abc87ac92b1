package deploy

import (
	"fmt"
	"slices"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/zzcloud/zz/internal/contract"
	"github.com/zzcloud/zz/internal/prose"
)

// UnbalancedPods are an app's pods the zz webhook left to the default
// scheduler because the scheduler its policy routes them to could not
// schedule when they were created (contract.AnnotationSchedulerFallback):
// they run, but no balance placed them. The webhook's warning about it
// reaches the ReplicaSet controller that created them, not the app's owner.
type UnbalancedPods struct {
	// Scheduler is the one that could not schedule (zz-scheduler).
	Scheduler string `json:"scheduler"`
	// Pods are their names, sorted.
	Pods []string `json:"pods"`
}

// Unbalanced finds them among pods (nil when none).
func Unbalanced(pods []corev1.Pod) *UnbalancedPods {
	var u *UnbalancedPods
	for i := range pods {
		u = u.add(&pods[i])
	}
	u.sort()
	return u
}

// add adds p to u (made on the first) when it is one: still on the default
// scheduler with the webhook's note, not terminating.
func (u *UnbalancedPods) add(p *corev1.Pod) *UnbalancedPods {
	by := p.Annotations[contract.AnnotationSchedulerFallback]
	// Anyone who writes the namespace's pods can write the annotation: only
	// a scheduler's name is read, so what kubectl zz prints of it is a name
	// (no terminal escapes, no sentence of the writer's).
	if by == "" || len(validation.IsDNS1123Subdomain(by)) > 0 || p.DeletionTimestamp != nil ||
		(p.Spec.SchedulerName != "" && p.Spec.SchedulerName != corev1.DefaultSchedulerName) {
		return u
	}
	if u == nil {
		u = &UnbalancedPods{Scheduler: by}
	}
	u.Pods = append(u.Pods, p.Name)
	return u
}

func (u *UnbalancedPods) sort() {
	if u != nil {
		slices.Sort(u.Pods)
	}
}

// Note is the sentence kubectl zz says of them.
func (u *UnbalancedPods) Note(app string) string {
	pods, verb := fmt.Sprintf("%d pods", len(u.Pods)), "run"
	if len(u.Pods) == 1 {
		pods, verb = "1 pod", "runs"
	}
	return fmt.Sprintf("%s of %s %s unbalanced (%s): %s could not schedule when they were created, so the zz webhook left them to %s; kubectl zz restart %s replaces them once it schedules again (kubectl zz check says whether it does)",
		pods, app, verb, prose.Some(u.Pods, 3), u.Scheduler, corev1.DefaultSchedulerName, app)
}
