package inject

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	gomodpatch "gomodules.xyz/jsonpatch/v2"
	jsonpatch "gopkg.in/evanphx/json-patch.v4"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/zzcloud/zz/internal/contract"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

func testPolicy(t testing.TB) *Policy {
	t.Helper()
	raw, err := os.ReadFile("testdata/policy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	p, err := Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

type podOpt func(*corev1.Pod)

func newPod(opts ...podOpt) *corev1.Pod {
	pod := &corev1.Pod{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{GenerateName: "shop-7d9f-", Labels: map[string]string{contract.LabelApp: "shop"}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "registry.local/shop:1",
			Resources: corev1.ResourceRequirements{
				Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1500m"), corev1.ResourceMemory: resource.MustParse("1Gi")},
				Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1500m"), corev1.ResourceMemory: resource.MustParse("1Gi")},
			}}}},
	}
	for _, o := range opts {
		o(pod)
	}
	return pod
}

func label(k, v string) podOpt { return func(p *corev1.Pod) { p.Labels[k] = v } }

// env sets a variable of the container named container.
func env(container, name, value string) podOpt {
	return func(p *corev1.Pod) {
		for i := range p.Spec.Containers {
			if c := &p.Spec.Containers[i]; c.Name == container {
				c.Env = append(c.Env, corev1.EnvVar{Name: name, Value: value})
			}
		}
	}
}

// envFrom adds an envFrom entry to the first container.
func envFrom(prefix string, cm *corev1.ConfigMapEnvSource, secret *corev1.SecretEnvSource) podOpt {
	return func(p *corev1.Pod) {
		c := &p.Spec.Containers[0]
		c.EnvFrom = append(c.EnvFrom, corev1.EnvFromSource{Prefix: prefix, ConfigMapRef: cm, SecretRef: secret})
	}
}
func annotate(k, v string) podOpt {
	return func(p *corev1.Pod) {
		if p.Annotations == nil {
			p.Annotations = map[string]string{}
		}
		p.Annotations[k] = v
	}
}
func gpuMem(q string) podOpt {
	return func(p *corev1.Pod) {
		c := &p.Spec.Containers[0]
		c.Resources.Limits[contract.ResourceGPUMem] = resource.MustParse(q)
		c.Resources.Requests[contract.ResourceGPUMem] = resource.MustParse(q)
	}
}

