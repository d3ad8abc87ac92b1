package deploy

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	clienttesting "k8s.io/client-go/testing"
	"k8s.io/utils/ptr"

	"github.com/zzcloud/zz/internal/contract"
	"github.com/zzcloud/zz/internal/render"
)

// zoneNode is a Ready node of pool general in zone ("" for none), changed
// by each of change.
func zoneNode(name, zone string, change ...func(*corev1.Node)) corev1.Node {
	n := corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{contract.LabelPool: "general"}},
		Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}}}
	if zone != "" {
		n.Labels[render.ZoneTopologyKey] = zone
	}
	for _, c := range change {
		c(&n)
	}
	return n
}

// zonePod is a ready pod of shop's ReplicaSet rs on node, rendered with
// spec.zoneSpread when (DoNotSchedule: required) and spec.pool general.
func zonePod(name, rs, node string, when corev1.UnsatisfiableConstraintAction) corev1.Pod {
	p := corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: map[string]string{
		contract.LabelApp: "shop", contract.LabelTrack: contract.TrackStable, appsv1.DefaultDeploymentUniqueLabelKey: rs}},
		Spec:   corev1.PodSpec{NodeName: node, NodeSelector: map[string]string{contract.LabelPool: "general"}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}}}
	if when != "" {
		p.Spec.TopologySpreadConstraints = []corev1.TopologySpreadConstraint{{MaxSkew: 1, TopologyKey: render.ZoneTopologyKey, WhenUnsatisfiable: when}}
	}
	return p
}

// TestZoneGapOf: after a zone outage the pods of a required spread sit in
// the zones left; once a node of another zone could take one again, that
// is a gap, said with the zones. A node that is NotReady, cordoned,
// tainted against the pod, of another pool, or unlabelled frees no zone;
// a preferred spread is a gap only when every pod is in one zone; a
// canary, an unready or terminating pod, and an app of one pod are not
// judged.
func TestZoneGapOf(t *testing.T) {
	req, pref := corev1.DoNotSchedule, corev1.ScheduleAnyway
	four := func(when corev1.UnsatisfiableConstraintAction, nodes ...string) []corev1.Pod {
		var out []corev1.Pod
		for i, n := range nodes {
			out = append(out, zonePod(fmt.Sprintf("shop-%d", i), "5f", n, when))
		}
		return out
	}
	zoneA := zoneNode("a1", "zone-a")
	zoneB := []corev1.Node{zoneNode("b1", "zone-b"), zoneNode("b2", "zone-b")}
	withA := func(ns ...corev1.Node) []corev1.Node { return append(append([]corev1.Node{}, zoneB...), ns...) }
	notReady := func(n *corev1.Node) {
		n.Status.Conditions[0].Status = corev1.ConditionUnknown
	}
	unreachable := func(n *corev1.Node) {
		n.Spec.Taints = []corev1.Taint{{Key: corev1.TaintNodeUnreachable, Effect: corev1.TaintEffectNoExecute}}
	}
	tainted := func(n *corev1.Node) {
		n.Spec.Taints = []corev1.Taint{{Key: "gpu", Effect: corev1.TaintEffectNoSchedule}}
	}
	otherPool := func(n *corev1.Node) { n.Labels[contract.LabelPool] = "gpu" }
	cordoned := func(n *corev1.Node) { n.Spec.Unschedulable = true }
	canary := four(req, "b1", "b2", "b1", "b2")
	for i := range canary {
		canary[i].Labels[contract.LabelTrack] = contract.TrackCanary
	}
	unready := four(req, "b1", "a1", "b2", "b1")
	unready[1].Status.Conditions[0].Status = corev1.ConditionFalse
	leaving := four(req, "b1", "a1", "b2", "b1")
	leaving[1].DeletionTimestamp = ptr.To(metav1.Now())
	// A rollout's two ReplicaSets: each is spread on its own.
	rollout := append(four(req, "b1", "b2", "b1"), zonePod("shop-new", "7c", "a1", req))
	three := withA(zoneNode("c1", "zone-c"))
	for _, tc := range []struct {
		name  string
		pods  []corev1.Pod
		nodes []corev1.Node
		want  string // the note, "" for no gap
	}{
		{"required, zone-a back", four(req, "b1", "b2", "b1", "b2"), withA(zoneA),
			"spec.zoneSpread: required, but its 4 ready pods are all in zone zone-b (zone-a has schedulable nodes again): kubectl zz restart shop spreads them where those nodes have room"},
		{"required, spread", four(req, "b1", "a1", "b2", "b1"), withA(zoneA), ""},
		{"required, zone-a still NotReady", four(req, "b1", "b2", "b1", "b2"), withA(zoneNode("a1", "zone-a", notReady)), ""},
		{"required, zone-a unreachable", four(req, "b1", "b2", "b1", "b2"), withA(zoneNode("a1", "zone-a", unreachable)), ""},
		{"required, zone-a cordoned", four(req, "b1", "b2", "b1", "b2"), withA(zoneNode("a1", "zone-a", cordoned)), ""},
		{"required, zone-a tainted against the pods", four(req, "b1", "b2", "b1", "b2"), withA(zoneNode("a1", "zone-a", tainted)), ""},
		{"required, zone-a of another pool", four(req, "b1", "b2", "b1", "b2"), withA(zoneNode("a1", "zone-a", otherPool)), ""},
		{"required, a node without a zone", four(req, "b1", "b2", "b1", "b2"), withA(zoneNode("x1", "")), ""},
		{"required, two zones of three", four(req, "b1", "a1", "b2", "b1"), append(withA(zoneA), three[2]),
			"spec.zoneSpread: required, but its 4 ready pods are in zones zone-a and zone-b (zone-c has schedulable nodes again): kubectl zz restart shop spreads them where those nodes have room"},
		{"required, two pods in two zones of three", four(req, "b1", "a1"), append(withA(zoneA), three[2]), ""},
		{"required, two zones free", four(req, "b1", "b2"), append(withA(zoneA), three[2]),
			"spec.zoneSpread: required, but its 2 ready pods are all in zone zone-b (zone-a and zone-c have schedulable nodes again): kubectl zz restart shop spreads them where those nodes have room"},
		{"preferred, all in one zone", four(pref, "b1", "b2", "b1", "b2"), withA(zoneA),
			"spec.zoneSpread: preferred, but its 4 ready pods are all in zone zone-b (zone-a has schedulable nodes again): kubectl zz restart shop spreads them where those nodes have room"},
		{"preferred, two zones of three", four(pref, "b1", "a1", "b2", "b1"), append(withA(zoneA), three[2]), ""},
		{"no zoneSpread", four("", "b1", "b2", "b1", "b2"), withA(zoneA), ""},
		{"one pod", four(req, "b1"), withA(zoneA), ""},
		{"canary", canary, withA(zoneA), ""},
		// The spread counts the unready pod in zone-a: no gap, and a
		// restart would not help (a review).
		{"the pod in zone-a unready", unready, withA(zoneA), ""},
		{"the pod in zone-a terminating", leaving, withA(zoneA),
			"spec.zoneSpread: required, but its 3 ready pods are all in zone zone-b (zone-a has schedulable nodes again): kubectl zz restart shop spreads them where those nodes have room"},
		{"a rollout: the old ReplicaSet judged", rollout, withA(zoneA),
			"spec.zoneSpread: required, but its 3 ready pods are all in zone zone-b (zone-a has schedulable nodes again): kubectl zz restart shop spreads them where those nodes have room"},
		{"nodes unread", four(req, "b1", "b2", "b1", "b2"), nil, ""},
	} {
		got := ""
		if g := ZoneGapOf(tc.pods, tc.nodes); g != nil {
			got = g.Note("shop")
		}
		if got != tc.want {
			t.Errorf("%s:\n got %q\nwant %q", tc.name, got, tc.want)
		}
	}
}

