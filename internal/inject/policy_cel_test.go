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
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apiserver/pkg/admission"
	plugincel "k8s.io/apiserver/pkg/admission/plugin/cel"
	"k8s.io/apiserver/pkg/admission/plugin/policy/mutating/patch"
	"k8s.io/apiserver/pkg/admission/plugin/policy/validating"
	celconfig "k8s.io/apiserver/pkg/apis/cel"
	"k8s.io/apiserver/pkg/cel/environment"
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

// TestEphemeralContainersPolicies runs, on kubectl debug's updates, the
// MutatingAdmissionPolicy zz-ephemeral-void with the apiserver's own JSON
// patch machinery, then the ValidatingAdmissionPolicy
// zz-ephemeral-containers on what it left (mutating admission runs first):
// an ephemeral container that sets no NVIDIA_VISIBLE_DEVICES gets void and
// passes, with no webhook and no flag; a value of the user's own is left for
// the validating policy to refuse (review 17b 1.1).
func TestEphemeralContainersPolicies(t *testing.T) {
	vars := quotaPolicyVariables(t, "zz-ephemeral-containers")
	mutate := ephemeralVoidPolicy(t)
	debug := func(name string, env ...corev1.EnvVar) corev1.EphemeralContainer {
		return corev1.EphemeralContainer{EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: name, Image: "nvidia/cuda:12.4.1-base", Env: env}}
	}
	nvd := func(v string) corev1.EnvVar { return corev1.EnvVar{Name: contract.EnvVisibleDevices, Value: v} }
	a := corev1.EnvVar{Name: "A", Value: "1"}
	for _, tt := range []struct {
		name     string
		old, now []corev1.EphemeralContainer
		open     int                        // ephemeral containers the validating policy refuses alone
		want     map[string][]corev1.EnvVar // each one's env after the mutating policy
		refused  bool                       // by the validating policy after it
	}{
		{name: "no env: its image's ENV rules", now: []corev1.EphemeralContainer{debug("d")}, open: 1,
			want: map[string][]corev1.EnvVar{"d": {nvd("void")}}},
		{name: "env of its own gets void beside it", now: []corev1.EphemeralContainer{debug("d", a)}, open: 1,
			want: map[string][]corev1.EnvVar{"d": {a, nvd("void")}}},
		{name: "void", now: []corev1.EphemeralContainer{debug("d", nvd("void"))},
			want: map[string][]corev1.EnvVar{"d": {nvd("void")}}},
		{name: "none", now: []corev1.EphemeralContainer{debug("d", nvd("none"))},
			want: map[string][]corev1.EnvVar{"d": {nvd("none")}}},
		{name: "all is left for the validating policy", now: []corev1.EphemeralContainer{debug("d", nvd("all"))}, open: 1,
			want: map[string][]corev1.EnvVar{"d": {nvd("all")}}, refused: true},
		{name: "void then all", now: []corev1.EphemeralContainer{debug("d", nvd("void"), nvd("all"))}, open: 1,
			want: map[string][]corev1.EnvVar{"d": {nvd("void"), nvd("all")}}, refused: true},
		{name: "from a Secret", now: []corev1.EphemeralContainer{debug("d", corev1.EnvVar{Name: contract.EnvVisibleDevices,
			ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "s"}, Key: "k"}}})},
			open: 1, refused: true},
		{name: "an MPS limit", now: []corev1.EphemeralContainer{debug("d", corev1.EnvVar{Name: contract.EnvMPSPinnedMemLimit, Value: "0=1G"})}, open: 1,
			want:    map[string][]corev1.EnvVar{"d": {{Name: contract.EnvMPSPinnedMemLimit, Value: "0=1G"}, nvd("void")}},
			refused: true},
		{name: "an older one is not judged nor changed", old: []corev1.EphemeralContainer{debug("old")},
			now:  []corev1.EphemeralContainer{debug("old"), debug("new", nvd("void"))},
			want: map[string][]corev1.EnvVar{"old": nil, "new": {nvd("void")}}},
		{name: "the new one beside an older one", old: []corev1.EphemeralContainer{debug("old")},
			now: []corev1.EphemeralContainer{debug("old"), debug("new")}, open: 1,
			want: map[string][]corev1.EnvVar{"old": nil, "new": {nvd("void")}}},
		{name: "two new ones", now: []corev1.EphemeralContainer{debug("d1"), debug("d2", a)}, open: 2,
			want: map[string][]corev1.EnvVar{"d1": {nvd("void")}, "d2": {a, nvd("void")}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			old, now := newPod(), newPod()
			old.Spec.EphemeralContainers, now.Spec.EphemeralContainers = tt.old, tt.now
			if got := policyVariables(t, vars, now, old, "pods")["open"]; got != tt.open {
				t.Errorf("the validating policy alone refuses %d ephemeral containers, want %d", got, tt.open)
			}
			mutated := mutate(now, old)
			if !reflect.DeepEqual(mutated.Spec.Containers, now.Spec.Containers) {
				t.Errorf("the pod's containers were changed: %v", mutated.Spec.Containers)
			}
			for _, c := range mutated.Spec.EphemeralContainers {
				if w, ok := tt.want[c.Name]; ok && !reflect.DeepEqual(c.Env, w) {
					t.Errorf("ephemeral container %s: env %v, want %v", c.Name, c.Env, w)
				}
			}
			if got := policyVariables(t, vars, mutated, old, "pods")["open"] > 0; got != tt.refused {
				t.Errorf("after the mutating policy, the validating one refuses %v, want %v", got, tt.refused)
			}
		})
	}
}