// goldenCases is the table of pods whose patches testdata/golden records.
var goldenCases = []struct {
	name string
	pod  *corev1.Pod
}{
	{"plain-default-pool", newPod()},
	{"java-in-group", newPod(label(contract.LabelGroup, "retail"), label("zz.io/type", "java"))},
	{"user-env-kept", newPod(func(p *corev1.Pod) {
		p.Spec.Containers[0].Env = []corev1.EnvVar{{Name: contract.EnvNumCPUs, Value: "8"}, {Name: contract.EnvClusterName, Value: "mine"}}
	})},
	{"no-cpu-limit", newPod(func(p *corev1.Pod) { delete(p.Spec.Containers[0].Resources.Limits, corev1.ResourceCPU) })},
	{"critical-pool", newPod(label(contract.LabelPool, "critical"))},
	{"borrows-critical-hosts", newPod(label(contract.LabelPool, "general"), func(p *corev1.Pod) {
		p.Spec.NodeSelector = map[string]string{contract.LabelPool: "critical"}
		p.Spec.Containers[0].Resources.Requests[corev1.ResourceCPU] = resource.MustParse("10m")
	})},
	{"pool-by-node-selector", newPod(func(p *corev1.Pod) { p.Spec.NodeSelector = map[string]string{contract.LabelPool: "critical"} })},
	{"unknown-pool", newPod(label(contract.LabelPool, "gold"))},
	{"unknown-pool-by-node-selector", newPod(func(p *corev1.Pod) { p.Spec.NodeSelector = map[string]string{contract.LabelPool: "gold"} })},
	{"reserved-pool-other-namespace", newPod(label(contract.LabelPool, "payments"))},
	{"reserved-pool-by-node-selector", newPod(func(p *corev1.Pod) { p.Spec.NodeSelector = map[string]string{contract.LabelPool: "payments"} })},
	{"sidecars", newPod(label(contract.LabelGroup, "retail"), label("zz.io/mesh", "on"), annotate("zz.io/log-agent", "yes"))},
	// A pod asking for the restricted Pod Security level: no lxcfs
	// (hostPath), its sidecars restricted too.
	{"restricted-pod", newPod(label(contract.LabelGroup, "retail"), label("zz.io/mesh", "on"), annotate("zz.io/log-agent", "yes"), func(p *corev1.Pod) {
		p.Spec.SecurityContext = &corev1.PodSecurityContext{RunAsNonRoot: ptrTrue(), SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}}
	})},
	// The app's own native sidecar (kubectl zz's spec.sidecars): its CPU
	// request scaled as the app's, NUM_CPUS and lxcfs as a container's.
	{"native-sidecar", newPod(func(p *corev1.Pod) {
		cpu := corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("200m"), corev1.ResourceMemory: resource.MustParse("64Mi")}
		p.Spec.InitContainers = append(p.Spec.InitContainers, corev1.Container{Name: "db-proxy", Image: "registry.local/proxy:2",
			RestartPolicy: ptr.To(corev1.ContainerRestartPolicyAlways), Resources: corev1.ResourceRequirements{Limits: cpu, Requests: cpu.DeepCopy()}})
	})},
	{"opt-out", newPod(annotate("zz.io/log-agent", "yes"), annotate(contract.AnnotationInjectDisable, "env, sidecars,overcommit,lxcfs,hygiene,colour"))},
	{"opt-out-all", newPod(annotate(contract.AnnotationInjectDisable, "all"))},
	// A required sidecar is not the pod's to leave out, by annotation or
	// by bringing a container of its name.
	{"required-sidecar-survives-opt-out", newPod(label("zz.io/audit", "on"), annotate(contract.AnnotationInjectDisable, "sidecars,all"))},
	{"required-sidecar-name-taken", newPod(label("zz.io/audit", "on"), func(p *corev1.Pod) {
		p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: "audit-agent", Image: "registry.local/sleep:1"})
	})},
	// The same program, with the pod's own env and mounts: replaced whole.
	{"required-sidecar-lookalike-replaced", newPod(label("zz.io/audit", "on"), func(p *corev1.Pod) {
		p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: "audit-agent", Image: "registry.local/audit-agent:3",
			Args: []string{"--pod=shop-7d9f", "--namespace=shop-ns"}, Env: []corev1.EnvVar{{Name: "LD_PRELOAD", Value: "/evil/noop.so"}},
			VolumeMounts: []corev1.VolumeMount{{Name: "x", MountPath: "/etc/audit-agent"}}})
	})},
	// Zero NVIDIA cards asks no plugin for anything: void all the same.
	{"zero-nvidia-cards-void", newPod(func(p *corev1.Pod) {
		p.Spec.Containers[0].Resources.Limits["nvidia.com/gpu"] = resource.MustParse("0")
	})},
	{"debug-strips-probes", newPod(annotate(contract.AnnotationDebug, "true"), func(p *corev1.Pod) {
		probe := &corev1.Probe{ProbeHandler: corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intOrString(8080)}}}
		p.Spec.Containers[0].ReadinessProbe, p.Spec.Containers[0].LivenessProbe = probe, probe
	})},
	// Pod-level resources (PodLevelResources): the pod's CPU request from its
	// limit by the pool's ratio, as a container's, and NUM_CPUS from it in
	// containers with no limit of their own; a container's own limit wins.
	{"pod-level-resources", newPod(func(p *corev1.Pod) {
		p.Spec.Resources = &corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("10m"), corev1.ResourceMemory: resource.MustParse("16Mi")},
			Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("8"), corev1.ResourceMemory: resource.MustParse("1Gi")},
		}
		p.Spec.Containers[0].Resources = corev1.ResourceRequirements{}
		p.Spec.InitContainers = []corev1.Container{{Name: "side", Image: "registry.local/proxy:2", RestartPolicy: ptr.To(corev1.ContainerRestartPolicyAlways),
			Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("500m")}}}}
	})},
	// Never below the containers' own requests, which it must cover.
	{"pod-level-resources-floor", newPod(func(p *corev1.Pod) {
		p.Spec.Resources = &corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2")}}
		delete(p.Spec.Containers[0].Resources.Limits, corev1.ResourceCPU) // request 1500m kept: no limit
	})},
	// A plain init container declared before a native sidecar runs without
	// it: the floor is the apiserver's sum, not init + every sidecar
	// (which went past the pod's limit of 4 and had the pod refused).
	{"pod-level-resources-init-before-sidecar", newPod(func(p *corev1.Pod) {
		p.Spec.Resources = &corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("4")}}
		p.Spec.Containers[0].Resources = corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1500m")}}
		req := func(q string) corev1.ResourceRequirements {
			return corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(q)}}
		}
		p.Spec.InitContainers = []corev1.Container{{Name: "migrate", Image: "registry.local/migrate:1", Resources: req("3")},
			{Name: "proxy", Image: "registry.local/proxy:2", RestartPolicy: ptr.To(corev1.ContainerRestartPolicyAlways), Resources: req("1500m")}}
	})},
	{"gpu", newPod(gpuMem("4Gi"))},
	{"gpu-two-cards", newPod(gpuMem("4Gi"), func(p *corev1.Pod) {
		p.Spec.Containers[0].Resources.Limits[contract.ResourceGPU] = resource.MustParse("2")
		p.Spec.Containers[0].Resources.Requests[contract.ResourceGPU] = resource.MustParse("2")
	})},
	{"gpu-absurd", newPod(gpuMem("100Ti"))},
	// NVIDIA_VISIBLE_DEVICES is the device plugin's: a pod that writes it
	// would see the cards it was not given (its env wins over Allocate's).
	{"gpu-sets-visible-devices", newPod(gpuMem("4Gi"), env("app", contract.EnvVisibleDevices, "all"))},
	{"visible-devices-from-a-secret", newPod(func(p *corev1.Pod) {
		p.Spec.Containers[0].Env = append(p.Spec.Containers[0].Env, corev1.EnvVar{Name: contract.EnvVisibleDevices,
			ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "s"}, Key: "k"}}})
	})},
	{"cdi-annotation-refused", newPod(annotate("cdi.k8s.io/mine", "nvidia.com/gpu=all"))},
	// The GPU Operator's prefix (its toolkit and NRI plugin read it): a
	// subdomain of cdi.k8s.io, refused alike.
	{"cdi-subdomain-annotation-refused", newPod(annotate("nvidia.cdi.k8s.io/container.app", "management.nvidia.com/gpu=all"))},
	// envFrom of a container given zz cards: its ConfigMap or Secret could
	// hold NVIDIA_VISIBLE_DEVICES=all (it is not read at admission), and it
	// would win over Allocate's as env would; judged by its prefix.
	{"gpu-envfrom-no-prefix-refused", newPod(gpuMem("4Gi"), envFrom("", &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "nv"}}, nil))},
	{"gpu-envfrom-nvidia-prefix-refused", newPod(gpuMem("4Gi"), envFrom("NVIDIA_", nil, &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "nv2"}}))},
	{"gpu-envfrom-mps-prefix-refused", newPod(gpuMem("4Gi"), envFrom("CUDA_MPS_", &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "mps"}}, nil))},
	{"gpu-envfrom-app-prefix-kept", newPod(gpuMem("4Gi"), envFrom("APP_", &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}}, nil))},
	// Asking no cards, the container gets void, which wins over envFrom.
	{"envfrom-no-gpu-gets-void", newPod(envFrom("", &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "nv"}}, nil))},
	{"system-priority-refused", newPod(func(p *corev1.Pod) { p.Spec.PriorityClassName = "system-node-critical" })},
	{"gpu-sets-mps-limit", newPod(gpuMem("4Gi"), env("app", contract.EnvMPSPinnedMemLimit, "0=80G"))},
	{"visible-devices-none-kept", newPod(env("app", contract.EnvVisibleDevices, "none"))},
	{"nvidia-plugin-pod-left-to-it", newPod(func(p *corev1.Pod) {
		p.Spec.Containers[0].Resources.Limits["nvidia.com/gpu"] = resource.MustParse("1")
	})},
	{"gpu-bigger-than-card", newPod(gpuMem("81Gi"))},
	{"gpu-not-bytes", newPod(gpuMem("4"))},
	{"no-containers", newPod(func(p *corev1.Pod) { p.Spec.Containers = nil })},
	{"huge-cpu-limit", newPod(func(p *corev1.Pod) {
		p.Spec.Containers[0].Resources.Limits[corev1.ResourceCPU] = resource.MustParse("100T")
		p.Spec.Containers[0].Resources.Requests[corev1.ResourceCPU] = resource.MustParse("100T")
	})},
	{"daemonset-pod", newPod(ownedBy("apps/v1", "DaemonSet"), func(p *corev1.Pod) { p.Spec.SchedulerName = corev1.DefaultSchedulerName })},
	{"daemonset-pod-in-reserved-pool", newPod(ownedBy("apps/v1", "DaemonSet"), label(contract.LabelPool, "payments"))},
	// A tenant's DaemonSet whose node affinity reaches a pool reserved to
	// another namespace, as the DaemonSet controller writes its pods (one
	// node each): every term is kept off that pool, so the pod cannot run
	// there; its CPU request is the strictest ratio of the pools it may
	// reach (the critical pool's 1 in shop-ns) of its limit.
	{"daemonset-pod-affinity-to-reserved-pool", newPod(ownedBy("apps/v1", "DaemonSet"), func(p *corev1.Pod) {
		p.Spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{
			NodeSelectorTerms: []corev1.NodeSelectorTerm{{
				MatchExpressions: []corev1.NodeSelectorRequirement{{Key: contract.LabelPool, Operator: corev1.NodeSelectorOpIn, Values: []string{"payments"}}},
				MatchFields:      []corev1.NodeSelectorRequirement{{Key: "metadata.name", Operator: corev1.NodeSelectorOpIn, Values: []string{"pay-1"}}},
			}}}}}
		p.Spec.Containers[0].Resources.Requests[corev1.ResourceCPU] = resource.MustParse("1m")
	})},
	// Created on a node (kubectl debug node/NAME): no scheduler sees it, and
	// the default pool's selector would make the kubelet fail it on a node
	// of another pool; it is kept off reserved pools as a DaemonSet's pod is.
	{"pod-created-on-a-node", newPod(func(p *corev1.Pod) {
		p.Spec.NodeName = "cpu-big-1"
		p.Spec.SchedulerName = corev1.DefaultSchedulerName
	})},
	// Its own node selector, no pool: the default pool's is added, with a
	// warning that the pod now runs only where both match.
	{"own-node-selector-joins-default-pool", newPod(func(p *corev1.Pod) {
		p.Spec.NodeSelector = map[string]string{corev1.LabelHostname: "gpu-a100-1"}
	})},
	{"replicaset-pod-default-scheduler", newPod(ownedBy("apps/v1", "ReplicaSet"), func(p *corev1.Pod) { p.Spec.SchedulerName = corev1.DefaultSchedulerName })},
	{"own-scheduler-kept", newPod(func(p *corev1.Pod) { p.Spec.SchedulerName = "batch-scheduler" })},
	{"scheduler-opt-out", newPod(annotate(contract.AnnotationInjectDisable, contract.FeatureScheduler))},
}

