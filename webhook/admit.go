// Package webhook serves the zz mutating admission webhook over HTTPS: it
// decodes admission.k8s.io/v1 AdmissionReviews by hand (the decision is a
// few lines around internal/inject, so controller-runtime would add a large
// dependency for no saved code), applies the policy that an informer keeps
// from a ConfigMap, and answers with one JSON patch. It never writes to the
// API while admitting a pod, so it is dry-run safe (sideEffects: None).
package webhook

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/zzcloud/zz/internal/contract"
	"github.com/zzcloud/zz/internal/inject"
)

// Outcomes of one review, the result label of the metrics.
const (
	resultPatched   = "patched"
	resultUnchanged = "unchanged"
	resultSkipped   = "skipped"
	resultDenied    = "denied"
	resultError     = "error"
)

var (
	errNoRequest  = errors.New("the AdmissionReview has no request; send admission.k8s.io/v1 AdmissionReview with .request set")
	errAPIVersion = errors.New("only admission.k8s.io/v1 AdmissionReview is served; set admissionReviewVersions: [v1] in the webhook configuration")
)

var podResource = metav1.GroupVersionResource{Version: "v1", Resource: "pods"}

// decodeReview parses an AdmissionReview strictly enough to answer it.
func decodeReview(body []byte) (*admissionv1.AdmissionReview, error) {
	var review admissionv1.AdmissionReview
	if err := json.Unmarshal(body, &review); err != nil {
		return nil, fmt.Errorf("cannot decode the body as an AdmissionReview: %w", err)
	}
	if review.APIVersion != admissionv1.SchemeGroupVersion.String() || review.Kind != "AdmissionReview" {
		return nil, fmt.Errorf("%w (got apiVersion %q, kind %q)", errAPIVersion, review.APIVersion, review.Kind)
	}
	if review.Request == nil {
		return nil, errNoRequest
	}
	return &review, nil
}

// skipReason says why a request is admitted untouched without looking at
// its namespace's labels ("" when the pod is to be mutated).
func skipReason(req *admissionv1.AdmissionRequest, ownNamespace string) string {
	switch {
	case req.Resource != podResource || req.SubResource != "":
		return "not a pod"
	case req.Operation != admissionv1.Create:
		return "not a create"
	case req.Namespace == metav1.NamespaceSystem:
		return "kube-system is never touched"
	case req.Namespace == ownNamespace:
		return "the webhook's own namespace is never touched"
	}
	return ""
}

// optedIn reports whether a namespace's labels opt it in to injection.
func optedIn(labels map[string]string) bool {
	return labels[contract.LabelInjection] == contract.InjectionEnabled
}

// admitPod is the decision for one pod: allowed with a patch, allowed
// untouched, or refused with the policy's message. It does no I/O.
func admitPod(req *admissionv1.AdmissionRequest, p *inject.Policy) (*admissionv1.AdmissionResponse, string) {
	resp := &admissionv1.AdmissionResponse{UID: req.UID}
	ops, warnings, err := p.PatchPod(req.Object.Raw, req.Namespace)
	resp.Warnings = warnings
	if err != nil {
		resp.Result = &metav1.Status{Status: metav1.StatusFailure, Code: http.StatusForbidden,
			Reason: metav1.StatusReasonForbidden, Message: "zz-webhook: " + err.Error()}
		return resp, resultDenied
	}
	resp.Allowed = true
	if len(ops) == 0 {
		return resp, resultUnchanged
	}
	patch, err := json.Marshal(ops)
	if err != nil {
		resp.Allowed = false
		resp.Result = &metav1.Status{Status: metav1.StatusFailure, Code: http.StatusInternalServerError, Message: err.Error()}
		return resp, resultError
	}
	pt := admissionv1.PatchTypeJSONPatch
	resp.Patch, resp.PatchType = patch, &pt
	return resp, resultPatched
}

// allow admits a request untouched.
func allow(req *admissionv1.AdmissionRequest) *admissionv1.AdmissionResponse {
	return &admissionv1.AdmissionResponse{UID: req.UID, Allowed: true}
}
