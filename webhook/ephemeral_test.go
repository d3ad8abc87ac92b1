package webhook

import (
	"encoding/json"
	"testing"

	jsonpatch "gopkg.in/evanphx/json-patch.v4"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/zzcloud/zz/internal/contract"
)

// TestMutateEphemeralContainers: an ephemeral container added through
// pods/ephemeralcontainers (kubectl debug) gets NVIDIA_VISIBLE_DEVICES=void
// where the webhook serves, since no device plugin allocates for it and a
// CUDA image's own ENV would expose every card under the envvar strategy
// (review 17b 1.1); its own value is left for the policy
// zz-ephemeral-containers to judge, and containers added before are never
// changed (the apiserver refuses that).
func TestMutateEphemeralContainers(t *testing.T) {
	h := newTestHandler(t, examplePolicy(t))
	debug := func(name string, env ...corev1.EnvVar) corev1.EphemeralContainer {
		return corev1.EphemeralContainer{EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: name, Image: "nvidia/cuda:12.4.1-base", Env: env}}
	}
	void := corev1.EnvVar{Name: contract.EnvVisibleDevices, Value: contract.VisibleDevicesVoid}
	for _, tt := range []struct {
		name     string
		ns       string
		old, now []corev1.EphemeralContainer
		want     map[string][]corev1.EnvVar // each ephemeral container's env after the patch
	}{
		{name: "no env gets void", ns: "shop", now: []corev1.EphemeralContainer{debug("debugger")},
			want: map[string][]corev1.EnvVar{"debugger": {void}}},
		{name: "env of its own gets void beside it", ns: "shop", now: []corev1.EphemeralContainer{debug("debugger", corev1.EnvVar{Name: "A", Value: "1"})},
			want: map[string][]corev1.EnvVar{"debugger": {{Name: "A", Value: "1"}, void}}},
		{name: "its own value is the policy's to judge", ns: "shop", now: []corev1.EphemeralContainer{debug("debugger", corev1.EnvVar{Name: contract.EnvVisibleDevices, Value: "all"})},
			want: map[string][]corev1.EnvVar{"debugger": {{Name: contract.EnvVisibleDevices, Value: "all"}}}},
		{name: "one added before is not changed", ns: "shop", old: []corev1.EphemeralContainer{debug("old")},
			now:  []corev1.EphemeralContainer{debug("old"), debug("new")},
			want: map[string][]corev1.EnvVar{"old": nil, "new": {void}}},
		{name: "a namespace not served", ns: "plain", now: []corev1.EphemeralContainer{debug("debugger")},
			want: map[string][]corev1.EnvVar{"debugger": nil}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			old, now := testPod(), testPod()
			old.Spec.EphemeralContainers, now.Spec.EphemeralContainers = tt.old, tt.now
			oldRaw, _ := json.Marshal(old)
			nowRaw, _ := json.Marshal(now)
			var review admissionv1.AdmissionReview
			if err := json.Unmarshal(reviewBody(t, tt.ns, podResource, admissionv1.Update, now), &review); err != nil {
				t.Fatal(err)
			}
			review.Request.SubResource = "ephemeralcontainers"
			review.Request.OldObject = runtime.RawExtension{Raw: oldRaw}
			body, _ := json.Marshal(review)
			resp := response(t, post(h, body, "application/json"))
			if !resp.Allowed {
				t.Fatalf("refused: %+v", resp.Result)
			}
			got := nowRaw
			if resp.Patch != nil {
				p, err := jsonpatch.DecodePatch(resp.Patch)
				if err != nil {
					t.Fatal(err)
				}
				if got, err = p.Apply(nowRaw); err != nil {
					t.Fatalf("patch %s does not apply: %v", resp.Patch, err)
				}
			}
			var pod corev1.Pod
			if err := json.Unmarshal(got, &pod); err != nil {
				t.Fatal(err)
			}
			if len(pod.Spec.Containers[0].Env) != 0 {
				t.Errorf("the pod's containers were changed: %s", resp.Patch)
			}
			for _, c := range pod.Spec.EphemeralContainers {
				if g, w := c.Env, tt.want[c.Name]; len(g) != len(w) || len(g) > 0 && (g[len(g)-1] != w[len(w)-1] || g[0] != w[0]) {
					t.Errorf("ephemeral container %s: env %v, want %v (patch %s)", c.Name, g, w, resp.Patch)
				}
			}
		})
	}
}
