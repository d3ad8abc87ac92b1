package extender

import (
	"strings"
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
		// bindErr is the bind's refusal when it is not the filter's
		// (gpushare.ErrNoCardResource): a pod kube-scheduler sends to gpu/bind
		// without ever asking gpu/filter.
		bindErr string
	}{
		{name: "GPU memory alone", pod: func(p *corev1.Pod) {
			delete(p.Spec.Containers[0].Resources.Limits, contract.ResourceGPU)
		}, refused: true},
		{name: "GPU memory and its total, no cards", pod: func(p *corev1.Pod) {
			delete(p.Spec.Containers[0].Resources.Limits, contract.ResourceGPU)
			gpushare.SetMemTotal(p)
		}, refused: true},
		// Review 15 E1: the filter entry manages the GPU memory only, so
		// kube-scheduler places this pod by zz.io/gpu slots alone and sends
		// it to the bind entry, which must not bind it with no cards
		// chosen; it must say why it stays Pending and what to add.
		{name: "zz.io/gpu alone, never filtered (no webhook, no policies)", pod: func(p *corev1.Pod) {
			delete(p.Spec.Containers[0].Resources.Limits, contract.ResourceGPUMem)
		}, refused: true, bindErr: "pod ns/p is not bound and stays Pending: it asks for zz.io/gpu without zz.io/gpu-mem, so the scheduler placed it by zz.io/gpu slots alone, without gpu/filter, and no card is chosen for it; " +
			"recreate it with zz.io/gpu-mem: container app asks for zz.io/gpu 1 without zz.io/gpu-mem"},
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
			if why := fr.FailedAndUnresolvableNodes["n"]; tt.bindErr == "" && (tt.refused != (why == gpushare.ErrNoCardResource.Error()) || tt.refused == (len(*fr.NodeNames) == 1)) {
				t.Errorf("filter passed %v, refused %q; want refused %v with %q", *fr.NodeNames, why, tt.refused, gpushare.ErrNoCardResource)
			}

			var br extenderv1.ExtenderBindingResult
			// A refusal is an answer (HTTP 200 with Error): a 500 with an
			// empty body is a failure of its own, not a refusal.
			if code := e.call(t, "/gpu/bind", extenderv1.ExtenderBindingArgs{PodName: "p", PodNamespace: "ns", PodUID: p.UID, Node: "n"}, &br); code != 200 {
				t.Fatalf("bind: HTTP %d, error %q; want 200", code, br.Error)
			}
			live, err := e.client.CoreV1().Pods("ns").Get(t.Context(), "p", metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			cs, _ := e.ledger.Cards("n")
			_, assignErr := gpushare.PodAssignment(live)
			if tt.refused {
				want := gpushare.ErrNoCardResource.Error()
				if tt.bindErr != "" {
					want = tt.bindErr
				}
				if !strings.HasPrefix(br.Error, want) || live.Spec.NodeName != "" || cs[0].UsedMiB != 0 || assignErr == nil {
					t.Errorf("bind: error %q, node %q, card holds %d MiB, assignment error %v; want %q, unbound, 0 MiB, none written",
						br.Error, live.Spec.NodeName, cs[0].UsedMiB, assignErr, want)
				}
				return
			}
			if br.Error != "" || live.Spec.NodeName != "n" || cs[0].UsedMiB != 4096 || assignErr != nil {
				t.Errorf("bind: error %q, node %q, card holds %d MiB, assignment error %v; want bound on n with 4096 MiB", br.Error, live.Spec.NodeName, cs[0].UsedMiB, assignErr)
			}
		})
	}
}
