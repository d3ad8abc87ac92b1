package e2e

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/zzcloud/zz/internal/contract"
)

const webhookPolicy = `cluster: %s
environment: e2e
largestGPUCard: 80Gi
pools:
  general: {nodeSelector: {zz.io/pool: general}, cpuOvercommitRatio: %s}
  critical: {nodeSelector: {zz.io/pool: critical}, critical: true, namespaces: [critical-apps]}
  a100: {nodeSelector: {zz.io/pool: a100}, cpuOvercommitRatio: 0.5, gpuCardMemory: 80Gi}
sidecars:
- when: {annotations: {zz.io/log-agent: "*"}}
  container:
    name: log-agent
    image: registry.local/log-agent:1
    args: ["--app={{.App}}", "--namespace={{.Namespace}}"]
    resources: {limits: {cpu: 100m, memory: 64Mi}}
`

func appPod(name string, cpu string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{GenerateName: name + "-",
			Labels:      map[string]string{contract.LabelApp: name, contract.LabelGroup: "retail", contract.LabelPool: "general"},
			Annotations: map[string]string{"zz.io/log-agent": "on"}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "registry.local/" + name + ":1",
			Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{
				corev1.ResourceCPU: resource.MustParse(cpu), corev1.ResourceMemory: resource.MustParse("256Mi")}}}}},
	}
}

// dryRunPod creates pod with dryRun=All: the apiserver runs admission, the
// webhook included, and stores nothing.
func dryRunPod(ctx context.Context, ns string, pod *corev1.Pod) (*corev1.Pod, error) {
	return cluster.Client.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
}

func cpuRequest(c corev1.Container) string {
	q := c.Resources.Requests[corev1.ResourceCPU]
	return q.String()
}

func TestWebhook(t *testing.T) {
	w := startWebhook(t, fmt.Sprintf(webhookPolicy, "e2e-1", "0.5"))
	ns := cluster.Namespace(t, map[string]string{contract.LabelInjection: contract.InjectionEnabled})

	// The apiserver picks the configuration up from its own informer.
	cluster.WaitFor(t, 30*time.Second, "the apiserver to call the webhook", func(ctx context.Context) (bool, string, error) {
		pod, err := dryRunPod(ctx, ns, appPod("probe", "1"))
		if err != nil {
			return false, err.Error(), nil
		}
		return envOf(pod.Spec.Containers[0])[contract.EnvNumCPUs] == "1", "containers " + containerNames(pod), nil
	})

	t.Run("deployment pods are mutated", func(t *testing.T) { webhookDeployment(t, ns) })
	t.Run("kube-system is untouched", func(t *testing.T) { webhookKubeSystem(t) })
	t.Run("gpu pods are routed", func(t *testing.T) { webhookGPU(t, ns) })
	t.Run("a tenant's DaemonSet stays off a reserved pool", func(t *testing.T) { webhookDaemonSetReserved(t, ns) })
	t.Run("NVIDIA_VISIBLE_DEVICES and system priorities are not the tenant's", func(t *testing.T) { webhookVisibleDevices(t, ns) })
	t.Run("policy edits apply to the next pod", func(t *testing.T) { webhookPolicyEdits(t, w, ns) })
	t.Run("a rotated certificate is served without restart", func(t *testing.T) { webhookCertRotation(t, w) })

	if m := w.metrics(t); !strings.Contains(m, `zz_webhook_admissions_total{result="patched"}`) {
		t.Errorf("/metrics has no patched admissions")
	}
	// Last: it stops the webhook.
	t.Run("kubectl zz check sees whether the apiserver reaches it", func(t *testing.T) { webhookCheckProbe(t, w, ns) })
}

