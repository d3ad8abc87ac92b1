package inject

import (
	"encoding/json"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

// FuzzPatchPod feeds arbitrary pod JSON to the decoder, mutators and patch
// builder: nothing panics, and every patch applies, yields the mutated pod
// and leaves nothing for a second pass.
func FuzzPatchPod(f *testing.F) {
	for _, tc := range goldenCases {
		raw, err := json.Marshal(tc.pod)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(raw)
	}
	f.Add([]byte(`{"spec":{"containers":[{"name":"a","resources":{"limits":{"cpu":"0"}}}]}}`))
	f.Add([]byte(`{"metadata":{"labels":{"zz.io/pool":"critical"}},"spec":{"containers":[{"name":"a"}],"initContainers":[{"name":"log-agent"}]}}`))
	f.Add([]byte(`null`))
	// Whole cards on the a100 pool, cards without memory elsewhere.
	f.Add([]byte(`{"metadata":{"labels":{"zz.io/pool":"a100"}},"spec":{"containers":[{"name":"a","resources":{"limits":{"zz.io/gpu":"2"}}}]}}`))
	f.Add([]byte(`{"spec":{"containers":[{"name":"a","resources":{"limits":{"zz.io/gpu":"1"}}}],"initContainers":[{"name":"i","resources":{"requests":{"zz.io/gpu":"1"}}}]}}`))
	p := testPolicy(f)
	// With zz-scheduler down too, as the webhook applies it then.
	down := p.WithSchedulerDown("zz-scheduler", "fuzz")
	f.Fuzz(func(t *testing.T, raw []byte) {
		var pod corev1.Pod
		if json.Unmarshal(raw, &pod) != nil {
			if _, _, err := p.PatchPod(raw, "ns"); err == nil {
				t.Fatal("undecodable pod accepted")
			}
			return
		}
		checkIdempotent(t, p, pod.DeepCopy())
		checkIdempotent(t, down, &pod)
	})
}
