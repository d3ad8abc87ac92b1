package e2e

import (
	"context"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/zzcloud/zz/internal/contract"
	"github.com/zzcloud/zz/internal/gpushare"
)

const (
	msgNodePodLabels    = "may not create a pod with zz's labels"
	msgNodePodResources = "may not create a pod asking for zz.io/ resources"
	msgNodePodZZ        = "may not create a pod of zz's own"
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
	// One posing as zz's webhook in zz-system would join Service
	// zz-webhook and its PodDisruptionBudget (a review); nor anywhere else
	// labelled as part of zz.
	webhook := mirror("zz-webhook", map[string]string{"app.kubernetes.io/name": "zz-webhook", "app.kubernetes.io/part-of": "zz"}, nil)
	webhook.Namespace = "zz-system"
	// Within zz-system's restricted Pod Security, which would refuse it
	// first otherwise: what a node that means it would write.
	webhook.Spec.SecurityContext = &corev1.PodSecurityContext{RunAsNonRoot: ptr.To(true), SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}}
	webhook.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{AllowPrivilegeEscalation: ptr.To(false), Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}}}
	_, err = node.CoreV1().Pods("zz-system").Create(ctx, webhook, dry)
	refused(t, "node "+nodeName+": a mirror pod posing as zz's webhook in zz-system", err, msgNodePodZZ)
	refused(t, "node "+nodeName+": a mirror pod labelled part of zz", create(mirror("part", map[string]string{"app.kubernetes.io/part-of": "zz"}, nil)), msgNodePodZZ)
}

// pluginPod is a pod of the device plugin's ServiceAccount on node, as its
// DaemonSet's would be: a token bound to it names the node. Deleted when
// the test ends.
func pluginPod(t *testing.T, name, node string) *corev1.Pod {
	t.Helper()
	ctx := t.Context()
	p := onNode(&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "zz-device-plugin"},
		Spec: corev1.PodSpec{ServiceAccountName: "zz-device-plugin", NodeName: node, TerminationGracePeriodSeconds: ptr.To[int64](0),
			Containers: []corev1.Container{{Name: "zz-device-plugin", Image: "registry.local/zz-device-plugin:e2e"}}}}, node)
	p, err := cluster.Client.CoreV1().Pods(p.Namespace).Create(ctx, p, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cluster.Client.CoreV1().Pods(p.Namespace).Delete(context.WithoutCancel(ctx), p.Name, metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)})
	})
	return p
}

// servedCardForgery: root on node A reads the UUID of the card node B
// serves the tenant's pod gpu-b on (its plugin's token lists every pod) and
// lists it in A's inventory. B's plugin marked the pod served, which no
// node can do for a card another node lists: B keeps the card, so a pod
// pinned to it still lands on B while the forgery stands, and A's copy is
// out of service (a root-on-one-node audit froze every busy card of the
// cluster from one node).
func servedCardForgery(t *testing.T, dpA, tenant identity, ns, nodeA, nodeB string) {
	ctx := t.Context()
	dpB := identityWithToken(t, "device-plugin-b", token(t, "zz-device-plugin", "zz-device-plugin", pluginPod(t, "zz-device-plugin-b-serves", nodeB)))
	if _, err := dpB.client.CoreV1().Pods(ns).Patch(ctx, "gpu-b", types.MergePatchType,
		mergePatch(t, map[string]any{contract.AnnotationGPUAssigned: "true"}), metav1.PatchOptions{}); err != nil {
		t.Fatalf("the device plugin of %s marks its pod served: %v", nodeB, err)
	}
	podB, err := cluster.Client.CoreV1().Pods(ns).Get(ctx, "gpu-b", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	busy := podB.Annotations[contract.AnnotationGPUUUIDs]
	inv, original, publish := nodeInventory(t, dpA, nodeA)
	inv.Cards = append(inv.Cards, contract.GPU{Index: len(inv.Cards), UUID: busy, Model: "NVIDIA A100-SXM4-40GB", MemoryMiB: 40960, Healthy: true})
	value, err := inv.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if err := publish(value); err != nil {
		t.Fatalf("node A publishes the card node B serves: %v", err)
	}
	defer func() {
		if err := publish(original); err != nil {
			t.Errorf("restore %s's inventory: %v", nodeA, err)
		}
	}()
	// kubectl zz gpu, a ledger of its own, shows A's copy out of service.
	out, err := exec.CommandContext(ctx, cluster.GoBuild(t, "./plugins/kubectl-zz"), "--kubeconfig", cluster.Kubeconfig, "gpu", "-o", "wide").Output()
	if err != nil {
		t.Fatalf("kubectl zz gpu: %v", err)
	}
	if want := nodeA + " " + strconv.Itoa(len(inv.Cards)-1) + " NVIDIA A100-SXM4-40GB 40Gi 0Mi 0 (UUID on another node) 0 " + busy + " false (" + gpushare.DuplicateReason + "node " + nodeB + ")"; !strings.Contains(strings.Join(strings.Fields(string(out)), " "), want) {
		t.Errorf("kubectl zz gpu -o wide lacks %q:\n%s", want, out)
	}
	pinned := newGPUPod(ns, "pinned-busy", "8Gi")
	pinned.Annotations = map[string]string{contract.AnnotationGPUCard: busy}
	pinned.Spec.Tolerations = []corev1.Toleration{{Key: hostileTaintKey, Operator: corev1.TolerationOpExists}}
	if _, err := tenant.client.CoreV1().Pods(ns).Create(ctx, pinned, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = cluster.Client.CoreV1().Pods(ns).Delete(context.WithoutCancel(ctx), pinned.Name, metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)})
	}()
	if bound := boundWithin(t, ns, pinned.Name, 60*time.Second); bound != nodeB {
		t.Fatalf("while node A lists %s, which node B serves a pod on, a pod pinned to it should be bound to %s, is on %q", busy, nodeB, bound)
	}
}