// webhookCheckProbe: this webhook runs at a URL, where no Service or
// endpoint tells whether it is up; kubectl zz check's dry-run pod does.
// With it stopped, a deploy's final error keeps the progress line's
// diagnosis and sends the developer back to the same command once the
// webhook is back, not to a fix of a spec that is right (an incident
// audit).
func webhookCheckProbe(t *testing.T, w *zzWebhook, ns string) {
	out, stderr, _ := zz(t, ns, "check")
	if !strings.Contains(out, "✓ answers through the apiserver: a dry-run pod in namespace ") || !strings.Contains(out, contract.WebhookProbeAnswer+" (zz-webhook ") {
		t.Errorf("kubectl zz check does not say the webhook answers:\n%s%s", out, stderr)
	}
	w.proc.Stop(t)
	out, stderr, err := zz(t, ns, "check")
	if err == nil || !strings.Contains(out, "✗ answers through the apiserver: the apiserver cannot call the webhook for a dry-run pod in namespace ") ||
		!strings.Contains(out, "connect: connection refused") || !strings.Contains(out, "kubectl get mutatingwebhookconfigurations zz-webhook-"+w.namespace+" -o yaml") {
		t.Errorf("kubectl zz check with the webhook stopped (exit: %v):\n%s%s", err, out, stderr)
	}
	out, stderr, err = zz(t, ns, "deploy", "--name", "outage", "--type", "worker", "--image", "registry.local/outage:1", "--timeout", "20s")
	if err == nil || !strings.Contains(err.Error(), "not ready after 20s: FailedCreate: ") || !strings.Contains(err.Error(), `failed calling webhook "pods.zz.io"`) ||
		!strings.Contains(err.Error(), "; the zz webhook does not answer, so no pod of this namespace can be created until it does (kubectl zz check") ||
		!strings.Contains(err.Error(), "what was applied stays, and no revision records it (kubectl zz status outage): run the same command again once zz-webhook is back (kubectl zz check); what was applied rolls out by itself then") ||
		strings.Contains(err.Error(), "fix it") {
		t.Errorf("kubectl zz deploy with the webhook stopped: %v\n%s%s", err, out, stderr)
	}
}

func webhookDeployment(t *testing.T, ns string) {
	tmpl := appPod("shop", "1500m")
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "shop"},
		Spec: appsv1.DeploymentSpec{Replicas: ptr.To[int32](2),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{contract.LabelApp: "shop"}},
			Template: corev1.PodTemplateSpec{ObjectMeta: tmpl.ObjectMeta, Spec: tmpl.Spec}},
	}
	d.Spec.Template.GenerateName = ""
	if _, err := cluster.Client.AppsV1().Deployments(ns).Create(t.Context(), d, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	pods := cluster.RunningPods(t, ns, contract.LabelApp+"=shop", 2, 60*time.Second)
	for _, pod := range pods {
		if got := containerNames(&pod); got != "app,log-agent" {
			t.Errorf("%s: containers %s, want app,log-agent", pod.Name, got)
		}
		env := envOf(pod.Spec.Containers[0])
		if env[contract.EnvNumCPUs] != "2" || env[contract.EnvAppGroup] != "retail" || env[contract.EnvClusterName] != "e2e-1" || env[contract.EnvEnvironment] != "e2e" {
			t.Errorf("%s: env %v", pod.Name, env)
		}
		if got := cpuRequest(pod.Spec.Containers[0]); got != "750m" {
			t.Errorf("%s: cpu request %s, want 750m (1500m x 0.5)", pod.Name, got)
		}
		if got := pod.Spec.Containers[1].Args; len(got) != 2 || got[0] != "--app=shop" || got[1] != "--namespace="+ns {
			t.Errorf("%s: sidecar args %v", pod.Name, got)
		}
		if pod.Spec.NodeSelector[contract.LabelPool] != "general" || !strings.HasPrefix(pod.Spec.NodeName, "cpu-") {
			t.Errorf("%s: nodeSelector %v on node %s, want pool general", pod.Name, pod.Spec.NodeSelector, pod.Spec.NodeName)
		}
		if pod.Spec.EnableServiceLinks == nil || *pod.Spec.EnableServiceLinks {
			t.Errorf("%s: enableServiceLinks not false", pod.Name)
		}
	}
}