func ownedBy(apiVersion, kind string) podOpt {
	return func(p *corev1.Pod) {
		p.OwnerReferences = []metav1.OwnerReference{{APIVersion: apiVersion, Kind: kind, Name: "shop", UID: "u1", Controller: ptrTrue()}}
	}
}

func ptrTrue() *bool { t := true; return &t }

type goldenResult struct {
	Error    string                 `json:"error,omitempty"`
	Warnings []string               `json:"warnings,omitempty"`
	Patch    []gomodpatch.Operation `json:"patch"`
}

func TestGoldenPatches(t *testing.T) {
	p := testPolicy(t)
	for _, tc := range goldenCases {
		t.Run(tc.name, func(t *testing.T) {
			raw, err := json.Marshal(tc.pod)
			if err != nil {
				t.Fatal(err)
			}
			ops, warnings, err := p.PatchPod(raw, "shop-ns")
			res := goldenResult{Warnings: warnings, Patch: canonical(ops)}
			if err != nil {
				res.Error = err.Error()
			}
			got, err := json.MarshalIndent(res, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join("testdata", "golden", tc.name+".json")
			if *update {
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, append(got, '\n'), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if !bytes.Equal(bytes.TrimSpace(want), got) {
				t.Errorf("patch differs from %s (go test -update rewrites it):\n%s", path, got)
			}
		})
	}
}

// canonical orders operations by path (array indexes numerically) so golden
// files do not depend on map iteration; our mutators only add to the ends of
// arrays, so the order stays valid.
// Values go through JSON into plain trees, so a typed value and the map the
// generic diff builds compare (and print) the same.
func canonical(ops []gomodpatch.Operation) []gomodpatch.Operation {
	out := slices.Clone(ops)
	for i := range out {
		raw, err := json.Marshal(out[i].Value)
		if err != nil {
			panic(err)
		}
		var v any
		if err := json.Unmarshal(raw, &v); err != nil {
			panic(err)
		}
		out[i].Value = v
	}
	slices.SortStableFunc(out, func(a, b gomodpatch.Operation) int { return comparePaths(a.Path, b.Path) })
	return out
}

func comparePaths(a, b string) int {
	as, bs := strings.Split(a, "/"), strings.Split(b, "/")
	for i := 0; i < len(as) && i < len(bs); i++ {
		if as[i] == bs[i] {
			continue
		}
		ai, aerr := strconv.Atoi(as[i])
		bi, berr := strconv.Atoi(bs[i])
		if aerr == nil && berr == nil {
			return ai - bi
		}
		return strings.Compare(as[i], bs[i])
	}
	return len(as) - len(bs)
}

// applyOps applies a patch the way the apiserver does (RFC 6902).
func applyOps(t testing.TB, raw []byte, ops []gomodpatch.Operation) []byte {
	t.Helper()
	patchJSON, err := json.Marshal(ops)
	if err != nil {
		t.Fatal(err)
	}
	patch, err := jsonpatch.DecodePatch(patchJSON)
	if err != nil {
		t.Fatalf("decode patch: %v\n%s", err, patchJSON)
	}
	out, err := patch.Apply(raw)
	if err != nil {
		t.Fatalf("apply patch: %v\n%s", err, patchJSON)
	}
	return out
}

// TestMutateTwiceEqualsOnce is the reinvocation property: the pod that the
// first patch produces gets an empty second patch, and the first patch turns
// the pod into exactly the mutated pod.
func TestMutateTwiceEqualsOnce(t *testing.T) {
	p := testPolicy(t)
	for _, tc := range goldenCases {
		t.Run(tc.name, func(t *testing.T) {
			checkIdempotent(t, p, tc.pod)
		})
	}
}

func checkIdempotent(t testing.TB, p *Policy, pod *corev1.Pod) {
	t.Helper()
	raw, err := json.Marshal(pod)
	if err != nil {
		t.Fatal(err)
	}
	ops, _, err := p.PatchPod(raw, "ns")
	if err != nil {
		return // refused: nothing to apply
	}
	once := applyOps(t, raw, ops)
	want := pod.DeepCopy()
	if _, err := p.Mutate(want, "ns"); err != nil {
		t.Fatal(err)
	}
	var got corev1.Pod
	if err := json.Unmarshal(once, &got); err != nil {
		t.Fatal(err)
	}
	a, _ := json.Marshal(&got)
	b, _ := json.Marshal(want)
	if !bytes.Equal(a, b) {
		t.Fatalf("patched pod differs from mutated pod:\n%s\n%s", a, b)
	}
	again, _, err := p.PatchPod(once, "ns")
	if err != nil {
		t.Fatalf("second pass refused the mutated pod: %v", err)
	}
	if len(again) != 0 {
		t.Fatalf("second pass changed the pod again: %v", again)
	}
}

func TestNamespaceSchedulerWinsOverPool(t *testing.T) {
	p := testPolicy(t)
	tests := []struct{ namespace, want string }{
		{"batch", corev1.DefaultSchedulerName}, // the namespace's setting
		{"shop-ns", contract.SchedulerName},    // the general pool's
	}
	for _, tt := range tests {
		pod := newPod(func(p *corev1.Pod) { p.Spec.SchedulerName = corev1.DefaultSchedulerName })
		if _, err := p.Mutate(pod, tt.namespace); err != nil {
			t.Fatal(err)
		}
		if pod.Spec.SchedulerName != tt.want {
			t.Errorf("namespace %s: schedulerName %q, want %q", tt.namespace, pod.Spec.SchedulerName, tt.want)
		}
	}
}

// TestSchedulerDown: while zz-scheduler cannot schedule, the pods the
// policy would route to it stay on the default scheduler with a warning;
// GPU pods still go to it (no other scheduler places them), with a warning
// that they wait for it (an SRE audit saw them admitted silently), and the policy
// the requests in flight share is unchanged.
func TestSchedulerDown(t *testing.T) {
	base := testPolicy(t)
	down := base.WithSchedulerDown(contract.SchedulerName, "lease zz-system/zz-scheduler not renewed since 10:00:00Z")
	own := podOpt(func(p *corev1.Pod) { p.Spec.SchedulerName = "batch-scheduler" })
	named := podOpt(func(p *corev1.Pod) { p.Spec.SchedulerName = contract.SchedulerName })
	stale := podOpt(func(p *corev1.Pod) {
		p.Annotations = map[string]string{contract.AnnotationSchedulerFallback: contract.SchedulerName}
	})
	tests := []struct {
		name, namespace string
		policy          *Policy
		opts            []podOpt
		want, warning   string
		fallback        string // the pod's zz.io/scheduler-fallback after
	}{
		{"routed while up", "shop-ns", base, nil, contract.SchedulerName, "", ""},
		{"left to the default scheduler while down", "shop-ns", down, nil, corev1.DefaultSchedulerName,
			"zz-scheduler cannot schedule now (lease zz-system/zz-scheduler not renewed since 10:00:00Z): this pod is left to default-scheduler", contract.SchedulerName},
		{"a GPU pod still goes to zz-scheduler, with a warning", "shop-ns", down, []podOpt{gpuMem("4Gi")}, contract.SchedulerName, "zz-scheduler cannot schedule now (lease zz-system/zz-scheduler not renewed since 10:00:00Z): this GPU pod waits Pending until it is back", ""},
		{"a scheduler of its own kept", "shop-ns", down, []podOpt{own}, "batch-scheduler", "", ""},
		{"a namespace on the default scheduler", "batch", down, nil, corev1.DefaultSchedulerName, "", ""},
		{"a copied fallback note dropped when routed", "shop-ns", base, []podOpt{stale}, contract.SchedulerName, "", ""},
		// kubectl zz deploy names zz-scheduler on GPU apps' templates: the
		// webhook keeps it, as the one it would set, up or down, whatever
		// the namespace's scheduler, with no fallback note.
		{"a GPU pod naming zz-scheduler, up", "shop-ns", base, []podOpt{gpuMem("4Gi"), named}, contract.SchedulerName, "", ""},
		{"a GPU pod naming zz-scheduler, down", "shop-ns", down, []podOpt{gpuMem("4Gi"), named}, contract.SchedulerName, "zz-scheduler cannot schedule now (lease zz-system/zz-scheduler not renewed since 10:00:00Z): this GPU pod waits Pending until it is back", ""},
		{"a GPU pod naming zz-scheduler in a default-scheduler namespace", "batch", down, []podOpt{gpuMem("4Gi"), named}, contract.SchedulerName, "zz-scheduler cannot schedule now (lease zz-system/zz-scheduler not renewed since 10:00:00Z): this GPU pod waits Pending until it is back", ""},
		{"a GPU pod on a node already, down", "shop-ns", down, []podOpt{gpuMem("4Gi"), func(p *corev1.Pod) { p.Spec.NodeName = "gpu-1" }}, contract.SchedulerName, "", ""},
		{"a GPU pod naming zz-scheduler in an unrouted namespace", "other-ns", base, []podOpt{gpuMem("4Gi"), named}, contract.SchedulerName, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pod := newPod(append([]podOpt{func(p *corev1.Pod) { p.Spec.SchedulerName = corev1.DefaultSchedulerName }}, tt.opts...)...)
			warnings, err := tt.policy.Mutate(pod, tt.namespace)
			if err != nil {
				t.Fatal(err)
			}
			if pod.Spec.SchedulerName != tt.want {
				t.Errorf("schedulerName %q, want %q", pod.Spec.SchedulerName, tt.want)
			}
			got := strings.Join(warnings, "\n")
			if (tt.warning == "") != (got == "") || !strings.Contains(got, tt.warning) {
				t.Errorf("warnings %q, want %q", got, tt.warning)
			}
			if f := pod.Annotations[contract.AnnotationSchedulerFallback]; f != tt.fallback {
				t.Errorf("%s %q, want %q", contract.AnnotationSchedulerFallback, f, tt.fallback)
			}
		})
	}
	// Through the patch the webhook sends (the typed diff leaves metadata
	// to the generic one).
	pod := newPod(func(p *corev1.Pod) { p.Spec.SchedulerName = corev1.DefaultSchedulerName })
	raw, err := json.Marshal(pod)
	if err != nil {
		t.Fatal(err)
	}
	ops, _, err := down.Patch(pod, "shop-ns")
	if err != nil {
		t.Fatal(err)
	}
	var patched corev1.Pod
	if err := json.Unmarshal(applyOps(t, raw, ops), &patched); err != nil {
		t.Fatal(err)
	}
	if f := patched.Annotations[contract.AnnotationSchedulerFallback]; f != contract.SchedulerName {
		t.Errorf("patched pod's %s %q (patch %v)", contract.AnnotationSchedulerFallback, f, ops)
	}
	if base.down != "" {
		t.Errorf("WithSchedulerDown changed the shared policy: down %q", base.down)
	}
}

func TestCPUFromLimitNeverOverflows(t *testing.T) {
	tests := []struct {
		limit    string
		permille int64
		want     string
	}{
		{"1500m", 500, "750m"},
		{"1", 333, "333m"},
		{"1m", 500, "1m"}, // at least a millicore
		{"100T", 500, "50T"},
		{"100T", 1000, "100T"},
		{"9223372036854775", 500, "4611686018427387500m"},
		{"9223372036854775807", 500, "9223372036854775807"}, // beyond int64 millicores: the limit
		{"1e30", 1, "1e30"},
	}
	for _, tt := range tests {
		got := scaledRequest(resource.MustParse(tt.limit), tt.permille)
		if got.String() != tt.want {
			t.Errorf("%s x %d/1000 = %s, want %s", tt.limit, tt.permille, got.String(), tt.want)
		}
	}
}

// The integer path of scaledRequest must give what the decimal one gives,
// at its edges too (sub-millicore limits go the decimal way).
func TestScaledRequestIntegerEqualsDecimal(t *testing.T) {
	limits := []string{"1m", "2", "999m", "1001m", "1500m", "0.0025", "2500u", "7", "64", "1125899906842624m", "1125899906842625m", "100T", "1Ki", "3Mi"}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		limits = append(limits, fmt.Sprintf("%dm", rng.Int64N(1<<51)+1), fmt.Sprintf("%dm", rng.Int64N(100000)+1))
	}
	for _, l := range limits {
		limit := resource.MustParse(l)
		for _, permille := range []int64{0, 1, 125, 333, 500, 667, 999, 1000, 2500, 4096, 4097} {
			got, want := scaledRequest(limit, permille), scaledRequestDec(limit, permille)
			if got.String() != want.String() {
				t.Fatalf("%s x %d/1000: integer path %s, decimal %s", l, permille, got.String(), want.String())
			}
		}
	}
}

