package inject

import (
	"encoding/json"
	"reflect"
	"testing"

	"gomodules.xyz/jsonpatch/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// TestTypedDiffMatchesGeneric: every golden pod takes the typed path, and its
// patch is the generic diff's.
func TestTypedDiffMatchesGeneric(t *testing.T) {
	p := testPolicy(t)
	for _, tc := range goldenCases {
		t.Run(tc.name, func(t *testing.T) {
			mutated := tc.pod.DeepCopy()
			if _, err := p.Mutate(mutated, "shop-ns"); err != nil {
				return
			}
			typed, ok := typedDiff(tc.pod, mutated)
			if tc.name == "required-sidecar-lookalike-replaced" {
				// The pod's own container replaced whole (its env removed):
				// the one change the typed diff leaves to the generic one.
				if ok {
					t.Fatal("the typed diff claims a container's replacement")
				}
				return
			}
			if !ok {
				t.Fatal("the typed diff fell back for a pod only the mutators changed")
			}
			generic, err := genericDiff(tc.pod, mutated)
			if err != nil {
				t.Fatal(err)
			}
			if a, b := canonical(typed), canonical(generic); !reflect.DeepEqual(a, b) {
				// The affinity is replaced whole where the generic diff adds
				// the terms' expressions: the same pod either way.
				raw, err := json.Marshal(tc.pod)
				if err != nil {
					t.Fatal(err)
				}
				if x, y := applyOps(t, raw, typed), applyOps(t, raw, generic); tc.pod.Spec.Affinity == mutated.Spec.Affinity || !jsonEqual(t, x, y) {
					t.Fatalf("typed patch %v\ngeneric patch %v", a, b)
				}
			}
		})
	}
}

// TestDiffFallsBack: changes outside the fields the typed diff knows, or
// that are not appends, go through the generic diff and still apply.
func TestDiffFallsBack(t *testing.T) {
	tests := []struct {
		name   string
		change func(*corev1.Pod)
		typed  bool
	}{
		{"label", func(p *corev1.Pod) { p.Labels["x"] = "y" }, false},
		{"hostname", func(p *corev1.Pod) { p.Spec.Hostname = "h" }, false},
		{"image", func(p *corev1.Pod) { p.Spec.Containers[0].Image = "other" }, false},
		{"env rewritten", func(p *corev1.Pod) { p.Spec.Containers[0].Env[0].Value = "2" }, false},
		{"container removed", func(p *corev1.Pod) { p.Spec.Containers = p.Spec.Containers[:1] }, false},
		{"request removed", func(p *corev1.Pod) { delete(p.Spec.Containers[0].Resources.Requests, corev1.ResourceMemory) }, true},
		{"selector key removed", func(p *corev1.Pod) { delete(p.Spec.NodeSelector, "a/b") }, true},
		{"selector key with slash and tilde", func(p *corev1.Pod) { p.Spec.NodeSelector["c~/d"] = "e" }, true},
		{"scheduler cleared", func(p *corev1.Pod) { p.Spec.SchedulerName = "" }, true},
		{"probe removed", func(p *corev1.Pod) { p.Spec.Containers[0].ReadinessProbe = nil }, true},
		{"init container added", func(p *corev1.Pod) { p.Spec.InitContainers = []corev1.Container{{Name: "i"}} }, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pod := newPod(func(p *corev1.Pod) {
				p.Spec.NodeSelector = map[string]string{"a/b": "c"}
				p.Spec.SchedulerName = "s"
				p.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "N", Value: "1"}}
				p.Spec.Containers[0].ReadinessProbe = &corev1.Probe{PeriodSeconds: 3}
				p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: "b", Resources: corev1.ResourceRequirements{
					Limits: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1")}}})
			})
			mutated := pod.DeepCopy()
			tt.change(mutated)
			if _, ok := typedDiff(pod, mutated); ok != tt.typed {
				t.Errorf("typed path taken = %v, want %v", ok, tt.typed)
			}
			ops, err := Diff(pod, mutated)
			if err != nil {
				t.Fatal(err)
			}
			raw, err := json.Marshal(pod)
			if err != nil {
				t.Fatal(err)
			}
			var got corev1.Pod
			if err := json.Unmarshal(applyOps(t, raw, ops), &got); err != nil {
				t.Fatal(err)
			}
			a, _ := json.Marshal(&got)
			b, _ := json.Marshal(mutated)
			if string(a) != string(b) {
				t.Fatalf("patched pod differs from the mutated one:\n%s\n%s", a, b)
			}
		})
	}
}

// TestMarshalPatch: the one-pass encoding is the same JSON as encoding/json's
// of the operations (whitespace aside), for every golden pod's patch and for
// the edge cases.
func TestMarshalPatch(t *testing.T) {
	p := testPolicy(t)
	cases := map[string][]jsonpatch.Operation{
		"empty":      {},
		"null value": {{Operation: "add", Path: "/a", Value: nil}, {Operation: "replace", Path: "/b", Value: nil}, {Operation: "remove", Path: "/c"}},
		"escapes":    {{Operation: "add", Path: "/metadata/annotations/a~1b<&>\"", Value: map[string]string{"k": "<v>\n"}}},
		"quantity":   {{Operation: "replace", Path: "/spec/containers/0/resources/requests/cpu", Value: resource.MustParse("750m")}},
	}
	for _, tc := range goldenCases {
		mutated := tc.pod.DeepCopy()
		if _, err := p.Mutate(mutated, "shop-ns"); err != nil {
			continue
		}
		ops, err := Diff(tc.pod, mutated)
		if err != nil {
			t.Fatal(err)
		}
		cases["golden "+tc.name] = ops
	}
	for name, ops := range cases {
		t.Run(name, func(t *testing.T) {
			got, err := MarshalPatch(ops)
			if err != nil {
				t.Fatal(err)
			}
			want, err := json.Marshal(ops)
			if err != nil {
				t.Fatal(err)
			}
			var g, w any
			if err := json.Unmarshal(got, &g); err != nil {
				t.Fatalf("%s: %v", got, err)
			}
			if err := json.Unmarshal(want, &w); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(g, w) {
				t.Fatalf("got  %s\nwant %s", got, want)
			}
		})
	}
}

// jsonEqual compares two JSON documents by value.
func jsonEqual(t *testing.T, a, b []byte) bool {
	t.Helper()
	var x, y any
	if err := json.Unmarshal(a, &x); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &y); err != nil {
		t.Fatal(err)
	}
	return reflect.DeepEqual(x, y)
}
