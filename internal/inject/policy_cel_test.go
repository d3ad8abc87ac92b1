package inject

import (
	"encoding/json"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/ext"
	"gomodules.xyz/jsonpatch/v2"
	jsonpatchv4 "gopkg.in/evanphx/json-patch.v4"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apiserver/pkg/cel/library"
	"sigs.k8s.io/yaml"

	"github.com/zzcloud/zz/internal/contract"
)

// quotaPolicyVariables are the variables of ValidatingAdmissionPolicy name
// of manifests/policies/quota.yaml, in their order.
func quotaPolicyVariables(t *testing.T, name string) []struct{ Name, Expression string } {
	t.Helper()
	raw, err := os.ReadFile("../../manifests/policies/quota.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, doc := range strings.Split(string(raw), "\n---\n") {
		var p struct {
			Kind     string
			Metadata struct{ Name string }
			Spec     struct {
				Variables []struct{ Name, Expression string }
			}
		}
		if err := yaml.Unmarshal([]byte(doc), &p); err != nil {
			t.Fatal(err)
		}
		if p.Kind == "ValidatingAdmissionPolicy" && p.Metadata.Name == name {
			return p.Spec.Variables
		}
	}
	t.Fatalf("no policy %s in manifests/policies/quota.yaml", name)
	return nil
}

// policyVariables runs a policy's variables with the apiserver's CEL
// libraries on pod (old: the pod before an UPDATE, nil for a CREATE; in a
// namespace the webhook serves) and returns the size of each list one.
func policyVariables(t *testing.T, vars []struct{ Name, Expression string }, pod, old *corev1.Pod, resource string) map[string]int {
	t.Helper()
	env, err := cel.NewEnv(cel.OptionalTypes(), ext.Strings(), library.Quantity(),
		cel.Variable("object", cel.DynType), cel.Variable("oldObject", cel.DynType), cel.Variable("request", cel.DynType),
		cel.Variable("namespaceObject", cel.DynType), cel.Variable("variables", cel.MapType(cel.StringType, cel.DynType)))
	if err != nil {
		t.Fatal(err)
	}
	asMap := func(p *corev1.Pod) any {
		if p == nil {
			return nil
		}
		var m any
		raw, _ := json.Marshal(p)
		if err := json.Unmarshal(raw, &m); err != nil {
			t.Fatal(err)
		}
		return m
	}
	op := "CREATE"
	if old != nil {
		op = "UPDATE"
	}
	values := map[string]any{}
	in := map[string]any{
		"object": asMap(pod), "oldObject": asMap(old), "variables": values,
		"request":         map[string]any{"resource": map[string]any{"resource": resource}, "operation": op, "namespace": "shop-ns"},
		"namespaceObject": map[string]any{"metadata": map[string]any{"name": "shop-ns", "labels": map[string]any{contract.LabelInjection: contract.InjectionEnabled}}},
	}
	sizes := map[string]int{}
	for _, v := range vars {
		ast, iss := env.Compile(v.Expression)
		if iss.Err() != nil {
			t.Fatalf("variable %s: %v", v.Name, iss.Err())
		}
		prg, err := env.Program(ast)
		if err != nil {
			t.Fatalf("variable %s: %v", v.Name, err)
		}
		out, _, err := prg.Eval(in)
		if err != nil {
			t.Fatalf("variable %s: %v", v.Name, err)
		}
		values[v.Name] = out
		if l, err := out.ConvertToNative(reflectListType); err == nil {
			sizes[v.Name] = len(l.([]any))
		}
	}
	return sizes
}

var reflectListType = reflect.TypeFor[[]any]()