// TestStatusZoneGap: status judges the spread of the app's ready pods
// against the nodes it reads; a user who may not list nodes (a namespace's
// edit user) gets the rest of the status, with nothing said of zones.
func TestStatusZoneGap(t *testing.T) {
	d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "shop", Namespace: ns, Generation: 1,
		Labels: map[string]string{contract.LabelApp: "shop", contract.LabelK8sManagedBy: contract.ManagedBy}},
		Spec:   appsv1.DeploymentSpec{Replicas: ptr.To[int32](2)},
		Status: appsv1.DeploymentStatus{ObservedGeneration: 1, Replicas: 2, UpdatedReplicas: 2, ReadyReplicas: 2, AvailableReplicas: 2}}
	objs := []runtime.Object{d}
	for _, n := range []corev1.Node{zoneNode("a1", "zone-a"), zoneNode("b1", "zone-b")} {
		objs = append(objs, &n)
	}
	for _, p := range []corev1.Pod{zonePod("shop-1", "5f", "b1", corev1.DoNotSchedule), zonePod("shop-2", "5f", "b1", corev1.DoNotSchedule)} {
		objs = append(objs, &p)
	}
	c := fake.NewClientset(objs...)
	st, err := AppStatusOf(t.Context(), c, ns, "shop")
	if err != nil {
		t.Fatal(err)
	}
	if g := st.ZoneGap; g == nil || g.Spread != "required" || g.ReadyPods != 2 || strings.Join(g.Zones, ",") != "zone-b" || strings.Join(g.FreeZones, ",") != "zone-a" {
		t.Errorf("zone gap %+v", g)
	}
	c.PrependReactor("list", "nodes", func(clienttesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewForbidden(corev1.Resource("nodes"), "", errors.New("edit may not list nodes"))
	})
	st, err = AppStatusOf(t.Context(), c, ns, "shop")
	if err != nil || st.ZoneGap != nil || st.Stable == nil {
		t.Errorf("nodes forbidden: %+v, %v; want the status without a zone gap", st, err)
	}
}

// TestWaitWarnsOfZoneGap: a deploy whose pods run in fewer zones than its
// required spread would put them in now says so once the rollout is done.
func TestWaitWarnsOfZoneGap(t *testing.T) {
	var objs []runtime.Object
	for _, n := range []corev1.Node{zoneNode("a1", "zone-a"), zoneNode("b1", "zone-b")} {
		objs = append(objs, &n)
	}
	for _, p := range []corev1.Pod{zonePod("shop-1", "5f", "b1", corev1.DoNotSchedule), zonePod("shop-2", "5f", "b1", corev1.DoNotSchedule)} {
		objs = append(objs, &p)
	}
	c := fake.NewClientset(objs...)
	startController(t, c)
	var progress strings.Builder
	o := opts()
	o.Progress = &progress
	if _, err := Run(t.Context(), c, &Config{Options: o, App: spec(t, "reg/shop:1", "  zoneSpread: required\n")}); err != nil {
		t.Fatal(err)
	}
	want := "Warning: spec.zoneSpread: required, but its 2 ready pods are all in zone zone-b (zone-a has schedulable nodes again): kubectl zz restart shop spreads them where those nodes have room"
	if !strings.Contains(progress.String(), want) {
		t.Errorf("progress lacks %q:\n%s", want, progress.String())
	}
}
