package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/utils/ptr"

	"github.com/zzcloud/zz/internal/contract"
	"github.com/zzcloud/zz/internal/gpushare"
	"github.com/zzcloud/zz/test/e2e/framework"
)

// Messages of the shipped policies (manifests/policies) a refusal must carry.
const (
	msgReserved     = "reserved for zz's GPU scheduling"
	msgInventory    = "only the zz device plugin of that node writes it"
	msgOwnNode      = "may patch only its own Node"
	msgOwnNodePods  = "may patch only pods bound to its own node"
	msgOnlyGPUAnns  = "may change only zz's GPU assignment annotations of a pod"
	msgOnlyInvAnn   = "may change only the zz.io/gpu-inventory annotation of its Node"
	msgPlacedByHand = "a pod asking for zz.io/gpu-mem cannot be created on a node (spec.nodeName: "
	msgPinByName    = "nodeSelectorTerms: [{matchFields: [{key: metadata.name, operator: In, values: ["
	hostileTaintKey = "zz.io/e2e-hostile"
)

// identity is one set of credentials: a kubeconfig and a client made from it.
type identity struct {
	name       string
	kubeconfig string
	client     kubernetes.Interface
}

// identityWithToken writes a kubeconfig for the cluster holding token.
func identityWithToken(t *testing.T, name, token string) identity {
	t.Helper()
	cfg, err := clientcmd.LoadFromFile(cluster.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	for _, auth := range cfg.AuthInfos {
		auth.ClientCertificateData, auth.ClientKeyData = nil, nil
		auth.Token = token
	}
	path := filepath.Join(t.TempDir(), name+".kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		t.Fatal(err)
	}
	rc, err := clientcmd.BuildConfigFromFlags("", path)
	if err != nil {
		t.Fatal(err)
	}
	client, err := kubernetes.NewForConfig(rc)
	if err != nil {
		t.Fatal(err)
	}
	return identity{name: name, kubeconfig: path, client: client}
}

// editTenant is a ServiceAccount "tenant" of ns with the edit role there:
// a namespace's developer.
func editTenant(t *testing.T, ns string) identity {
	t.Helper()
	return roleTenant(t, ns, "tenant", "edit")
}

// roleTenant is a ServiceAccount name of ns bound to the ClusterRole role
// in ns alone (edit, view), with its own kubeconfig.
func roleTenant(t *testing.T, ns, name, role string) identity {
	t.Helper()
	ctx := t.Context()
	if _, err := cluster.Client.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cluster.Client.RbacV1().RoleBindings(ns).Create(ctx, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: name + "-" + role},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role},
		Subjects: []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: name, Namespace: ns}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	return identityWithToken(t, name, token(t, ns, name, nil))
}

// token asks for a token of ns/sa, bound to a pod when pod is set (the
// token then names the pod's node, as a DaemonSet pod's own token does).
func token(t *testing.T, ns, sa string, pod *corev1.Pod) string {
	t.Helper()
	req := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](3600)}}
	if pod != nil {
		req.Spec.BoundObjectRef = &authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: pod.Name, UID: pod.UID}
	}
	tok, err := cluster.Client.CoreV1().ServiceAccounts(ns).CreateToken(t.Context(), sa, req, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return tok.Status.Token
}

// kubectlAs runs kubectl with another identity's kubeconfig.
func kubectlAs(ctx context.Context, id identity, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, cluster.Bin("kubectl"), append([]string{"--kubeconfig", id.kubeconfig}, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	return stdout.String() + stderr.String(), err
}

// policiesEnforced reports whether the apiserver refuses a pod created with
// a reserved annotation (a server-side dry run: nothing is stored).
func policiesEnforced(ctx context.Context) (bool, error) {
	probe := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{GenerateName: "policy-probe-", Namespace: "default",
		Annotations: map[string]string{contract.AnnotationGPUIndexes: "0"}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "registry.local/x:1"}}}}
	_, err := cluster.Client.CoreV1().Pods("default").Create(ctx, probe, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
	if err != nil && !strings.Contains(err.Error(), "are reserved") {
		return false, err
	}
	return err != nil, nil
}

// waitPoliciesGone waits until the apiserver has forgotten removed policies,
// so the next test may write the annotations as the admin again.
// It runs in cleanups, where the test's context is already done.
func waitPoliciesGone(t *testing.T) {
	t.Helper()
	err := framework.Poll(context.WithoutCancel(t.Context()), 30*time.Second, func(ctx context.Context) (bool, string, error) {
		on, err := policiesEnforced(ctx)
		return !on, "", err
	})
	if err != nil {
		t.Errorf("the policies are still enforced after their removal: %v", err)
	}
}

// installPolicies applies manifests/policies with kubectl apply -k, waits
// until the apiserver enforces them, and removes them when the test ends:
// other tests write the assignment annotations with admin credentials to set
// up their scenes, which the policies refuse to anyone but zz's servers.
func installPolicies(t *testing.T) {
	t.Helper()
	ctx := t.Context()
	dir := filepath.Join(cluster.Root, "manifests", "policies")
	if out, err := cluster.Kubectl(ctx, "apply", "-k", dir); err != nil {
		t.Fatalf("kubectl apply -k %s: %v\n%s", dir, err, out)
	}
	t.Cleanup(func() {
		if out, err := cluster.Kubectl(context.WithoutCancel(ctx), "delete", "--ignore-not-found", "-k", dir); err != nil {
			t.Errorf("remove the policies: %v\n%s", err, out)
		}
		waitPoliciesGone(t)
	})
	cluster.WaitFor(t, 30*time.Second, "the policies enforced", func(ctx context.Context) (bool, string, error) {
		on, err := policiesEnforced(ctx)
		return on, "", err
	})
	// kube-controller-manager type-checks each policy's CEL against the
	// schemas of what it matches: a field misspelt there would make the
	// expression fail at run time, refusing everything it matches.
	cluster.WaitFor(t, 60*time.Second, "the policies type-checked without warnings", func(ctx context.Context) (bool, string, error) {
		list, err := cluster.Client.AdmissionregistrationV1().ValidatingAdmissionPolicies().List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/part-of=zz"})
		if err != nil {
			return false, "", err
		}
		for _, p := range list.Items {
			if p.Status.ObservedGeneration != p.Generation || p.Status.TypeChecking == nil {
				return false, p.Name + " not type-checked yet", nil
			}
			if w := p.Status.TypeChecking.ExpressionWarnings; len(w) > 0 {
				return false, "", fmt.Errorf("policy %s: %+v", p.Name, w)
			}
		}
		return len(list.Items) > 0, fmt.Sprintf("%d policies", len(list.Items)), nil
	})
}

// hostileGPUNode creates a kwok GPU node with two 40 GiB cards, tainted so
// that only this test's pods land on it.
func hostileGPUNode(t *testing.T, name string) *contract.NodeGPUInventory {
	return taintedGPUNode(t, name, "NVIDIA A100-SXM4-40GB")
}

// taintedGPUNode is hostileGPUNode with cards of the given model.
func taintedGPUNode(t *testing.T, name, model string) *contract.NodeGPUInventory {
	t.Helper()
	return taintedNode(t, name, model, "32", 2, 40960)
}

// taintedNode is taintedGPUNode with the node's CPU and its cards' number
// and memory given.
func taintedNode(t *testing.T, name, model, cpu string, cards int, mib int64) *contract.NodeGPUInventory {
	t.Helper()
	ctx := context.WithoutCancel(t.Context())
	inv := &contract.NodeGPUInventory{Version: contract.InventoryVersion}
	for i := range cards {
		inv.Cards = append(inv.Cards, contract.GPU{Index: i, UUID: fmt.Sprintf("GPU-%s-%d", name, i), Model: model, MemoryMiB: mib, Healthy: true})
	}
	value, err := inv.Encode()
	if err != nil {
		t.Fatal(err)
	}
	res := corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu), corev1.ResourceMemory: resource.MustParse("256Gi"),
		corev1.ResourcePods: resource.MustParse("110"), contract.ResourceGPU: resource.MustParse("32")}
	_, err = cluster.Client.CoreV1().Nodes().Create(ctx, &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name,
			Annotations: map[string]string{"kwok.x-k8s.io/node": "fake", contract.AnnotationNodeGPUInventory: value},
			Labels:      map[string]string{"kubernetes.io/hostname": name, contract.LabelGPUNode: "true", "type": "kwok"}},
		Spec:   corev1.NodeSpec{Taints: []corev1.Taint{{Key: hostileTaintKey, Value: "true", Effect: corev1.TaintEffectNoSchedule}}},
		Status: corev1.NodeStatus{Capacity: res, Allocatable: res},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cluster.Client.CoreV1().Nodes().Delete(ctx, name, metav1.DeleteOptions{}) })
	return inv
}

