package cli

import (
	"context"
	"errors"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	k8stesting "k8s.io/client-go/testing"

	"github.com/zzcloud/zz/internal/appspec"
)

// TestZoneWarning: zoneSpread: required on a cluster (or pool) where no
// node carries topology.kubernetes.io/zone is warned (every pod would
// wait); preferred, a zoned node, or a user who may not list nodes is not.
func TestZoneWarning(t *testing.T) {
	node := func(name string, labels map[string]string) *corev1.Node {
		return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}
	}
	bare := node("bare", map[string]string{"zz.io/pool": "general"})
	zoned := node("zoned", map[string]string{corev1.LabelTopologyZone: "a", "zz.io/pool": "general"})
	runNodeWarningTests(t, (*DeployOptions).zoneWarning, []nodeWarningTest{
		{name: "required, no zone label", spec: "zoneSpread: required", nodes: []runtime.Object{bare},
			want: "spec.zoneSpread required: no node in context kind-a carries the label topology.kubernetes.io/zone, and the scheduler never places a required zone spread on a node without it: every pod will stay Pending (node(s) didn't match pod topology spread constraints (missing required label)); label the nodes with their zone (kubectl label node NODE topology.kubernetes.io/zone=ZONE; cloud providers set it) or use zoneSpread: preferred"},
		{name: "required, a zoned node", spec: "zoneSpread: required", nodes: []runtime.Object{bare, zoned}},
		{name: "required, zones outside the pool", spec: "zoneSpread: required\n  pool: gpu", nodes: []runtime.Object{bare, zoned},
			want: "no node of pool gpu (zz.io/pool=gpu) in context kind-a carries the label topology.kubernetes.io/zone"},
		{name: "required, zones in the pool", spec: "zoneSpread: required\n  pool: general", nodes: []runtime.Object{bare, zoned}},
		{name: "preferred, no zone label", spec: "zoneSpread: preferred", nodes: []runtime.Object{bare}},
		{name: "left out", spec: "replicas: 2", nodes: []runtime.Object{bare}},
		{name: "nodes not listable", spec: "zoneSpread: required", forbid: true},
	})
}

// TestPoolWarning: a spec.pool no node carries is warned, naming the pools
// there are (every pod would wait out --timeout); a pool a node carries,
// no pool, or a user who may not list nodes is not.
func TestPoolWarning(t *testing.T) {
	node := func(name, pool string) runtime.Object {
		return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"zz.io/pool": pool}}}
	}
	nodes := []runtime.Object{node("a", "general"), node("b", "gpu"), node("c", "general"), &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "d"}}}
	runNodeWarningTests(t, (*DeployOptions).poolWarning, []nodeWarningTest{
		{name: "a typo", spec: "pool: genral", nodes: nodes,
			want: "spec.pool genral: no node in context kind-a carries the label zz.io/pool=genral (its pools: general, gpu): every pod will stay Pending (node(s) didn't match Pod's node affinity/selector); name one of its pools, or leave spec.pool out"},
		{name: "no pools at all", spec: "pool: general", nodes: []runtime.Object{&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "d"}}},
			want: "(no node carries zz.io/pool)"},
		{name: "a pool there is", spec: "pool: gpu", nodes: nodes},
		{name: "no pool", spec: "replicas: 2", nodes: nodes},
		{name: "nodes not listable", spec: "pool: genral", forbid: true},
	})
}

// nodeWarningTest is one case of a deploy warning judged from the nodes.
type nodeWarningTest struct {
	name   string
	spec   string
	nodes  []runtime.Object
	forbid bool   // the user may not list nodes
	want   string // "" for no warning
}

// runNodeWarningTests runs warn (zoneWarning, poolWarning) over tests.
func runNodeWarningTests(t *testing.T, warn func(*DeployOptions, context.Context, target) string, tests []nodeWarningTest) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			app, err := appspec.Load("zz.yaml", []byte("name: shop\nspec:\n  type: web\n  image: a:1\n  "+tt.spec+"\n"))
			if err != nil {
				t.Fatal(err)
			}
			c := fakeClient(tt.nodes...)
			if tt.forbid {
				c.PrependReactor("list", "nodes", func(k8stesting.Action) (bool, runtime.Object, error) {
					return true, nil, apierrors.NewForbidden(corev1.Resource("nodes"), "", errors.New(`User "dev" cannot list resource "nodes" at the cluster scope`))
				})
			}
			o := &DeployOptions{app: app}
			got := warn(o, t.Context(), target{name: "kind-a", namespace: "ns", client: c})
			if tt.want == "" && got != "" || !strings.Contains(got, tt.want) {
				t.Errorf("warning %q, want %q", got, tt.want)
			}
		})
	}
}