func TestCPUCountIntegerEqualsDecimal(t *testing.T) {
	limits := []string{"1m", "999m", "1", "1001m", "2500u", "0.0025", "64", "1125899906842624m", "1125899906842625m", "100T", "1e30"}
	rng := rand.New(rand.NewPCG(3, 4))
	for range 2000 {
		limits = append(limits, fmt.Sprintf("%dm", rng.Int64N(1<<51)+1), fmt.Sprintf("%dm", rng.Int64N(100000)+1))
	}
	for _, l := range limits {
		c := &corev1.Container{Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(l)}}}
		got, _ := cpuCount(c, &corev1.Pod{})
		if want := cpuCountDec(resource.MustParse(l)); got != want {
			t.Fatalf("cpuCount(%s): integer path %s, decimal %s", l, got, want)
		}
	}
}

func TestReservedPoolInItsNamespace(t *testing.T) {
	p := testPolicy(t)
	pod := newPod(label(contract.LabelPool, "payments"))
	if _, err := p.Mutate(pod, "payments"); err != nil {
		t.Fatal(err)
	}
	got := pod.Spec.Containers[0].Resources.Requests[corev1.ResourceCPU]
	if pod.Spec.NodeSelector[contract.LabelPool] != "payments" || got.String() != "1200m" {
		t.Fatalf("nodeSelector %v, cpu request %s; want pool payments and 1200m (1500m x 0.8)", pod.Spec.NodeSelector, got.String())
	}
}