// webhookDaemonSetReserved: a namespace edit user's DaemonSet whose node
// affinity selects the pool reserved to critical-apps gets its pods (one
// per critical node, from the DaemonSet controller) kept off that pool, so
// none runs there; a pod claiming a DaemonSet owner it does not have gains
// nothing either.
func webhookDaemonSetReserved(t *testing.T, ns string) {
	ctx := t.Context()
	tenant := roleTenant(t, ns, "ds-tenant", "edit")
	toCritical := &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{
		NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchExpressions: []corev1.NodeSelectorRequirement{
			{Key: contract.LabelPool, Operator: corev1.NodeSelectorOpIn, Values: []string{"critical"}}}}}}}}
	labels := map[string]string{contract.LabelApp: "squatter"}
	spec := corev1.PodSpec{Affinity: toCritical, Containers: []corev1.Container{{Name: "app", Image: "registry.local/squatter:1"}}}
	ds := &appsv1.DaemonSet{ObjectMeta: metav1.ObjectMeta{Name: "squatter"}, Spec: appsv1.DaemonSetSpec{
		Selector: &metav1.LabelSelector{MatchLabels: labels},
		Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: spec}}}
	if _, err := tenant.client.AppsV1().DaemonSets(ns).Create(ctx, ds, metav1.CreateOptions{}); err != nil {
		t.Fatalf("the tenant creates a DaemonSet: %v", err)
	}
	var pods []corev1.Pod
	cluster.WaitFor(t, 60*time.Second, "the DaemonSet controller to create its pods", func(ctx context.Context) (bool, string, error) {
		list, err := cluster.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: contract.LabelApp + "=squatter"})
		if err != nil {
			return false, "", err
		}
		pods = list.Items
		return len(pods) > 0, fmt.Sprintf("%d pods", len(pods)), nil
	})
	// A scheduler would have bound them within seconds: give it that long.
	time.Sleep(5 * time.Second)
	for _, pod := range pods {
		p, err := cluster.Client.CoreV1().Pods(ns).Get(ctx, pod.Name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if p.Spec.NodeName != "" {
			t.Errorf("DaemonSet pod %s runs on %s, a node of the pool reserved to critical-apps", p.Name, p.Spec.NodeName)
		}
		if terms := p.Spec.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms; !strings.Contains(fmt.Sprint(terms), "NotIn") {
			t.Errorf("DaemonSet pod %s: affinity %v is not kept off the reserved pool", p.Name, terms)
		}
	}
	if err := tenant.client.AppsV1().DaemonSets(ns).Delete(ctx, ds.Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	// A pod that names a DaemonSet as its controller without one.
	forged := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "forged-daemon", OwnerReferences: []metav1.OwnerReference{{
		APIVersion: "apps/v1", Kind: "DaemonSet", Name: "nothing", UID: "0b0e0f00-0000-4000-8000-000000000000", Controller: ptr.To(true)}}},
		Spec: *spec.DeepCopy()}
	got, err := tenant.client.CoreV1().Pods(ns).Create(ctx, forged, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
	if err != nil {
		t.Fatalf("the tenant's dry run: %v", err)
	}
	if terms := got.Spec.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms; !strings.Contains(fmt.Sprint(terms), "NotIn") {
		t.Errorf("a pod with a forged DaemonSet owner reaches the reserved pool: %v", terms)
	}
}

