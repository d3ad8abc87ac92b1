package clustercheck

import (
	"context"
	"errors"
	"net/url"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"
	clienttesting "k8s.io/client-go/testing"
	"k8s.io/utils/ptr"

	"github.com/zzcloud/zz/internal/contract"
	"github.com/zzcloud/zz/internal/gpushare"
)

var now = time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)

// caPEM is a self-signed CA certificate ending at notAfter.
func caPEM(t *testing.T, notAfter time.Time) []byte { return newTestCA(t, notAfter).pem }

var part = map[string]string{contract.LabelK8sPartOf: contract.PartOf}

// healthy is a cluster where every check passes.
func healthy(t *testing.T) []runtime.Object {
	inv := `{"version":1,"cards":[{"index":0,"uuid":"GPU-0","model":"A100","memoryMiB":40960,"healthy":true},{"index":1,"uuid":"GPU-1","model":"A100","memoryMiB":40960,"healthy":true}]}`
	return []runtime.Object{
		&appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "zz-scheduler", Namespace: "zz-system", Labels: part},
			Spec: appsv1.DeploymentSpec{Replicas: ptr.To[int32](2), Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
				Containers: []corev1.Container{{Name: "kube-scheduler", Command: []string{"kube-scheduler", "--config=/etc/zz-scheduler/zz-scheduler-config.yaml", "--v=2"},
					VolumeMounts: []corev1.VolumeMount{{Name: "config", MountPath: "/etc/zz-scheduler"}}}, {Name: "zz-extender"}},
				Volumes: []corev1.Volume{{Name: "config", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
					LocalObjectReference: corev1.LocalObjectReference{Name: "zz-scheduler-config-abc"}}}}}}}},
			Status: appsv1.DeploymentStatus{ReadyReplicas: 2, UpdatedReplicas: 2}},
		&appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "zz-webhook", Namespace: "zz-system", Labels: part},
			Spec: appsv1.DeploymentSpec{Replicas: ptr.To[int32](2), Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: webhookPodLabels}, Spec: corev1.PodSpec{
				Containers: []corev1.Container{{Name: "zz-webhook", Args: []string{"--policy-configmap=zz-webhook-policy"}}}}}},
			Status: appsv1.DeploymentStatus{ReadyReplicas: 2, UpdatedReplicas: 2}},
		&appsv1.DaemonSet{ObjectMeta: metav1.ObjectMeta{Name: "zz-device-plugin", Namespace: "zz-device-plugin", Labels: part},
			Spec: appsv1.DaemonSetSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "zz-device-plugin",
				Args: []string{"--nvml=real", "--over-request=kill", "--over-request-grace=30s", "--device-list-strategy=cdi-cri"}}}}}},
			Status: appsv1.DaemonSetStatus{DesiredNumberScheduled: 1, NumberReady: 1, UpdatedNumberScheduled: 1}},
		&admissionregistrationv1.MutatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: "zz-webhook", Labels: part},
			Webhooks: []admissionregistrationv1.MutatingWebhook{{Name: "pods.zz.io", FailurePolicy: ptr.To(admissionregistrationv1.Fail),
				ClientConfig: admissionregistrationv1.WebhookClientConfig{CABundle: caPEM(t, now.Add(300*24*time.Hour)),
					Service: &admissionregistrationv1.ServiceReference{Namespace: "zz-system", Name: "zz-webhook"}}}}},
		&discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Name: "zz-webhook-abc", Namespace: "zz-system", Labels: map[string]string{discoveryv1.LabelServiceName: "zz-webhook"}},
			Endpoints: []discoveryv1.Endpoint{{Addresses: []string{"10.0.0.1"}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)}},
				{Addresses: []string{"10.0.0.2"}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(false)}}}},
		&admissionregistrationv1.ValidatingAdmissionPolicy{ObjectMeta: metav1.ObjectMeta{Name: "zz-gpu-pod-annotations", Labels: part},
			Spec: admissionregistrationv1.ValidatingAdmissionPolicySpec{FailurePolicy: ptr.To(admissionregistrationv1.Fail)}},
		&admissionregistrationv1.ValidatingAdmissionPolicyBinding{ObjectMeta: metav1.ObjectMeta{Name: "zz-gpu-pod-annotations"},
			Spec: admissionregistrationv1.ValidatingAdmissionPolicyBindingSpec{PolicyName: "zz-gpu-pod-annotations", ValidationActions: []admissionregistrationv1.ValidationAction{admissionregistrationv1.Deny}}},
		&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "gpu-1", Labels: map[string]string{contract.LabelGPUNode: "true", contract.LabelPool: "a100"},
			Annotations: map[string]string{contract.AnnotationNodeGPUInventory: inv}},
			Status: corev1.NodeStatus{Allocatable: corev1.ResourceList{contract.ResourceGPU: resource.MustParse("32")}}},
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop", Labels: map[string]string{contract.LabelInjection: contract.InjectionEnabled,
			contract.LabelPodSecurityEnforce: "baseline"}}},
		&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "zz-scheduler-config-abc", Namespace: "zz-system"},
			Data: map[string]string{"zz-scheduler-config.yaml": shippedSchedulerConfig(t)}},
		&coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: "zz-scheduler", Namespace: "zz-system"},
			Spec: coordinationv1.LeaseSpec{HolderIdentity: ptr.To("zz-scheduler-7d9f_1"), LeaseDurationSeconds: ptr.To[int32](15),
				RenewTime: ptr.To(metav1.NewMicroTime(now.Add(-3 * time.Second)))}},
		&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "zz-webhook-policy", Namespace: "zz-system"},
			Data: map[string]string{contract.PolicyKey: wholeCardPolicy("40Gi")}},
		&admissionregistrationv1.MutatingAdmissionPolicy{ObjectMeta: metav1.ObjectMeta{Name: contract.EphemeralVoidPolicy, Labels: part}},
		&admissionregistrationv1.MutatingAdmissionPolicyBinding{ObjectMeta: metav1.ObjectMeta{Name: contract.EphemeralVoidPolicy},
			Spec: admissionregistrationv1.MutatingAdmissionPolicyBindingSpec{PolicyName: contract.EphemeralVoidPolicy}},
		&networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Name: "zz-webhook", Namespace: "zz-system"},
			Spec: networkingv1.NetworkPolicySpec{PodSelector: metav1.LabelSelector{MatchLabels: webhookPodLabels},
				PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}}},
	}
}

// webhookPodLabels are the zz-webhook pods' labels, as the manifests give them.
var webhookPodLabels = map[string]string{"app.kubernetes.io/name": "zz-webhook"}

// withAllowAllNetworkPolicy adds a policy that selects the webhook's pods
// and lets every source in.
func withAllowAllNetworkPolicy(objs []runtime.Object) []runtime.Object {
	return append(objs, &networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Name: "allow-all", Namespace: "zz-system"},
		Spec: networkingv1.NetworkPolicySpec{PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress},
			Ingress: []networkingv1.NetworkPolicyIngressRule{{From: []networkingv1.NetworkPolicyPeer{{NamespaceSelector: &metav1.LabelSelector{}}}}}}})
}

// withoutNetworkPolicy drops the NetworkPolicies, or makes them egress-only.
func withoutNetworkPolicy(egressOnly bool) func([]runtime.Object) []runtime.Object {
	return func(objs []runtime.Object) []runtime.Object {
		if egressOnly {
			objs[len(objs)-1].(*networkingv1.NetworkPolicy).Spec.PolicyTypes = []networkingv1.PolicyType{networkingv1.PolicyTypeEgress}
			return objs
		}
		return objs[:len(objs)-1]
	}
}

// unlabelledUnder takes namespace shop's Pod Security label off and states
// level as the cluster's default in the webhook policy.
func unlabelledUnder(level string) func([]runtime.Object) []runtime.Object {
	return func(objs []runtime.Object) []runtime.Object {
		for _, o := range objs {
			switch o := o.(type) {
			case *corev1.Namespace:
				if o.Name == "shop" {
					delete(o.Labels, contract.LabelPodSecurityEnforce)
				}
			case *corev1.ConfigMap:
				if o.Name == "zz-webhook-policy" {
					o.Data[contract.PolicyKey] += "\npodSecurityDefault: " + level + "\n"
				}
			}
		}
		return objs
	}
}

// wholeCardPolicy is a webhook policy whose pool a100 gives whole cards of mem.
func wholeCardPolicy(mem string) string {
	return "largestGPUCard: 80Gi\npools:\n  a100: {nodeSelector: {zz.io/pool: a100}, cpuOvercommitRatio: 0.5, gpuCardMemory: " + mem + "}\n"
}

// policyEdit replaces the webhook policy.
func policyEdit(policy string) func(objs []runtime.Object) []runtime.Object {
	return func(objs []runtime.Object) []runtime.Object {
		objs[11].(*corev1.ConfigMap).Data[contract.PolicyKey] = policy
		return objs
	}
}

// withLimitRange adds LimitRange minimum to namespace ns, with one item of
// type typ.
func withLimitRange(ns string, typ corev1.LimitType, min, maxRatio corev1.ResourceList) func(objs []runtime.Object) []runtime.Object {
	return func(objs []runtime.Object) []runtime.Object {
		return append(objs, &corev1.LimitRange{ObjectMeta: metav1.ObjectMeta{Name: "minimum", Namespace: ns},
			Spec: corev1.LimitRangeSpec{Limits: []corev1.LimitRangeItem{{Type: typ, Min: min, MaxLimitRequestRatio: maxRatio}}}})
	}
}

// leaseEdit changes zz-scheduler's Lease.
func leaseEdit(edit func(*coordinationv1.LeaseSpec)) func(objs []runtime.Object) []runtime.Object {
	return func(objs []runtime.Object) []runtime.Object {
		edit(&objs[10].(*coordinationv1.Lease).Spec)
		return objs
	}
}