// TestDefaultGPUPool: a pod that names no pool and asks for GPU memory or
// cards goes to defaultGPUPool (where the default pool's nodes have no
// cards it would wait for good); other pods, and GPU pods naming a pool or
// selecting a pool's nodes, are placed as before; without defaultGPUPool
// GPU pods get defaultPool.
func TestDefaultGPUPool(t *testing.T) {
	const pools = `largestGPUCard: 80Gi
defaultPool: general
pools:
  general: {nodeSelector: {zz.io/pool: general}, cpuOvercommitRatio: 0.5}
  gpu: {nodeSelector: {zz.io/pool: gpu}, cpuOvercommitRatio: 0.8, gpuCardMemory: 80Gi}
  a100: {nodeSelector: {zz.io/pool: a100}, cpuOvercommitRatio: 0.8}
`
	withGPU, err := Parse([]byte(pools + "defaultGPUPool: gpu\n"))
	if err != nil {
		t.Fatal(err)
	}
	without, err := Parse([]byte(pools))
	if err != nil {
		t.Fatal(err)
	}
	cards := func(p *corev1.Pod) {
		c := &p.Spec.Containers[0]
		c.Resources.Limits[contract.ResourceGPU] = resource.MustParse("1")
		c.Resources.Requests[contract.ResourceGPU] = resource.MustParse("1")
	}
	selects := func(p *corev1.Pod) { p.Spec.NodeSelector = map[string]string{contract.LabelPool: "a100"} }
	for _, tt := range []struct {
		name   string
		policy *Policy
		pod    *corev1.Pod
		want   string
	}{
		{"GPU memory, no pool", withGPU, newPod(gpuMem("10Gi")), "gpu"},
		{"whole cards, no pool", withGPU, newPod(cards), "gpu"},
		{"CPU only, no pool", withGPU, newPod(), "general"},
		{"GPU memory, pool named", withGPU, newPod(gpuMem("10Gi"), label(contract.LabelPool, "a100")), "a100"},
		{"GPU memory, pool's nodes selected", withGPU, newPod(gpuMem("10Gi"), selects), "a100"},
		{"GPU memory, no defaultGPUPool", without, newPod(gpuMem("10Gi")), "general"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := tt.policy.Mutate(tt.pod, "ns"); err != nil {
				t.Fatal(err)
			}
			if got := tt.pod.Spec.NodeSelector[contract.LabelPool]; got != tt.want {
				t.Errorf("pool %q, want %q (nodeSelector %v)", got, tt.want, tt.pod.Spec.NodeSelector)
			}
		})
	}
}

