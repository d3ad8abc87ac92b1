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

	"gomodules.xyz/jsonpatch/v2"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
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

// podReview is an AdmissionReview whose request's object is decoded as a
// Pod in the same pass as the review. admissionv1's RawExtension would copy
// the object's bytes, and decoding those again scans them twice more.
type podReview struct {
	metav1.TypeMeta `json:",inline"`
	Request         *podRequest `json:"request,omitempty"`
}

type podRequest struct {
	admissionv1.AdmissionRequest
	Object *podObject `json:"object,omitempty"` // shadows AdmissionRequest's
}

// podObject is a Pod whose managedFields are skipped, not decoded: nothing
// zz decides reads them, and the patch never touches them (both the pod and
// its mutated copy lack them), so their entries, times and field sets are
// not built for every review.
type podObject struct {
	corev1.Pod
	Meta podMeta `json:"metadata"` // shadows Pod's
}

type podMeta struct {
	metav1.ObjectMeta
	ManagedFields skipped `json:"managedFields"` // shadows ObjectMeta's
}

// skipped takes any JSON value and keeps nothing of it.
type skipped struct{}

func (*skipped) UnmarshalJSON([]byte) error { return nil }

// pod is the decoded Pod, in place (no copy of the struct).
func (o *podObject) pod() *corev1.Pod {
	if o == nil {
		return nil
	}
	o.Pod.ObjectMeta = o.Meta.ObjectMeta
	return &o.Pod
}

// decodeReview parses an AdmissionReview strictly enough to answer it, and
// returns its object as a Pod when it decodes as one (nil otherwise: not a
// pod, or a pod this binary cannot read, which admitPod then refuses with
// the decoder's message).
func decodeReview(body []byte) (*admissionv1.AdmissionReview, *corev1.Pod, error) {
	var fast podReview
	if json.Unmarshal(body, &fast) == nil && fast.Request != nil {
		review := &admissionv1.AdmissionReview{TypeMeta: fast.TypeMeta, Request: &fast.Request.AdmissionRequest}
		if err := checkReview(review); err != nil {
			return nil, nil, err
		}
		return review, fast.Request.Object.pod(), nil
	}
	var review admissionv1.AdmissionReview
	if err := json.Unmarshal(body, &review); err != nil {
		return nil, nil, fmt.Errorf("cannot decode the body as an AdmissionReview: %w", err)
	}
	return &review, nil, checkReview(&review)
}

func checkReview(review *admissionv1.AdmissionReview) error {
	if review.APIVersion != admissionv1.SchemeGroupVersion.String() || review.Kind != "AdmissionReview" {
		return fmt.Errorf("%w (got apiVersion %q, kind %q)", errAPIVersion, review.APIVersion, review.Kind)
	}
	if review.Request == nil {
		return errNoRequest
	}
	return nil
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

// admitPod is the decision for one pod (decoded, or nil to decode it from
// the request): allowed with a patch, allowed untouched, or refused with the
// policy's message. It does no I/O.
func admitPod(req *admissionv1.AdmissionRequest, pod *corev1.Pod, p *inject.Policy) (*admissionv1.AdmissionResponse, string) {
	resp := &admissionv1.AdmissionResponse{UID: req.UID}
	var ops []jsonpatch.Operation
	var warnings []string
	var err error
	if pod != nil {
		ops, warnings, err = p.Patch(pod, req.Namespace)
	} else {
		ops, warnings, err = p.PatchPod(req.Object.Raw, req.Namespace)
	}
	resp.Warnings = warnings
	if err != nil {
		resp.Result = &metav1.Status{Status: metav1.StatusFailure, Code: http.StatusForbidden,
			Reason: metav1.StatusReasonForbidden, Message: contract.WebhookRefusalPrefix + err.Error()}
		return resp, resultDenied
	}
	resp.Allowed = true
	return withPatch(resp, ops)
}

// withPatch is resp, allowed, carrying ops as a JSON patch (none: the
// object unchanged).
func withPatch(resp *admissionv1.AdmissionResponse, ops []jsonpatch.Operation) (*admissionv1.AdmissionResponse, string) {
	if len(ops) == 0 {
		return resp, resultUnchanged
	}
	patch, err := inject.MarshalPatch(ops)
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