// shippedSchedulerConfig is the manifests' KubeSchedulerConfiguration.
func shippedSchedulerConfig(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("../../manifests/scheduler/zz-scheduler-config.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// schedulerConfigEdit replaces old with new in the scheduler's configuration.
func schedulerConfigEdit(old, new string) func(objs []runtime.Object) []runtime.Object {
	return func(objs []runtime.Object) []runtime.Object {
		cm := objs[9].(*corev1.ConfigMap)
		cm.Data["zz-scheduler-config.yaml"] = strings.ReplaceAll(cm.Data["zz-scheduler-config.yaml"], old, new)
		return objs
	}
}

func lines(rs []Result) string {
	var b strings.Builder
	for _, r := range rs {
		b.WriteString(string(r.Status) + " " + r.Group + " | " + r.Name + ": " + r.Detail + "\n")
	}
	return b.String()
}

func TestHealthyCluster(t *testing.T) {
	rs := Evaluate(Gather(t.Context(), fake.NewClientset(healthy(t)...), Probes{AsNode: asNode(true)}), now)
	if Worst(rs) != OK {
		t.Fatalf("a healthy cluster:\n%s", lines(rs))
	}
	for _, want := range []string{
		"ok zz components | Deployment zz-system/zz-scheduler: 2/2 ready",
		"ok zz components | DaemonSet zz-device-plugin/zz-device-plugin: 1/1 ready",
		"ok scheduler configuration | zz-system/zz-scheduler: GPU extender: filter and preempt verbs, zz.io/gpu-mem and zz.io/gpu-mem-total left to it; bind in an entry of its own",
		"ok scheduler configuration | zz-system/zz-scheduler leader: zz-scheduler-7d9f_1 leads (Lease renewed 3s ago)",
		"ok scheduler configuration | pods routed to zz-scheduler: no pod waits for it",
		"ok GPU nodes | whole cards in pool a100: 2 cards on 1 node of 40960 MiB, as gpuCardMemory says",
		"ok webhook | zz-webhook pods.zz.io certificate: CA valid until 2027-10-01 (300 days)",
		"ok webhook | zz-webhook pods.zz.io endpoints: Service zz-system/zz-webhook has 1 ready endpoint",
		"ok admission policies | zz-gpu-pod-annotations: bound, Deny",
		"ok admission policies | zz-ephemeral-void: bound: kubectl debug's containers get NVIDIA_VISIBLE_DEVICES=void with no webhook",
		"ok GPU nodes | nodes: 1 GPU node, 2 cards, 2 healthy",
		"ok GPU nodes | GPU memory allocated: no card holds more than it has",
		"ok GPU nodes | GPU card UUIDs: no card is listed by two nodes",
		"ok GPU nodes | GPU memory requests enforced (zz-device-plugin/zz-device-plugin): --over-request=kill",
		"ok GPU nodes | cards handed over by (zz-device-plugin/zz-device-plugin): --device-list-strategy=cdi-cri: cards go by CDI, not by env",
		"ok namespaces | opted in: 1 namespace labelled zz.io/injection=enabled (shop)",
		"ok namespaces | pod security: 1 namespace served or holding GPU pods enforces Pod Security baseline or restricted (shop)",
		"ok admission policies | NodeRestriction admission plugin: on: a node's credentials are held to its own Node and pods",
	} {
		if !strings.Contains(lines(rs), want) {
			t.Errorf("lacks %q:\n%s", want, lines(rs))
		}
	}
}

// TestProblems: each way zz breaks is named, with its status and a hint.
func TestProblems(t *testing.T) {
	tests := []struct {
		name   string
		edit   func(objs []runtime.Object) []runtime.Object
		status Status
		want   string
	}{
		{"webhook pods down", func(objs []runtime.Object) []runtime.Object {
			objs[1].(*appsv1.Deployment).Status.ReadyReplicas = 0
			return objs
		}, Fail, "fail zz components | Deployment zz-system/zz-webhook: 0/2 ready: pods of opted-in namespaces are refused"},
		{"a scheduler replica down", func(objs []runtime.Object) []runtime.Object {
			objs[0].(*appsv1.Deployment).Status.ReadyReplicas = 1
			return objs
		}, Warn, "warn zz components | Deployment zz-system/zz-scheduler: 1/2 ready"},
		// An upgrade whose new pods cannot start (a nodeSelector no node
		// has, an image that cannot be pulled): the old pods still serve, so
		// every replica is ready, and check said ✓ (an admin's audit).
		{"an upgrade that does not roll out", func(objs []runtime.Object) []runtime.Object {
			d := objs[1].(*appsv1.Deployment)
			d.Generation, d.Status.ObservedGeneration, d.Status.Replicas, d.Status.UpdatedReplicas = 3, 3, 3, 1
			d.Status.Conditions = []appsv1.DeploymentCondition{{Type: appsv1.DeploymentProgressing, Status: corev1.ConditionFalse,
				Reason: "ProgressDeadlineExceeded", Message: `ReplicaSet "zz-webhook-5f7bf87cfd" has timed out progressing.`}}
			return objs
		}, Warn, `warn zz components | Deployment zz-system/zz-webhook: 2/2 ready, but only 1 of 2 on the current template: the rollout is stuck: ReplicaSet "zz-webhook-5f7bf87cfd" has timed out progressing.`},
		{"an upgrade under way", func(objs []runtime.Object) []runtime.Object {
			d := objs[0].(*appsv1.Deployment)
			d.Generation, d.Status.ObservedGeneration = 4, 3
			return objs
		}, Warn, "warn zz components | Deployment zz-system/zz-scheduler: 2/2 ready, but its controller has not yet seen its current template"},
		{"the device plugin rolling out", func(objs []runtime.Object) []runtime.Object {
			objs[2].(*appsv1.DaemonSet).Status.UpdatedNumberScheduled = 0
			return objs
		}, Warn, "warn zz components | DaemonSet zz-device-plugin/zz-device-plugin: 1/1 ready, but only 0 of 1 on the current template"},
		// A cluster that keeps the system PriorityClasses to kube-system
		// refuses every pod: the Deployment's ReplicaFailure says why, which
		// describe deployment does not show.
		{"pods refused at creation", func(objs []runtime.Object) []runtime.Object {
			d := objs[1].(*appsv1.Deployment)
			d.Status.ReadyReplicas, d.Status.UpdatedReplicas = 0, 0
			d.Status.Conditions = []appsv1.DeploymentCondition{{Type: appsv1.DeploymentReplicaFailure, Status: corev1.ConditionTrue, Reason: "FailedCreate",
				Message: "insufficient quota to match these scopes: [{PriorityClass In [system-node-critical system-cluster-critical]}]"}}
			return objs
		}, Fail, "fail zz components | Deployment zz-system/zz-webhook: 0/2 ready: pods of opted-in namespaces are refused while no webhook answers (failurePolicy Fail); its pods cannot be created: insufficient quota to match these scopes: [{PriorityClass In [system-node-critical system-cluster-critical]}]"},
		// NVIDIA's device plugin (or HAMi's, the GPU Operator's) left on a
		// zz GPU node hands its cards out a second time, past zz's ledger.
		{"another device plugin on a GPU node", func(objs []runtime.Object) []runtime.Object {
			objs[7].(*corev1.Node).Status.Allocatable["nvidia.com/gpu"] = resource.MustParse("2")
			return objs
		}, Warn, "warn GPU nodes | node gpu-1: it also advertises nvidia.com/gpu (2): another device plugin hands out the cards zz shares"},
		{"nothing installed", func([]runtime.Object) []runtime.Object { return nil }, Fail,
			"fail zz components | install: no Deployment or DaemonSet labelled app.kubernetes.io/part-of=zz in zz-system or zz-device-plugin"},
		{"CA expired", func(objs []runtime.Object) []runtime.Object {
			objs[3].(*admissionregistrationv1.MutatingWebhookConfiguration).Webhooks[0].ClientConfig.CABundle = caPEM(t, now.Add(-time.Hour))
			return objs
		}, Fail, "fail webhook | zz-webhook pods.zz.io certificate: the CA expired on 2026-12-05"},
		{"CA expires soon", func(objs []runtime.Object) []runtime.Object {
			objs[3].(*admissionregistrationv1.MutatingWebhookConfiguration).Webhooks[0].ClientConfig.CABundle = caPEM(t, now.Add(3*24*time.Hour))
			return objs
		}, Warn, "warn webhook | zz-webhook pods.zz.io certificate: the CA expires on 2026-12-08, in 3 days"},
		{"no CA bundle", func(objs []runtime.Object) []runtime.Object {
			objs[3].(*admissionregistrationv1.MutatingWebhookConfiguration).Webhooks[0].ClientConfig.CABundle = nil
			return objs
		}, Fail, "fail webhook | zz-webhook pods.zz.io certificate: no CA bundle"},
		{"no endpoints", func(objs []runtime.Object) []runtime.Object {
			return append(objs[:4], objs[5:]...)
		}, Fail, "fail webhook | zz-webhook pods.zz.io endpoints: Service zz-system/zz-webhook has no ready endpoint: every pod creation the webhook matches is refused"},
		{"no endpoints, failurePolicy Ignore", func(objs []runtime.Object) []runtime.Object {
			objs[3].(*admissionregistrationv1.MutatingWebhookConfiguration).Webhooks[0].FailurePolicy = ptr.To(admissionregistrationv1.Ignore)
			return append(objs[:4], objs[5:]...)
		}, Warn, "pods are created unmutated (failurePolicy Ignore)"},
		{"policy unbound", func(objs []runtime.Object) []runtime.Object {
			return append(objs[:6], objs[7:]...)
		}, Fail, "fail admission policies | zz-gpu-pod-annotations: not bound: nothing enforces it"},
		{"policy bound to audit only", func(objs []runtime.Object) []runtime.Object {
			objs[6].(*admissionregistrationv1.ValidatingAdmissionPolicyBinding).Spec.ValidationActions = []admissionregistrationv1.ValidationAction{admissionregistrationv1.Audit}
			return objs
		}, Warn, "warn admission policies | zz-gpu-pod-annotations: bound with Audit only: it reports, it refuses nothing"},
		{"no policies", func(objs []runtime.Object) []runtime.Object {
			return append(objs[:5], objs[7:]...)
		}, Fail, "fail admission policies | install: no ValidatingAdmissionPolicy labelled"},
		// kubectl debug then needs --env NVIDIA_VISIBLE_DEVICES=void: the
		// validating policy still refuses a debug container without it.
		{"no policy gives debug containers void", func(objs []runtime.Object) []runtime.Object {
			return objs[:12]
		}, Warn, "warn admission policies | zz-ephemeral-void: no MutatingAdmissionPolicy zz-ephemeral-void labelled app.kubernetes.io/part-of=zz: kubectl debug's containers get no NVIDIA_VISIBLE_DEVICES=void, so the policy zz-ephemeral-containers refuses each one that sets none: debug with kubectl debug --env NVIDIA_VISIBLE_DEVICES=void"},
		{"the policy giving debug containers void unbound", func(objs []runtime.Object) []runtime.Object {
			return objs[:13]
		}, Warn, "warn admission policies | zz-ephemeral-void: not bound: it changes nothing, and kubectl debug's containers get no NVIDIA_VISIBLE_DEVICES=void"},
		// A configuration from before zz-ephemeral-void: kubectl debug
		// fails while the webhook is down.
		{"the webhook still called for kubectl debug", func(objs []runtime.Object) []runtime.Object {
			wh := &objs[3].(*admissionregistrationv1.MutatingWebhookConfiguration).Webhooks[0]
			wh.Rules = append(wh.Rules, admissionregistrationv1.RuleWithOperations{Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Update},
				Rule: admissionregistrationv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"pods/ephemeralcontainers"}}})
			return objs
		}, Warn, "warn webhook | zz-webhook pods.zz.io rules: it matches pods/ephemeralcontainers updates with failurePolicy Fail: while the webhook is down, kubectl debug fails in every namespace it serves"},
		{"the webhook called for kubectl debug, but failing open", func(objs []runtime.Object) []runtime.Object {
			wh := &objs[3].(*admissionregistrationv1.MutatingWebhookConfiguration).Webhooks[0]
			wh.FailurePolicy = ptr.To(admissionregistrationv1.Ignore)
			wh.Rules = append(wh.Rules, admissionregistrationv1.RuleWithOperations{Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.OperationAll},
				Rule: admissionregistrationv1.Rule{APIGroups: []string{"*"}, APIVersions: []string{"*"}, Resources: []string{"*/*"}}})
			return objs
		}, OK, "ok admission policies | zz-ephemeral-void: bound"},
		{"a GPU node without inventory", func(objs []runtime.Object) []runtime.Object {
			delete(objs[7].(*corev1.Node).Annotations, contract.AnnotationNodeGPUInventory)
			return objs
		}, Fail, "fail GPU nodes | node gpu-1: no GPU inventory"},
		{"a card down", func(objs []runtime.Object) []runtime.Object {
			objs[7].(*corev1.Node).Annotations[contract.AnnotationNodeGPUInventory] = `{"version":1,"cards":[{"index":0,"uuid":"GPU-0","model":"A100","memoryMiB":40960,"healthy":false,"reason":"XID 48"},{"index":1,"uuid":"GPU-1","model":"A100","memoryMiB":40960,"healthy":true}]}`
			return objs
		}, Warn, "warn GPU nodes | node gpu-1: 1 of 2 cards unhealthy: card 0 (XID 48)"},
		// Root on gpu-2 publishes gpu-1's card (a root-on-one-node audit).
		{"a card UUID on two nodes", func(objs []runtime.Object) []runtime.Object {
			forger := objs[7].(*corev1.Node).DeepCopy()
			forger.Name = "gpu-2"
			forger.Annotations[contract.AnnotationNodeGPUInventory] = `{"version":1,"cards":[{"index":0,"uuid":"GPU-1","model":"A100","memoryMiB":40960,"healthy":true}]}`
			return append(objs, forger)
		}, Fail, "fail GPU nodes | GPU card UUIDs: 1 card is listed by several nodes (a new pod gets it only on the one node that serves a pod on it, if one does): card GPU-1 on nodes gpu-1, gpu-2"},
		// Root on a node copied gpu-1's kubernetes.io/hostname, which
		// NodeRestriction lets it set on itself, and drew a pod pinned to
		// gpu-1 by the label (a root-on-one-node audit).
		{"a hostname two nodes carry", func(objs []runtime.Object) []runtime.Object {
			objs[7].(*corev1.Node).Labels[corev1.LabelHostname] = "gpu-1"
			return append(objs, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "cpu-9", Labels: map[string]string{corev1.LabelHostname: "gpu-1"}}})
		}, Warn, "warn admission policies | node hostnames: kubernetes.io/hostname gpu-1 on nodes cpu-9, gpu-1: a node sets that label on itself, so one of them copied another's, and pods pinned by it may run on either"},
		{"no allocatable", func(objs []runtime.Object) []runtime.Object {
			objs[7].(*corev1.Node).Status.Allocatable = nil
			return objs
		}, Fail, "fail GPU nodes | node gpu-1: 2 cards in its inventory, but no zz.io/gpu allocatable"},
		{"GPU memory requests only warned of", func(objs []runtime.Object) []runtime.Object {
			objs[2].(*appsv1.DaemonSet).Spec.Template.Spec.Containers[0].Args = []string{"--nvml=real", "--over-request", "event"}
			return objs
		}, Warn, "warn GPU nodes | GPU memory requests enforced (zz-device-plugin/zz-device-plugin): --over-request=event: a pod that allocates past its request"},
		{"GPU memory requests: kill without CAP_KILL", func(objs []runtime.Object) []runtime.Object {
			objs[2].(*appsv1.DaemonSet).Spec.Template.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{
				Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}}}
			return objs
		}, Fail, "fail GPU nodes | GPU memory requests enforced (zz-device-plugin/zz-device-plugin): --over-request=kill, but the container drops CAP_KILL"},
		{"GPU memory requests: kill with CAP_KILL added back", func(objs []runtime.Object) []runtime.Object {
			objs[2].(*appsv1.DaemonSet).Spec.Template.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{
				Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}, Add: []corev1.Capability{"KILL"}}}
			return objs
		}, OK, "ok GPU nodes | GPU memory requests enforced (zz-device-plugin/zz-device-plugin): --over-request=kill"},
		{"GPU memory requests: the binary's default", func(objs []runtime.Object) []runtime.Object {
			objs[2].(*appsv1.DaemonSet).Spec.Template.Spec.Containers[0].Args = []string{"--nvml=real"}
			return objs
		}, Warn, "--over-request=event (the default): a pod that allocates past its request"},
		{"GPU memory requests: MPS", func(objs []runtime.Object) []runtime.Object {
			objs[2].(*appsv1.DaemonSet).Spec.Template.Spec.Containers[0].Args = []string{"--nvml=real", "--mps"}
			return objs
		}, Warn, "warn GPU nodes | GPU memory requests enforced (zz-device-plugin/zz-device-plugin): --mps without --over-request=kill"},
		// Cards by env: the runtime cannot tell the plugin's from a pod's.
		{"device list by env, the default", func(objs []runtime.Object) []runtime.Object {
			objs[2].(*appsv1.DaemonSet).Spec.Template.Spec.Containers[0].Args = []string{"--nvml=real", "--over-request=kill"}
			return objs
		}, Warn, "warn GPU nodes | cards handed over by (zz-device-plugin/zz-device-plugin): --device-list-strategy=envvar: the NVIDIA runtime takes the cards from NVIDIA_VISIBLE_DEVICES and cannot tell the plugin's value from a pod's own"},
		{"device list by env beside CDI", func(objs []runtime.Object) []runtime.Object {
			objs[2].(*appsv1.DaemonSet).Spec.Template.Spec.Containers[0].Args = []string{"--over-request=kill", "--device-list-strategy", "cdi-cri,envvar"}
			return objs
		}, Warn, "warn GPU nodes | cards handed over by (zz-device-plugin/zz-device-plugin): --device-list-strategy=cdi-cri,envvar:"},
		{"device list by CDI annotations", func(objs []runtime.Object) []runtime.Object {
			objs[2].(*appsv1.DaemonSet).Spec.Template.Spec.Containers[0].Args = []string{"--over-request=kill", "--device-list-strategy=cdi-annotations"}
			return objs
		}, OK, "ok GPU nodes | cards handed over by (zz-device-plugin/zz-device-plugin): --device-list-strategy=cdi-annotations: cards go by CDI"},
		{"no namespace opted in", func(objs []runtime.Object) []runtime.Object {
			return append(objs[:8], objs[9:]...)
		}, Warn, "warn namespaces | opted in: no namespace is labelled zz.io/injection=enabled"},
		{"the scheduler's configuration predates the preempt verb", schedulerConfigEdit("preemptVerb: gpu/preempt", ""), Warn,
			"warn scheduler configuration | zz-system/zz-scheduler: its GPU extender has no preemptVerb: kube-scheduler's own preemption, blind to GPU memory, may evict pods"},
		{"GPU memory not ignored by kube-scheduler", schedulerConfigEdit("ignoredByScheduler: true", "ignoredByScheduler: false"), Fail,
			"fail scheduler configuration | zz-system/zz-scheduler: zz.io/gpu-mem and zz.io/gpu-mem-total must be ignoredByScheduler: no node advertises them, so every GPU pod stays Pending"},
		{"no GPU extender", schedulerConfigEdit("- name: zz.io/gpu-mem\n", "- name: zz.io/other\n"), Fail,
			"fail scheduler configuration | zz-system/zz-scheduler: no extender manages zz.io/gpu-mem: GPU pods are placed blind to GPU memory"},
		{"the GPU extender does not filter", schedulerConfigEdit("  filterVerb: gpu/filter\n", ""), Fail,
			"fail scheduler configuration | zz-system/zz-scheduler: its GPU extender (the entry managing zz.io/gpu-mem) has no filterVerb: GPU pods are placed blind to GPU memory"},
		{"the GPU extender does not bind", schedulerConfigEdit("bindVerb: gpu/bind", ""), Fail,
			"fail scheduler configuration | zz-system/zz-scheduler: no extender entry binds the pods asking for zz.io/gpu (bindVerb gpu/bind in an entry managing zz.io/gpu): GPU pods never get their cards"},
		{"the bind entry is sent no GPU pod", schedulerConfigEdit("  - name: zz.io/gpu\n", "  - name: zz.io/other\n"), Fail,
			"fail scheduler configuration | zz-system/zz-scheduler: no extender entry binds the pods asking for zz.io/gpu (bindVerb gpu/bind in an entry managing zz.io/gpu): GPU pods never get their cards"},
		{"the bind entry has kube-scheduler ignore zz.io/gpu (review 15 E2)", schedulerConfigEdit("  - name: zz.io/gpu\n", "  - name: zz.io/gpu\n    ignoredByScheduler: true\n"), Fail,
			"fail scheduler configuration | zz-system/zz-scheduler: its GPU bind entry marks zz.io/gpu ignoredByScheduler: kube-scheduler then places GPU pods past the device plugin's slots, and the kubelet refuses them (OutOfzz.io/gpu); remove ignoredByScheduler from zz.io/gpu"},
		{"the bind entry is ignorable", schedulerConfigEdit("  bindVerb: gpu/bind\n", "  bindVerb: gpu/bind\n  ignorable: true\n"), Fail,
			"fail scheduler configuration | zz-system/zz-scheduler: its GPU bind entry is ignorable: a bind the extender fails falls through to the default binder"},
		{"the bind in the filter's entry, as configurations before the split", func(objs []runtime.Object) []runtime.Object {
			objs = schedulerConfigEdit("  bindVerb: gpu/bind\n", "  ignorable: false\n")(objs)
			return schedulerConfigEdit("  filterVerb: gpu/filter\n", "  filterVerb: gpu/filter\n  bindVerb: gpu/bind\n")(objs)
		}, Warn, "warn scheduler configuration | zz-system/zz-scheduler: its GPU extender binds in the entry that filters, so one httpTimeout serves both"},
		{"the configuration given in args, as two words", func(objs []runtime.Object) []runtime.Object {
			c := &objs[0].(*appsv1.Deployment).Spec.Template.Spec.Containers[0]
			c.Command, c.Args = []string{"kube-scheduler"}, []string{"--v=2", "--config", "/etc/zz-scheduler/zz-scheduler-config.yaml"}
			return objs
		}, OK, "ok scheduler configuration | zz-system/zz-scheduler: GPU extender: filter and preempt verbs"},
		{"no zz-scheduler leader: its Lease lapsed", leaseEdit(func(l *coordinationv1.LeaseSpec) {
			l.RenewTime = ptr.To(metav1.NewMicroTime(now.Add(-2 * time.Minute)))
		}), Fail, "fail scheduler configuration | zz-system/zz-scheduler leader: zz-scheduler-7d9f_1 last renewed its Lease at 2026-12-05T11:58:00Z, 2m0s ago; GPU pods stay Pending, and the zz webhook leaves other pods to the default scheduler"},
		{"no zz-scheduler leader: released and not taken", leaseEdit(func(l *coordinationv1.LeaseSpec) {
			l.HolderIdentity, l.LeaseDurationSeconds = ptr.To(""), ptr.To[int32](1)
			l.RenewTime = ptr.To(metav1.NewMicroTime(now.Add(-time.Minute)))
		}), Fail, "fail scheduler configuration | zz-system/zz-scheduler leader: no leader since 2026-12-05T11:59:00Z (released by the last one)"},
		{"a failover: released a moment ago", leaseEdit(func(l *coordinationv1.LeaseSpec) {
			l.HolderIdentity, l.LeaseDurationSeconds = ptr.To(""), ptr.To[int32](1)
			l.RenewTime = ptr.To(metav1.NewMicroTime(now.Add(-time.Second)))
		}), OK, "ok scheduler configuration | zz-system/zz-scheduler leader: the last leader released the Lease a moment ago"},
		{"whole cards up to more than the pool's cards", policyEdit(wholeCardPolicy("80Gi")), OK,
			"ok GPU nodes | whole cards in pool a100: 2 cards on 1 node of at most 81920 MiB (smaller: node gpu-1 card 0 (40960 MiB), node gpu-1 card 1 (40960 MiB)): whole-card pods take any of them whole, each charged 81920 MiB"},
		{"whole cards up to less than some cards of the pool", func(objs []runtime.Object) []runtime.Object {
			objs[7].(*corev1.Node).Annotations[contract.AnnotationNodeGPUInventory] = `{"version":1,"cards":[{"index":0,"uuid":"GPU-0","model":"A100","memoryMiB":40960,"healthy":true},{"index":1,"uuid":"GPU-1","model":"A100","memoryMiB":81920,"healthy":true}]}`
			return objs
		}, Warn, "warn GPU nodes | whole cards in pool a100: gpuCardMemory 40960 MiB, less than node gpu-1 card 1 (81920 MiB): whole-card pods never get those cards"},
		{"whole cards up to less than every card of the pool", policyEdit(wholeCardPolicy("39Gi")), Fail,
			"fail GPU nodes | whole cards in pool a100: gpuCardMemory 39936 MiB, less than every card of the pool (node gpu-1 card 0 (40960 MiB), node gpu-1 card 1 (40960 MiB)): no pod asking for zz.io/gpu alone fits"},
		{"whole cards on a pool without GPU nodes", policyEdit(strings.ReplaceAll(wholeCardPolicy("40Gi"), "zz.io/pool: a100", "zz.io/pool: h100")), Warn,
			"warn GPU nodes | whole cards in pool a100: gpuCardMemory 40960 MiB, but no GPU node matches the pool's nodeSelector map[zz.io/pool:h100]"},
		{"the webhook policy unreadable", policyEdit("largestGPUCard: 80Gi\nbogus: 1\n"), Warn,
			"warn webhook | the webhook policy zz-system/zz-webhook-policy: invalid: the webhook keeps the last valid policy until it restarts; the next restart (a drain, an OOM, an upgrade) refuses every pod of opted-in namespaces: policy.yaml: error unmarshaling JSON"},
		{"no zz-scheduler Lease", func(objs []runtime.Object) []runtime.Object {
			return append(objs[:10], objs[11])
		}, Fail, "fail scheduler configuration | zz-system/zz-scheduler leader: no Lease zz-system/zz-scheduler: no replica has ever led"},
		{"pods zz-scheduler has not judged", withPods(routedPod("a", "shop", time.Minute, false), routedPod("b", "shop", time.Minute, false),
			routedPod("new", "shop", 10*time.Second, false), routedPod("full", "train", time.Hour, true), routedPod("bound", "shop", time.Hour, false)), Warn,
			"warn scheduler configuration | pods routed to zz-scheduler: 2 pods had no verdict from it in over 30s (shop/a, shop/b): it is not scheduling, or its queue is that long"},
		{"pods the extender failed", withPods(func() *corev1.Pod {
			p := routedPod("gpu", "ml", time.Minute, true)
			p.Status.Conditions[0].Reason = corev1.PodReasonSchedulerError
			p.Status.Conditions[0].Message = `Post "http://127.0.0.1:8890/gpu/filter": connection refused`
			return p
		}(), routedPod("full", "train", time.Hour, true)), Fail,
			`fail scheduler configuration | pods routed to zz-scheduler: 1 pod failed to schedule with an error (ml/gpu): Post "http://127.0.0.1:8890/gpu/filter": connection refused`},
		// A tenant's typo (the extender refuses such a pod on every node
		// now, but an older one answered an Error): the pod's fault, a
		// warning naming it, not a failed install.
		{"a pod the extender cannot read", withPods(func() *corev1.Pod {
			p := routedPod("typo", "default", time.Minute, true)
			p.Status.Conditions[0].Reason = corev1.PodReasonSchedulerError
			p.Status.Conditions[0].Message = `annotation zz.io/gpu-policy: GPU policy "bestfitt" is unknown; use "binpack", "bestfit" or "spread"`
			return p
		}(), routedPod("full", "train", time.Hour, true)), Warn,
			`warn scheduler configuration | pods routed to zz-scheduler: 1 pod could not be scheduled for a reason of its own (default/typo): annotation zz.io/gpu-policy: GPU policy "bestfitt" is unknown`},
		{"the extender's bind refused by the apiserver", withPods(func() *corev1.Pod {
			p := routedPod("gpu", "ml", time.Minute, true)
			p.Status.Conditions[0].Reason = corev1.PodReasonSchedulerError
			p.Status.Conditions[0].Message = `write the card choice on the pod: pods "gpu" is forbidden: User "system:serviceaccount:zz-system:zz-scheduler" cannot patch resource "pods"`
			return p
		}()), Fail,
			`fail scheduler configuration | pods routed to zz-scheduler: 1 pod failed to schedule with an error (ml/gpu): write the card choice on the pod`},
		{"the extender answering 503", withPods(func() *corev1.Pod {
			p := routedPod("gpu", "ml", time.Minute, true)
			p.Status.Conditions[0].Reason = corev1.PodReasonSchedulerError
			p.Status.Conditions[0].Message = `failed filter with extender at URL http://127.0.0.1:8890/gpu/filter, code 503`
			return p
		}()), Fail,
			`fail scheduler configuration | pods routed to zz-scheduler: 1 pod failed to schedule with an error (ml/gpu): failed filter with extender at URL`},
		{"pods zz-scheduler found no node for", withPods(routedPod("full", "train", time.Hour, true), routedPod("new", "shop", 10*time.Second, false)), OK,
			"ok scheduler configuration | pods routed to zz-scheduler: 2 pods on no node: 1 judged by it, 1 created in the last 30s, not judged yet"},
		{"pods zz-scheduler judged", withPods(routedPod("full", "train", time.Hour, true), routedPod("full2", "train", time.Hour, true)), OK,
			"ok scheduler configuration | pods routed to zz-scheduler: 2 pods on no node, each judged by it"},
		{"pods too new to be judged", withPods(routedPod("new", "shop", 10*time.Second, false)), OK,
			"ok scheduler configuration | pods routed to zz-scheduler: 1 pod on no node, created in the last 30s: not judged yet"},
		{"a typo in the policy's scheduler", func(objs []runtime.Object) []runtime.Object {
			objs = policyEdit(wholeCardPolicy("40Gi") + "  web: {nodeSelector: {zz.io/pool: web}, cpuOvercommitRatio: 0.5, scheduler: zz-schedular}\n")(objs)
			typo := func(p *corev1.Pod) *corev1.Pod { p.Spec.SchedulerName = "zz-schedular"; return p }
			return withPods(typo(routedPod("a", "shop", time.Minute, false)), typo(routedPod("new", "shop", 10*time.Second, false)), routedPod("full", "train", time.Hour, true))(objs)
		}, Fail,
			`fail scheduler configuration | pods routed to "zz-schedular": 1 pod had no verdict from any scheduler in over 30s (shop/a): no scheduler of that name runs, or its queue is that long; the webhook policy zz-system/zz-webhook-policy names it (pools.web.scheduler)`},
		{"a scheduler of the cluster's own", policyEdit(wholeCardPolicy("40Gi") + "  web: {nodeSelector: {zz.io/pool: web}, cpuOvercommitRatio: 0.5, scheduler: volcano}\n"), OK,
			`ok scheduler configuration | pods routed to "volcano": no pod waits for it; the webhook policy zz-system/zz-webhook-policy names it (pools.web.scheduler)`},
		{"a reserved pool nodes can join", policyEdit(wholeCardPolicy("40Gi") + "  critical: {nodeSelector: {zz.io/pool: critical}, critical: true, namespaces: [prod]}\n"), Warn,
			"warn admission policies | pool critical: reserved to namespaces, but selected by labels a node may set on itself: root on any node can label it into the pool"},
		{"a reserved pool only an admin can join", policyEdit(wholeCardPolicy("40Gi") + "  critical: {nodeSelector: {node-restriction.kubernetes.io/zz-pool: critical}, critical: true, namespaces: [prod]}\n"), OK, ""},
		{"GPU pods naming no pool sent to the CPU nodes", policyEdit("defaultPool: general\n" + wholeCardPolicy("40Gi") + "  general: {nodeSelector: {zz.io/pool: general}, cpuOvercommitRatio: 0.5}\n"), Fail,
			"fail GPU nodes | GPU pods naming no pool: go to pool general (defaultPool), whose nodeSelector map[zz.io/pool:general] matches no GPU node: they stay Pending for good"},
		{"GPU pods naming no pool sent to the GPU nodes", policyEdit("defaultPool: general\ndefaultGPUPool: a100\n" + wholeCardPolicy("40Gi") + "  general: {nodeSelector: {zz.io/pool: general}, cpuOvercommitRatio: 0.5}\n"), OK,
			"ok GPU nodes | GPU pods naming no pool: go to pool a100 (defaultGPUPool), on 1 GPU node: gpu-1"},
		// A card that shrank under its pods (its inventory says 40960 MiB,
		// two pods hold 30000 each).
		{"a card over-allocated", func(objs []runtime.Object) []runtime.Object {
			for _, name := range []string{"a", "b"} {
				a := gpushare.Assignment{Indexes: []int{0}, UUIDs: []string{"GPU-0"}, MemMiB: 30000, AssumeTime: now.Add(-time.Hour), Assigned: true}
				objs = append(objs, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ml", UID: types.UID(name), Annotations: a.Annotations()},
					Spec: corev1.PodSpec{NodeName: "gpu-1", Containers: []corev1.Container{{Name: "c", Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{
						contract.ResourceGPUMem: resource.MustParse("30000Mi"), contract.ResourceGPU: resource.MustParse("1")}}}}},
					Status: corev1.PodStatus{Phase: corev1.PodRunning}})
			}
			return objs
		}, Fail, "fail GPU nodes | GPU memory allocated: 1 card holds more memory than it has: node gpu-1 card 0: 60000Mi of 40Gi (ml/a, ml/b)"},
		// A card that left the node's inventory (a reset) under a running
		// pod: its memory stays held, and check says so (an admin audit).
		{"a pod on a card its node no longer lists", func(objs []runtime.Object) []runtime.Object {
			a := gpushare.Assignment{Indexes: []int{2}, UUIDs: []string{"GPU-2"}, MemMiB: 15000, AssumeTime: now.Add(-time.Hour), Assigned: true}
			return append(objs, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "gone", Namespace: "ml", UID: "gone", Annotations: a.Annotations()},
				Spec: corev1.PodSpec{NodeName: "gpu-1", Containers: []corev1.Container{{Name: "c", Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{
					contract.ResourceGPUMem: resource.MustParse("15000Mi"), contract.ResourceGPU: resource.MustParse("1")}}}}},
				Status: corev1.PodStatus{Phase: corev1.PodRunning}})
		}, Warn, "warn GPU nodes | GPU pods on cards their node lists: 1 pod holds memory on a card its node no longer lists: pod ml/gone: card GPU-2 is not on node gpu-1"},
		// Pod Security is the precondition of zz's trust model: a
		// namespace served, or holding GPU pods, without baseline lets its
		// edit users run privileged containers on GPU nodes (a hostile-
		// tenant audit).
		{"a served namespace without Pod Security", func(objs []runtime.Object) []runtime.Object {
			for _, o := range objs {
				if ns, ok := o.(*corev1.Namespace); ok && ns.Name == "shop" {
					delete(ns.Labels, contract.LabelPodSecurityEnforce)
				}
			}
			return objs
		}, Warn, "warn namespaces | pod security: 1 namespace served or holding GPU pods enforces no Pod Security level above privileged: shop (unset): their edit users may run privileged containers or mount hostPath /dev on a GPU node, reaching every card and the node's pod tokens past everything zz checks; unset is the apiserver's PodSecurity default, privileged unless its admission configuration sets another, which check cannot read (state it as the webhook policy's podSecurityDefault)"},
		// The admin states the apiserver's default in the policy: an
		// unlabelled namespace is judged at it.
		{"a served namespace without Pod Security, under the policy's default", unlabelledUnder("baseline"), OK, "ok namespaces | pod security: 1 namespace served or holding GPU pods enforces Pod Security baseline or restricted (shop)"},
		{"a served namespace without Pod Security, under the policy's privileged default", unlabelledUnder("privileged"), Warn, "warn namespaces | pod security: 1 namespace served or holding GPU pods enforces no Pod Security level above privileged: shop (unset: the policy's podSecurityDefault privileged): their edit users"},
		{"GPU pods in a privileged namespace", func(objs []runtime.Object) []runtime.Object {
			a := gpushare.Assignment{Indexes: []int{0}, UUIDs: []string{"GPU-0"}, MemMiB: 1000, AssumeTime: now.Add(-time.Hour), Assigned: true}
			return append(objs, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "ml", Labels: map[string]string{contract.LabelPodSecurityEnforce: "privileged"}}},
				&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "idle", Labels: map[string]string{}}},
				&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "train", Namespace: "ml", UID: "train", Annotations: a.Annotations()},
					Spec: corev1.PodSpec{NodeName: "gpu-1", Containers: []corev1.Container{{Name: "c", Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{
						contract.ResourceGPUMem: resource.MustParse("1000Mi"), contract.ResourceGPU: resource.MustParse("1")}}}}},
					Status: corev1.PodStatus{Phase: corev1.PodRunning}})
		}, Warn, "warn namespaces | pod security: 1 namespace served or holding GPU pods enforces no Pod Security level above privileged: ml (privileged): their edit users"},
		// The policy lost pool gpu while an app runs there.
		{"a workload in a pool the policy lacks", func(objs []runtime.Object) []runtime.Object {
			return append(objs, &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "infer", Namespace: "ml"},
				Spec: appsv1.DeploymentSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{NodeSelector: map[string]string{contract.LabelPool: "gpu"}}}}},
				&appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "train", Namespace: "ml"},
					Spec: appsv1.DeploymentSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{NodeSelector: map[string]string{contract.LabelPool: "a100"}}}}})
		}, Warn, "warn admission policies | pools in use: 1 workload selects a pool the webhook policy zz-system/zz-webhook-policy lacks: the webhook refuses their next pods (a scale, a rollout, a pod lost with its node): Deployment ml/infer (pool gpu)"},
		{"a card cordoned", func(objs []runtime.Object) []runtime.Object {
			objs[7].(*corev1.Node).Annotations[contract.AnnotationNodeGPUCordon] = "GPU-1"
			return objs
		}, OK, "ok GPU nodes | nodes: 1 GPU node, 2 cards, 2 healthy, 1 cordoned (kubectl zz gpu shows which)"},
		// The webhook lowers a100's requests to half the limit, and raises
		// them to the LimitRange's bounds, which the LimitRanger checks
		// after it: an ok line says the namespace gets less overcommit.
		{"a LimitRange min above the overcommitted request", withLimitRange("shop", corev1.LimitTypeContainer, corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("300m")}, nil), OK,
			"ok namespaces | LimitRange shop/minimum: min cpu 300m per container holds the CPU requests of pool a100 at 300m or more: a limit under 600m gets more than limit × 0.5: the zz webhook raises the CPU requests its overcommit would lower past these bounds up to them"},
		{"a LimitRange ratio below the overcommit's", withLimitRange("shop", corev1.LimitTypeContainer, nil, corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1")}), OK,
			"ok namespaces | LimitRange shop/minimum: maxLimitRequestRatio cpu 1 per container holds the CPU requests of pool a100 at limit ÷ 1 or more, above its limit × 0.5 (a ratio of 2)"},
		{"a LimitRange ratio the overcommit meets", withLimitRange("shop", corev1.LimitTypeContainer, nil, corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2")}), OK, ""},
		{"a LimitRange of memory only", withLimitRange("shop", corev1.LimitTypeContainer, corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("64Mi")}, nil), OK, ""},
		{"a LimitRange of pods", withLimitRange("shop", corev1.LimitTypePod, nil, corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1")}), OK,
			"ok namespaces | LimitRange shop/minimum: maxLimitRequestRatio cpu 1 per pod holds the CPU requests of pool a100 at limit ÷ 1 or more"},
		{"a LimitRange where the webhook serves no pod", withLimitRange("batch", corev1.LimitTypeContainer, nil, corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1")}), OK, ""},
		{"a LimitRange where no overcommitted pool reaches", func(objs []runtime.Object) []runtime.Object {
			objs = policyEdit("largestGPUCard: 80Gi\npools:\n  a100: {nodeSelector: {zz.io/pool: a100}, cpuOvercommitRatio: 1, gpuCardMemory: 40Gi}\n" +
				"  web: {nodeSelector: {node-restriction.kubernetes.io/zz-pool: web}, cpuOvercommitRatio: 0.5, namespaces: [prod]}\n")(objs)
			return withLimitRange("shop", corev1.LimitTypeContainer, nil, corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1")})(objs)
		}, OK, ""},
		// Every pod reaches the webhook's review port: enough of a tenant's
		// pods could hold its connections (a hostile-tenant audit).
		{"no NetworkPolicy isolates the webhook", withoutNetworkPolicy(false), Warn,
			"warn webhook | Deployment zz-system/zz-webhook network isolation: no NetworkPolicy selects its pods: every pod of the cluster reaches its review port"},
		{"the webhook's NetworkPolicy is egress only", withoutNetworkPolicy(true), Warn,
			"warn webhook | Deployment zz-system/zz-webhook network isolation: no NetworkPolicy selects its pods"},
		{"a NetworkPolicy allows every source", withAllowAllNetworkPolicy, Warn,
			"warn webhook | Deployment zz-system/zz-webhook network isolation: NetworkPolicy allow-all selects its pods but allows every source"},
		{"the configuration's ConfigMap is gone", func(objs []runtime.Object) []runtime.Object {
			return append(objs[:9], objs[10:]...)
		}, Fail, `fail scheduler configuration | zz-system/zz-scheduler: cannot read its configuration: configmaps "zz-scheduler-config-abc" not found: its pods cannot start`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rs := Evaluate(Gather(t.Context(), fake.NewClientset(tt.edit(healthy(t))...), Probes{AsNode: asNode(true)}), now)
			if Worst(rs) != tt.status || !strings.Contains(lines(rs), tt.want) {
				t.Fatalf("worst %s, want %s with %q:\n%s", Worst(rs), tt.status, tt.want, lines(rs))
			}
			for _, r := range rs {
				if r.Status != OK && r.Hint == "" && r.Group != GroupWebhook {
					t.Errorf("no hint for %s %s: %s", r.Status, r.Name, r.Detail)
				}
			}
		})
	}
}

// TestNoCABundleSaysRunCertgen: a configuration with no caBundle (a helm
// rollback that re-created it ran no certgen) is mended by running certgen
// now; the hint sent the admin to a Job listed Complete.
func TestNoCABundleSaysRunCertgen(t *testing.T) {
	objs := healthy(t)
	objs[3].(*admissionregistrationv1.MutatingWebhookConfiguration).Webhooks[0].ClientConfig.CABundle = nil
	for _, r := range Evaluate(Gather(t.Context(), fake.NewClientset(objs...), Probes{AsNode: asNode(true)}), now) {
		if strings.HasSuffix(r.Name, " certificate") && r.Status == Fail {
			if !strings.Contains(r.Hint, "create job --from=cronjob/zz-webhook-certgen") {
				t.Errorf("hint %q; want how to run certgen now", r.Hint)
			}
			return
		}
	}
	t.Fatal("no failed certificate result")
}

// asNode acts as a node of an apiserver that runs NodeRestriction or not:
// the probe's dry-run label is refused as the plugin refuses it, or passes.
func asNode(restricted bool) AsNode {
	return func(node string) (kubernetes.Interface, error) {
		c := fake.NewClientset(&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: node}})
		c.PrependReactor("patch", "nodes", func(a clienttesting.Action) (bool, runtime.Object, error) {
			if !restricted {
				return false, nil, nil
			}
			return true, nil, apierrors.NewForbidden(schema.GroupResource{Resource: "nodes"}, node,
				errors.New("is not allowed to modify labels: "+nodeRestrictionProbe))
		})
		return c, nil
	}
}

// TestNodeRestriction: the probe tells the plugin on from off, and a check
// that may not act as a node says so.
func TestNodeRestriction(t *testing.T) {
	refused := func(string) (kubernetes.Interface, error) {
		c := fake.NewClientset()
		c.PrependReactor("patch", "nodes", func(clienttesting.Action) (bool, runtime.Object, error) {
			return true, nil, apierrors.NewForbidden(schema.GroupResource{Resource: "users"}, "system:node:gpu-1", errors.New(`User "alice" cannot impersonate resource "users"`))
		})
		return c, nil
	}
	tests := []struct {
		name   string
		asNode AsNode
		status Status
		want   string
	}{
		{"on", asNode(true), OK, "ok admission policies | NodeRestriction admission plugin: on"},
		{"off", asNode(false), Fail, "fail admission policies | NodeRestriction admission plugin: off: node gpu-1 may label itself node-restriction.kubernetes.io/zz-check (a dry run), so root on one node can get a zz-device-plugin token naming another node"},
		{"may not act as a node", refused, Warn, `warn admission policies | NodeRestriction admission plugin: not checked: acting as node gpu-1 was refused: users "system:node:gpu-1" is forbidden: User "alice" cannot impersonate resource "users"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rs := Evaluate(Gather(t.Context(), fake.NewClientset(healthy(t)...), Probes{AsNode: tt.asNode}), now)
			if Worst(rs) != tt.status || !strings.Contains(lines(rs), tt.want) {
				t.Fatalf("worst %s, want %s, and a line %q:\n%s", Worst(rs), tt.status, tt.want, lines(rs))
			}
		})
	}
	// Without GPU nodes nothing is probed.
	if rs := Evaluate(Gather(t.Context(), fake.NewClientset(), Probes{AsNode: asNode(false)}), now); strings.Contains(lines(rs), "NodeRestriction") {
		t.Errorf("probed without a GPU node:\n%s", lines(rs))
	}
}

// TestOutsideTheCluster: zz's servers run as processes (make demo): no
// Deployment carries the label, the webhook configuration has none and
// calls a URL, yet check finds it by its path and judges it and the Lease.
func TestOutsideTheCluster(t *testing.T) {
	demo := func(renewed time.Duration) []runtime.Object {
		return []runtime.Object{
			&admissionregistrationv1.MutatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: "zz-webhook-demo"},
				Webhooks: []admissionregistrationv1.MutatingWebhook{{Name: "pods.zz.io", FailurePolicy: ptr.To(admissionregistrationv1.Fail),
					ClientConfig: admissionregistrationv1.WebhookClientConfig{CABundle: caPEM(t, now.Add(300*24*time.Hour)), URL: ptr.To("https://127.0.0.1:26892/mutate-pods")}}}},
			&admissionregistrationv1.MutatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: "someone-elses"},
				Webhooks: []admissionregistrationv1.MutatingWebhook{{Name: "x.example.com",
					ClientConfig: admissionregistrationv1.WebhookClientConfig{URL: ptr.To("https://x.example.com/mutate")}}}},
			&coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: "zz-scheduler", Namespace: "zz-system"},
				Spec: coordinationv1.LeaseSpec{HolderIdentity: ptr.To("laptop_1"), LeaseDurationSeconds: ptr.To[int32](15),
					RenewTime: ptr.To(metav1.NewMicroTime(now.Add(-renewed)))}},
		}
	}
	rs := Evaluate(Gather(t.Context(), fake.NewClientset(demo(3*time.Second)...), Probes{}), now)
	for _, want := range []string{
		"warn zz components | install: no Deployment or DaemonSet labelled app.kubernetes.io/part-of=zz in zz-system or zz-device-plugin, but zz's webhook configuration or zz-scheduler's Lease is there",
		"ok webhook | zz-webhook-demo pods.zz.io certificate: CA valid until",
		"ok scheduler configuration | zz-system/zz-scheduler leader: laptop_1 leads",
	} {
		if !strings.Contains(lines(rs), want) {
			t.Errorf("lacks %q:\n%s", want, lines(rs))
		}
	}
	if strings.Contains(lines(rs), "someone-elses") {
		t.Errorf("judged another's webhook:\n%s", lines(rs))
	}
	rs = Evaluate(Gather(t.Context(), fake.NewClientset(demo(time.Hour)...), Probes{}), now)
	if !strings.Contains(lines(rs), "fail scheduler configuration | zz-system/zz-scheduler leader:") {
		t.Errorf("a lapsed Lease of a zz-scheduler outside the cluster is not a failure:\n%s", lines(rs))
	}
}

// routedPod is a pod routed to zz-scheduler, created age before now, on no
// node unless named "bound", judged unschedulable when tried.
func routedPod(name, ns string, age time.Duration, tried bool) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, CreationTimestamp: metav1.NewTime(now.Add(-age))},
		Spec: corev1.PodSpec{SchedulerName: contract.SchedulerName}}
	if name == "bound" {
		p.Spec.NodeName = "n1"
	}
	if tried {
		p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: corev1.PodReasonUnschedulable}}
	}
	return p
}

func withPods(pods ...*corev1.Pod) func([]runtime.Object) []runtime.Object {
	return func(objs []runtime.Object) []runtime.Object {
		for _, p := range pods {
			objs = append(objs, p)
		}
		return objs
	}
}

// TestNothingRead: a check that could read nothing fails, whether the
// apiserver refused every read or did not answer; a transport error or
// unknown credentials fail the part with a hint about the connection, not
// about rights.
func TestNothingRead(t *testing.T) {
	for _, tc := range []struct {
		name, hint string
		err        error
		want       []string
	}{
		{"every read forbidden", "run it as a cluster admin", apierrors.NewForbidden(schema.GroupResource{Resource: "things"}, "", errors.New("no")),
			[]string{"warn zz components | zz's Deployments and DaemonSets: cannot read", "fail zz components | kubectl zz check: nothing could be read, so nothing was checked"}},
		{"the apiserver unreachable", "kubectl cluster-info", &url.Error{Op: "Get", URL: "https://127.0.0.1:1/apis", Err: errors.New("dial tcp 127.0.0.1:1: connect: connection refused")},
			[]string{"fail zz components | zz's Deployments and DaemonSets: cannot read", "fail zz components | kubectl zz check: nothing could be read"}},
		{"credentials refused", "kubectl auth whoami", apierrors.NewUnauthorized("token expired"),
			[]string{"fail namespaces | namespaces: cannot read namespaces: token expired", "nothing could be read"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := fake.NewClientset(healthy(t)...)
			c.PrependReactor("*", "*", func(clienttesting.Action) (bool, runtime.Object, error) { return true, nil, tc.err })
			rs := Evaluate(Gather(t.Context(), c, Probes{}), now)
			if Worst(rs) != Fail {
				t.Errorf("worst %s, want fail:\n%s", Worst(rs), lines(rs))
			}
			for _, w := range tc.want {
				if !strings.Contains(lines(rs), w) {
					t.Errorf("no %q in\n%s", w, lines(rs))
				}
			}
			if !strings.Contains(rs[1].Hint, tc.hint) {
				t.Errorf("hint %q, want %q", rs[1].Hint, tc.hint)
			}
		})
	}
}

// TestForbidden: what the user may not read is a warning that says so, not
// a failure of the whole check.
func TestForbidden(t *testing.T) {
	c := fake.NewClientset(healthy(t)...)
	c.PrependReactor("list", "validatingadmissionpolicies", func(clienttesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewForbidden(schema.GroupResource{Group: "admissionregistration.k8s.io", Resource: "validatingadmissionpolicies"}, "", errors.New("no"))
	})
	rs := Evaluate(Gather(t.Context(), c, Probes{}), now)
	if Worst(rs) != Warn || !strings.Contains(lines(rs), "warn admission policies | ValidatingAdmissionPolicies and their bindings: cannot read") {
		t.Fatalf("forbidden policies:\n%s", lines(rs))
	}
}

// TestLimitRangesForbidden: LimitRanges the user may not read are said,
// as the other lists are.
func TestLimitRangesForbidden(t *testing.T) {
	c := fake.NewClientset(withLimitRange("shop", corev1.LimitTypeContainer, nil, corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1")})(healthy(t))...)
	c.PrependReactor("list", "limitranges", func(clienttesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewForbidden(schema.GroupResource{Resource: "limitranges"}, "", errors.New("no"))
	})
	rs := Evaluate(Gather(t.Context(), c, Probes{}), now)
	if Worst(rs) != Warn || !strings.Contains(lines(rs), "warn namespaces | LimitRanges: cannot read LimitRanges") || strings.Contains(lines(rs), "LimitRange shop/") {
		t.Fatalf("forbidden LimitRanges:\n%s", lines(rs))
	}
}

// TestNodesForbidden: nodes the user may not list are said once, by the GPU
// nodes' line, not again by the hostnames' check.
func TestNodesForbidden(t *testing.T) {
	c := fake.NewClientset(healthy(t)...)
	c.PrependReactor("list", "nodes", func(clienttesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewForbidden(schema.GroupResource{Resource: "nodes"}, "", errors.New("no"))
	})
	out := lines(Evaluate(Gather(t.Context(), c, Probes{}), now))
	if strings.Count(out, "cannot read") != 1 || !strings.Contains(out, "warn GPU nodes | nodes: cannot read nodes") {
		t.Fatalf("forbidden nodes:\n%s", out)
	}
}

// TestMutatingPoliciesUnread: a cluster that serves no
// MutatingAdmissionPolicy (before Kubernetes 1.36: the list is not found)
// is told how to debug there; one the user may not read says so.
func TestMutatingPoliciesUnread(t *testing.T) {
	gr := schema.GroupResource{Group: "admissionregistration.k8s.io", Resource: "mutatingadmissionpolicies"}
	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"not served", apierrors.NewNotFound(gr, ""),
			"warn admission policies | zz-ephemeral-void: the apiserver serves no admissionregistration.k8s.io/v1 MutatingAdmissionPolicy (Kubernetes 1.36 and later): kubectl debug's containers get no NVIDIA_VISIBLE_DEVICES=void"},
		{"forbidden", apierrors.NewForbidden(gr, "", errors.New("no")),
			"warn admission policies | MutatingAdmissionPolicies and their bindings: cannot read"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := fake.NewClientset(healthy(t)...)
			c.PrependReactor("list", "mutatingadmissionpolicies", func(clienttesting.Action) (bool, runtime.Object, error) { return true, nil, tc.err })
			rs := Evaluate(Gather(t.Context(), c, Probes{}), now)
			if Worst(rs) != Warn || !strings.Contains(lines(rs), tc.want) {
				t.Fatalf("worst %s, want warn with %q:\n%s", Worst(rs), tc.want, lines(rs))
			}
		})
	}
}

// TestWebhookProbe: the dry-run pod tells whether the apiserver reaches the
// zz webhook, which no object shows for one at a URL or behind a Service
// the apiserver cannot call.
func TestWebhookProbe(t *testing.T) {
	answer := contract.WebhookProbeAnswer + " (zz-webhook v1.2.3 abc)"
	unreachable := apierrors.NewInternalError(errors.New(`failed calling webhook "pods.zz.io": failed to call webhook: Post "https://127.0.0.1:26892/mutate-pods?timeout=10s": dial tcp 127.0.0.1:26892: connect: connection refused`))
	refused := apierrors.NewForbidden(schema.GroupResource{Resource: "pods"}, "zz-check-probe", errors.New(`admission webhook "pods.zz.io" denied the request: zz-webhook: pool "x" does not exist`))
	otherDown := apierrors.NewInternalError(errors.New(`failed calling webhook "validate.kyverno.svc": failed to call webhook: Post "https://kyverno-svc.kyverno.svc:443/validate?timeout=10s": context deadline exceeded`))
	rbac := apierrors.NewForbidden(schema.GroupResource{Resource: "pods"}, "zz-check-probe", errors.New(`User "bob" cannot create resource "pods" in API group "" in the namespace "shop"`))
	ignore := func(objs []runtime.Object) []runtime.Object {
		objs[3].(*admissionregistrationv1.MutatingWebhookConfiguration).Webhooks[0].FailurePolicy = ptr.To(admissionregistrationv1.Ignore)
		return objs
	}
	noOptIn := func(objs []runtime.Object) []runtime.Object {
		objs[8].(*corev1.Namespace).Labels = nil
		return objs
	}
	same := func(objs []runtime.Object) []runtime.Object { return objs }
	tests := []struct {
		name     string
		edit     func([]runtime.Object) []runtime.Object
		warnings []string
		err      error
		status   Status
		want     string
	}{
		{"answered", same, []string{"would violate PodSecurity", answer}, nil, OK,
			"ok webhook | answers through the apiserver: a dry-run pod in namespace shop: " + answer},
		{"refused the probe", same, []string{answer}, refused, OK,
			"ok webhook | answers through the apiserver: a dry-run pod in namespace shop: " + answer + "; the probe was then refused: "},
		{"another webhook cannot be called", same, nil, otherDown, Warn,
			"warn webhook | answers through the apiserver: could not probe the webhook with a dry-run pod in namespace shop: Internal error occurred: failed calling webhook \"validate.kyverno.svc\""},
		{"refused by an older webhook", same, nil, refused, OK, "was refused by the zz webhook, so it answers"},
		{"cannot be called", same, nil, unreachable, Fail,
			"fail webhook | answers through the apiserver: the apiserver cannot call the webhook for a dry-run pod in namespace shop, and refuses every pod creation it matches alike: Internal error occurred: failed calling webhook"},
		{"may not create pods", same, nil, rbac, Warn, "warn webhook | answers through the apiserver: could not probe the webhook with a dry-run pod in namespace shop: "},
		{"skipped by Ignore", ignore, nil, nil, Warn, "with failurePolicy Ignore a webhook it cannot call is skipped in silence"},
		{"not called", same, []string{"would violate PodSecurity"}, nil, Warn, "its configuration's selectors do not match that namespace's pods"},
		{"no namespace opted in", noOptIn, nil, nil, Warn, "!answers through the apiserver"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			probed := ""
			probe := func(_ context.Context, ns string, pod *corev1.Pod) ([]string, error) {
				if pod.Annotations[contract.AnnotationCheckProbe] == "" {
					t.Errorf("the probe pod lacks %s", contract.AnnotationCheckProbe)
				}
				probed = ns
				return tt.warnings, tt.err
			}
			rs := Evaluate(Gather(t.Context(), fake.NewClientset(tt.edit(healthy(t))...), Probes{AsNode: asNode(true), Webhook: probe}), now)
			if absent, ok := strings.CutPrefix(tt.want, "!"); ok {
				if probed != "" || strings.Contains(lines(rs), absent) {
					t.Fatalf("probed %q with no namespace opted in:\n%s", probed, lines(rs))
				}
				return
			}
			if probed != "shop" || Worst(rs) != tt.status || !strings.Contains(lines(rs), tt.want) {
				t.Fatalf("probed %q; worst %s, want %s, and a line %q:\n%s", probed, Worst(rs), tt.status, tt.want, lines(rs))
			}
		})
	}
}

// TestLimitRangeUnderAnOlderWebhook: the ok line that a LimitRange bounds
// the overcommit holds for a webhook that raises the requests to it; one
// that answers check's probe without saying so is older, and the
// LimitRanger refuses those pods behind it (a review: an old webhook behind
// a new check got the ok line).
func TestLimitRangeUnderAnOlderWebhook(t *testing.T) {
	ratio := withLimitRange("shop", corev1.LimitTypeContainer, nil, corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1")})
	tests := []struct {
		name     string
		warnings []string
		status   Status
		want     string
	}{
		{"a webhook that raises", []string{contract.WebhookProbeAnswer + " (zz-webhook v1.3.0 abc; " + contract.WebhookRaisesToLimitRanges + ")"}, OK,
			"ok namespaces | LimitRange shop/minimum: maxLimitRequestRatio cpu 1 per container holds the CPU requests of pool a100 at limit ÷ 1 or more, above its limit × 0.5 (a ratio of 2): the zz webhook raises"},
		{"an older webhook", []string{contract.WebhookProbeAnswer + " (zz-webhook v1.2.3 abc)"}, Warn,
			"warn namespaces | LimitRange shop/minimum: maxLimitRequestRatio cpu 1 per container holds the CPU requests of pool a100 at limit ÷ 1 or more, above its limit × 0.5 (a ratio of 2): the zz webhook that answered check's probe (zz-webhook v1.2.3 abc) lowers the CPU requests past these bounds and does not raise them back, so the LimitRanger, which checks pods after it, refuses this namespace's pods of those limits"},
		// A webhook that would raise them, but may not read LimitRanges
		// (its answer said it raised them all the same: note 35).
		{"a webhook that cannot read them", []string{contract.WebhookProbeAnswer + " (zz-webhook v1.3.0 abc; " + contract.WebhookLimitRangesUnread + ": zz-webhook may not list LimitRanges (its ClusterRole lacks list and watch on limitranges))"}, Warn,
			"the zz webhook that answered check's probe cannot read LimitRanges (zz-webhook may not list LimitRanges (its ClusterRole lacks list and watch on limitranges)), so it lowers the CPU requests past these bounds"},
		// No answer: the webhook lines say why; the LimitRange is judged as
		// the shipped webhook treats it.
		{"no answer", nil, Warn, "ok namespaces | LimitRange shop/minimum: maxLimitRequestRatio cpu 1 per container"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			probe := func(context.Context, string, *corev1.Pod) ([]string, error) { return tt.warnings, nil }
			rs := Evaluate(Gather(t.Context(), fake.NewClientset(ratio(healthy(t))...), Probes{AsNode: asNode(true), Webhook: probe}), now)
			if Worst(rs) != tt.status || !strings.Contains(lines(rs), tt.want) {
				t.Fatalf("worst %s, want %s and a line %q:\n%s", Worst(rs), tt.status, tt.want, lines(rs))
			}
			for _, r := range rs {
				if r.Status == Warn && strings.HasPrefix(r.Name, "LimitRange ") && !strings.HasPrefix(r.Hint, "upgrade zz-webhook") && !strings.HasPrefix(r.Hint, "let zz-webhook list and watch limitranges") {
					t.Errorf("hint %q", r.Hint)
				}
			}
		})
	}
}

// TestPodSecurityDefaultProbed: the webhook policy's podSecurityDefault is
// tested with a privileged dry-run pod in an unlabelled served namespace:
// admitted, the namespace is weak whatever the policy says (a review: the
// field alone silenced check's warning); refused by Pod Security, the
// default is confirmed; neither, it is taken as stated and said so.
func TestPodSecurityDefaultProbed(t *testing.T) {
	psa := apierrors.NewForbidden(schema.GroupResource{Resource: "pods"}, "zz-check-pod-security",
		errors.New(`violates PodSecurity "baseline:latest": privileged (container "probe" must not set securityContext.privileged=true)`))
	other := apierrors.NewForbidden(schema.GroupResource{Resource: "pods"}, "zz-check-pod-security", errors.New(`User "dev" cannot create resource "pods"`))
	quotaLimits := apierrors.NewForbidden(schema.GroupResource{Resource: "pods"}, "", errors.New(`failed quota: compute: must specify limits.cpu for: probe`))
	for _, tt := range []struct {
		name          string
		answer        error
		status        Status
		want          string
		limitRangeMin bool // a LimitRange min cpu 100m
	}{
		{"admitted", nil, Warn, "shop (unset: the policy's podSecurityDefault says baseline, but the apiserver admitted a privileged pod in shop, a dry run: its default is privileged)", false},
		{"refused by Pod Security", psa, OK, "(shop); the policy's podSecurityDefault baseline for unlabelled ones confirmed: a privileged dry-run pod in shop was refused", false},
		{"not known", other, OK, "is taken as stated: a privileged dry-run pod in shop could not test it", false},
		{"admitted under a LimitRange min", nil, Warn, "but the apiserver admitted a privileged pod in shop", true},
		{"a quota demanding limits", quotaLimits, Warn, "but the apiserver admitted a privileged pod in shop", false},
		// Refusals that come only after Pod Security admitted the pod (a
		// review: a quota, or a tenant's pod of the probe's name, kept check
		// green where privileged pods run).
		{"refused by a quota after Pod Security", apierrors.NewForbidden(schema.GroupResource{Resource: "pods"}, "",
			errors.New(`exceeded quota: compute, requested: pods=1, used: pods=10, limited: pods=10`)), Warn, "but the apiserver admitted a privileged pod in shop", false},
		{"a pod of its name exists", apierrors.NewAlreadyExists(schema.GroupResource{Resource: "pods"}, "zz-check-pod-security"), Warn, "but the apiserver admitted a privileged pod in shop", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var asked []string
			probe := func(_ context.Context, ns string, pod *corev1.Pod) ([]string, error) {
				if c := pod.Spec.Containers[0].SecurityContext; c == nil || c.Privileged == nil || !*c.Privileged {
					t.Errorf("the probe pod is not privileged: %+v", pod.Spec.Containers[0])
				}
				if pod.Name != "" || pod.GenerateName == "" {
					t.Errorf("the probe pod has a fixed name (a tenant may take it first): %+v", pod)
				}
				if tt.limitRangeMin {
					// The LimitRanger validates before Pod Security: limits
					// of the probe's own under the min are refused there,
					// where its defaults (none given) pass (review 36 #2).
					if cpu, ok := pod.Spec.Containers[0].Resources.Limits[corev1.ResourceCPU]; ok && cpu.Cmp(resource.MustParse("100m")) < 0 {
						return nil, apierrors.NewForbidden(schema.GroupResource{Resource: "pods"}, "", errors.New("minimum cpu usage per Container is 100m, but limit is "+cpu.String()))
					}
				}
				asked = append(asked, ns)
				return nil, tt.answer
			}
			rs := Evaluate(Gather(t.Context(), fake.NewClientset(unlabelledUnder("baseline")(healthy(t))...), Probes{AsNode: asNode(true), PodSecurity: probe}), now)
			var got *Result
			for i := range rs {
				if rs[i].Name == "pod security" {
					got = &rs[i]
				}
			}
			if got == nil || got.Status != tt.status || !strings.Contains(got.Detail, tt.want) {
				t.Fatalf("pod security: %+v; want %s with %q", got, tt.status, tt.want)
			}
			if !slices.Equal(asked, []string{"shop"}) {
				t.Errorf("probed %v, want shop once", asked)
			}
		})
	}
	// Labelled namespaces, or no default stated: nothing to test.
	probe := func(context.Context, string, *corev1.Pod) ([]string, error) {
		t.Error("probed where the policy states no default")
		return nil, nil
	}
	Evaluate(Gather(t.Context(), fake.NewClientset(healthy(t)...), Probes{AsNode: asNode(true), PodSecurity: probe}), now)
}