// TestWholeCards: on a pool whose cards all have gpuCardMemory, a container
// asking for zz.io/gpu cards without zz.io/gpu-mem gets whole cards (as
// nvidia.com/gpu does), with the total a quota counts; elsewhere it is
// refused with its fix, naming the pool.
func TestWholeCards(t *testing.T) {
	p, err := Parse([]byte(`largestGPUCard: 80Gi
defaultPool: general
pools:
  general: {nodeSelector: {zz.io/pool: general}, cpuOvercommitRatio: 0.5}
  a100: {nodeSelector: {zz.io/pool: a100}, cpuOvercommitRatio: 0.5, gpuCardMemory: 80Gi}
`))
	if err != nil {
		t.Fatal(err)
	}
	cards := func(n string) podOpt {
		return func(p *corev1.Pod) {
			c := &p.Spec.Containers[0]
			c.Resources.Limits[contract.ResourceGPU] = resource.MustParse(n)
			c.Resources.Requests[contract.ResourceGPU] = resource.MustParse(n)
		}
	}
	tests := []struct {
		name            string
		pod             *corev1.Pod
		wantMem, wantTo string // per card, total
		wantWhole       string // the annotation asking for whole cards
		wantErr         string
	}{
		{name: "two whole cards", pod: newPod(label(contract.LabelPool, "a100"), cards("2")), wantMem: "80Gi", wantTo: "160Gi", wantWhole: "true"},
		{name: "memory asked is kept", pod: newPod(label(contract.LabelPool, "a100"), cards("2"), gpuMem("10Gi")), wantMem: "10Gi", wantTo: "20Gi"},
		{name: "a pool of mixed cards", pod: newPod(cards("1")),
			wantErr: "container app asks for zz.io/gpu 1 without zz.io/gpu-mem: zz shares cards by GPU memory, so ask for the memory the container needs on each card (zz.io/gpu-mem: 16Gi); for cards of its own, ask for the most memory a card may have (kubectl zz gpu lists each card's TOTAL) with the pod annotation zz.io/gpu-whole: \"true\" (whole cards of any size up to it) (the pod's pool general gives no whole cards: its gpuCardMemory is not set in the webhook policy)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := p.Mutate(tt.pod, "ns")
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			c := tt.pod.Spec.Containers[0]
			for _, l := range []corev1.ResourceList{c.Resources.Limits, c.Resources.Requests} {
				mem, total := l[contract.ResourceGPUMem], l[contract.ResourceGPUMemTotal]
				if mem.String() != tt.wantMem || total.String() != tt.wantTo {
					t.Errorf("gpu-mem %s, gpu-mem-total %s; want %s, %s", mem.String(), total.String(), tt.wantMem, tt.wantTo)
				}
			}
			if tt.pod.Spec.SchedulerName != contract.SchedulerName {
				t.Errorf("schedulerName %q, want %s", tt.pod.Spec.SchedulerName, contract.SchedulerName)
			}
			if got := tt.pod.Annotations[contract.AnnotationGPUWhole]; got != tt.wantWhole {
				t.Errorf("annotation %s = %q, want %q", contract.AnnotationGPUWhole, got, tt.wantWhole)
			}
		})
	}
	if _, err := Parse([]byte("largestGPUCard: 40Gi\npools:\n  a100: {nodeSelector: {zz.io/pool: a100}, cpuOvercommitRatio: 0.5, gpuCardMemory: 80Gi}\n")); err == nil ||
		!strings.Contains(err.Error(), "pools.a100.gpuCardMemory: 80Gi is not a card size between 1Mi and largestGPUCard (40Gi)") {
		t.Errorf("a pool's cards larger than the largest card: %v", err)
	}
}