// ephemeralVoidPolicy compiles the MutatingAdmissionPolicy
// zz-ephemeral-void of manifests/policies/quota.yaml as the apiserver does
// (its variables, then each JSON patch mutation) and returns a function
// that applies it to an UPDATE of pods/ephemeralcontainers from old to now.
func ephemeralVoidPolicy(t *testing.T) func(now, old *corev1.Pod) *corev1.Pod {
	t.Helper()
	var policy admissionregistrationv1.MutatingAdmissionPolicy
	raw, err := os.ReadFile("../../manifests/policies/quota.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, doc := range strings.Split(string(raw), "\n---\n") {
		var p admissionregistrationv1.MutatingAdmissionPolicy
		if err := yaml.Unmarshal([]byte(doc), &p); err != nil {
			t.Fatal(err)
		}
		if p.Kind == "MutatingAdmissionPolicy" && p.Name == "zz-ephemeral-void" {
			policy = p
		}
	}
	if len(policy.Spec.Mutations) == 0 {
		t.Fatal("no MutatingAdmissionPolicy zz-ephemeral-void with mutations in manifests/policies/quota.yaml")
	}
	compiler, err := plugincel.NewCompositedCompiler(environment.MustBaseEnvSet(environment.DefaultCompatibilityVersion()))
	if err != nil {
		t.Fatal(err)
	}
	opts := plugincel.OptionalVariableDeclarations{HasPatchTypes: true}
	var variables []plugincel.NamedExpressionAccessor
	for _, v := range policy.Spec.Variables {
		variables = append(variables, &validating.Variable{Name: v.Name, Expression: v.Expression})
	}
	compiler.CompileAndStoreVariables(variables, opts, environment.StoredExpressions)
	var patchers []patch.Patcher
	for _, m := range policy.Spec.Mutations {
		if m.PatchType != admissionregistrationv1.PatchTypeJSONPatch || m.JSONPatch == nil {
			t.Fatalf("mutation %+v: this test runs JSON patches only", m)
		}
		patchers = append(patchers, patch.NewJSONPatcher(compiler.CompileMutatingEvaluator(
			&patch.JSONPatchCondition{Expression: m.JSONPatch.Expression}, opts, environment.StoredExpressions)))
	}
	scheme := runtime.NewScheme()
	if err := corev1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	gvk := corev1.SchemeGroupVersion.WithKind("Pod")
	gvr := corev1.SchemeGroupVersion.WithResource("pods")
	return func(now, old *corev1.Pod) *corev1.Pod {
		t.Helper()
		var obj runtime.Object = now.DeepCopy()
		ctx := compiler.CreateContext(t.Context()) // the variables, as the dispatcher binds them
		for _, p := range patchers {
			attrs := admission.NewAttributesRecord(obj, old, gvk, "shop-ns", now.Name, gvr, "ephemeralcontainers",
				admission.Update, &metav1.UpdateOptions{}, false, nil)
			out, err := p.Patch(ctx, patch.Request{
				MatchedResource: gvr,
				VersionedAttributes: &admission.VersionedAttributes{Attributes: attrs, VersionedKind: gvk,
					VersionedObject: admission.NewLazyObject(obj), VersionedOldObject: admission.NewLazyObject(old)},
				ObjectInterfaces: admission.NewObjectInterfacesFromScheme(scheme),
				Namespace:        &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop-ns"}},
			}, celconfig.RuntimeCELCostBudget)
			if err != nil {
				t.Fatalf("the mutating policy: %v", err)
			}
			obj = out
		}
		return obj.(*corev1.Pod)
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