// webhookVisibleDevices: a tenant's GPU pod that sets NVIDIA_VISIBLE_DEVICES
// (its env would win over the cards Allocate gives), in env or through an
// envFrom that could hold it, is refused, as is an nvidia.cdi.k8s.io/
// annotation; a pod asking for no cards gets "void", over the "all" of a
// CUDA image and its envFrom; a pod of the cluster's own priority class is
// refused.
func webhookVisibleDevices(t *testing.T, ns string) {
	ctx := t.Context()
	tenant := roleTenant(t, ns, "env-tenant", "edit")
	gpu := appPod("see-all", "1")
	gpu.Spec.Containers[0].Resources.Limits[contract.ResourceGPUMem] = resource.MustParse("1Gi")
	gpu.Spec.Containers[0].Env = []corev1.EnvVar{{Name: contract.EnvVisibleDevices, Value: "all"}}
	_, err := tenant.client.CoreV1().Pods(ns).Create(ctx, gpu, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
	if err == nil || !strings.Contains(err.Error(), "container app sets NVIDIA_VISIBLE_DEVICES: the zz device plugin sets it") {
		t.Errorf("a GPU pod setting NVIDIA_VISIBLE_DEVICES=all: %v", err)
	}
	// The same through envFrom (a ConfigMap the tenant writes holds
	// NVIDIA_VISIBLE_DEVICES=all): judged by the entry's prefix, since the
	// ConfigMap is not read at admission.
	for _, tc := range []struct {
		prefix, want string // want "" admits
	}{
		{"", "container app takes env from ConfigMap nv with no prefix (envFrom[0]), which could set NVIDIA_VISIBLE_DEVICES"},
		{"NVIDIA_", "container app takes env from ConfigMap nv with prefix NVIDIA_ (envFrom[0]), which could set NVIDIA_VISIBLE_DEVICES"},
		{"CUDA_MPS_", "with prefix CUDA_MPS_ (envFrom[0]), which could set CUDA_MPS_PINNED_DEVICE_MEM_LIMIT"},
		{"APP_", ""},
	} {
		from := gpu.DeepCopy()
		from.Spec.Containers[0].Env = nil
		from.Spec.Containers[0].EnvFrom = []corev1.EnvFromSource{{Prefix: tc.prefix,
			ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "nv"}}}}
		_, err := tenant.client.CoreV1().Pods(ns).Create(ctx, from, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("a GPU pod with envFrom prefix %q: %v, want %q", tc.prefix, err, tc.want)
		}
	}
	// A CDI annotation of the GPU Operator's prefix, a subdomain of cdi.k8s.io.
	nri := appPod("nri", "1")
	nri.Annotations = map[string]string{"nvidia.cdi.k8s.io/container.app": "management.nvidia.com/gpu=all"}
	_, err = tenant.client.CoreV1().Pods(ns).Create(ctx, nri, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
	if err == nil || !strings.Contains(err.Error(), "annotation nvidia.cdi.k8s.io/container.app asks the container runtime for devices directly") {
		t.Errorf("a pod with an nvidia.cdi.k8s.io/ annotation: %v", err)
	}
	// Asking no cards, the container gets void, which wins over its envFrom.
	cpuOnly := appPod("cpu-only", "1")
	cpuOnly.Spec.Containers[0].EnvFrom = []corev1.EnvFromSource{{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "nv"}}}}
	got, err := tenant.client.CoreV1().Pods(ns).Create(ctx, cpuOnly, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
	if err != nil {
		t.Fatal(err)
	}
	if v := envOf(got.Spec.Containers[0])[contract.EnvVisibleDevices]; v != contract.VisibleDevicesVoid {
		t.Errorf("a pod asking for no cards: NVIDIA_VISIBLE_DEVICES %q, want void", v)
	}
	// The cluster's own priority would let the pod evict other namespaces'.
	urgent := appPod("urgent", "1")
	urgent.Spec.PriorityClassName = "system-node-critical"
	_, err = tenant.client.CoreV1().Pods(ns).Create(ctx, urgent, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
	if err == nil || !strings.Contains(err.Error(), "priorityClassName system-node-critical is for the cluster's own components") {
		t.Errorf("a tenant pod of system-node-critical: %v", err)
	}
}

func webhookKubeSystem(t *testing.T) {
	pod, err := dryRunPod(t.Context(), metav1.NamespaceSystem, appPod("system", "1"))
	if err != nil {
		t.Fatal(err)
	}
	if len(pod.Spec.Containers) != 1 || len(pod.Spec.Containers[0].Env) != 0 || pod.Spec.NodeSelector != nil {
		t.Fatalf("kube-system pod was mutated: containers %s, env %v, nodeSelector %v",
			containerNames(pod), pod.Spec.Containers[0].Env, pod.Spec.NodeSelector)
	}
}

func webhookGPU(t *testing.T, ns string) {
	pod := appPod("train", "2")
	pod.Spec.Containers[0].Resources.Limits[contract.ResourceGPUMem] = resource.MustParse("4Gi")
	got, err := cluster.Client.CoreV1().Pods(ns).Create(t.Context(), pod, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cards := got.Spec.Containers[0].Resources.Limits[contract.ResourceGPU]
	if got.Spec.SchedulerName != contract.SchedulerName || cards.String() != "1" {
		t.Fatalf("schedulerName %q, %s %s; want %s and 1", got.Spec.SchedulerName, contract.ResourceGPU, cards.String(), contract.SchedulerName)
	}
	// What a GPU memory quota counts, in the request the quota reads (the
	// apiserver stored the webhook's patch).
	if total := got.Spec.Containers[0].Resources.Requests[contract.ResourceGPUMemTotal]; total.String() != "4Gi" {
		t.Fatalf("requests %s = %q, want 4Gi (4Gi on 1 card)", contract.ResourceGPUMemTotal, total.String())
	}
	// GPU memory with a decimal point is taken, written as whole bytes.
	decimal := pod.DeepCopy()
	decimal.Spec.Containers[0].Resources.Limits[contract.ResourceGPUMem] = resource.MustParse("1.5Gi")
	if d, err := dryRunPod(t.Context(), ns, decimal); err != nil {
		t.Fatalf("a pod asking for 1.5Gi: %v", err)
	} else if l := d.Spec.Containers[0].Resources.Limits; l.Name(contract.ResourceGPUMem, resource.BinarySI).String() != "1536Mi" ||
		l.Name(contract.ResourceGPUMemTotal, resource.BinarySI).String() != "1536Mi" {
		t.Fatalf("a pod asking for 1.5Gi: limits %v; want gpu-mem and its total 1536Mi", l)
	}
	// A malformed zz.io/gpu-* annotation is refused at creation, with its fix,
	// rather than left Pending.
	bad := pod.DeepCopy()
	bad.Annotations = map[string]string{contract.AnnotationGPUModel: ","}
	if _, err := cluster.Client.CoreV1().Pods(ns).Create(t.Context(), bad, metav1.CreateOptions{}); err == nil ||
		!strings.Contains(err.Error(), `annotation zz.io/gpu-model: "," names no card model`) {
		t.Fatalf("a GPU pod with an empty model list: err = %v, want the webhook's refusal", err)
	}
	// Cards without memory, as nvidia.com/gpu: 1 is written: no card could be
	// handed to the pod at the kubelet, so it is refused now, with the fix.
	cardsOnly := pod.DeepCopy()
	delete(cardsOnly.Spec.Containers[0].Resources.Limits, contract.ResourceGPUMem)
	cardsOnly.Spec.Containers[0].Resources.Limits[contract.ResourceGPU] = resource.MustParse("1")
	if _, err := cluster.Client.CoreV1().Pods(ns).Create(t.Context(), cardsOnly, metav1.CreateOptions{}); err == nil ||
		!strings.Contains(err.Error(), "asks for zz.io/gpu 1 without zz.io/gpu-mem: zz shares cards by GPU memory") ||
		!strings.Contains(err.Error(), "(the pod's pool general gives no whole cards: its gpuCardMemory is not set in the webhook policy)") {
		t.Fatalf("a pod asking for cards without GPU memory: err = %v, want the webhook's refusal", err)
	}
	// On a pool of 80Gi cards (gpuCardMemory), the same pod gets two whole
	// cards, and a quota counts them.
	cardsOnly.Labels[contract.LabelPool] = "a100"
	cardsOnly.Spec.Containers[0].Resources.Limits[contract.ResourceGPU] = resource.MustParse("2")
	whole, err := dryRunPod(t.Context(), ns, cardsOnly)
	if err != nil {
		t.Fatalf("a pod asking for 2 cards on the a100 pool: %v", err)
	}
	r := whole.Spec.Containers[0].Resources
	if mem, total := r.Limits[contract.ResourceGPUMem], r.Requests[contract.ResourceGPUMemTotal]; mem.String() != "80Gi" || total.String() != "160Gi" ||
		whole.Spec.SchedulerName != contract.SchedulerName {
		t.Fatalf("a pod asking for 2 cards on the a100 pool: gpu-mem %s, requests gpu-mem-total %s, scheduler %s; want 80Gi, 160Gi, %s",
			mem.String(), total.String(), whole.Spec.SchedulerName, contract.SchedulerName)
	}
	// The same from an app spec: gpus alone, on that pool.
	if out, errOut, err := zz(t, ns, "deploy", "--name", "whole", "--type", "worker", "--image", "registry.local/train:1",
		"--set", "spec.gpus=2", "--set", "spec.pool=a100", "--wait=false"); err != nil {
		t.Fatalf("kubectl zz deploy of gpus alone: %v\n%s\n%s", err, out, errOut)
	}
	cluster.WaitFor(t, 30*time.Second, "the app's pod with two whole cards", func(ctx context.Context) (bool, string, error) {
		pods, err := cluster.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: contract.LabelApp + "=whole"})
		if err != nil || len(pods.Items) == 0 {
			return false, "no pod yet", err
		}
		l := pods.Items[0].Spec.Containers[0].Resources.Limits
		mem, total := l[contract.ResourceGPUMem], l[contract.ResourceGPUMemTotal]
		return mem.String() == "80Gi" && total.String() == "160Gi" && pods.Items[0].Annotations[contract.AnnotationGPUWhole] == "true",
			fmt.Sprintf("gpu-mem %s, total %s, annotations %v", mem.String(), total.String(), pods.Items[0].Annotations), nil
	})
	// A pool the policy lacks is refused, not swapped for the default one.
	if _, _, err := zz(t, ns, "deploy", "--name", "lost", "--type", "web", "--image", "registry.local/web:1", "--set", "spec.pool=nosuchpool", "--timeout", "2m"); err == nil ||
		!strings.Contains(err.Error(), "refused at admission: FailedCreate:") || !strings.Contains(err.Error(), "node selector zz.io/pool=nosuchpool names no pool of this cluster") {
		t.Errorf("deploy to a pool the policy lacks: %v", err)
	}
	// The deploy that fixes it succeeds and records it: the refusal still on
	// the Deployment is the previous ReplicaSet's (it was called failed).
	// Revision 2: the refused deploy stamped 1 on its ReplicaSet, and a
	// number a ReplicaSet claims is not used again.
	if out, errOut, err := zz(t, ns, "deploy", "--name", "lost", "--type", "web", "--image", "registry.local/web:1", "--set", "spec.pool=general", "--timeout", "2m"); err != nil ||
		!strings.Contains(out, "lost 1 deployed as revision 2") {
		t.Errorf("deploy that fixes the pool: %v\n%s%s", err, out, errOut)
	}
	pod.Spec.Containers[0].Resources.Limits[contract.ResourceGPUMem] = resource.MustParse("200Gi")
	_, err = cluster.Client.CoreV1().Pods(ns).Create(t.Context(), pod, metav1.CreateOptions{})
	if err == nil || !strings.Contains(err.Error(), "the largest card of this cluster has 81920 MiB") {
		t.Fatalf("a 200Gi GPU pod: err = %v, want the webhook's refusal", err)
	}
	// kubectl zz deploy of such an app stops at the refusal, which no retry
	// of the same spec can change, instead of waiting out --timeout.
	start := time.Now()
	_, errOut, err := zz(t, ns, "deploy", "--name", "huge", "--type", "worker", "--image", "registry.local/huge:1", "--set", "spec.gpuMem=200Gi", "--timeout", "3m")
	if err == nil || !strings.Contains(err.Error(), "refused at admission: FailedCreate:") || !strings.Contains(err.Error(), "the largest card of this cluster has 81920 MiB") ||
		!strings.Contains(err.Error(), "in the app spec: spec.gpuMem: at most 80Gi") {
		t.Fatalf("deploy of a 200Gi GPU app: err = %v\n%s", err, errOut)
	}
	if waited := time.Since(start); waited > time.Minute {
		t.Errorf("deploy waited %v for a refusal no retry changes", waited)
	}
}