// TestStrictestRatio: a pod that lands on any pool's node (a DaemonSet's,
// one created on a node) gets the highest ratio of the pools its namespace
// may reach; pools reserved to other namespaces do not count.
func TestStrictestRatio(t *testing.T) {
	p := testPolicy(t)
	for ns, want := range map[string]int64{
		"other":    800,  // general 0.5, a100 0.8
		"payments": 800,  // payments 0.8 too
		"shop-ns":  1000, // the critical pool runs at 1
	} {
		if got, ok := p.strictestRatio(ns); !ok || got != want {
			t.Errorf("strictestRatio(%s) = %d, %v; want %d", ns, got, ok, want)
		}
	}
}

// TestPoollessPodKeepsRequest: a pod in no pool (no default pool) that is
// not placed keeps its own CPU request; only placed pods get the strictest
// ratio (a mutation audit).
func TestPoollessPodKeepsRequest(t *testing.T) {
	p, err := Compile(Spec{LargestGPUCard: resource.MustParse("80Gi"),
		Pools: map[string]PoolSpec{"a": {NodeSelector: map[string]string{"pool": "a"}, CPUOvercommitRatio: 0.5}}})
	if err != nil {
		t.Fatal(err)
	}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "x", Namespace: "ns"}, Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "i",
		Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2")},
			Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m")}}}}}}
	if _, err := p.Mutate(pod, "ns"); err != nil {
		t.Fatal(err)
	}
	if got := pod.Spec.Containers[0].Resources.Requests[corev1.ResourceCPU]; got.String() != "100m" {
		t.Fatalf("cpu request = %s, want 100m (pod in no pool, not placed)", got.String())
	}
}