// onNode pins a pod to a hostile node.
func onNode(p *corev1.Pod, node string) *corev1.Pod {
	p.Spec.NodeSelector = map[string]string{"kubernetes.io/hostname": node}
	p.Spec.Tolerations = append(p.Spec.Tolerations, corev1.Toleration{Key: hostileTaintKey, Operator: corev1.TolerationOpExists})
	return p
}

// ofModel sends a GPU pod to the cards of model (a taintedGPUNode's).
func ofModel(p *corev1.Pod, model string) *corev1.Pod {
	if p.Annotations == nil {
		p.Annotations = map[string]string{}
	}
	p.Annotations[contract.AnnotationGPUModel] = model
	p.Spec.Tolerations = append(p.Spec.Tolerations, corev1.Toleration{Key: hostileTaintKey, Operator: corev1.TolerationOpExists})
	return p
}

// forgedAssignment claims card 1 of node for 40 GiB, as a tenant would to
// take a card it did not pay for.
func forgedAssignment(node string) map[string]string {
	return map[string]string{
		contract.AnnotationGPUIndexes: "1", contract.AnnotationGPUUUIDs: "GPU-" + node + "-1",
		contract.AnnotationGPUMemMiB: "40960", contract.AnnotationGPUAssumeTime: fmt.Sprint(time.Now().UnixNano()),
		contract.AnnotationGPUAssigned: "false",
	}
}

// refused checks err is the apiserver refusing with want in its message.
func refused(t *testing.T, what string, err error, want string) {
	t.Helper()
	switch {
	case err == nil:
		t.Errorf("%s: accepted; want refused with %q", what, want)
	case !strings.Contains(err.Error(), want):
		t.Errorf("%s: refused with %v; want %q", what, err, want)
	default:
		t.Logf("%s: refused: %s", what, err)
	}
}

// mergePatch is a JSON merge patch of a pod or node's annotations.
func mergePatch(t *testing.T, anns map[string]any) []byte {
	t.Helper()
	b, err := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": anns}})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestHostileTenant installs the shipped ValidatingAdmissionPolicies with
// kubectl apply -k and plays a tenant with the namespace edit role, a stolen
// device-plugin token bound to a pod of node A, and a stolen extender token:
// every forgery of zz's GPU annotations, and every write beyond them, is
// refused by the apiserver with the policy's message, the real extender's
// ledger and kubectl zz gpu do not move, and the real servers' legitimate
// writes still pass.
func TestHostileTenant(t *testing.T) {
	ctx := t.Context()
	for _, f := range []string{"manifests/base/namespace.yaml", "manifests/scheduler/rbac.yaml",
		"manifests/deviceplugin/namespace.yaml", "manifests/deviceplugin/rbac.yaml"} {
		if out, err := cluster.Kubectl(ctx, "apply", "--server-side", "--field-manager", "zz-e2e", "-f", filepath.Join(cluster.Root, f)); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
	}
	nodeA, nodeB := "hostile-gpu-a", "hostile-gpu-b"
	invA := hostileGPUNode(t, nodeA)
	hostileGPUNode(t, nodeB)
	installPolicies(t)
	z := startZZScheduler(t)

	// The tenant: a ServiceAccount with the edit role in its namespace.
	ns := cluster.Namespace(t, nil)
	tenant := editTenant(t, ns)

	// Two GPU pods of the tenant, placed by the real zz-scheduler and
	// extender (whose bind writes the card choice under the policies).
	for _, p := range []*corev1.Pod{onNode(newGPUPod(ns, "gpu-a", "8Gi"), nodeA), onNode(newGPUPod(ns, "gpu-b", "8Gi"), nodeB)} {
		if _, err := tenant.client.CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatalf("the tenant creates an ordinary GPU pod: %v", err)
		}
	}
	cluster.RunningPods(t, ns, "app=gpu", 2, 90*time.Second)
	podA, err := cluster.Client.CoreV1().Pods(ns).Get(ctx, "gpu-a", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if podA.Annotations[contract.AnnotationGPUIndexes] == "" || podA.Annotations[contract.AnnotationGPUAssigned] != "false" ||
		podA.Annotations[contract.AnnotationGPUAssumeNode] != nodeA {
		t.Fatalf("the extender's bind did not write the card choice under the policies: %v", podA.Annotations)
	}
	podB, err := cluster.Client.CoreV1().Pods(ns).Get(ctx, "gpu-b", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}

	// What the ledger and kubectl zz gpu say before the attack.
	ledger := z.allocatedMetric(t)
	zzGPU := func() string {
		t.Helper()
		out, err := exec.CommandContext(ctx, cluster.GoBuild(t, "./plugins/kubectl-zz"), "--kubeconfig", cluster.Kubeconfig, "gpu", "-o", "json").Output()
		if err != nil {
			t.Fatalf("kubectl zz gpu: %v", err)
		}
		return string(out)
	}
	before := zzGPU()

	// The device plugin of node A, as its DaemonSet pod's token says.
	dpPod := pluginPod(t, "zz-device-plugin-a", nodeA)
	dpA := identityWithToken(t, "device-plugin-a", token(t, "zz-device-plugin", "zz-device-plugin", dpPod))
	dpUnbound := identityWithToken(t, "device-plugin-unbound", token(t, "zz-device-plugin", "zz-device-plugin", nil))
	extender := identityWithToken(t, "extender", token(t, "zz-system", "zz-scheduler", nil))
	admin := identity{name: "admin", kubeconfig: cluster.Kubeconfig, client: cluster.Client}

	t.Run("tenant", func(t *testing.T) { tenantForgeries(t, tenant, admin, ns, podA, nodeA) })
	t.Run("device plugin token", func(t *testing.T) { devicePluginAbuse(t, dpA, dpUnbound, podA, podB, nodeA, nodeB) })
	t.Run("extender token", func(t *testing.T) { extenderAbuse(t, extender, podA) })
	t.Run("root on node B", func(t *testing.T) { nodeRootAbuse(t, dpPod, podA, nodeB) })

	if got := z.allocatedMetric(t); fmt.Sprint(got) != fmt.Sprint(ledger) {
		t.Errorf("the extender's ledger moved: %v, was %v", got, ledger)
	}
	if after := zzGPU(); after != before {
		t.Errorf("kubectl zz gpu changed:\nbefore %s\nafter  %s", before, after)
	}

	// The legitimate writes still pass.
	t.Run("legitimate writes", func(t *testing.T) {
		if _, err := dpA.client.CoreV1().Pods(ns).Patch(ctx, podA.Name, types.MergePatchType,
			mergePatch(t, map[string]any{contract.AnnotationGPUAssigned: "true"}), metav1.PatchOptions{}); err != nil {
			t.Errorf("the device plugin of %s marks its pod served: %v", nodeA, err)
		}
		// It publishes, changes and removes what its pod uses (the patches
		// the usage monitor sends: one annotation, with the pod's UID).
		for _, value := range []any{"GPU-" + nodeA + "-0=1200", "GPU-" + nodeA + "-0=9000", nil} {
			patch, err := json.Marshal(map[string]any{"metadata": map[string]any{"uid": podA.UID, "annotations": map[string]any{contract.AnnotationGPUMemUsed: value}}})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := dpA.client.CoreV1().Pods(ns).Patch(ctx, podA.Name, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
				t.Errorf("the device plugin of %s publishes its pod's use %v: %v", nodeA, value, err)
			}
		}
		inv := *invA
		inv.Cards = append([]contract.GPU(nil), invA.Cards...)
		inv.Cards[1].Healthy = false
		value, err := inv.Encode()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := dpA.client.CoreV1().Nodes().Patch(ctx, nodeA, types.MergePatchType,
			mergePatch(t, map[string]any{contract.AnnotationNodeGPUInventory: value}), metav1.PatchOptions{}); err != nil {
			t.Errorf("the device plugin of %s publishes its inventory: %v", nodeA, err)
		}
		if out, err := kubectlAs(ctx, tenant, "-n", ns, "annotate", "pod", podA.Name, "team=vision"); err != nil {
			t.Errorf("the tenant annotates its pod with its own annotation: %v\n%s", err, out)
		}
	})

	t.Run("root on node A forges cards and use", func(t *testing.T) { nodeForgeries(t, dpA, tenant, ns, podA, nodeA, nodeB) })
	t.Run("root on node A lists a card node B serves", func(t *testing.T) { servedCardForgery(t, dpA, tenant, ns, nodeA, nodeB) })
	t.Run("GPU memory quota counts every card", func(t *testing.T) { gpuQuota(t, tenant, ns) })
	t.Run("a workload template without the GPU memory total is refused at once", func(t *testing.T) { gpuQuotaTemplates(t, tenant, ns) })
	t.Run("ephemeral containers see no card", func(t *testing.T) { ephemeralContainers(t, tenant, ns, podA) })
}

// ephemeralContainers: the tenant, granted pods/ephemeralcontainers as an
// admin might for kubectl debug (edit does not grant it), in a namespace no
// webhook serves, adds no ephemeral container that could see the node's
// cards: one that sets no NVIDIA_VISIBLE_DEVICES (a CUDA image's ENV says
// all, and no device plugin allocates for it) gets void from the
// MutatingAdmissionPolicy zz-ephemeral-void, with no flag; one that sets
// another value, or a CUDA_MPS_* limit, is refused (policy
// zz-ephemeral-containers; review 17b 1.1).
func ephemeralContainers(t *testing.T, tenant identity, ns string, pod *corev1.Pod) {
	ctx := t.Context()
	// As kubectl debug sends it, with an envFrom that could say all too.
	debug := func(env ...corev1.EnvVar) (*corev1.EphemeralContainer, error) {
		return addDebugContainer(ctx, tenant.client, ns, pod.Name, corev1.EphemeralContainerCommon{Image: cudaImage, Env: env,
			EnvFrom: []corev1.EnvFromSource{{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "nv"}, Optional: ptr.To(true)}}}},
			metav1.UpdateOptions{DryRun: []string{metav1.DryRunAll}})
	}
	if _, err := debug(); err == nil || !apierrors.IsForbidden(err) {
		t.Fatalf("the edit role added an ephemeral container: %v; the test assumes edit does not grant pods/ephemeralcontainers", err)
	}
	role := &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "debugger", Namespace: ns},
		Rules: []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"pods/ephemeralcontainers"}, Verbs: []string{"get", "update", "patch"}}}}
	if _, err := cluster.Client.RbacV1().Roles(ns).Create(ctx, role, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cluster.Client.RbacV1().RoleBindings(ns).Create(ctx, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "tenant-debugger"},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: role.Name},
		Subjects: []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: "tenant", Namespace: ns}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// Until the RoleBinding reaches the authorizer's cache, and the
	// mutating policy the apiserver's.
	var c *corev1.EphemeralContainer
	var err error
	cluster.WaitFor(t, 30*time.Second, "the tenant's kubectl debug admitted", func(context.Context) (bool, string, error) {
		c, err = debug()
		return err == nil, fmt.Sprint(err), nil
	})
	if v := envOf(corev1.Container{Env: c.Env})[contract.EnvVisibleDevices]; v != contract.VisibleDevicesVoid {
		t.Errorf("an ephemeral container setting no NVIDIA_VISIBLE_DEVICES was admitted with %q, want void: env %v", v, c.Env)
	}
	// A value of the user's own is refused, not rewritten.
	_, err = debug(corev1.EnvVar{Name: contract.EnvVisibleDevices, Value: "all"})
	refused(t, "an ephemeral container setting NVIDIA_VISIBLE_DEVICES=all", err, "ephemeral containers debugger-0 "+msgDebugVoid)
	_, err = debug(corev1.EnvVar{Name: contract.EnvVisibleDevices, Value: "void"}, corev1.EnvVar{Name: contract.EnvVisibleDevices, Value: "all"})
	refused(t, "void, then all (the last wins)", err, msgDebugVoid)
	_, err = debug(corev1.EnvVar{Name: contract.EnvMPSPinnedMemLimit, Value: "0=80G"})
	refused(t, "an ephemeral container setting an MPS limit", err, msgDebugVoid)
	// Its own void wins over its envFrom and its image's ENV.
	if _, err := debug(corev1.EnvVar{Name: contract.EnvVisibleDevices, Value: "void"}); err != nil {
		t.Errorf("an ephemeral container with NVIDIA_VISIBLE_DEVICES=void: %v", err)
	}
}