// nodeInventory is node's GPU inventory, its annotation as found, and a
// function that publishes an annotation with id's token (a device plugin's).
func nodeInventory(t *testing.T, id identity, node string) (*contract.NodeGPUInventory, string, func(string) error) {
	t.Helper()
	ctx := t.Context()
	current, err := cluster.Client.CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	original := current.Annotations[contract.AnnotationNodeGPUInventory]
	inv, err := contract.ParseInventory(original)
	if err != nil {
		t.Fatal(err)
	}
	return inv, original, func(value string) error {
		_, err := id.client.CoreV1().Nodes().Patch(ctx, node, types.MergePatchType,
			mergePatch(t, map[string]any{contract.AnnotationNodeGPUInventory: value}), metav1.PatchOptions{})
		return err
	}
}

// boundWithin is the node pod ns/name is bound to within d ("" if none).
func boundWithin(t *testing.T, ns, name string, d time.Duration) string {
	t.Helper()
	for deadline := time.Now().Add(d); time.Now().Before(deadline); time.Sleep(time.Second) {
		p, err := cluster.Client.CoreV1().Pods(ns).Get(t.Context(), name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if p.Spec.NodeName != "" {
			return p.Spec.NodeName
		}
	}
	return ""
}

// copiedHostname: node's credentials label their node with nodeA's
// kubernetes.io/hostname, which NodeRestriction allows (pods pinned to
// nodeA by the label may then run on the forger; a root-on-one-node audit
// drew one so). kubectl zz check warns of the two nodes carrying it.
func copiedHostname(t *testing.T, node kubernetes.Interface, nodeName, nodeA string) {
	ctx := t.Context()
	label := func(c kubernetes.Interface, value string) error {
		_, err := c.CoreV1().Nodes().Patch(ctx, nodeName, types.MergePatchType,
			[]byte(`{"metadata":{"labels":{"`+corev1.LabelHostname+`":"`+value+`"}}}`), metav1.PatchOptions{})
		return err
	}
	if err := label(node, nodeA); err != nil {
		t.Fatalf("node %s labels itself %s=%s (NodeRestriction allows it): %v", nodeName, corev1.LabelHostname, nodeA, err)
	}
	defer func() {
		if err := label(cluster.Client, nodeName); err != nil {
			t.Errorf("restore %s's %s: %v", nodeName, corev1.LabelHostname, err)
		}
	}()
	// check fails on this cluster for other reasons (no zz Deployments):
	// only its output is judged.
	out, _ := exec.CommandContext(ctx, cluster.GoBuild(t, "./plugins/kubectl-zz"), "--kubeconfig", cluster.Kubeconfig, "check").CombinedOutput()
	if want := "node hostnames: kubernetes.io/hostname " + nodeA + " on nodes " + nodeA + ", " + nodeName + ": a node sets that label on itself"; !strings.Contains(string(out), want) {
		t.Errorf("kubectl zz check lacks %q:\n%s", want, out)
	}
}