// TestCPUCountZero: a CPU limit of 0 gives NUM_CPUS 1 ("at least 1").
func TestCPUCountZero(t *testing.T) {
	c := &corev1.Container{Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("0")}}}
	if n, ok := cpuCount(c, &corev1.Pod{}); !ok || n != "1" {
		t.Fatalf("cpuCount(0) = %q, %v; want \"1\", true", n, ok)
	}
}

// TestGPUNames: the webhook refuses GPU names zz does not read (a HAMi
// spelling of the memory, a typo'd choice) with the name meant, and warns
// of HAMi's own resource (an ML-engineer audit).
func TestGPUNames(t *testing.T) {
	p := testPolicy(t)
	limit := func(name corev1.ResourceName, v string) podOpt {
		return func(p *corev1.Pod) { p.Spec.Containers[0].Resources.Limits[name] = resource.MustParse(v) }
	}
	if _, err := p.Mutate(newPod(limit("zz.io/gpumem", "4096")), "ns"); err == nil || !strings.Contains(err.Error(), "zz.io/gpumem is not a zz resource (did you mean zz.io/gpu-mem?)") {
		t.Errorf("zz.io/gpumem: %v", err)
	}
	typo := newPod(gpuMem("4Gi"))
	typo.Annotations = map[string]string{"zz.io/gpu-modle": "A100"}
	if _, err := p.Mutate(typo, "ns"); err == nil || !strings.Contains(err.Error(), "annotation zz.io/gpu-modle is not one zz reads (did you mean zz.io/gpu-model?)") {
		t.Errorf("a typo'd annotation: %v", err)
	}
	warnings, err := p.Mutate(newPod(limit("nvidia.com/gpumem", "4096")), "ns")
	if err != nil || len(warnings) == 0 || !strings.Contains(strings.Join(warnings, "\n"), "asks for nvidia.com/gpumem 4096, HAMi's GPU memory") {
		t.Errorf("HAMi's resource: %v, warnings %q", err, warnings)
	}
	// NVIDIA's device plugin's cards beside zz's memory: admitted (a
	// cluster may run both), with the fix status would give once it waits.
	both := newPod(gpuMem("4Gi"), limit("nvidia.com/gpu", "1"))
	warnings, err = p.Mutate(both, "ns")
	if err != nil || !strings.Contains(strings.Join(warnings, "\n"), "this pod asks for nvidia.com/gpu beside zz.io/gpu-mem: zz chooses the pod's cards by zz.io/gpu-mem and zz.io/gpu alone") {
		t.Errorf("nvidia.com/gpu beside zz.io/gpu-mem: %v, warnings %q", err, warnings)
	}
	if warnings, err := p.Mutate(newPod(gpuMem("4Gi")), "ns"); err != nil || len(warnings) != 0 {
		t.Errorf("zz's GPU memory alone: %v, warnings %q", err, warnings)
	}
}
