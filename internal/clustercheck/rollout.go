package clustercheck

import (
	"fmt"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
)

// workload is what components judges of a zz Deployment or DaemonSet.
type workload struct {
	kind, namespace, name string
	ready, desired        int32
	// updated counts the pods (nodes, for a DaemonSet) on the current
	// template; seen is false while the controller has not yet observed the
	// current generation, so its counts are of the previous template.
	updated int32
	seen    bool
	// stuck is the controller's word for a rollout that stopped
	// (ProgressDeadlineExceeded); refused is why pods cannot be created
	// (ReplicaFailure: a quota, a Pod Security level, an admission webhook).
	stuck, refused string
}

func deploymentWorkload(d appsv1.Deployment) workload {
	w := workload{kind: "Deployment", namespace: d.Namespace, name: d.Name, desired: 1,
		ready: d.Status.ReadyReplicas, updated: d.Status.UpdatedReplicas, seen: d.Status.ObservedGeneration >= d.Generation}
	if d.Spec.Replicas != nil {
		w.desired = *d.Spec.Replicas
	}
	for _, c := range d.Status.Conditions {
		switch {
		case c.Type == appsv1.DeploymentProgressing && c.Status == corev1.ConditionFalse:
			w.stuck = c.Message
		case c.Type == appsv1.DeploymentReplicaFailure && c.Status == corev1.ConditionTrue:
			w.refused = c.Message
		}
	}
	return w
}

func daemonSetWorkload(d appsv1.DaemonSet) workload {
	return workload{kind: "DaemonSet", namespace: d.Namespace, name: d.Name,
		ready: d.Status.NumberReady, desired: d.Status.DesiredNumberScheduled,
		updated: d.Status.UpdatedNumberScheduled, seen: d.Status.ObservedGeneration >= d.Generation}
}

// judge says whether w serves and runs its current template: none ready
// fails with what stops (why); some ready, or all ready on a template that
// is not yet (or never will be) rolled out, warns. An upgrade whose new pods
// cannot start leaves the old ones serving, every replica ready: check said
// ✓ while the upgrade had not happened (an admin's audit).
func (w workload) judge(why string) Result {
	r := Result{Group: GroupComponents, Name: w.kind + " " + w.namespace + "/" + w.name, Status: OK,
		Detail: fmt.Sprintf("%d/%d ready", w.ready, w.desired)}
	switch {
	case w.desired > 0 && w.ready == 0:
		r.Status, r.Detail = Fail, r.Detail+": "+why
	case w.ready < w.desired:
		r.Status = Warn
	case !w.seen:
		r.Status, r.Detail = Warn, r.Detail+", but its controller has not yet seen its current template"
	case w.updated < w.desired:
		r.Status, r.Detail = Warn, r.Detail+fmt.Sprintf(", but only %d of %d on the current template", w.updated, w.desired)
		if w.stuck != "" {
			r.Detail += ": the rollout is stuck: " + w.stuck
		}
	}
	if w.refused != "" && r.Status != OK {
		r.Detail += "; its pods cannot be created: " + w.refused
	}
	if r.Status != OK {
		r.Hint = fmt.Sprintf("kubectl -n %s describe %s %s; kubectl -n %s get events --field-selector type=Warning", w.namespace, strings.ToLower(w.kind), w.name, w.namespace)
	}
	return r
}