// TestPolicyAgreesWithWebhookOnGPUEnv runs the CEL of policy
// zz-gpu-mem-total (forgedEnv, forgedEnvFrom) against the webhook's gpuEnv
// on the same GPU pods, so the two layers cannot drift (review 17b 1.3:
// they were pinned by string-contains alone): a pod the webhook admits, its
// mutated pod passes the policy (which runs after it); a pod it refuses,
// the policy refuses where no webhook serves. The rows where they differ
// by design say why (both fail safe: the policy is the stricter).
func TestPolicyAgreesWithWebhookOnGPUEnv(t *testing.T) {
	vars := quotaPolicyVariables(t, "zz-gpu-mem-total")
	p := testPolicy(t)
	cm := func(name string) *corev1.ConfigMapEnvSource {
		return &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: name}}
	}
	secret := &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "s"}}
	// side adds a second container asking for no card, with envFrom prefix.
	side := func(prefix string, nvidia bool) podOpt {
		return func(p *corev1.Pod) {
			c := corev1.Container{Name: "side", Image: "registry.local/side:1", EnvFrom: []corev1.EnvFromSource{{Prefix: prefix, ConfigMapRef: cm("nv")}},
				Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m")}}}
			if nvidia {
				c.Resources.Limits["nvidia.com/gpu"] = resource.MustParse("1")
			}
			p.Spec.Containers = append(p.Spec.Containers, c)
		}
	}
	initFrom := func(prefix string, sidecar bool) podOpt {
		return func(p *corev1.Pod) {
			c := corev1.Container{Name: "init", Image: "registry.local/init:1", EnvFrom: []corev1.EnvFromSource{{Prefix: prefix, ConfigMapRef: cm("nv")}},
				Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{contract.ResourceGPUMem: resource.MustParse("1Gi")}}}
			if sidecar {
				c.RestartPolicy = ptrAlways()
			}
			p.Spec.InitContainers = append(p.Spec.InitContainers, c)
		}
	}
	for _, tt := range []struct {
		name    string
		opts    []podOpt
		refuses bool   // the webhook's verdict
		differs string // why the policy decides otherwise, by design
		other   string // the webhook refuses for another reason than env
	}{
		{name: "plain GPU pod", opts: []podOpt{gpuMem("4Gi")}},
		{name: "NVIDIA_VISIBLE_DEVICES=all", opts: []podOpt{gpuMem("4Gi"), env("app", contract.EnvVisibleDevices, "all")}, refuses: true},
		{name: "NVIDIA_VISIBLE_DEVICES=void", opts: []podOpt{gpuMem("4Gi"), env("app", contract.EnvVisibleDevices, "void")}},
		{name: "NVIDIA_VISIBLE_DEVICES=none", opts: []podOpt{gpuMem("4Gi"), env("app", contract.EnvVisibleDevices, "none")}},
		{name: "an MPS limit", opts: []podOpt{gpuMem("4Gi"), env("app", contract.EnvMPSPinnedMemLimit, "0=80G")}, refuses: true},
		{name: "an MPS thread share", opts: []podOpt{gpuMem("4Gi"), env("app", contract.EnvMPSThreadPercentage, "100")}, refuses: true},
		{name: "envFrom no prefix", opts: []podOpt{gpuMem("4Gi"), envFrom("", cm("nv"), nil)}, refuses: true},
		{name: "envFrom N", opts: []podOpt{gpuMem("4Gi"), envFrom("N", cm("nv"), nil)}, refuses: true},
		{name: "envFrom NVIDIA_", opts: []podOpt{gpuMem("4Gi"), envFrom("NVIDIA_", cm("nv"), nil)}, refuses: true},
		{name: "envFrom NVIDIA_VISIBLE_DEVICES", opts: []podOpt{gpuMem("4Gi"), envFrom("NVIDIA_VISIBLE_DEVICES", cm("nv"), nil)}, refuses: true},
		{name: "envFrom CUDA_MPS_", opts: []podOpt{gpuMem("4Gi"), envFrom("CUDA_MPS_", nil, secret)}, refuses: true},
		{name: "envFrom CUDA_MPS_PIPE_", opts: []podOpt{gpuMem("4Gi"), envFrom("CUDA_MPS_PIPE_", cm("nv"), nil)}},
		{name: "envFrom APP_", opts: []podOpt{gpuMem("4Gi"), envFrom("APP_", cm("nv"), nil)}},
		{name: "envFrom of a Secret, no prefix", opts: []podOpt{gpuMem("4Gi"), envFrom("", nil, secret)}, refuses: true},
		{name: "a no-card container's envFrom gets void", opts: []podOpt{gpuMem("4Gi"), side("", false)}},
		// The GPU in one container (zz shares GPUs per pod): the init one.
		{name: "a GPU init container's envFrom", opts: []podOpt{initFrom("", false)}, refuses: true},
		{name: "a GPU native sidecar's envFrom", opts: []podOpt{initFrom("NVIDIA_", true)}, refuses: true},
		{name: "a GPU native sidecar's envFrom APP_", opts: []podOpt{initFrom("APP_", true)}},
		{name: "an nvidia.com container's envFrom", opts: []podOpt{gpuMem("4Gi"), side("", true)},
			differs: "the webhook leaves a container NVIDIA's plugin serves to it; the policy sees no NVIDIA_VISIBLE_DEVICES in its env"},
		{name: "zz.io/gpu-mem 0 with envFrom", opts: []podOpt{gpuMem("4Gi"), func(p *corev1.Pod) {
			p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: "zero", Image: "registry.local/z:1", EnvFrom: []corev1.EnvFromSource{{ConfigMapRef: cm("nv")}},
				Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{contract.ResourceGPUMem: resource.MustParse("0")}}})
		}}, refuses: true, other: "zz.io/gpu-mem 0 must be positive"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			pod := newPod(tt.opts...)
			mutated := pod.DeepCopy()
			_, err := p.Mutate(mutated, "shop-ns")
			refused := err != nil
			if err != nil && (tt.other == "" || !strings.Contains(err.Error(), tt.other)) && !strings.Contains(err.Error(), contract.EnvVisibleDevices) && !strings.Contains(err.Error(), "CUDA_MPS_") {
				t.Fatalf("the webhook refuses the pod for another reason: %v", err)
			}
			if refused != tt.refuses {
				t.Fatalf("the webhook refuses %v (%v), want %v", refused, err, tt.refuses)
			}
			judged := mutated // the policy runs after the webhook
			if refused {
				judged = pod // where no webhook serves
			}
			sizes := policyVariables(t, vars, judged, nil, "pods")
			policy := sizes["forgedEnv"]+sizes["forgedEnvFrom"] > 0
			if agree := policy == refused; agree != (tt.differs == "") {
				t.Errorf("the policy refuses %v, the webhook %v (by design they differ: %q)", policy, refused, tt.differs)
			}
		})
	}
}

