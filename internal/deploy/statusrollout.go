package deploy

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/zzcloud/zz/internal/contract"
	"github.com/zzcloud/zz/internal/prose"
)

// What a Deployment serves while its rollout is unfinished: its pod
// template says what it asks for, its ready pods what runs. status called
// the template's version the one the app "runs", with READY 3/3 beside
// it, while the three ready pods ran the old version and the one new pod
// crash-looped (an incident audit).

// VersionPods is one version a Deployment's ready pods run (their
// zz.io/version label, "" for none) and how many of them run it.
type VersionPods struct {
	Version string `json:"version"`
	Pods    int32  `json:"pods"`
}

// servingVersions is the versions d's ready pods run, of pods (the app's, read
// once for all its Deployments): those d's selector selects and one of its
// ReplicaSets runs, ready and not being deleted; most pods first, then by
// version. The stable Deployment's selector is the app's label alone, which
// the canary's pods carry too: counted by selector, a finished stable
// Deployment "rolled out" the canary's version during every canary (a
// review).
func servingVersions(d *appsv1.Deployment, pods []*corev1.Pod) []VersionPods {
	sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	if err != nil || sel.Empty() {
		return nil // none selects nothing here, not every pod
	}
	count := map[string]int32{}
	for _, p := range pods {
		if p.Namespace == d.Namespace && p.DeletionTimestamp == nil && podReady(p) && sel.Matches(labels.Set(p.Labels)) && runsPod(d, p) {
			count[p.Labels[contract.LabelVersion]]++
		}
	}
	out := make([]VersionPods, 0, len(count))
	for v, n := range count {
		out = append(out, VersionPods{Version: v, Pods: n})
	}
	slices.SortFunc(out, func(a, b VersionPods) int {
		return cmp.Or(cmp.Compare(b.Pods, a.Pods), strings.Compare(a.Version, b.Version))
	})
	return out
}

// runsPod says whether one of d's ReplicaSets controls p: the Deployment
// controller names each "<deployment>-<pod-template-hash>", the hash its
// pods carry as a label (a pod made by hand with the app's labels, or the
// canary Deployment's, is not d's).
func runsPod(d *appsv1.Deployment, p *corev1.Pod) bool {
	owner := metav1.GetControllerOfNoCopy(p)
	hash := p.Labels[appsv1.DefaultDeploymentUniqueLabelKey]
	return owner != nil && owner.Kind == "ReplicaSet" && hash != "" && owner.Name == d.Name+"-"+hash
}

// podReady says whether pod's Ready condition is true.
func podReady(pod *corev1.Pod) bool {
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// rollingOut says whether r's rollout is unfinished as far as what serves
// goes (rs its Deployment's rollout status): old pods are still there
// (more pods than updated ones, or a spec the controller has not seen), a
// ready pod runs a version other than the template's, or fewer pods are
// updated than wanted and none of the template's version is ready (a
// Recreate rollout, or a first one). A scale up of the same template,
// its ready pods all of its version, is no rollout: UP-TO-DATE says it.
func rollingOut(rs Status, r *Replicas) bool {
	if !rs.Observed || rs.Total > rs.Updated {
		return true
	}
	ours := false
	for _, s := range r.Serving {
		if s.Version != r.Version {
			return true
		}
		ours = true
	}
	return rs.Updated < rs.Want && !ours
}

// describe names a pod template's version and image.
func describe(version, image string) string {
	if version != "" {
		return fmt.Sprintf("version %s, image %s", version, image)
	}
	return "image " + image
}

// runs says what r runs, for a line that goes on with tail (", not
// revision 3"): "it runs version 1.1, image reg/shop:1.1, not revision 3"
// once its rollout is done; while it is not, what its template asks for,
// how many pods are updated, and what its ready pods run: "its template
// asks for version 9.9.7, image reg/web:9.9.7 (1/3 pods updated), not
// revision 3; the ready pods run 1.0.0".
func runs(r *Replicas, tail string) string {
	what := describe(r.Version, r.Image)
	if !r.RollingOut {
		return "it runs " + what + tail
	}
	updated := fmt.Sprintf("%d/%d pods updated", r.Updated, r.Desired)
	if r.Unobserved {
		updated = "not yet seen by the Deployment controller"
	}
	return fmt.Sprintf("its template asks for %s (%s)%s; %s", what, updated, tail, servedBy(r.Serving))
}

// servedBy says what the ready pods run: "the ready pods run 1.0.0", with
// how many run each where they run several.
func servedBy(vs []VersionPods) string {
	name := func(v string) string { return cmp.Or(v, "<none>") }
	switch len(vs) {
	case 0:
		return "no pod of it is ready"
	case 1:
		if vs[0].Pods == 1 {
			return "the ready pod runs " + name(vs[0].Version)
		}
		return "the ready pods run " + name(vs[0].Version)
	}
	parts := make([]string, len(vs))
	for i, v := range vs {
		pods := "pods"
		if v.Pods == 1 {
			pods = "pod"
		}
		parts[i] = fmt.Sprintf("%s (%d %s)", name(v.Version), v.Pods, pods)
	}
	return "the ready pods run " + prose.And(parts)
}
