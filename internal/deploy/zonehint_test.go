package deploy

import (
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/zzcloud/zz/internal/contract"
)

// TestZoneSpreadHint: a pod of spec.zoneSpread: required that the
// scheduler turns away for its spread is told the field and the fix, for
// the skew and for nodes without the zone label; other pods and other
// refusals are not.
func TestZoneSpreadHint(t *testing.T) {
	spread := func(when corev1.UnsatisfiableConstraintAction, key string) *corev1.Pod {
		return &corev1.Pod{Spec: corev1.PodSpec{TopologySpreadConstraints: []corev1.TopologySpreadConstraint{{
			MaxSkew: 1, TopologyKey: key, WhenUnsatisfiable: when}}}}
	}
	required := spread(corev1.DoNotSchedule, corev1.LabelTopologyZone)
	const (
		skew    = "0/11 nodes are available: 1 node(s) were unschedulable, 2 node(s) didn't match pod topology spread constraints, 8 node(s) didn't match Pod's node affinity/selector."
		label   = "0/4 nodes are available: 4 node(s) didn't match pod topology spread constraints (missing required label)."
		both    = "0/4 nodes are available: 2 node(s) didn't match pod topology spread constraints, 2 node(s) didn't match pod topology spread constraints (missing required label)."
		skewFix = "; spec.zoneSpread: required keeps a pod waiting rather than put one zone two of the app's pods ahead of another (a zone whose nodes are full still counts its pods; one cordoned or tainted against the pod does not): make room in the zone with the fewest, or use zoneSpread: preferred"
		labFix  = "; spec.zoneSpread: required places pods only on nodes labelled topology.kubernetes.io/zone: label the nodes with their zone, or use zoneSpread: preferred"
	)
	tests := []struct {
		name string
		pod  *corev1.Pod
		msg  string
		want string
	}{
		{name: "skew", pod: required, msg: skew, want: skewFix},
		{name: "no zone label", pod: required, msg: label, want: labFix},
		{name: "both", pod: required, msg: both, want: skewFix + labFix},
		{name: "other reasons", pod: required, msg: "0/8 nodes are available: 8 Insufficient cpu.", want: ""},
		{name: "preferred never refuses", pod: spread(corev1.ScheduleAnyway, corev1.LabelTopologyZone), msg: skew, want: ""},
		{name: "a hostname spread is not the field's", pod: spread(corev1.DoNotSchedule, corev1.LabelHostname), msg: skew, want: ""},
		{name: "no spread", pod: &corev1.Pod{}, msg: skew, want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ZoneSpreadHint(tt.pod, tt.msg); got != tt.want {
				t.Errorf("hint\n%q\nwant\n%q", got, tt.want)
			}
		})
	}
}

// TestPoolHint: a pod of a pool refused for its node selector names
// spec.pool and how to check it; other pods and reasons get nothing.
func TestPoolHint(t *testing.T) {
	pool := func(name string) *corev1.Pod {
		return &corev1.Pod{Spec: corev1.PodSpec{NodeSelector: map[string]string{contract.LabelPool: name}}}
	}
	const selector = "0/8 nodes are available: 8 node(s) didn't match Pod's node affinity/selector. preemption: 0/8 nodes are available: 8 Preemption is not helpful for scheduling."
	tests := []struct {
		name string
		pod  *corev1.Pod
		msg  string
		want string
	}{
		{name: "no node of the pool", pod: pool("genral"), msg: selector,
			want: "; spec.pool genral places pods only on nodes labelled zz.io/pool=genral: check that this cluster has that pool (kubectl get nodes -L zz.io/pool), or leave spec.pool out"},
		{name: "other reasons", pod: pool("general"), msg: "0/8 nodes are available: 8 Insufficient cpu.", want: ""},
		{name: "no pool", pod: &corev1.Pod{}, msg: selector, want: ""},
		// The nodes of the pool are there, refused for GPU memory: the
		// other nodes' selector verdict is no reason to doubt the pool (a
		// GPU audit was told to leave out a spec.pool it never wrote).
		{name: "the pool's nodes refused for room", pod: pool("gpu"),
			msg:  "0/8 nodes are available: 1 largest free card 20480 MiB < 61440 MiB asked, 1 node's largest card has 15360 MiB < 61440 MiB asked: never fits here, even empty, 1 node's largest card has 40960 MiB < 61440 MiB asked: never fits here, even empty, 5 node(s) didn't match Pod's node affinity/selector. preemption: 0/8 nodes are available: 8 Preemption is not helpful for scheduling.",
			want: ""},
		// NodeUnschedulable and TaintToleration judge before NodeAffinity:
		// the nodes they turn away may be the pool's, or others (a kubeadm
		// control plane beside a typo'd pool: a review).
		{name: "the pool's nodes cordoned, or others", pod: pool("general"),
			msg:  "0/8 nodes are available: 4 node(s) didn't match Pod's node affinity/selector, 4 node(s) were unschedulable.",
			want: "; spec.pool general places pods only on nodes labelled zz.io/pool=general: check that this cluster has that pool and that its nodes are not cordoned or tainted against the pod (kubectl get nodes -L zz.io/pool), or leave spec.pool out"},
		{name: "a tainted control plane beside a typo", pod: pool("genral"),
			msg:  "0/4 nodes are available: 1 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }, 3 node(s) didn't match Pod's node affinity/selector. preemption: 0/4 nodes are available: 4 Preemption is not helpful for scheduling.",
			want: "; spec.pool genral places pods only on nodes labelled zz.io/pool=genral: check that this cluster has that pool and that its nodes are not cordoned or tainted against the pod (kubectl get nodes -L zz.io/pool), or leave spec.pool out"},
		{name: "tainted and short of room", pod: pool("general"),
			msg: "0/4 nodes are available: 1 Insufficient cpu, 1 node(s) had untolerated taint {a: b}, 2 node(s) didn't match Pod's node affinity/selector.", want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := PoolHint(tt.pod, tt.msg); got != tt.want {
				t.Errorf("hint\n%q\nwant\n%q", got, tt.want)
			}
		})
	}
}