func ptrAlways() *corev1.ContainerRestartPolicy {
	p := corev1.ContainerRestartPolicyAlways
	return &p
}

// TestEphemeralContainersPolicy runs policy zz-ephemeral-containers' CEL
// on kubectl debug's updates, and the webhook's EphemeralPatch on the same:
// what the webhook patches passes the policy (review 17b 1.1).
func TestEphemeralContainersPolicy(t *testing.T) {
	vars := quotaPolicyVariables(t, "zz-ephemeral-containers")
	debug := func(name string, env ...corev1.EnvVar) corev1.EphemeralContainer {
		return corev1.EphemeralContainer{EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: name, Image: "nvidia/cuda:12.4.1-base", Env: env}}
	}
	nvd := func(v string) corev1.EnvVar { return corev1.EnvVar{Name: contract.EnvVisibleDevices, Value: v} }
	for _, tt := range []struct {
		name     string
		old, now []corev1.EphemeralContainer
		open     int // ephemeral containers the policy refuses, unpatched
	}{
		{name: "no env: its image's ENV rules", now: []corev1.EphemeralContainer{debug("d")}, open: 1},
		{name: "void", now: []corev1.EphemeralContainer{debug("d", nvd("void"))}},
		{name: "none", now: []corev1.EphemeralContainer{debug("d", nvd("none"))}},
		{name: "all", now: []corev1.EphemeralContainer{debug("d", nvd("all"))}, open: 1},
		{name: "void then all", now: []corev1.EphemeralContainer{debug("d", nvd("void"), nvd("all"))}, open: 1},
		{name: "from a Secret", now: []corev1.EphemeralContainer{debug("d", corev1.EnvVar{Name: contract.EnvVisibleDevices,
			ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "s"}, Key: "k"}}})}, open: 1},
		{name: "an MPS limit", now: []corev1.EphemeralContainer{debug("d", nvd("void"), corev1.EnvVar{Name: contract.EnvMPSPinnedMemLimit, Value: "0=1G"})}, open: 1},
		{name: "an older one is not judged", old: []corev1.EphemeralContainer{debug("old")},
			now: []corev1.EphemeralContainer{debug("old"), debug("new", nvd("void"))}},
		{name: "the new one beside an older one", old: []corev1.EphemeralContainer{debug("old")},
			now: []corev1.EphemeralContainer{debug("old"), debug("new")}, open: 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			old, now := newPod(), newPod()
			old.Spec.EphemeralContainers, now.Spec.EphemeralContainers = tt.old, tt.now
			if got := policyVariables(t, vars, now, old, "pods")["open"]; got != tt.open {
				t.Errorf("the policy refuses %d ephemeral containers, want %d", got, tt.open)
			}
			// Where the webhook serves, its patch goes first: void for
			// each new one with no NVIDIA_VISIBLE_DEVICES, so only a
			// value of the user's own is left to refuse.
			patched := applyPatch(t, now, EphemeralPatch(now, old))
			wantOpen := 0
			if c := tt.now[len(tt.now)-1]; hasEnv(c.Env, contract.EnvVisibleDevices) {
				wantOpen = tt.open // the user's own value: the patch leaves it
			}
			if got := policyVariables(t, vars, patched, old, "pods")["open"]; got != wantOpen {
				t.Errorf("after the webhook's void, the policy refuses %d, want %d", got, wantOpen)
			}
		})
	}
}

// applyPatch is pod with ops applied, as the apiserver applies them.
func applyPatch(t *testing.T, pod *corev1.Pod, ops []jsonpatch.Operation) *corev1.Pod {
	t.Helper()
	raw, _ := json.Marshal(pod)
	if len(ops) > 0 {
		patch, err := MarshalPatch(ops)
		if err != nil {
			t.Fatal(err)
		}
		p, err := jsonpatchv4.DecodePatch(patch)
		if err != nil {
			t.Fatal(err)
		}
		if raw, err = p.Apply(raw); err != nil {
			t.Fatalf("patch %s does not apply: %v", patch, err)
		}
	}
	var out corev1.Pod
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatal(err)
	}
	return &out
}
