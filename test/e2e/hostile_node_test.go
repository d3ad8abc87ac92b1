package e2e

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/zzcloud/zz/internal/contract"
)

const (
	msgNodePodLabels    = "may not create a pod with zz's labels"
	msgNodePodResources = "may not create a pod asking for zz.io/ resources"
)

// nodeMirrorPods: node's credentials (root on that node) create mirror pods,
// as its kubelet does for static pods, in the tenant's namespace ns. One
// labelled as an app of the tenant's (zz.io/app) would join the app's
// Service, kubectl zz logs and its PodDisruptionBudget, and one asking for
// GPU memory would take the namespace's GPU quota: policy zz-node-pods
// refuses both (a root-on-one-node audit planted both). A plain static pod
// still passes.
func nodeMirrorPods(t *testing.T, node kubernetes.Interface, nodeName, ns string) {
	ctx := t.Context()
	n, err := node.CoreV1().Nodes().Get(ctx, nodeName, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("node %s reads its own Node: %v", nodeName, err)
	}
	mirror := func(name string, labels map[string]string, limits corev1.ResourceList) *corev1.Pod {
		return &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name + "-" + nodeName, Namespace: ns, Labels: labels,
				Annotations:     map[string]string{corev1.MirrorPodAnnotationKey: "e2e", "kubernetes.io/config.source": "file"},
				OwnerReferences: []metav1.OwnerReference{{APIVersion: "v1", Kind: "Node", Name: nodeName, UID: n.UID, Controller: ptr.To(true)}}},
			Spec: corev1.PodSpec{NodeName: nodeName, Containers: []corev1.Container{{Name: "app", Image: "registry.local/shop:1.0",
				Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}}, Resources: corev1.ResourceRequirements{Limits: limits}}}},
		}
	}
	dry := metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}}
	create := func(p *corev1.Pod) error {
		_, err := node.CoreV1().Pods(ns).Create(ctx, p, dry)
		return err
	}
	gpu := corev1.ResourceList{contract.ResourceGPUMem: resource.MustParse("8Gi"), contract.ResourceGPUMemTotal: resource.MustParse("8Gi"),
		contract.ResourceGPU: resource.MustParse("1")}
	for _, tt := range []struct {
		what string
		pod  *corev1.Pod
		want string
	}{
		{"a mirror pod labelled as the tenant's app", mirror("shop", map[string]string{contract.LabelApp: "shop", contract.LabelVersion: "1.0"}, nil), msgNodePodLabels},
		{"a mirror pod asking for GPU memory in the tenant's namespace", mirror("gpu-hog", nil, gpu), msgNodePodResources},
	} {
		refused(t, "node "+nodeName+": "+tt.what, create(tt.pod), tt.want)
	}
	if err := create(mirror("static", map[string]string{"app": "static"}, nil)); err != nil {
		t.Errorf("node %s creates the mirror pod of an ordinary static pod: %v", nodeName, err)
	}
}