// gpuQuota: a ResourceQuota on requests.zz.io/gpu-mem-total bounds what the
// tenant's pods hold over all their cards, and the tenant can neither leave
// zz.io/gpu-mem-total out nor understate it (policy zz-gpu-mem-total).
func gpuQuota(t *testing.T, tenant identity, ns string) {
	ctx := t.Context()
	total := corev1.ResourceName("requests." + string(contract.ResourceGPUMemTotal))
	// What the namespace's pods hold already (two running 8 GiB pods and one
	// pending), and room for 24 GiB more.
	pods, err := cluster.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var base resource.Quantity
	for _, p := range pods.Items {
		for _, c := range p.Spec.Containers {
			base.Add(c.Resources.Requests[contract.ResourceGPUMemTotal])
		}
	}
	hard := base.DeepCopy()
	hard.Add(resource.MustParse("24Gi"))
	cluster.Quota(t, ns, "gpu", corev1.ResourceList{total: hard}, corev1.ResourceList{total: base})
	var made []string
	t.Cleanup(func() {
		ctx := context.WithoutCancel(ctx)
		for _, name := range made {
			_ = cluster.Client.CoreV1().Pods(ns).Delete(ctx, name, metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)})
		}
	})
	pod := func(name, mem string, cards int64) *corev1.Pod {
		p := newGPUPod(ns, name, mem)
		p.Labels["app"] = "gpu-quota"
		p.Spec.Containers[0].Resources.Limits[contract.ResourceGPU] = *resource.NewQuantity(cards, resource.DecimalSI)
		gpushare.SetMemTotal(p)
		return p
	}
	create := func(p *corev1.Pod) error {
		_, err := tenant.client.CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{})
		if err == nil {
			made = append(made, p.Name)
		}
		return err
	}
	// 8 GiB on 2 cards: 16 GiB of the 24 left.
	if err := create(pod("two-cards", "8Gi", 2)); err != nil {
		t.Fatalf("a pod within the quota: %v", err)
	}
	// kubectl zz gpu --fit tells what the quota leaves: 8 GiB, no room for
	// another 8 GiB on 2 cards.
	var stderr bytes.Buffer
	fit := exec.CommandContext(ctx, cluster.GoBuild(t, "./plugins/kubectl-zz"), "--kubeconfig", cluster.Kubeconfig, "-n", ns, "gpu", "--fit", "8Gi", "--cards", "2")
	fit.Stderr = &stderr
	if err := fit.Run(); err != nil || !strings.Contains(stderr.String(), "; namespace "+ns+"'s quota admits 0 more (gpu: 8Gi of requests.zz.io/gpu-mem-total left)") {
		t.Errorf("kubectl zz gpu --fit 8Gi --cards 2: %v, stderr %q", err, stderr.String())
	}
	// 4 GiB on 4 cards is 16 GiB: past the quota, although a quota on
	// zz.io/gpu-mem (per card) would count 4 GiB and let it in.
	refused(t, "4 GiB on 4 cards past the quota", create(pod("four-cards", "4Gi", 4)), "exceeded quota: gpu")
	noTotal := pod("no-total", "1Gi", 1)
	delete(noTotal.Spec.Containers[0].Resources.Limits, contract.ResourceGPUMemTotal)
	delete(noTotal.Spec.Containers[0].Resources.Requests, contract.ResourceGPUMemTotal)
	refused(t, "a GPU pod without zz.io/gpu-mem-total", create(noTotal), "without zz.io/gpu-mem-total equal to it times their zz.io/gpu cards")
	under := pod("understated", "8Gi", 4)
	under.Spec.Containers[0].Resources.Limits[contract.ResourceGPUMemTotal] = resource.MustParse("8Gi")
	under.Spec.Containers[0].Resources.Requests[contract.ResourceGPUMemTotal] = resource.MustParse("8Gi")
	refused(t, "a GPU pod that understates zz.io/gpu-mem-total", create(under), "containers cuda ask for zz.io/gpu-mem without zz.io/gpu-mem-total")
	// Cards without GPU memory (nvidia.com/gpu: 1 written as zz.io/gpu: 1):
	// no card could be handed to it, and quota would count nothing.
	cardsOnly := pod("cards-only", "1Gi", 1)
	for _, l := range []corev1.ResourceList{cardsOnly.Spec.Containers[0].Resources.Limits, cardsOnly.Spec.Containers[0].Resources.Requests} {
		delete(l, contract.ResourceGPUMem)
		delete(l, contract.ResourceGPUMemTotal)
	}
	refused(t, "a pod asking for cards without GPU memory", create(cardsOnly), "containers cuda ask for zz.io/gpu cards without zz.io/gpu-mem: zz shares cards by GPU memory")
	// The total alone: no card would be chosen, yet the quota counts it.
	totalOnly := pod("total-only", "1Gi", 1)
	for _, l := range []corev1.ResourceList{totalOnly.Spec.Containers[0].Resources.Limits, totalOnly.Spec.Containers[0].Resources.Requests} {
		delete(l, contract.ResourceGPUMem)
		delete(l, contract.ResourceGPU)
	}
	refused(t, "a pod asking for GPU memory in total alone", create(totalOnly), "containers cuda ask for zz.io/gpu-mem-total without zz.io/gpu-mem")
	// What would override the cards the pod is given: refused where no zz
	// webhook serves too (this namespace), since GPU pods run everywhere.
	visible := pod("visible-all", "1Gi", 1)
	visible.Spec.Containers[0].Env = []corev1.EnvVar{{Name: contract.EnvVisibleDevices, Value: "all"}}
	refused(t, "a GPU pod setting NVIDIA_VISIBLE_DEVICES=all", create(visible),
		"containers cuda of a pod asking for zz.io/gpu-mem set NVIDIA_VISIBLE_DEVICES (other than void or none)")
	mps := pod("mps", "1Gi", 1)
	mps.Spec.Containers[0].Env = []corev1.EnvVar{{Name: contract.EnvMPSPinnedMemLimit, Value: "0=80G"}}
	refused(t, "a GPU pod setting its own MPS limit", create(mps), "containers cuda of a pod asking for zz.io/gpu-mem set")
	// The same through envFrom (a ConfigMap of the tenant's holds
	// NVIDIA_VISIBLE_DEVICES=all): the policy cannot read the ConfigMap, so
	// an entry is judged by its prefix; any container of the GPU pod, as env.
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "nv"}, Data: map[string]string{contract.EnvVisibleDevices: "all", "VISIBLE_DEVICES": "all"}}
	if _, err := tenant.client.CoreV1().ConfigMaps(ns).Create(ctx, cm, metav1.CreateOptions{}); err != nil {
		t.Fatalf("the tenant writes a ConfigMap: %v", err)
	}
	const fromMsg = "of a pod asking for zz.io/gpu-mem take env through envFrom with no prefix, or a prefix that NVIDIA_VISIBLE_DEVICES"
	for _, tc := range []struct {
		name, prefix string
		sidecar      bool   // the entry on a second container that asks for no GPU
		want         string // "" admits
	}{
		{"envfrom", "", false, "containers cuda " + fromMsg},
		{"envfrom-nvidia", "NVIDIA_", false, "containers cuda " + fromMsg},
		{"envfrom-mps", "CUDA_MPS_", false, "containers cuda " + fromMsg},
		{"envfrom-sidecar", "", true, "containers side " + fromMsg},
		{"envfrom-app", "APP_", false, ""},
		// Its own void wins over its envFrom, as where the webhook adds it.
		{"envfrom-sidecar-void", "", true, ""},
	} {
		p := pod(tc.name, "1Gi", 1)
		c := &p.Spec.Containers[0]
		if tc.sidecar {
			p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: "side", Image: "registry.local/sleep:1"})
			c = &p.Spec.Containers[1]
			if tc.want == "" {
				c.Env = []corev1.EnvVar{{Name: contract.EnvVisibleDevices, Value: contract.VisibleDevicesVoid}}
			}
		}
		c.EnvFrom = []corev1.EnvFromSource{{Prefix: tc.prefix, ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "nv"}}}}
		if tc.want == "" { // a dry run: the quota below counts what is made
			if _, err := tenant.client.CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}}); err != nil {
				t.Errorf("a GPU pod with envFrom prefix %q: %v", tc.prefix, err)
			}
			continue
		}
		refused(t, "a GPU pod with envFrom prefix "+strconv.Quote(tc.prefix), create(p), tc.want)
	}
	nri := pod("nri", "1Gi", 1)
	nri.Spec.Containers[0].Resources = corev1.ResourceRequirements{}
	nri.Annotations = map[string]string{"nvidia.cdi.k8s.io/container.cuda": "management.nvidia.com/gpu=all"}
	refused(t, "a pod with the GPU Operator's CDI prefix", create(nri), "a pod may not carry annotations nvidia.cdi.k8s.io/container.cuda outside kube-system")
	cdi := pod("cdi", "1Gi", 1)
	cdi.Annotations = map[string]string{contract.CDIAnnotationPrefix + "x": "nvidia.com/gpu=all"}
	refused(t, "a GPU pod with a CDI annotation", create(cdi), "a pod may not carry annotations cdi.k8s.io/x outside kube-system")
	// A pod asking for no GPU at all: a runtime with CDI on would give it
	// every card of a GPU node, which the ledger counts as free.
	cdiOnly := pod("cdi-only", "1Gi", 1)
	cdiOnly.Spec.Containers[0].Resources = corev1.ResourceRequirements{}
	cdiOnly.Annotations = map[string]string{contract.CDIAnnotationPrefix + "grab": "nvidia.com/gpu=all"}
	refused(t, "a pod asking for no GPU with a CDI annotation", create(cdiOnly), "a pod may not carry annotations cdi.k8s.io/grab outside kube-system")
	// Nor added later: a runtime reads them again when it recreates the
	// pod's sandbox.
	plain := pod("plain", "1Gi", 1)
	plain.Spec.Containers[0].Resources = corev1.ResourceRequirements{}
	if err := create(plain); err != nil {
		t.Fatalf("a plain pod: %v", err)
	}
	_, err = tenant.client.CoreV1().Pods(ns).Patch(ctx, "plain", types.MergePatchType, []byte(`{"metadata":{"annotations":{"cdi.k8s.io/grab":"nvidia.com/gpu=all"}}}`), metav1.PatchOptions{})
	refused(t, "a CDI annotation added to a running pod", err, "a pod may not carry annotations cdi.k8s.io/grab outside kube-system")
	// Nor through pods/status, which a node or a controller writes.
	_, err = cluster.Client.CoreV1().Pods(ns).Patch(ctx, "plain", types.MergePatchType, []byte(`{"metadata":{"annotations":{"cdi.k8s.io/grab":"nvidia.com/gpu=all"}}}`), metav1.PatchOptions{}, "status")
	refused(t, "a CDI annotation added through pods/status", err, "a pod may not carry annotations cdi.k8s.io/grab outside kube-system")
	_, err = cluster.Client.CoreV1().Pods(ns).Patch(ctx, "plain", types.MergePatchType, []byte(`{"metadata":{"annotations":{"nvidia.cdi.k8s.io/grab":"nvidia.com/gpu=all"}}}`), metav1.PatchOptions{}, "status")
	refused(t, "an nvidia.cdi.k8s.io/ annotation added through pods/status", err, "a pod may not carry annotations nvidia.cdi.k8s.io/grab outside kube-system")
	// A system priority (the apiserver admits it in any namespace): zz's GPU
	// preemption would evict other namespaces' GPU pods for it.
	urgent := pod("urgent", "1Gi", 1)
	urgent.Spec.PriorityClassName = "system-node-critical"
	refused(t, "a GPU pod of system-node-critical outside kube-system", create(urgent),
		"a pod asking for zz.io/gpu-mem may not have a system priority (system-node-critical: 2000001000, above 1000000000) outside kube-system")
	// Within what is left: 8 GiB on one card.
	if err := create(pod("one-card", "8Gi", 1)); err != nil {
		t.Errorf("a pod within what the quota leaves: %v", err)
	}
}

