package extender

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	extenderv1 "k8s.io/kube-scheduler/extender/v1"

	"github.com/zzcloud/zz/internal/contract"
	"github.com/zzcloud/zz/internal/gpushare"
)

// TestNoCardResource: the scheduler configuration binds GPU pods through an
// entry that manages zz.io/gpu alone (its filter entry manages the GPU
// memory), and kube-scheduler sends an entry only the pods asking for one of
// its resources, in a container or an init container, as a limit or a
// request. A GPU pod asking for no zz.io/gpu (no webhook served it) would be
// bound by the default binder with no cards chosen, so the filter refuses it
// on every node with the fix, unresolvable, and the bind refuses it too
// (a configuration with one entry for both still sends it there); a pod
// naming zz.io/gpu where kube-scheduler looks for it is placed as before.
func TestNoCardResource(t *testing.T) {
	mem := resource.MustParse("4Gi")
	one := resource.MustParse("1")
	tests := []struct {
		name    string
		pod     func(p *corev1.Pod)
		refused bool
	}{
		{name: "GPU memory alone", pod: func(p *corev1.Pod) {
			delete(p.Spec.Containers[0].Resources.Limits, contract.ResourceGPU)
		}, refused: true},
		{name: "GPU memory and its total, no cards", pod: func(p *corev1.Pod) {
			delete(p.Spec.Containers[0].Resources.Limits, contract.ResourceGPU)
			gpushare.SetMemTotal(p)
		}, refused: true},
		{name: "zz.io/gpu as a limit", pod: func(*corev1.Pod) {}},
		{name: "zz.io/gpu as a request only", pod: func(p *corev1.Pod) {
			delete(p.Spec.Containers[0].Resources.Limits, contract.ResourceGPU)
			p.Spec.Containers[0].Resources.Requests = corev1.ResourceList{contract.ResourceGPU: one, contract.ResourceGPUMem: mem}
		}},
		{name: "GPU work in an init container", pod: func(p *corev1.Pod) {
			p.Spec.InitContainers = []corev1.Container{p.Spec.Containers[0]}
			p.Spec.Containers[0] = corev1.Container{Name: "main"}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := gpuPod("p", "4Gi", 1)
			tt.pod(p)
			e := newEnv(t, []*corev1.Node{gpuNode("n", 16000)}, p)

			var fr extenderv1.ExtenderFilterResult
			if code := e.call(t, "/gpu/filter", extenderv1.ExtenderArgs{Pod: p, NodeNames: names("n")}, &fr); code != 200 || fr.Error != "" {
				t.Fatalf("filter: HTTP %d, error %q", code, fr.Error)
			}
			if why := fr.FailedAndUnresolvableNodes["n"]; tt.refused != (why == errNoCardResource.Error()) || tt.refused == (len(*fr.NodeNames) == 1) {
				t.Errorf("filter passed %v, refused %q; want refused %v with %q", *fr.NodeNames, why, tt.refused, errNoCardResource)
			}

			var br extenderv1.ExtenderBindingResult
			e.call(t, "/gpu/bind", extenderv1.ExtenderBindingArgs{PodName: "p", PodNamespace: "ns", PodUID: p.UID, Node: "n"}, &br)
			live, err := e.client.CoreV1().Pods("ns").Get(t.Context(), "p", metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			cs, _ := e.ledger.Cards("n")
			_, assignErr := gpushare.PodAssignment(live)
			if tt.refused {
				if br.Error != errNoCardResource.Error() || live.Spec.NodeName != "" || cs[0].UsedMiB != 0 || assignErr == nil {
					t.Errorf("bind: error %q, node %q, card holds %d MiB, assignment error %v; want %q, unbound, 0 MiB, none written",
						br.Error, live.Spec.NodeName, cs[0].UsedMiB, assignErr, errNoCardResource)
				}
				return
			}
			if br.Error != "" || live.Spec.NodeName != "n" || cs[0].UsedMiB != 4096 || assignErr != nil {
				t.Errorf("bind: error %q, node %q, card holds %d MiB, assignment error %v; want bound on n with 4096 MiB", br.Error, live.Spec.NodeName, cs[0].UsedMiB, assignErr)
			}
		})
	}
}
