package inject

import (
	"maps"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/zzcloud/zz/internal/contract"
)

// TestPoolNamedByNodeSelector: an app spec's pool: renders the node
// selector zz.io/pool=NAME; it names the pool NAME even where that pool's
// nodes carry another label (the shipped critical pool selects
// node-restriction.kubernetes.io/zz-pool), and the pool's own selector
// takes its place. The reservation still refuses other namespaces, with
// its own words (a chaos audit found pool: critical refused everywhere as
// "names no pool ... use one of [critical general gpu]").
func TestPoolNamedByNodeSelector(t *testing.T) {
	p, err := Parse([]byte(`largestGPUCard: 80Gi
defaultPool: general
pools:
  general: {nodeSelector: {zz.io/pool: general}, cpuOvercommitRatio: 0.5}
  critical:
    nodeSelector: {node-restriction.kubernetes.io/zz-pool: critical}
    critical: true
    namespaces: [critical-apps]
  gpu: {nodeSelector: {zz.io/pool: gpu}, cpuOvercommitRatio: 0.8}
`))
	if err != nil {
		t.Fatal(err)
	}
	selects := func(pool string, more map[string]string) podOpt {
		return func(pod *corev1.Pod) {
			pod.Spec.NodeSelector = map[string]string{contract.LabelPool: pool}
			maps.Copy(pod.Spec.NodeSelector, more)
		}
	}
	critical := map[string]string{"node-restriction.kubernetes.io/zz-pool": "critical"}
	for _, tt := range []struct {
		name, namespace string
		pod             *corev1.Pod
		want            map[string]string
		cpu             string
		err             string
	}{
		{name: "critical from its namespace", namespace: "critical-apps", pod: newPod(selects("critical", nil)), want: critical, cpu: "1500m"},
		{name: "critical with the label too", namespace: "critical-apps", pod: newPod(label(contract.LabelPool, "critical"), selects("critical", nil)), want: critical, cpu: "1500m"},
		{name: "critical with a node of its own", namespace: "critical-apps", pod: newPod(selects("critical", map[string]string{"kubernetes.io/hostname": "c1"})),
			want: map[string]string{"node-restriction.kubernetes.io/zz-pool": "critical", "kubernetes.io/hostname": "c1"}, cpu: "1500m"},
		{name: "critical from another namespace", namespace: "shop", pod: newPod(selects("critical", nil)),
			err: "pool critical is reserved for namespaces [critical-apps]"},
		{name: "a pool selecting zz.io/pool", namespace: "shop", pod: newPod(selects("gpu", nil)), want: map[string]string{contract.LabelPool: "gpu"}, cpu: "1200m"},
		{name: "no such pool", namespace: "shop", pod: newPod(selects("gold", nil)),
			err: "node selector zz.io/pool=gold names no pool of this cluster; use one of [general gpu]"},
		{name: "no such pool, from the reserved namespace", namespace: "critical-apps", pod: newPod(selects("gold", nil)),
			err: "use one of [critical general gpu]"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			warnings, err := p.Mutate(tt.pod, tt.namespace)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error %v, want one with %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !maps.Equal(tt.pod.Spec.NodeSelector, tt.want) {
				t.Errorf("nodeSelector %v, want %v", tt.pod.Spec.NodeSelector, tt.want)
			}
			if got := tt.pod.Spec.Containers[0].Resources.Requests[corev1.ResourceCPU]; got.String() != tt.cpu {
				t.Errorf("cpu request %s, want %s", got.String(), tt.cpu)
			}
			for _, w := range warnings {
				if strings.Contains(w, "names no pool") {
					t.Errorf("warning %q: the pod named its pool", w)
				}
			}
			again := tt.pod.DeepCopy()
			if _, err := p.Mutate(again, tt.namespace); err != nil || !maps.Equal(again.Spec.NodeSelector, tt.want) {
				t.Errorf("second pass: nodeSelector %v, error %v; want %v", again.Spec.NodeSelector, err, tt.want)
			}
		})
	}
}