// gpuQuotaTemplates: where no zz webhook will set zz.io/gpu-mem-total on a
// workload's pods, a template without it is refused when the workload is
// written, not left to fail at each pod; where the webhook serves, it is
// admitted; and a workload admitted before is refused only when its template
// changes, never for what its controller writes.
func gpuQuotaTemplates(t *testing.T, tenant identity, ns string) {
	ctx := t.Context()
	const msg = "the pod template's containers cuda ask for zz.io/gpu-mem without zz.io/gpu-mem-total"
	template := func(total bool) corev1.PodTemplateSpec {
		p := newGPUPod(ns, "", "4Gi")
		if !total {
			delete(p.Spec.Containers[0].Resources.Limits, contract.ResourceGPUMemTotal)
			delete(p.Spec.Containers[0].Resources.Requests, contract.ResourceGPUMemTotal)
		}
		return corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "gpu-templates"}}, Spec: p.Spec}
	}
	deployment := func(name string, total bool) *appsv1.Deployment {
		return &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: appsv1.DeploymentSpec{Replicas: ptr.To[int32](0),
				Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "gpu-templates"}},
				Template: template(total)}}
	}
	_, err := tenant.client.AppsV1().Deployments(ns).Create(ctx, deployment("no-total", false), metav1.CreateOptions{})
	refused(t, "a Deployment whose template has no zz.io/gpu-mem-total, in a namespace the webhook does not serve", err, msg)
	// Cards without GPU memory, where no webhook gives whole cards.
	cardsOnly := deployment("cards-only", false)
	delete(cardsOnly.Spec.Template.Spec.Containers[0].Resources.Limits, contract.ResourceGPUMem)
	_, err = tenant.client.AppsV1().Deployments(ns).Create(ctx, cardsOnly, metav1.CreateOptions{})
	refused(t, "a Deployment asking for cards without GPU memory", err, "the pod template's containers cuda ask for zz.io/gpu cards without zz.io/gpu-mem")
	// A template with a CDI annotation: its every pod would be refused.
	cdiTemplate := deployment("cdi-template", true)
	cdiTemplate.Spec.Template.Annotations = map[string]string{contract.CDIAnnotationPrefix + "grab": "nvidia.com/gpu=all"}
	_, err = tenant.client.AppsV1().Deployments(ns).Create(ctx, cdiTemplate, metav1.CreateOptions{})
	refused(t, "a Deployment whose template carries a CDI annotation", err, "the pod template of a Deployment may not carry annotations cdi.k8s.io/grab outside kube-system")
	nriTemplate := deployment("nri-template", true)
	nriTemplate.Spec.Template.Annotations = map[string]string{"nvidia.cdi.k8s.io/container.cuda": "management.nvidia.com/gpu=all"}
	_, err = tenant.client.AppsV1().Deployments(ns).Create(ctx, nriTemplate, metav1.CreateOptions{})
	refused(t, "a Deployment whose template carries an nvidia.cdi.k8s.io/ annotation", err,
		"the pod template of a Deployment may not carry annotations nvidia.cdi.k8s.io/container.cuda outside kube-system")
	// A template whose sidecar, or whose GPU container's envFrom, would
	// override the cards: refused when written, not at each pod.
	sidecarEnv := deployment("sidecar-env", true)
	sidecarEnv.Spec.Template.Spec.InitContainers = []corev1.Container{{Name: "thief", Image: "registry.local/sleep:1",
		RestartPolicy: ptr.To(corev1.ContainerRestartPolicyAlways), Env: []corev1.EnvVar{{Name: contract.EnvVisibleDevices, Value: "all"}}}}
	_, err = tenant.client.AppsV1().Deployments(ns).Create(ctx, sidecarEnv, metav1.CreateOptions{})
	refused(t, "a Deployment whose sidecar sets NVIDIA_VISIBLE_DEVICES", err,
		"containers thief of a pod template asking for zz.io/gpu-mem set NVIDIA_VISIBLE_DEVICES (other than void or none)")
	envFrom := deployment("envfrom", true)
	envFrom.Spec.Template.Spec.Containers[0].EnvFrom = []corev1.EnvFromSource{{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "nv"}}}}
	_, err = tenant.client.AppsV1().Deployments(ns).Create(ctx, envFrom, metav1.CreateOptions{})
	refused(t, "a Deployment whose GPU container takes envFrom with no prefix", err,
		"containers cuda of a pod template asking for zz.io/gpu-mem take env through envFrom with no prefix")
	// kubectl zz deploy of an app whose pods only a policy refuses (a system
	// priority, judged on pods: the apiserver sets spec.priority) stops at
	// the refusal, which no retry changes, instead of waiting out --timeout.
	start := time.Now()
	_, errOut, err := zzRaw(t, "--kubeconfig", tenant.kubeconfig, "-n", ns, "deploy", "--name", "urgent", "--type", "worker", "--image", "registry.local/cuda:12",
		"--set", "spec.gpuMem=1Gi", "--set", "spec.priorityClassName=system-node-critical", "--timeout", "3m")
	if err == nil || !strings.Contains(err.Error(), "refused at admission: FailedCreate:") ||
		!strings.Contains(err.Error(), "ValidatingAdmissionPolicy 'zz-gpu-mem-total' with binding 'zz-gpu-mem-total' denied request") {
		t.Errorf("deploy of a GPU app of system-node-critical where only the policies serve: %v\n%s", err, errOut)
	}
	if waited := time.Since(start); waited > time.Minute {
		t.Errorf("deploy waited %v for a policy's refusal no retry changes", waited)
	}
	// A template naming a node: its every pod would be refused.
	onNode := deployment("on-node", true)
	onNode.Spec.Template.Spec.NodeName = "gpu-a100-1"
	_, err = tenant.client.AppsV1().Deployments(ns).Create(ctx, onNode, metav1.CreateOptions{})
	refused(t, "a Deployment whose GPU template names a node", err, "a pod template asking for zz.io/gpu-mem cannot be created on a node (spec.nodeName: gpu-a100-1)")
	job := template(false)
	job.Spec.RestartPolicy = corev1.RestartPolicyNever
	_, err = tenant.client.BatchV1().CronJobs(ns).Create(ctx, &batchv1.CronJob{ObjectMeta: metav1.ObjectMeta{Name: "no-total"},
		Spec: batchv1.CronJobSpec{Schedule: "0 0 * * *", JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{Template: job}}}}, metav1.CreateOptions{})
	refused(t, "a CronJob whose job template has no zz.io/gpu-mem-total", err, msg)
	if _, err := tenant.client.AppsV1().Deployments(ns).Create(ctx, deployment("total", true), metav1.CreateOptions{}); err != nil {
		t.Errorf("a Deployment whose template carries zz.io/gpu-mem-total: %v", err)
	}

	// In a namespace the webhook serves, the webhook sets the total on the
	// pods, so the template needs none. Then the namespace leaves the webhook,
	// as before an upgrade to this policy: the workload stays writable (its
	// controller and its owner update it), until its template changes.
	served := cluster.Namespace(t, map[string]string{contract.LabelInjection: contract.InjectionEnabled})
	d, err := cluster.Client.AppsV1().Deployments(served).Create(ctx, deployment("no-total", false), metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("a Deployment without zz.io/gpu-mem-total in a namespace the webhook serves: %v", err)
	}
	replicaSet := func(ctx context.Context) (*appsv1.ReplicaSet, string, error) {
		rs, err := cluster.Client.AppsV1().ReplicaSets(served).List(ctx, metav1.ListOptions{LabelSelector: "app=gpu-templates"})
		if err != nil {
			return nil, "", err
		}
		if len(rs.Items) != 1 {
			return nil, fmt.Sprintf("%d ReplicaSets", len(rs.Items)), nil
		}
		return &rs.Items[0], fmt.Sprintf("replicas %d", ptr.Deref(rs.Items[0].Spec.Replicas, 0)), nil
	}
	cluster.WaitFor(t, 30*time.Second, "the Deployment controller to make its ReplicaSet while the webhook serves", func(ctx context.Context) (bool, string, error) {
		rs, what, err := replicaSet(ctx)
		return rs != nil, what, err
	})
	if _, err := cluster.Client.CoreV1().Namespaces().Patch(ctx, served, types.MergePatchType,
		[]byte(`{"metadata":{"labels":{"`+contract.LabelInjection+`":null}}}`), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	// The policy reads the namespace from the apiserver's informer: wait
	// until it sees the label gone, i.e. a template change is refused (tried
	// as a dry run, so that one admitted before then changes nothing).
	cluster.WaitFor(t, 30*time.Second, "a template change without zz.io/gpu-mem-total to be refused", func(ctx context.Context) (bool, string, error) {
		got, err := cluster.Client.AppsV1().Deployments(served).Get(ctx, d.Name, metav1.GetOptions{})
		if err != nil {
			return false, "", err
		}
		got.Spec.Template.Annotations = map[string]string{"restartedAt": time.Now().Format(time.RFC3339Nano)}
		_, err = cluster.Client.AppsV1().Deployments(served).Update(ctx, got, metav1.UpdateOptions{DryRun: []string{metav1.DryRunAll}})
		if err == nil {
			return false, "admitted", nil
		}
		return strings.Contains(err.Error(), msg), err.Error(), nil
	})
	// What leaves the template alone is still admitted: its owner's labels
	// and replicas, and the controllers' writes of it and its ReplicaSet.
	if _, err := cluster.Client.AppsV1().Deployments(served).Patch(ctx, d.Name, types.MergePatchType,
		[]byte(`{"metadata":{"labels":{"team":"vision"}},"spec":{"replicas":1}}`), metav1.PatchOptions{}); err != nil {
		t.Errorf("an update of a Deployment admitted before, that leaves its template alone: %v", err)
	}
	cluster.WaitFor(t, 30*time.Second, "the Deployment controller to scale the ReplicaSet it made before", func(ctx context.Context) (bool, string, error) {
		rs, what, err := replicaSet(ctx)
		return rs != nil && ptr.Deref(rs.Spec.Replicas, 0) == 1, what, err
	})
}