func webhookPolicyEdits(t *testing.T, w *zzWebhook, ns string) {
	w.setPolicy(t, fmt.Sprintf(webhookPolicy, "e2e-2", "0.25"))
	cluster.WaitFor(t, 30*time.Second, "the new policy", func(ctx context.Context) (bool, string, error) {
		pod, err := dryRunPod(ctx, ns, appPod("next", "1500m"))
		if err != nil {
			return false, err.Error(), nil
		}
		c := pod.Spec.Containers[0]
		return cpuRequest(c) == "375m" && envOf(c)[contract.EnvClusterName] == "e2e-2", "cpu request " + cpuRequest(c), nil
	})
	webhookPoolByName(t, w, ns)
	// An invalid edit keeps the last valid policy and is reported.
	w.setPolicy(t, "largestGPUCard: 80Gi\npools: {general: {nodeSelector: {zz.io/pool: general}, cpuOvercommitRatio: 7}}\n")
	cluster.WaitFor(t, 30*time.Second, "a PolicyInvalid event and /readyz detail", func(ctx context.Context) (bool, string, error) {
		events, err := cluster.Client.CoreV1().Events(w.namespace).List(ctx, metav1.ListOptions{
			FieldSelector: "reason=PolicyInvalid,involvedObject.name=" + w.policy})
		if err != nil {
			return false, "", err
		}
		ready := w.get(t, "/readyz")
		return len(events.Items) > 0 && strings.Contains(events.Items[0].Message, "cpuOvercommitRatio: 7 must be in (0, 1]") &&
			strings.Contains(ready, "last update not applied"), fmt.Sprintf("%d events; readyz %q", len(events.Items), ready), nil
	})
	pod, err := cluster.Client.CoreV1().Pods(ns).Create(t.Context(), appPod("after-bad-edit", "1500m"), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := cpuRequest(pod.Spec.Containers[0]); got != "375m" {
		t.Fatalf("after an invalid edit: cpu request %s, want 375m from the last valid policy", got)
	}
}

// webhookPoolByName: an app spec's pool: (node selector zz.io/pool=NAME)
// names a pool whose nodes carry another label, as the shipped critical
// pool's node-restriction.kubernetes.io/zz-pool: the pool's selector takes
// its place, and another namespace is refused as reserved (a chaos audit
// found pool: critical refused everywhere as "names no pool").
func webhookPoolByName(t *testing.T, w *zzWebhook, ns string) {
	const key = "node-restriction.kubernetes.io/zz-pool"
	w.setPolicy(t, strings.Replace(fmt.Sprintf(webhookPolicy, "e2e-2", "0.25"), "pools:\n",
		fmt.Sprintf("pools:\n  reserved: {nodeSelector: {%s: reserved}, critical: true, namespaces: [%s]}\n", key, ns), 1))
	named := func() *corev1.Pod {
		pod := appPod("named", "1")
		delete(pod.Labels, contract.LabelPool)
		pod.Spec.NodeSelector = map[string]string{contract.LabelPool: "reserved"}
		return pod
	}
	cluster.WaitFor(t, 30*time.Second, "pool reserved by its name", func(ctx context.Context) (bool, string, error) {
		pod, err := dryRunPod(ctx, ns, named())
		if err != nil {
			return false, err.Error(), nil
		}
		sel := pod.Spec.NodeSelector
		return len(sel) == 1 && sel[key] == "reserved", fmt.Sprintf("nodeSelector %v", sel), nil
	})
	other := cluster.Namespace(t, map[string]string{contract.LabelInjection: contract.InjectionEnabled})
	if _, err := dryRunPod(t.Context(), other, named()); err == nil || !strings.Contains(err.Error(), "pool reserved is reserved for namespaces ["+ns+"]") {
		t.Errorf("pool reserved by its name from namespace %s: %v, want it refused as reserved", other, err)
	}
	w.setPolicy(t, fmt.Sprintf(webhookPolicy, "e2e-2", "0.25"))
}

func webhookCertRotation(t *testing.T, w *zzWebhook) {
	caPEM := writeServingCert(t, w.certDir) // a new CA and pair over the mounted files
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	cluster.WaitFor(t, 10*time.Second, "the new certificate", func(ctx context.Context) (bool, string, error) {
		resp, err := client.Get(w.url("/healthz"))
		if err != nil {
			return false, err.Error(), nil
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, resp.Status, nil
	})
	if w.proc.Exited() {
		t.Fatal("the webhook restarted")
	}
	w.client = client
}
