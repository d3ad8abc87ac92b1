package deploy

import (
	"fmt"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/zzcloud/zz/internal/contract"
	"github.com/zzcloud/zz/internal/inject"
)

// TestSpecWords: the GPU refusals an app spec causes say the fix in the
// spec's words too; other refusals add nothing.
func TestSpecWords(t *testing.T) {
	// The pod template of an app with two sidecars (spec.sidecars) and
	// initCommand, as zz renders it.
	always := corev1.ContainerRestartPolicyAlways
	sidecars := &corev1.PodSpec{Containers: []corev1.Container{{Name: "app"}},
		InitContainers: []corev1.Container{{Name: "db-proxy", RestartPolicy: &always}, {Name: "log-shipper", RestartPolicy: &always}, {Name: "init"}}}
	tests := []struct {
		name, refusal, want string
		pod                 *corev1.PodSpec
	}{
		{name: "webhook: cards without memory",
			refusal: `pods "infer-7cb5f-" is forbidden: admission webhook "pods.zz.io" denied the request: zz-webhook: container app asks for zz.io/gpu 2 without zz.io/gpu-mem: zz shares cards by GPU memory, so ask for the memory ...`,
			want:    "; in the app spec: spec.gpus: 2 without spec.gpuMem: ask for the memory each card needs (spec.gpuMem: 16Gi), or spec.gpuWhole: true with spec.gpuMem: the largest card (kubectl zz gpu, TOTAL)"},
		{name: "admission policy: cards without memory",
			refusal: `deployments.apps "train" is forbidden: ValidatingAdmissionPolicy 'zz-gpu-mem-total' with binding 'zz-gpu-mem-total' denied request: containers app ask for zz.io/gpu cards without zz.io/gpu-mem: zz shares cards by GPU memory ...`,
			want:    "; in the app spec: spec.gpus without spec.gpuMem: ask for the memory each card needs"},
		{name: "webhook: more than the largest card",
			refusal: `admission webhook "pods.zz.io" denied the request: zz-webhook: zz.io/gpu-mem asks for 102400 MiB per card but the largest card of this cluster has 81920 MiB; ask for at most 80Gi`,
			want:    "; in the app spec: spec.gpuMem: at most 80Gi, the largest card of this cluster (kubectl zz gpu, TOTAL)"},
		{name: "another refusal", refusal: `admission webhook "pods.zz.io" denied the request: zz-webhook: pool critical is reserved for namespaces [payments]`},
		{name: "memory total, not memory", refusal: `containers app ask for zz.io/gpu cards without zz.io/gpu-mem-total`},
		{name: "restricted Pod Security level",
			refusal: `FailedCreate: pods "web-698ddcb748-9xxp9" is forbidden: violates PodSecurity "restricted:latest": allowPrivilegeEscalation != false (container "app" must set securityContext.allowPrivilegeEscalation=false)`,
			want:    "; in the app spec: securityContext: {restricted: true, runAsUser: 10001}"},
		{name: "a pool that does not exist",
			refusal: `admission webhook "pods.zz.io" denied the request: zz-webhook: label zz.io/pool=generl names no pool of this cluster; use one of [general gpu]`,
			want:    "; in the app spec: spec.pool: generl is none of this cluster's pools this namespace may use: general gpu"},
		{name: "baseline Pod Security level", refusal: `violates PodSecurity "baseline:latest": host namespaces (hostNetwork=true)`},
		{name: "what the webhook added, not the app",
			refusal: `violates PodSecurity "restricted:latest": allowPrivilegeEscalation != false (container "log-agent" must set securityContext.allowPrivilegeEscalation=false), unrestricted capabilities (container "log-agent" must set securityContext.capabilities.drop=["ALL"]), restricted volume types (volumes "zz-lxcfs-proc-cpuinfo", "zz-lxcfs-proc-meminfo" use restricted volume type "hostPath")`,
			want: "; in the app spec: the zz webhook's lxcfs volumes (hostPath) are refused at this level: spec.annotations: {zz.io/inject-disable: lxcfs} leaves them out of the app's pods; " +
				"containers log-agent come from the zz webhook's sidecar policy: its admin gives them a securityContext this level admits, or spec.annotations: {zz.io/inject-disable: sidecars} leaves them out"},
		{name: "the app and a sidecar",
			refusal: `violates PodSecurity "restricted:latest": allowPrivilegeEscalation != false (containers "app", "log-agent" must set securityContext.allowPrivilegeEscalation=false)`,
			want:    "; in the app spec: containers log-agent come from the zz webhook's sidecar policy: its admin gives them a securityContext this level admits, or spec.annotations: {zz.io/inject-disable: sidecars} leaves them out; securityContext: {restricted: true"},
		{name: "the app's own sidecars and initCommand's container, not the policy's", pod: sidecars,
			refusal: `violates PodSecurity "restricted:latest": allowPrivilegeEscalation != false (containers "app", "db-proxy", "init" and "log-shipper" must set securityContext.allowPrivilegeEscalation=false)`,
			want:    "; in the app spec: securityContext: {restricted: true, runAsUser: 10001} meets the restricted level for the app container, the pod and the app's containers db-proxy, init, log-shipper, which get the app container's settings (the images must run as that non-root user)"},
		{name: "an app's sidecar and a policy's", pod: sidecars,
			refusal: `violates PodSecurity "restricted:latest": allowPrivilegeEscalation != false (containers "db-proxy", "log-agent" must set securityContext.allowPrivilegeEscalation=false)`,
			want: "; in the app spec: containers log-agent come from the zz webhook's sidecar policy: its admin gives them a securityContext this level admits, or spec.annotations: {zz.io/inject-disable: sidecars} leaves them out; " +
				"securityContext: {restricted: true, runAsUser: 10001} meets the restricted level for the app container, the pod and the app's containers db-proxy, which"},
	}
	// An app of pool general as zz renders it: request = limit = 500m.
	cpu := func(req, limit string) *corev1.PodSpec {
		r := corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(limit)}}
		if req != "" {
			r.Requests = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(req)}
		}
		return &corev1.PodSpec{NodeSelector: map[string]string{contract.LabelPool: "general"}, Containers: []corev1.Container{{Name: "app", Resources: r}}}
	}
	// The apiserver's refusals as the incident audit saw them.
	const (
		minRefusal   = `FailedCreate: pods "minapp-6d5f8c7b9-x2x4z" is forbidden: minimum cpu usage per Container is 300m, but request is 250m`
		ratioRefusal = `FailedCreate: pods "minapp-6d5f8c7b9-x2x4z" is forbidden: cpu max limit to request ratio per Container is 1, but provided ratio is 2.000000`
	)
	tests = append(tests, []struct {
		name, refusal, want string
		pod                 *corev1.PodSpec
	}{
		{name: "LimitRange min against the pool's overcommit", refusal: minRefusal, pod: cpu("500m", "500m"),
			want: "; not the app spec: the zz webhook's pool general overcommits CPU (request = limit × 0.5, its cpuOvercommitRatio), and the namespace's LimitRange wants at least 300m per container (min cpu), " +
				"and the spec asks request = limit = 500m, which the webhook lowers to 250m: an admin changes one of the two"},
		{name: "LimitRange min, template with limits only", refusal: minRefusal, pod: cpu("", "500m"),
			want: "; not the app spec: the zz webhook's pool general overcommits CPU (request = limit × 0.5"},
		{name: "LimitRange ratio against the pool's overcommit", refusal: ratioRefusal, pod: cpu("500m", "500m"),
			want: "; not the app spec: the zz webhook's pool general overcommits CPU (request = limit × 0.5, its cpuOvercommitRatio), and the namespace's LimitRange wants a limit at most 1 × the request (maxLimitRequestRatio cpu), " +
				"and the spec asks request = limit (ratio 1), which the webhook makes 2: an admin changes one of the two (the pool's cpuOvercommitRatio in the webhook policy, or the LimitRange: kubectl get limitrange; kubectl zz check names them), " +
				"or spec.annotations: {zz.io/inject-disable: overcommit} gives this app requests = limits"},
		{name: "LimitRange min, the spec's own request is below it", refusal: `minimum cpu usage per Container is 300m, but request is 250m`, pod: cpu("250m", "250m")},
		{name: "LimitRange ratio, the template's own ratio", refusal: ratioRefusal, pod: cpu("250m", "500m")},
		{name: "LimitRange min, no template", refusal: minRefusal},
		// A sidecar's own request (= its limit) is below the minimum: the
		// spec refuses itself, whatever the webhook lowers (a review).
		{name: "LimitRange min, a sidecar's own request below it", refusal: `minimum cpu usage per Container is 200m, but request is 100m`,
			pod: func() *corev1.PodSpec {
				p := cpu("500m", "500m")
				p.Containers = append(p.Containers, corev1.Container{Name: "proxy", Resources: corev1.ResourceRequirements{
					Limits: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m")}, Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m")}}})
				return p
			}()},
		// A container without a CPU limit gets the LimitRange's default
		// limit and defaultRequest, whose ratio may be the refused one.
		{name: "LimitRange ratio, a container without a CPU limit", refusal: ratioRefusal,
			pod: func() *corev1.PodSpec {
				p := cpu("500m", "500m")
				p.Containers = append(p.Containers, corev1.Container{Name: "agent"})
				return p
			}()},
		{name: "LimitRange memory min", refusal: `minimum memory usage per Container is 64Mi, but request is 32Mi`, pod: cpu("500m", "500m")},
	}...)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := SpecWords(tt.refusal, tt.pod)
			if (tt.want == "") != (got == "") || !strings.HasPrefix(got, tt.want) {
				t.Errorf("SpecWords = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestRefusedAtAdmission: the refusals no retry of the same spec changes
// end the wait at once; a quota's and a webhook that does not answer are
// waited on.
func TestRefusedAtAdmission(t *testing.T) {
	for _, tt := range []struct {
		failure string
		final   bool
	}{
		{`FailedCreate: pods "a" is forbidden: admission webhook "pods.zz.io" denied the request: zz-webhook: pool x is reserved`, true},
		{`FailedCreate: pods "a" is forbidden: violates PodSecurity "restricted:latest": runAsNonRoot != true`, true},
		{`FailedCreate: pods "a" is forbidden: maximum cpu usage per Container is 1, but limit is 2`, true},
		{`FailedCreate: pods "a" is forbidden: minimum memory usage per Pod is 64Mi, but request is 32Mi`, true},
		{`FailedCreate: pods "a" is forbidden: cpu max limit to request ratio per Container is 2, but provided ratio is 4.000000`, true},
		{`FailedCreate: pods "a" is forbidden: exceeded quota: compute, requested: cpu=2, used: cpu=9, limited: cpu=10`, false},
		{`FailedCreate: Internal error occurred: failed calling webhook "pods.zz.io": connection refused`, false},
		{`FailedCreate: pods "gsc-7d9f-x" is forbidden: ValidatingAdmissionPolicy 'zz-gpu-mem-total' with binding 'zz-gpu-mem-total' denied request: containers thief of a pod asking for zz.io/gpu-mem set NVIDIA_VISIBLE_DEVICES`, true},
		{`FailedCreate: pods "a" is forbidden: ValidatingAdmissionPolicy 'team-rules' with binding 'team-rules-prod' denied request: failed expression: object.spec.x`, true},
	} {
		if got := RefusedAtAdmission(tt.failure); got != tt.final {
			t.Errorf("RefusedAtAdmission(%q) = %v, want %v", tt.failure, got, tt.final)
		}
	}
}

// TestSpecWordsOfTheWebhook: SpecWords reads the webhook's own refusals, as
// its decision code words them today: a rewording there that SpecWords no
// longer recognises fails here, not silently in the hint (a code review).
func TestSpecWordsOfTheWebhook(t *testing.T) {
	p, err := inject.Parse([]byte("largestGPUCard: 80Gi\ndefaultPool: general\npools:\n  general: {nodeSelector: {zz.io/pool: general}, cpuOvercommitRatio: 1}\n"))
	if err != nil {
		t.Fatal(err)
	}
	pod := func(limits corev1.ResourceList) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "infer-1", Namespace: "ml"},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "i", Resources: corev1.ResourceRequirements{Limits: limits, Requests: limits}}}}}
	}
	for _, tt := range []struct {
		name string
		pod  *corev1.Pod
		want string
	}{
		{"cards without memory", pod(corev1.ResourceList{contract.ResourceGPU: resource.MustParse("2")}),
			"; in the app spec: spec.gpus: 2 without spec.gpuMem"},
		{"more than the largest card", pod(corev1.ResourceList{contract.ResourceGPUMem: resource.MustParse("100Gi")}),
			"; in the app spec: spec.gpuMem: at most 80Gi"},
	} {
		_, err := p.Mutate(tt.pod, "ml")
		if err == nil {
			t.Fatalf("%s: the webhook admitted the pod", tt.name)
		}
		// As the ReplicaSet's condition carries it.
		failure := `FailedCreate: pods "infer-1" is forbidden: admission webhook "pods.zz.io" denied the request: ` + contract.WebhookRefusalPrefix + err.Error()
		if got := SpecWords(failure, nil); !strings.HasPrefix(got, tt.want) {
			t.Errorf("%s: SpecWords of %q = %q, want %q", tt.name, failure, got, tt.want)
		}
		if !RefusedAtAdmission(failure) {
			t.Errorf("%s: not read as a refusal at admission", tt.name)
		}
	}
}

// TestFixNext: a rollout refused by the pool overcommit against a
// LimitRange is not the developer's to fix; other failures are.
func TestFixNext(t *testing.T) {
	pod := &corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Resources: corev1.ResourceRequirements{
		Limits: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("500m")}, Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("500m")}}}}}
	refusal := `FailedCreate: pods "minapp-1" is forbidden: minimum cpu usage per Container is 300m, but request is 250m`
	for _, tt := range []struct {
		err  error
		want string
	}{
		{fmt.Errorf("%w: refused at admission: %s%s", ErrRolloutFailed, refusal, SpecWords(refusal, pod)), "deploy again once an admin has changed the pool's cpuOvercommitRatio or the LimitRange, or with the overcommit opt-out above (the spec is not at fault)"},
		{fmt.Errorf("%w: refused at admission: %s", ErrRolloutFailed, refusal), "fix it and deploy again"},
	} {
		if got := fixNext(tt.err); got != tt.want {
			t.Errorf("fixNext(%v) = %q, want %q", tt.err, got, tt.want)
		}
	}
}
