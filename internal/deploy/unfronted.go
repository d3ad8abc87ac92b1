package deploy

import (
	"context"
	"fmt"
	"io"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/zzcloud/zz/internal/contract"
	"github.com/zzcloud/zz/internal/render"
)

// unfronted is the warning for a deploy or rollback whose objects (next)
// take the Service's main port off the front sidecar that what runs
// (prev: runningObjects) routes it through: the Service, and the Ingress that
// names its port, then reach the app directly, past the auth proxy. It is
// "" where next still routes through a sidecar (the same or another), or
// has no Service (a worker). An audit saw an overlay drop the proxy and the
// deploy say nothing: removing what authenticates every request must not
// pass as a by-product of another change. It warns and goes on, as kubectl
// and Helm apply what they are given: a spec may drop its proxy on purpose,
// and a flag every such deploy must learn would be passed by habit.
func unfronted(app string, prev, next []render.Object) string {
	sidecar, port := frontOf(app, prev)
	if sidecar == "" {
		return ""
	}
	if svc := appService(app, next); svc == nil {
		return ""
	} else if s, _ := frontOf(app, next); s != "" {
		return ""
	}
	return fmt.Sprintf("the Service's port now reaches the app directly, no longer through sidecar %s (front, port %s): anyone who reaches the Service (and the Ingress) skips the auth proxy; put `front: true` back on its port in spec.sidecars if that is not meant",
		sidecar, port)
}

// sayUnfronted writes unfronted's warning, if any, to w (nil: nowhere),
// judged against what runs (runningObjects).
func sayUnfronted(ctx context.Context, c kubernetes.Interface, ns string, w io.Writer, app string, history []*Revision, next []render.Object) {
	if w == nil {
		return
	}
	prev, unjudged := runningObjects(ctx, c, ns, app, history)
	if unjudged != "" {
		fmt.Fprintln(w, "warning: "+unjudged)
	} else if msg := unfronted(app, prev, next); msg != "" {
		fmt.Fprintln(w, "warning: "+msg)
	}
}

// runningObjects are the app's Service and Deployment as they run, which
// unfronted judges against: the latest readable revision was not what
// runs when the newest record is unreadable, so the rollback that refusals
// name as the way back took the Service off a fronted newest revision's
// proxy and said nothing (review 17a, U1). Where they cannot be read, the
// newest record's objects; where it cannot be read either, nil and
// unjudged, what to say instead of a warning that might be missing. No
// Service running: nil, nothing is fronted.
func runningObjects(ctx context.Context, c kubernetes.Interface, ns, app string, history []*Revision) (objs []render.Object, unjudged string) {
	svc, err := c.CoreV1().Services(ns).Get(ctx, app, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, ""
	}
	why := err
	if err == nil {
		d, err := c.AppsV1().Deployments(ns).Get(ctx, app, metav1.GetOptions{})
		if err == nil {
			return []render.Object{svc, d}, ""
		}
		why = err
	}
	if len(history) == 0 {
		return nil, ""
	}
	r := history[len(history)-1]
	if r.Unreadable == "" {
		return r.objects, ""
	}
	return nil, fmt.Sprintf("cannot tell whether this takes the Service's port off a front sidecar (an auth proxy): what runs could not be read (%v), nor revision %d, the latest (%s); check with kubectl get service %s -n %s -o yaml",
		why, r.Number, r.Unreadable, app, ns)
}

// frontOf names the native sidecar, and its port, that the app's Service
// main port targets in objs; "" when it targets the app (or there is none).
func frontOf(app string, objs []render.Object) (sidecar, port string) {
	svc := appService(app, objs)
	if svc == nil || len(svc.Spec.Ports) == 0 {
		return "", ""
	}
	to := svc.Spec.Ports[0].TargetPort
	for _, o := range objs {
		d, ok := o.(*appsv1.Deployment)
		if !ok || d.Name != app {
			continue
		}
		for _, c := range d.Spec.Template.Spec.InitContainers {
			if !contract.IsNativeSidecar(c) {
				continue
			}
			for _, p := range c.Ports {
				if portIs(p, to) {
					return c.Name, fmt.Sprintf("%s %d", p.Name, p.ContainerPort)
				}
			}
		}
	}
	return "", ""
}

// appService is the Service named app among objs, nil when none.
func appService(app string, objs []render.Object) *corev1.Service {
	for _, o := range objs {
		if s, ok := o.(*corev1.Service); ok && s.Name == app {
			return s
		}
	}
	return nil
}