// tenantForgeries: each way a tenant could write the card choice itself.
func tenantForgeries(t *testing.T, tenant, admin identity, ns string, gpuPod *corev1.Pod, node string) {
	ctx := t.Context()
	forged := func(name string) *corev1.Pod {
		p := onNode(newGPUPod(ns, name, "40Gi"), node)
		p.Annotations = forgedAssignment(node)
		return p
	}
	_, err := tenant.client.CoreV1().Pods(ns).Create(ctx, forged("forged"), metav1.CreateOptions{})
	refused(t, "create a pod with the card choice", err, msgReserved)
	p := forged("forged-bound")
	p.Spec.NodeName, p.Spec.SchedulerName = node, "" // past every scheduler
	_, err = tenant.client.CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{})
	// Two policies refuse it; the apiserver names the first it evaluated.
	if err != nil && strings.Contains(err.Error(), msgPlacedByHand) {
		t.Logf("create a pod with nodeName and the card choice: refused: %s", err)
	} else {
		refused(t, "create a pod with nodeName and the card choice", err, msgReserved)
	}
	// Without the card choice: nothing would choose its cards or count
	// their memory (the device plugin would refuse it on a real node).
	p = onNode(newGPUPod(ns, "placed-by-hand", "4Gi"), node)
	p.Spec.NodeName, p.Spec.SchedulerName = node, ""
	_, err = tenant.client.CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{})
	refused(t, "create a GPU pod with nodeName", err, msgPlacedByHand)
	// The way it says to pin the node holds against a node: its name, not
	// kubernetes.io/hostname, which each node sets on itself and root on
	// another copies to draw the pods pinned so (a root-on-one-node audit).
	refused(t, "create a GPU pod with nodeName: how to pin the node", err, msgPinByName+node+"]}]")
	// A mirror pod's annotation is anyone's to write; only a node's is one.
	p.Annotations = map[string]string{"kubernetes.io/config.mirror": "x"}
	_, err = tenant.client.CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{})
	refused(t, "create a GPU pod with nodeName posing as a mirror pod", err, msgPlacedByHand)
	p = forged("forged-served")
	p.Annotations = map[string]string{contract.AnnotationGPUAssigned: "true"}
	_, err = tenant.client.CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{})
	refused(t, "create a pod already marked served", err, msgReserved)
	p = forged("forged-use")
	p.Annotations = map[string]string{contract.AnnotationGPUMemUsed: "GPU-" + node + "-0=0"}
	_, err = tenant.client.CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{})
	refused(t, "create a pod that claims its GPU memory use", err, msgReserved)
	// A preemption's record: after a failover, the memory freed on the node
	// would be kept for this pod.
	p = newGPUPod(ns, "forged-nomination", "40Gi")
	p.Annotations = map[string]string{contract.AnnotationGPUNomination: gpushare.NominationRecord{Node: node, Since: time.Now()}.Encode()}
	_, err = tenant.client.CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{})
	refused(t, "create a pod with a preemption's record", err, msgReserved)
	// kube-scheduler's nomination, which the extender honours with memory
	// kept on the node: the status a tenant gives at creation is reset, and
	// the status subresource is not the tenant's to write.
	p = newGPUPod(ns, "forged-nominated-node", "40Gi")
	p.Spec.SchedulerName = "zz-e2e-nobody" // never scheduled: the status stays what creation left
	p.Status.NominatedNodeName = node
	created, err := tenant.client.CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create a pod naming a nominated node in its status: %v", err)
	}
	if created.Status.NominatedNodeName != "" {
		t.Errorf("a tenant's pod was created nominated to %s", created.Status.NominatedNodeName)
	}
	created.Status.NominatedNodeName = node
	_, err = tenant.client.CoreV1().Pods(ns).UpdateStatus(ctx, created, metav1.UpdateOptions{})
	refused(t, "nominate a node for its own pod", err, "forbidden")
	if err := admin.client.CoreV1().Pods(ns).Delete(ctx, created.Name, metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)}); err != nil {
		t.Fatal(err)
	}

	// Controllers' templates.
	tmpl := corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "forged"}, Annotations: forgedAssignment(node)},
		Spec: forged("x").Spec}
	sel := &metav1.LabelSelector{MatchLabels: map[string]string{"app": "forged"}}
	jobTmpl := *tmpl.DeepCopy()
	jobTmpl.Spec.RestartPolicy = corev1.RestartPolicyNever
	apps, batch := tenant.client.AppsV1(), tenant.client.BatchV1()
	meta := metav1.ObjectMeta{Name: "forged"}
	for _, w := range []struct {
		kind   string
		create func() error
	}{
		{"Deployment", func() error {
			_, err := apps.Deployments(ns).Create(ctx, &appsv1.Deployment{ObjectMeta: meta, Spec: appsv1.DeploymentSpec{Selector: sel, Template: tmpl}}, metav1.CreateOptions{})
			return err
		}},
		{"ReplicaSet", func() error {
			_, err := apps.ReplicaSets(ns).Create(ctx, &appsv1.ReplicaSet{ObjectMeta: meta, Spec: appsv1.ReplicaSetSpec{Selector: sel, Template: tmpl}}, metav1.CreateOptions{})
			return err
		}},
		{"StatefulSet", func() error {
			_, err := apps.StatefulSets(ns).Create(ctx, &appsv1.StatefulSet{ObjectMeta: meta, Spec: appsv1.StatefulSetSpec{Selector: sel, Template: tmpl}}, metav1.CreateOptions{})
			return err
		}},
		{"DaemonSet", func() error {
			_, err := apps.DaemonSets(ns).Create(ctx, &appsv1.DaemonSet{ObjectMeta: meta, Spec: appsv1.DaemonSetSpec{Selector: sel, Template: tmpl}}, metav1.CreateOptions{})
			return err
		}},
		{"Job", func() error {
			_, err := batch.Jobs(ns).Create(ctx, &batchv1.Job{ObjectMeta: meta, Spec: batchv1.JobSpec{Template: jobTmpl}}, metav1.CreateOptions{})
			return err
		}},
		{"CronJob", func() error {
			_, err := batch.CronJobs(ns).Create(ctx, &batchv1.CronJob{ObjectMeta: meta, Spec: batchv1.CronJobSpec{Schedule: "* * * * *",
				JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{Template: jobTmpl}}}}, metav1.CreateOptions{})
			return err
		}},
	} {
		refused(t, "create a "+w.kind+" whose template carries the card choice", w.create(), msgReserved)
	}

	// kubectl annotate on the running GPU pod: take another card, claim
	// more memory, drop the "not yet served" mark, or add the choice on an
	// ordinary pod.
	for _, args := range [][]string{
		{contract.AnnotationGPUIndexes + "=1", contract.AnnotationGPUUUIDs + "=GPU-" + node + "-1", "--overwrite"},
		{contract.AnnotationGPUMemMiB + "=40960", "--overwrite"},
		{contract.AnnotationGPUAssigned + "-"},
		{contract.AnnotationGPUAssigned + "=true", "--overwrite"},
		{contract.AnnotationContainerGPU + "=x/y/1"},
		// Hide what the pod uses, or claim another pod's use.
		{contract.AnnotationGPUMemUsed + "=GPU-" + node + "-0=1"},
		{contract.AnnotationGPUNomination + "=" + gpushare.NominationRecord{Node: node, Since: time.Now()}.Encode()},
		// Move the choice to another node, where a rebuilt ledger would charge it.
		{contract.AnnotationGPUAssumeNode + "=" + node + "-other", "--overwrite"},
	} {
		out, err := kubectlAs(ctx, tenant, append([]string{"-n", ns, "annotate", "pod", gpuPod.Name}, args...)...)
		if err != nil {
			err = fmt.Errorf("%w: %s", err, out)
		}
		refused(t, "kubectl annotate "+strings.Join(args, " "), err, msgReserved)
	}
	// Not even the admin: only zz's servers write the protocol (an admin who
	// must repair by hand removes the binding first, an audited act).
	out, err := kubectlAs(ctx, admin, "-n", ns, "annotate", "pod", gpuPod.Name, contract.AnnotationGPUMemMiB+"=1", "--overwrite")
	if err != nil {
		err = fmt.Errorf("%w: %s", err, out)
	}
	refused(t, "the cluster admin's kubectl annotate", err, msgReserved)

	// A Binding's annotations land on the pod: a scheduler cannot forge
	// the choice that way either (the admin plays the scheduler here).
	pending := newGPUPod(ns, "pending", "1Gi")
	pending.Spec.SchedulerName = "zz-e2e-nobody"
	if pending, err = admin.client.CoreV1().Pods(ns).Create(ctx, pending, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	err = admin.client.CoreV1().Pods(ns).Bind(ctx, &corev1.Binding{
		ObjectMeta: metav1.ObjectMeta{Name: pending.Name, UID: pending.UID, Annotations: forgedAssignment(node)},
		Target:     corev1.ObjectReference{Kind: "Node", Name: node}}, metav1.CreateOptions{})
	refused(t, "a Binding carrying the card choice", err, msgReserved)

	// The node inventory: the tenant has no right on nodes at all; the
	// admin, who has, is refused by the policy.
	out, err = kubectlAs(ctx, tenant, "annotate", "node", node, contract.AnnotationNodeGPUInventory+"={}", "--overwrite")
	if err != nil {
		err = fmt.Errorf("%w: %s", err, out)
	}
	refused(t, "the tenant edits a node's inventory", err, "forbidden")
	out, err = kubectlAs(ctx, admin, "annotate", "node", node, contract.AnnotationNodeGPUInventory+"={}", "--overwrite")
	if err != nil {
		err = fmt.Errorf("%w: %s", err, out)
	}
	refused(t, "the admin edits a node's inventory", err, msgInventory)
}

