package deploy

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/zzcloud/zz/internal/contract"
	"github.com/zzcloud/zz/internal/render"
)

// sidecarPod is a pod of app shop with the app's container, the native
// sidecars native (init containers that restart), the webhook's plain
// sidecar containers plain, an init container that runs to completion, and
// the containers named in ready ready.
func sidecarPod(name string, native, plain, ready []string) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", Labels: map[string]string{contract.LabelApp: "shop"}},
		Spec: corev1.PodSpec{
			InitContainers: []corev1.Container{{Name: "migrate"}},
			Containers:     []corev1.Container{{Name: render.ContainerName}},
		},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, InitContainerStatuses: []corev1.ContainerStatus{{Name: "migrate"}}},
	}
	for _, n := range native {
		p.Spec.InitContainers = append(p.Spec.InitContainers, corev1.Container{Name: n, RestartPolicy: ptr.To(corev1.ContainerRestartPolicyAlways)})
		p.Status.InitContainerStatuses = append(p.Status.InitContainerStatuses, corev1.ContainerStatus{Name: n})
	}
	for _, n := range plain {
		p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: n})
	}
	for _, n := range append([]string{render.ContainerName}, plain...) {
		p.Status.ContainerStatuses = append(p.Status.ContainerStatuses, corev1.ContainerStatus{Name: n})
	}
	for _, n := range ready {
		for _, list := range [][]corev1.ContainerStatus{p.Status.InitContainerStatuses, p.Status.ContainerStatuses} {
			for i := range list {
				if list[i].Name == n {
					list[i].Ready = true
				}
			}
		}
	}
	return p
}

// TestSidecarsReady: status counts, per sidecar of an app, the pods that
// run it and those it is ready in: the spec's native sidecars and the
// webhook's plain containers, not the app's container nor an init
// container that runs to completion, nor a pod that is going; by name,
// whatever order the pods come in.
func TestSidecarsReady(t *testing.T) {
	deleted := sidecarPod("shop-d", []string{"auth"}, nil, nil)
	deleted.DeletionTimestamp = ptr.To(metav1.Now())
	evicted := sidecarPod("shop-e", []string{"auth"}, nil, nil)
	evicted.Status.Phase = corev1.PodFailed
	for _, tt := range []struct {
		name string
		pods []*corev1.Pod
		want string
	}{
		{name: "no sidecar", pods: []*corev1.Pod{sidecarPod("shop-a", nil, nil, []string{render.ContainerName})}},
		{name: "ready everywhere", pods: []*corev1.Pod{
			sidecarPod("shop-a", []string{"auth"}, []string{"log-shipper"}, []string{"auth", "log-shipper"}),
			sidecarPod("shop-b", []string{"auth"}, []string{"log-shipper"}, []string{"auth", "log-shipper"}),
		}, want: "auth:2/2,log-shipper:2/2"},
		{name: "one not ready", pods: []*corev1.Pod{
			sidecarPod("shop-a", []string{"auth"}, []string{"log-shipper"}, []string{"auth", "log-shipper"}),
			sidecarPod("shop-b", []string{"auth"}, []string{"log-shipper"}, []string{"auth"}),
		}, want: "auth:2/2,log-shipper:1/2"},
		{name: "a rollout adds one, by name in any order", pods: []*corev1.Pod{
			sidecarPod("shop-new", []string{"zproxy", "auth"}, nil, []string{"zproxy"}),
			sidecarPod("shop-old", []string{"auth"}, nil, []string{"auth"}),
		}, want: "auth:1/2,zproxy:1/1"},
		{name: "going pods are not counted", pods: []*corev1.Pod{
			sidecarPod("shop-a", []string{"auth"}, nil, []string{"auth"}), deleted, evicted,
		}, want: "auth:1/1"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			b := newBook(false, nil)
			b.deployments([]appsv1.Deployment{{ObjectMeta: metav1.ObjectMeta{Name: "shop", Namespace: "ns", Labels: map[string]string{contract.LabelApp: "shop"}}}})
			pods := make([]corev1.Pod, len(tt.pods))
			for i, p := range tt.pods {
				pods[i] = *p
			}
			b.pods(pods)
			sts := b.statuses()
			if len(sts) != 1 {
				t.Fatalf("statuses %+v", sts)
			}
			if got := sts[0].Sidecars.String(); got != tt.want {
				t.Errorf("sidecars %q, want %q", got, tt.want)
			}
		})
	}
}
