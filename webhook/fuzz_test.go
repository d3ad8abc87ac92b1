package webhook

import (
	"encoding/json"
	"net/http"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
)

// FuzzMutate sends arbitrary bodies through the whole handler: it never
// panics, and every 200 is a v1 AdmissionReview with a response.
func FuzzMutate(f *testing.F) {
	f.Add(reviewBody(f, "shop", podResource, admissionv1.Create, testPod()))
	f.Add(reviewBody(f, "kube-system", podResource, admissionv1.Create, testPod()))
	f.Add([]byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u","namespace":"shop","resource":{"version":"v1","resource":"pods"},"operation":"CREATE","object":{"spec":{"containers":[{"name":"a","resources":{"limits":{"zz.io/gpu-mem":"1Ti"}}}]}}}}`))
	f.Add([]byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u","namespace":"shop","resource":{"version":"v1","resource":"pods"},"operation":"CREATE","object":null}}`))
	f.Add([]byte(`[]`))
	h := newTestHandler(f, examplePolicy(f))
	f.Fuzz(func(t *testing.T, body []byte) {
		rec := post(h, body, "application/json")
		if rec.Code != http.StatusOK {
			return
		}
		var review admissionv1.AdmissionReview
		if err := json.Unmarshal(rec.Body.Bytes(), &review); err != nil || review.Response == nil {
			t.Fatalf("200 without a review response: %s", rec.Body)
		}
		if review.Response.Patch != nil && !review.Response.Allowed {
			t.Fatalf("patch on a refusal: %s", rec.Body)
		}
	})
}