// devicePluginAbuse: a device-plugin token bound to a pod of node A.
// nodeRootAbuse: root on node B holds its kubelet's credentials (user
// system:node:B, group system:nodes; impersonated here, which the
// apiserver's authorizers and admission judge alike). The Node authorizer
// lets it ask a token of the device plugin's ServiceAccount, which has a pod
// on B; NodeRestriction (hack/cluster-up.sh runs it, kubectl zz check fails
// without it) refuses one bound to node A's plugin pod, which would name A
// and pass the policies as A's plugin. Nor may it end node A's GPU pod in the
// extender's ledger by writing its status, nor label itself out of
// NodeRestriction's reach (kubectl zz check's probe).
func nodeRootAbuse(t *testing.T, dpPodA, podA *corev1.Pod, nodeB string) {
	ctx := t.Context()
	dpPodB := pluginPod(t, "zz-device-plugin-b", nodeB)
	cfg := rest.CopyConfig(cluster.Config)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: "system:node:" + nodeB, Groups: []string{"system:nodes", "system:authenticated"}}
	node, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	tokenFor := func(p *corev1.Pod) error {
		_, err := node.CoreV1().ServiceAccounts(p.Namespace).CreateToken(ctx, "zz-device-plugin", &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{
			ExpirationSeconds: ptr.To[int64](600),
			BoundObjectRef:    &authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: p.Name, UID: p.UID}}}, metav1.CreateOptions{})
		return err
	}
	// What the node may do: its own plugin pod's token (the kubelet mounts it).
	// The Node authorizer learns of the new pod from its own informer: until
	// then it answers "no relationship found" (seen on a loaded machine).
	cluster.WaitFor(t, 30*time.Second, "node "+nodeB+" to get a token for its own plugin pod", func(context.Context) (bool, string, error) {
		if err := tokenFor(dpPodB); err != nil {
			return false, err.Error(), nil
		}
		return true, "", nil
	})
	dry := metav1.PatchOptions{DryRun: []string{metav1.DryRunAll}}
	for _, tt := range []struct {
		what string
		do   func() error
		want string
	}{
		{"a plugin token bound to node A's plugin pod", func() error { return tokenFor(dpPodA) }, "bound to a pod scheduled on a different node"},
		{"fail node A's GPU pod through its status", func() error {
			_, err := node.CoreV1().Pods(podA.Namespace).Patch(ctx, podA.Name, types.MergePatchType, []byte(`{"status":{"phase":"Failed"}}`), dry, "status")
			return err
		}, "can only update pod status for pods with spec.nodeName set to itself"},
		{"label itself node-restriction.kubernetes.io/", func() error {
			_, err := node.CoreV1().Nodes().Patch(ctx, nodeB, types.MergePatchType, []byte(`{"metadata":{"labels":{"node-restriction.kubernetes.io/zz-check":"x"}}}`), dry)
			return err
		}, "is not allowed to modify labels"},
	} {
		err := tt.do()
		refused(t, "node "+nodeB+": "+tt.what, err, tt.want)
	}
	nodeMirrorPods(t, node, nodeB, podA.Namespace)
	copiedHostname(t, node, nodeB, podA.Spec.NodeName)
}

func devicePluginAbuse(t *testing.T, dpA, dpUnbound identity, podA, podB *corev1.Pod, nodeA, nodeB string) {
	ctx := t.Context()
	patchPod := func(id identity, p *corev1.Pod, patch string) error {
		_, err := id.client.CoreV1().Pods(p.Namespace).Patch(ctx, p.Name, types.StrategicMergePatchType, []byte(patch), metav1.PatchOptions{})
		return err
	}
	patchNode := func(id identity, node, patch string) error {
		_, err := id.client.CoreV1().Nodes().Patch(ctx, node, types.StrategicMergePatchType, []byte(patch), metav1.PatchOptions{})
		return err
	}
	served := fmt.Sprintf(`{"metadata":{"annotations":{%q:"true"}}}`, contract.AnnotationGPUAssigned)
	tests := []struct {
		what string
		do   func() error
		want string
	}{
		{"patch node B's inventory", func() error {
			return patchNode(dpA, nodeB, fmt.Sprintf(`{"metadata":{"annotations":{%q:"{}"}}}`, contract.AnnotationNodeGPUInventory))
		}, msgOwnNode},
		{"untaint its own node", func() error {
			return patchNode(dpA, nodeA, `{"spec":{"taints":null}}`)
		}, msgOnlyInvAnn},
		{"label its own node", func() error {
			return patchNode(dpA, nodeA, `{"metadata":{"labels":{"node-role.kubernetes.io/control-plane":""}}}`)
		}, msgOnlyInvAnn},
		{"mark a pod of node B served", func() error { return patchPod(dpA, podB, served) }, msgOwnNodePods},
		{"change the image of a pod of node A", func() error {
			return patchPod(dpA, podA, `{"spec":{"containers":[{"name":"cuda","image":"registry.local/evil:1"}]}}`)
		}, msgOnlyGPUAnns},
		{"change the image of a pod of node B", func() error {
			return patchPod(dpA, podB, `{"spec":{"containers":[{"name":"cuda","image":"registry.local/evil:1"}]}}`)
		}, msgOwnNodePods},
		{"rewrite the card choice of a pod of node A", func() error {
			return patchPod(dpA, podA, fmt.Sprintf(`{"metadata":{"annotations":{%q:"1"}}}`, contract.AnnotationGPUIndexes))
		}, msgReserved},
		{"move the card choice of a pod of node A to node B", func() error {
			return patchPod(dpA, podA, fmt.Sprintf(`{"metadata":{"annotations":{%q:%q}}}`, contract.AnnotationGPUAssumeNode, nodeB))
		}, msgReserved},
		{"publish the use of a pod of node B", func() error {
			return patchPod(dpA, podB, fmt.Sprintf(`{"metadata":{"annotations":{%q:"GPU-%s-0=1"}}}`, contract.AnnotationGPUMemUsed, nodeB))
		}, msgOwnNodePods},
		{"a token bound to no pod publishes a pod's use", func() error {
			return patchPod(dpUnbound, podA, fmt.Sprintf(`{"metadata":{"annotations":{%q:"GPU-%s-0=1"}}}`, contract.AnnotationGPUMemUsed, nodeA))
		}, "names no node"},
		{"a token bound to no pod patches a node", func() error {
			return patchNode(dpUnbound, nodeA, fmt.Sprintf(`{"metadata":{"annotations":{%q:"{}"}}}`, contract.AnnotationNodeGPUInventory))
		}, "names no node"},
		{"a token bound to no pod marks a pod served", func() error { return patchPod(dpUnbound, podA, served) }, "names no node"},
	}
	for _, tt := range tests {
		refused(t, tt.what, tt.do(), tt.want)
	}
}

// nodeForgeries: root on node A, with its device plugin's token, forges
// what the policies cannot judge (a root-on-one-node audit, F1-F3):
//   - a card model with a newline and tabs (a forged row about another node
//     in kubectl zz gpu): refused by zz-gpu-node-inventory;
//   - node B's card UUID in its own inventory (CEL reads no other object, so
//     admitted): a pod pinned to that card with zz.io/gpu-card does not land
//     on A (nor on B while both list it), kubectl zz gpu shows the card out
//     of service on both naming the other, and once A stops listing it the
//     pod lands on B;
//   - use of node B's card published on its own pod: not counted on B's
//     card by kubectl zz gpu, and said in a warning.
func nodeForgeries(t *testing.T, dpA, tenant identity, ns string, podA *corev1.Pod, nodeA, nodeB string) {
	ctx := t.Context()
	inv, original, publish := nodeInventory(t, dpA, nodeA)
	restore := func() {
		if err := publish(original); err != nil {
			t.Errorf("restore %s's inventory: %v", nodeA, err)
		}
	}
	zz := func(args ...string) (string, string) {
		t.Helper()
		var stdout, stderr bytes.Buffer
		cmd := exec.CommandContext(ctx, cluster.GoBuild(t, "./plugins/kubectl-zz"), append([]string{"--kubeconfig", cluster.Kubeconfig}, args...)...)
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			t.Fatalf("kubectl zz %v: %v\n%s", args, err, stderr.String())
		}
		return stdout.String(), stderr.String()
	}

	// F1: a model that would print a row of its own.
	forged := `{"version":1,"cards":[{"index":0,"uuid":"GPU-` + nodeA + `-0","model":"A100\t40Gi\n` + nodeB + `\t9\tH100","memoryMiB":40960,"healthy":true}]}`
	refused(t, "publish a model with a newline and tabs", publish(forged), "must be printable ASCII")

	// F3: node B's card 1 in node A's inventory.
	stolen := "GPU-" + nodeB + "-1"
	dup := *inv
	dup.Cards = append(append([]contract.GPU(nil), inv.Cards...), contract.GPU{Index: len(inv.Cards), UUID: stolen, Model: "NVIDIA A100-SXM4-40GB", MemoryMiB: 40960, Healthy: true})
	value, err := dup.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if err := publish(value); err != nil {
		t.Fatalf("node A publishes a card of node B (no CEL can see it): %v", err)
	}
	defer restore()
	table, _ := zz("gpu", "-o", "wide")
	for _, want := range []string{
		nodeA + " 2 NVIDIA A100-SXM4-40GB 40Gi 0Mi 0 (UUID on another node) 0 " + stolen + " false (" + gpushare.DuplicateReason + "node " + nodeB + ")",
		gpushare.DuplicateReason + "node " + nodeA,
	} {
		if !strings.Contains(strings.Join(strings.Fields(table), " "), want) {
			t.Errorf("kubectl zz gpu -o wide lacks %q:\n%s", want, table)
		}
	}
	pinned := newGPUPod(ns, "pinned", "30Gi")
	pinned.Annotations = map[string]string{contract.AnnotationGPUCard: stolen}
	pinned.Spec.Tolerations = []corev1.Toleration{{Key: hostileTaintKey, Operator: corev1.TolerationOpExists}}
	if _, err := tenant.client.CoreV1().Pods(ns).Create(ctx, pinned, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = cluster.Client.CoreV1().Pods(ns).Delete(context.WithoutCancel(ctx), "pinned", metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)})
	}()
	// The extender sees the forged inventory within its informer's delay;
	// the pod must not be bound anywhere while both nodes list the card.
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		p, err := cluster.Client.CoreV1().Pods(ns).Get(ctx, "pinned", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if p.Spec.NodeName != "" {
			t.Fatalf("the pod pinned to %s was bound to %s while two nodes list the card", stolen, p.Spec.NodeName)
		}
		time.Sleep(time.Second)
	}
	restore()
	if bound := boundWithin(t, ns, "pinned", 90*time.Second); bound != nodeB {
		t.Fatalf("once node A stopped listing %s, the pinned pod should be bound to %s, is on %q", stolen, nodeB, bound)
	}

	// F2: use of node B's card 0 published on node A's pod.
	foreign := "GPU-" + nodeB + "-0"
	use := fmt.Sprintf("%s=40960,GPU-%s-0=100", foreign, nodeA)
	if _, err := dpA.client.CoreV1().Pods(ns).Patch(ctx, podA.Name, types.MergePatchType,
		mergePatch(t, map[string]any{contract.AnnotationGPUMemUsed: use}), metav1.PatchOptions{}); err != nil {
		t.Fatalf("the device plugin of %s publishes its pod's use: %v", nodeA, err)
	}
	table, warnings := zz("gpu", "-o", "wide")
	for _, line := range strings.Split(table, "\n") {
		if f := strings.Fields(line); len(f) > 10 && f[0] == nodeB && f[7] == foreign && f[10] != "<unknown>" {
			t.Errorf("node B's card shows use node A published: %s", line)
		}
	}
	if want := "its use of card " + foreign + " is not counted: the card is not on its node " + nodeA; !strings.Contains(warnings, want) {
		t.Errorf("kubectl zz gpu's warnings lack %q:\n%s", want, warnings)
	}
}

// extenderAbuse: a stolen extender token (the zz-scheduler ServiceAccount).
func extenderAbuse(t *testing.T, ext identity, pod *corev1.Pod) {
	ctx := t.Context()
	for _, tt := range []struct {
		what, patch, want string
	}{
		{"change a pod's image", `{"spec":{"containers":[{"name":"cuda","image":"registry.local/evil:1"}]}}`, msgOnlyGPUAnns},
		{"relabel a pod", `{"metadata":{"labels":{"app":"other"}}}`, msgOnlyGPUAnns},
		{"change another annotation", `{"metadata":{"annotations":{"owner":"evil"}}}`, msgOnlyGPUAnns},
		{"mark a pod served", fmt.Sprintf(`{"metadata":{"annotations":{%q:"true"}}}`, contract.AnnotationGPUAssigned), msgReserved},
		{"publish a pod's use", fmt.Sprintf(`{"metadata":{"annotations":{%q:"GPU-x-0=1"}}}`, contract.AnnotationGPUMemUsed), msgReserved},
		// Its one right beyond the card choice is a preemption's record.
		{"relabel a pod while recording a preemption", fmt.Sprintf(`{"metadata":{"labels":{"app":"other"},"annotations":{%q:"{}"}}}`, contract.AnnotationGPUNomination), msgOnlyGPUAnns},
	} {
		_, err := ext.client.CoreV1().Pods(pod.Namespace).Patch(ctx, pod.Name, types.StrategicMergePatchType, []byte(tt.patch), metav1.PatchOptions{})
		refused(t, "the extender's token: "+tt.what, err, tt.want)
	}
	// Outside its rights altogether (RBAC): a cluster-wide token, still no
	// secrets, no pod deletion.
	_, err := ext.client.CoreV1().Secrets("kube-system").List(ctx, metav1.ListOptions{})
	if !apierrors.IsForbidden(err) {
		t.Errorf("the extender's token lists kube-system's secrets: %v", err)
	}
}

// TestClusterDownStopsRebuiltBinaries: a server whose binary was rebuilt
// while it ran (go build replaces the file: /proc says "(deleted)") is
// still the process cluster-up started, and cluster-down stops it; a PID
// now running another program is left alone.
func TestClusterDownStopsRebuiltBinaries(t *testing.T) {
	out := t.TempDir()
	state := filepath.Join(out, "cluster", "rebuilt")
	if err := os.MkdirAll(filepath.Join(state, "pids"), 0o755); err != nil {
		t.Fatal(err)
	}
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		t.Skip("no sleep binary")
	}
	bin := filepath.Join(out, "zz-extender")
	copyFile := func() {
		t.Helper()
		b, err := os.ReadFile(sleep)
		if err != nil {
			t.Fatal(err)
		}
		_ = os.Remove(bin) // as go build: a new file, the old one deleted under the process
		if err := os.WriteFile(bin, b, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	copyFile()
	ours := exec.Command(bin, "300")
	other := exec.Command(sleep, "300") // a PID that runs something else
	for _, c := range []*exec.Cmd{ours, other} {
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Process.Kill(); _, _ = c.Process.Wait() })
	}
	copyFile()
	for name, pid := range map[string]int{"zz-extender": ours.Process.Pid, "zz-webhook": other.Process.Pid} {
		if err := os.WriteFile(filepath.Join(state, "pids", name+".pid"), fmt.Appendf(nil, "%d %s\n", pid, bin), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.CommandContext(t.Context(), filepath.Join(cluster.Root, "hack", "cluster-down.sh"))
	cmd.Env = append(os.Environ(), "ZZ_CLUSTER=rebuilt", "ZZ_OUTPUT="+out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("cluster-down: %v\n%s", err, b)
	}
	done := make(chan error, 1)
	go func() { done <- ours.Wait() }()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		t.Error("the server whose binary was rebuilt still runs after cluster-down")
	}
	if err := other.Process.Signal(syscall.Signal(0)); err != nil {
		t.Errorf("cluster-down signalled a PID that runs another program: %v", err)
	}
}

// TestClusterDownRefusesUnsafeNames: hack/cluster-down.sh removes a
// cluster's state folder, so a name that would point elsewhere is refused
// before anything is touched.
func TestClusterDownRefusesUnsafeNames(t *testing.T) {
	out := t.TempDir()
	keep := filepath.Join(out, "keep")
	if err := os.MkdirAll(filepath.Join(out, "cluster"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keep, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"", "/", "..", "../..", "a/../..", "a b", "-rf"} {
		cmd := exec.CommandContext(t.Context(), filepath.Join(cluster.Root, "hack", "cluster-down.sh"))
		cmd.Env = append(os.Environ(), "ZZ_CLUSTER="+name, "ZZ_OUTPUT="+out)
		b, err := cmd.CombinedOutput()
		if err == nil || !strings.Contains(string(b), "ZZ_CLUSTER") {
			t.Errorf("ZZ_CLUSTER=%q: %v %s; want a refusal naming ZZ_CLUSTER", name, err, b)
		}
		if _, err := os.Stat(keep); err != nil {
			t.Fatalf("ZZ_CLUSTER=%q removed files outside the cluster folder: %v", name, err)
		}
	}
	// The admin kubeconfig and keys are the owner's only (in a cluster
	// whose pki folder hack/cluster-up.sh made private: older runs did not).
	if st, err := os.Stat(filepath.Join(cluster.StateDir, "pki")); err != nil || st.Mode().Perm() != 0o700 {
		t.Logf("the cluster's pki folder: %v %v; not checking its files", st, err)
		return
	}
	for _, f := range []string{cluster.Kubeconfig, filepath.Join(cluster.StateDir, "pki", "ca.key")} {
		st, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm()&0o077 != 0 {
			t.Errorf("%s is mode %v; want 0600", f, st.Mode().Perm())
		}
	}
}
