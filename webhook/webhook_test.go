package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"k8s.io/klog/v2"

	"github.com/zzcloud/zz/internal/contract"
	"github.com/zzcloud/zz/internal/inject"
)

const ownNamespace = "zz-system"

func examplePolicy(t testing.TB) *inject.Policy {
	t.Helper()
	raw, err := os.ReadFile("../internal/inject/testdata/policy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	p, err := inject.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

var testNamespaces = map[string]map[string]string{
	"shop":          {contract.LabelInjection: contract.InjectionEnabled},
	"shop-baseline": {contract.LabelInjection: contract.InjectionEnabled, contract.LabelPodSecurityEnforce: "baseline"},
	"plain":         {},
	"kube-system":   {contract.LabelInjection: contract.InjectionEnabled},
	ownNamespace:    {contract.LabelInjection: contract.InjectionEnabled},
	"label-is-ohno": {contract.LabelInjection: "yes"},
	"shop-quota":    {contract.LabelInjection: contract.InjectionEnabled},
}

// testLimitRanges is the informer cache of newTestHandler's LimitRanges:
// shop-quota's min cpu 300m per container (the incident audit's).
var testLimitRanges = func() cache.Indexer {
	idx := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc})
	if err := idx.Add(&corev1.LimitRange{ObjectMeta: metav1.ObjectMeta{Name: "minimum", Namespace: "shop-quota"},
		Spec: corev1.LimitRangeSpec{Limits: []corev1.LimitRangeItem{{Type: corev1.LimitTypeContainer,
			Min: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("300m")}}}}}); err != nil {
		panic(err)
	}
	return idx
}()

func mustQuantity(s string) resource.Quantity { return resource.MustParse(s) }

func newTestHandler(t testing.TB, p *inject.Policy) *Handler {
	return NewHandler(Handler{
		Policy: func() *inject.Policy { return p },
		NamespaceLabels: func(_ context.Context, name string) (map[string]string, error) {
			l, ok := testNamespaces[name]
			if !ok {
				return nil, fmt.Errorf("namespaces %q not found", name)
			}
			return l, nil
		},
		LimitRanges: func(namespace string) ([]*corev1.LimitRange, error) {
			return limitRangesIn(testLimitRanges, func() bool { return true }, namespace)
		},
		Ready: func() (string, error) {
			if p == nil {
				return "", fmt.Errorf("no policy loaded yet")
			}
			return "policy", nil
		},
		OwnNamespace: ownNamespace,
		Metrics:      NewMetrics(),
	})
}

func testPod() *corev1.Pod {
	return &corev1.Pod{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{GenerateName: "shop-", Labels: map[string]string{contract.LabelApp: "shop"}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "shop:1", Resources: corev1.ResourceRequirements{
			Limits: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2")}}}}},
	}
}

func reviewBody(t testing.TB, ns string, resource metav1.GroupVersionResource, op admissionv1.Operation, obj any) []byte {
	t.Helper()
	raw, err := json.Marshal(obj)
	if err != nil {
		t.Fatal(err)
	}
	dry := true
	b, err := json.Marshal(admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request: &admissionv1.AdmissionRequest{UID: types.UID("uid-1"), Namespace: ns, Resource: resource,
			Operation: op, Object: runtime.RawExtension{Raw: raw}, DryRun: &dry},
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func post(h http.Handler, body []byte, contentType string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPost, "/mutate-pods", bytes.NewReader(body))
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func response(t *testing.T, rec *httptest.ResponseRecorder) *admissionv1.AdmissionResponse {
	t.Helper()
	if rec.Code != http.StatusOK {
		t.Fatalf("HTTP %d: %s", rec.Code, rec.Body)
	}
	var review admissionv1.AdmissionReview
	if err := json.Unmarshal(rec.Body.Bytes(), &review); err != nil {
		t.Fatal(err)
	}
	if review.APIVersion != "admission.k8s.io/v1" || review.Kind != "AdmissionReview" || review.Request != nil {
		t.Fatalf("reply is not a bare v1 AdmissionReview: %s", rec.Body)
	}
	if review.Response == nil || review.Response.UID != "uid-1" {
		t.Fatalf("reply has no response for uid-1: %s", rec.Body)
	}
	return review.Response
}

func TestMutatePodPatches(t *testing.T) {
	h := newTestHandler(t, examplePolicy(t))
	resp := response(t, post(h, reviewBody(t, "shop", podResource, admissionv1.Create, testPod()), "application/json; charset=utf-8"))
	if !resp.Allowed || resp.PatchType == nil || *resp.PatchType != admissionv1.PatchTypeJSONPatch {
		t.Fatalf("want an allowed JSON patch, got %+v", resp)
	}
	for _, want := range []string{`"NUM_CPUS"`, `"/spec/nodeSelector"`, `"/spec/enableServiceLinks"`, `"1"`} {
		if !strings.Contains(string(resp.Patch), want) {
			t.Errorf("patch lacks %s: %s", want, resp.Patch)
		}
	}
}

// TestMutateKeepsPodSecurity: the namespace's Pod Security level reaches
// the policy: lxcfs's hostPath volumes are added in a namespace at the
// default level, left out (with a warning) in one enforcing baseline,
// which would refuse the mutated pod.
func TestMutateKeepsPodSecurity(t *testing.T) {
	h := newTestHandler(t, examplePolicy(t))
	for _, tc := range []struct {
		ns    string
		lxcfs bool
	}{{"shop", true}, {"shop-baseline", false}} {
		resp := response(t, post(h, reviewBody(t, tc.ns, podResource, admissionv1.Create, testPod()), "application/json"))
		added := strings.Contains(string(resp.Patch), contract.VolumeLxcfsPrefix)
		warned := strings.Contains(strings.Join(resp.Warnings, "\n"), "lxcfs left out: namespace shop-baseline enforces the baseline Pod Security level")
		if !resp.Allowed || added != tc.lxcfs || warned == tc.lxcfs {
			t.Errorf("namespace %s: allowed %v, lxcfs added %v, warnings %q; want lxcfs %v", tc.ns, resp.Allowed, added, resp.Warnings, tc.lxcfs)
		}
	}
}

func TestMutateLeavesOthersAlone(t *testing.T) {
	h := newTestHandler(t, examplePolicy(t))
	deploy := metav1.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}
	tests := []struct {
		name string
		body []byte
	}{
		{"unknown kind", reviewBody(t, "shop", deploy, admissionv1.Create, map[string]string{"kind": "Deployment"})},
		{"kube-system", reviewBody(t, "kube-system", podResource, admissionv1.Create, testPod())},
		{"own namespace", reviewBody(t, ownNamespace, podResource, admissionv1.Create, testPod())},
		{"namespace not opted in", reviewBody(t, "plain", podResource, admissionv1.Create, testPod())},
		{"label value not enabled", reviewBody(t, "label-is-ohno", podResource, admissionv1.Create, testPod())},
		{"update", reviewBody(t, "shop", podResource, admissionv1.Update, testPod())},
		// kubectl debug: the MutatingAdmissionPolicy zz-ephemeral-void gives
		// void, in the apiserver; a configuration from before it that still
		// sends the subresource here gets it back untouched.
		{"ephemeral containers", ephemeralReview(t)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := response(t, post(h, tt.body, "application/json"))
			if !resp.Allowed || resp.Patch != nil || resp.PatchType != nil {
				t.Fatalf("want allowed with no patch, got %+v", resp)
			}
		})
	}
}

// ephemeralReview is kubectl debug's update of pods/ephemeralcontainers in
// an opted-in namespace: one ephemeral container added, with no env.
func ephemeralReview(t *testing.T) []byte {
	t.Helper()
	pod := testPod()
	pod.Spec.EphemeralContainers = []corev1.EphemeralContainer{{EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: "debugger", Image: "nvidia/cuda:12.4.1-base"}}}
	var review admissionv1.AdmissionReview
	if err := json.Unmarshal(reviewBody(t, "shop", podResource, admissionv1.Update, pod), &review); err != nil {
		t.Fatal(err)
	}
	old, err := json.Marshal(testPod())
	if err != nil {
		t.Fatal(err)
	}
	review.Request.SubResource, review.Request.OldObject = "ephemeralcontainers", runtime.RawExtension{Raw: old}
	body, err := json.Marshal(review)
	if err != nil {
		t.Fatal(err)
	}
	return body
}

func TestMutateRefuses(t *testing.T) {
	h := newTestHandler(t, examplePolicy(t))
	noContainers := testPod()
	noContainers.Spec.Containers = nil
	huge := testPod()
	huge.Spec.Containers[0].Resources.Limits[contract.ResourceGPUMem] = resource.MustParse("200Gi")
	cardsOnly := testPod() // as nvidia.com/gpu: 1 would be asked
	cardsOnly.Spec.Containers[0].Resources.Limits[contract.ResourceGPU] = resource.MustParse("1")
	annotated := func(key, value string) *corev1.Pod {
		p := testPod()
		p.Spec.Containers[0].Resources.Limits[contract.ResourceGPUMem] = resource.MustParse("4Gi")
		p.Annotations = map[string]string{key: value}
		return p
	}
	for name, tc := range map[string]struct {
		pod  *corev1.Pod
		want string
	}{
		"no containers": {noContainers, "the pod has no containers"},
		"absurd gpu":    {huge, "largest card of this cluster has 81920 MiB"},
		"cards only":    {cardsOnly, "asks for zz.io/gpu 1 without zz.io/gpu-mem: zz shares cards by GPU memory"},
		"numa bind":     {annotated(contract.AnnotationGPUNUMABind, "yes"), `annotation zz.io/gpu-numa-bind: "yes" is not a boolean`},
		"models":        {annotated(contract.AnnotationGPUModel, " ,"), `annotation zz.io/gpu-model: " ," names no card model`},
		"policy":        {annotated(contract.AnnotationGPUPolicy, "worstfit"), `annotation zz.io/gpu-policy: GPU policy "worstfit" is unknown`},
	} {
		t.Run(name, func(t *testing.T) {
			resp := response(t, post(h, reviewBody(t, "shop", podResource, admissionv1.Create, tc.pod), "application/json"))
			if resp.Allowed || resp.Result == nil || resp.Result.Code != http.StatusForbidden || !strings.Contains(resp.Result.Message, tc.want) {
				t.Fatalf("want a 403 refusal containing %q, got %+v", tc.want, resp.Result)
			}
		})
	}
}

func TestMutateBadInput(t *testing.T) {
	h := newTestHandler(t, examplePolicy(t))
	good := reviewBody(t, "shop", podResource, admissionv1.Create, testPod())
	tests := []struct {
		name, contentType string
		body              []byte
		code              int
		want              string
	}{
		{"not json", "application/json", []byte("{"), 400, "cannot decode the body as an AdmissionReview"},
		{"wrong type", "application/json", []byte(`{"request":"x"}`), 400, "cannot decode"},
		{"v1beta1", "application/json", bytes.Replace(good, []byte("admission.k8s.io/v1"), []byte("admission.k8s.io/v1beta1"), 1), 400, "admissionReviewVersions: [v1]"},
		{"no request", "application/json", []byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}`), 400, "has no request"},
		{"yaml", "application/yaml", good, 415, "send application/json"},
		{"too large", "application/json", append(good, bytes.Repeat([]byte(" "), int(DefaultLimits.MaxBodyBytes))...), 200, `"allowed":false,"status":{"metadata":{},"status":"Failure","message":"zz-webhook: the pod's admission review is 4194802 bytes (1 containers); zz-webhook reads at most 4194304`},
		{"too large, no review", "application/json", bytes.Repeat([]byte(" "), int(DefaultLimits.MaxBodyBytes)+1), 413, "reads at most"},
		{"pod not decodable", "application/json", []byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"uid-1","namespace":"shop","resource":{"version":"v1","resource":"pods"},"operation":"CREATE","object":{"spec":{"containers":"nope"}}}}`), 200, "cannot decode the object as a Pod"},
		{"unknown namespace", "application/json", reviewBody(t, "gone", podResource, admissionv1.Create, testPod()), 503, "cannot read namespace gone"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := post(h, tt.body, tt.contentType)
			if rec.Code != tt.code || !strings.Contains(rec.Body.String(), tt.want) {
				t.Fatalf("HTTP %d %q, want %d containing %q", rec.Code, rec.Body, tt.code, tt.want)
			}
		})
	}
}

func TestMutateWithoutPolicyIs503(t *testing.T) {
	rec := post(newTestHandler(t, nil), reviewBody(t, "shop", podResource, admissionv1.Create, testPod()), "application/json")
	if rec.Code != http.StatusServiceUnavailable || !strings.Contains(rec.Body.String(), "no valid policy yet") {
		t.Fatalf("HTTP %d %s", rec.Code, rec.Body)
	}
	rec = httptest.NewRecorder()
	newTestHandler(t, nil).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
	if rec.Code != http.StatusServiceUnavailable {
		t.Fatalf("/readyz without policy: HTTP %d", rec.Code)
	}
}

func TestPolicyStoreKeepsLastGood(t *testing.T) {
	rec := record.NewFakeRecorder(10)
	s := NewPolicyStore(types.NamespacedName{Namespace: ownNamespace, Name: "policy"}, rec)
	if _, err := s.Ready(); err == nil {
		t.Fatal("ready before any policy")
	}
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ownNamespace, Name: "policy", ResourceVersion: "1"},
		Data: map[string]string{contract.PolicyKey: "largestGPUCard: 40Gi\ncluster: a\n"}}
	if err := s.Set(t.Context(), cm); err != nil {
		t.Fatal(err)
	}
	good := s.Current()
	bad := cm.DeepCopy()
	bad.ResourceVersion, bad.Data[contract.PolicyKey] = "2", "largestGPUCard: 40Gi\nclustr: a\n"
	if err := s.Set(t.Context(), bad); err == nil {
		t.Fatal("invalid policy accepted")
	}
	if s.Current() != good {
		t.Fatal("invalid policy replaced the last good one")
	}
	detail, err := s.Ready()
	if err != nil || !strings.Contains(detail, "resourceVersion 1") || !strings.Contains(detail, `unknown field "clustr"`) {
		t.Fatalf("readyz detail %q, err %v", detail, err)
	}
	if e1, e2 := <-rec.Events, <-rec.Events; !strings.HasPrefix(e1, "Normal PolicyLoaded") || !strings.HasPrefix(e2, "Warning PolicyInvalid") ||
		!strings.Contains(e2, "clustr") || !strings.Contains(e2, "the last valid one stays in force") {
		t.Fatalf("events %q, %q", e1, e2)
	}
	// A store that never had a valid policy says it keeps none.
	fresh := NewPolicyStore(types.NamespacedName{Namespace: ownNamespace, Name: "policy"}, rec)
	if err := fresh.Set(t.Context(), bad); err == nil {
		t.Fatal("invalid policy accepted")
	}
	if e := <-rec.Events; !strings.Contains(e, "no valid one was loaded before it: pods of opted-in namespaces are refused") {
		t.Errorf("event of a first policy refused: %q", e)
	}
	s.Deleted(t.Context())
	if detail, _ := s.Ready(); s.Current() != good || !strings.Contains(detail, "was deleted") {
		t.Fatalf("after delete: detail %q", detail)
	}
	// A scheduler name that is neither zz's nor the default is loaded, with
	// a warning naming the fields (a typo leaves their pods Pending).
	odd := cm.DeepCopy()
	odd.ResourceVersion, odd.Data[contract.PolicyKey] = "3", "largestGPUCard: 40Gi\nnamespaces: {a: {scheduler: zz-schedular}, b: {scheduler: zz-scheduler}}\n"
	if err := s.Set(t.Context(), odd); err != nil {
		t.Fatal(err)
	}
	if e1, e2 := <-rec.Events, <-rec.Events; !strings.HasPrefix(e1, "Normal PolicyLoaded") ||
		!strings.HasPrefix(e2, "Warning PolicyUnknownScheduler namespaces.a.scheduler: scheduler \"zz-schedular\" is neither zz-scheduler nor default-scheduler") {
		t.Fatalf("events %q, %q", e1, e2)
	}
	select {
	case e := <-rec.Events:
		t.Fatalf("unexpected event %q", e)
	default:
	}
}

// TestRecordedReviewSkipsManagedFields: a review as the apiserver sent it
// (testdata/apiserver-review.json, recorded in TestBenchWebhook) decodes with
// its metadata and spec whole but no managedFields, and gets the same patch
// as the same review without them: none of its operations touch them.
func TestRecordedReviewSkipsManagedFields(t *testing.T) {
	body, err := os.ReadFile("testdata/apiserver-review.json")
	if err != nil {
		t.Fatal(err)
	}
	_, pod, err := decodeReview(body)
	if err != nil || pod == nil {
		t.Fatalf("decode: %v, pod %v", err, pod)
	}
	if pod.ManagedFields != nil || pod.GenerateName != "bench-" || pod.Namespace != "shop" ||
		pod.Labels[contract.LabelPool] != "general" || len(pod.Spec.Volumes) != 1 || len(pod.Spec.Tolerations) != 2 {
		t.Fatalf("decoded %+v", pod.ObjectMeta)
	}
	var generic map[string]any
	if err := json.Unmarshal(body, &generic); err != nil {
		t.Fatal(err)
	}
	delete(generic["request"].(map[string]any)["object"].(map[string]any)["metadata"].(map[string]any), "managedFields")
	without, err := json.Marshal(generic)
	if err != nil {
		t.Fatal(err)
	}
	p, err := inject.Parse([]byte(benchPolicy))
	if err != nil {
		t.Fatal(err)
	}
	h := newTestHandler(t, p)
	patchOf := func(body []byte) string {
		rec := post(h, body, "application/json")
		var review admissionv1.AdmissionReview
		if err := json.Unmarshal(rec.Body.Bytes(), &review); err != nil || review.Response == nil || !review.Response.Allowed {
			t.Fatalf("HTTP %d %s", rec.Code, rec.Body)
		}
		return string(review.Response.Patch)
	}
	got, want := patchOf(body), patchOf(without)
	if got != want || !strings.Contains(got, "NUM_CPUS") || strings.Contains(got, "managedFields") {
		t.Fatalf("patch with managedFields %s\nwithout %s", got, want)
	}
}

// TestMutateAnswersCheckProbe: a dry run of a pod marked as kubectl zz
// check's probe is answered with the probe warning whatever the decision
// (so check knows the apiserver reached this webhook); nothing else is.
func TestMutateAnswersCheckProbe(t *testing.T) {
	h := newTestHandler(t, examplePolicy(t))
	probe := func(mutate func(*corev1.Pod)) *corev1.Pod {
		p := testPod()
		p.Annotations = map[string]string{contract.AnnotationCheckProbe: "true"}
		if mutate != nil {
			mutate(p)
		}
		return p
	}
	notDryRun := func(b []byte) []byte {
		return bytes.Replace(b, []byte(`"dryRun":true`), []byte(`"dryRun":false`), 1)
	}
	for name, tc := range map[string]struct {
		body    []byte
		allowed bool
		want    bool
	}{
		"mutated":       {reviewBody(t, "shop", podResource, admissionv1.Create, probe(nil)), true, true},
		"not opted in":  {reviewBody(t, "plain", podResource, admissionv1.Create, probe(nil)), true, true},
		"refused":       {reviewBody(t, "shop", podResource, admissionv1.Create, probe(func(p *corev1.Pod) { p.Spec.Containers = nil })), false, true},
		"not a dry run": {notDryRun(reviewBody(t, "shop", podResource, admissionv1.Create, probe(nil))), true, false},
		"no probe mark": {reviewBody(t, "shop", podResource, admissionv1.Create, testPod()), true, false},
		"mark is empty": {reviewBody(t, "shop", podResource, admissionv1.Create, probe(func(p *corev1.Pod) { p.Annotations[contract.AnnotationCheckProbe] = "" })), true, false},
	} {
		t.Run(name, func(t *testing.T) {
			if name == "not a dry run" && !bytes.Contains(tc.body, []byte(`"dryRun":false`)) {
				t.Fatal("the review body has no dryRun to flip")
			}
			resp := response(t, post(h, tc.body, "application/json"))
			if resp.Allowed != tc.allowed {
				t.Errorf("allowed %v, want %v: %+v", resp.Allowed, tc.allowed, resp.Result)
			}
			answered := slices.ContainsFunc(resp.Warnings, func(w string) bool { return strings.HasPrefix(w, contract.WebhookProbeAnswer) })
			if answered != tc.want {
				t.Errorf("probe answered %v, want %v: warnings %q", answered, tc.want, resp.Warnings)
			}
		})
	}
}

// TestReadinessGauges: zz_webhook_ready follows /readyz, and
// zz_webhook_policy_last_update_valid is 0 while the ConfigMap's latest
// version is refused or deleted, though the running webhook keeps its
// last valid policy (the next one started would have none: an SRE audit
// saw every opted-in pod refused with no alert).
func TestReadinessGauges(t *testing.T) {
	s := NewPolicyStore(types.NamespacedName{Namespace: ownNamespace, Name: "policy"}, nil)
	valid := func() float64 {
		t.Helper()
		return testutil.ToFloat64(s.Collectors()[1])
	}
	ready := ReadyGauge(s.Ready)
	if got := testutil.ToFloat64(ready); got != 0 || valid() != 1 {
		t.Fatalf("before any policy: ready %v, last update valid %v; want 0, 1", got, valid())
	}
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ownNamespace, Name: "policy", ResourceVersion: "1"},
		Data: map[string]string{contract.PolicyKey: "largestGPUCard: 40Gi\n"}}
	bad := cm.DeepCopy()
	bad.ResourceVersion, bad.Data[contract.PolicyKey] = "2", "bogusKey: [\n"
	// A webhook started on an invalid policy: unready, and the update refused.
	fresh := NewPolicyStore(s.Source, nil)
	_ = fresh.Set(t.Context(), bad)
	if r, v := testutil.ToFloat64(ReadyGauge(fresh.Ready)), testutil.ToFloat64(fresh.Collectors()[1]); r != 0 || v != 0 {
		t.Fatalf("started on an invalid policy: ready %v, last update valid %v; want 0, 0", r, v)
	}
	for _, step := range []struct {
		name         string
		do           func()
		ready, valid float64
	}{
		{"valid", func() { _ = s.Set(t.Context(), cm) }, 1, 1},
		{"refused", func() { _ = s.Set(t.Context(), bad) }, 1, 0},
		{"fixed", func() { _ = s.Set(t.Context(), cm) }, 1, 1},
		{"deleted", func() { s.Deleted(t.Context()) }, 1, 0},
	} {
		step.do()
		if r, v := testutil.ToFloat64(ready), valid(); r != step.ready || v != step.valid {
			t.Errorf("%s: ready %v, last update valid %v; want %v, %v", step.name, r, v, step.ready, step.valid)
		}
	}
}

// logLines collects what a handler logs at verbosity v, one string per line.
type logLines struct {
	mu    sync.Mutex
	lines []string
}

func (l *logLines) logger(v int) logr.Logger {
	return funcr.New(func(prefix, args string) {
		l.mu.Lock()
		defer l.mu.Unlock()
		l.lines = append(l.lines, prefix+" "+args)
	}, funcr.Options{Verbosity: v})
}

func (l *logLines) take() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := l.lines
	l.lines = nil
	return out
}

// TestFailedReviewsAreLogged: every review the webhook does not answer is a
// pod refused under failurePolicy Fail, so each says why in the log: its
// own failures (5xx) at V(0) with the review's uid and pod, the client's
// (4xx) at V(2); an SRE audit found the log empty while ZZWebhookErrors
// sent the on-call to it.
func TestFailedReviewsAreLogged(t *testing.T) {
	h := newTestHandler(t, examplePolicy(t))
	noPolicy := newTestHandler(t, nil)
	var logs logLines
	send := func(h http.Handler, v int, body []byte, contentType string) (int, []string) {
		req := httptest.NewRequest(http.MethodPost, "/mutate-pods", bytes.NewReader(body))
		req = req.WithContext(klog.NewContext(req.Context(), logs.logger(v)))
		req.Header.Set("Content-Type", contentType)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec.Code, logs.take()
	}
	for _, tt := range []struct {
		name        string
		h           http.Handler
		body        []byte
		contentType string
		code        int
		v0          []string // in the line at V(0); nil: no line at V(0)
		v2          []string // in the line at V(2)
	}{
		{"unknown namespace", h, reviewBody(t, "gone", podResource, admissionv1.Create, testPod()), "application/json", 503,
			[]string{`"code"=503`, `"err"="cannot read namespace gone: namespaces \"gone\" not found"`, `"uid"="uid-1"`, `"pod"={"name"="shop-" "namespace"="gone"}`}, nil},
		{"no policy", noPolicy, reviewBody(t, "shop", podResource, admissionv1.Create, testPod()), "application/json", 503,
			[]string{`"code"=503`, `"err"="zz-webhook has no valid policy yet: no policy loaded yet"`, `"uid"="uid-1"`}, nil},
		{"not json", h, []byte("{"), "application/json", 400, nil,
			[]string{`"code"=400`, `"err"="cannot decode the body as an AdmissionReview`}},
		{"yaml", h, []byte("{}"), "application/yaml", 415, nil, []string{`"code"=415`, `send application/json`}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			code, lines := send(tt.h, 0, tt.body, tt.contentType)
			if code != tt.code {
				t.Fatalf("HTTP %d, want %d", code, tt.code)
			}
			check := func(v int, lines, want []string) {
				t.Helper()
				if want == nil {
					if len(lines) != 0 {
						t.Errorf("at V(%d): %q, want no line", v, lines)
					}
					return
				}
				if len(lines) != 1 {
					t.Fatalf("at V(%d): %q, want one line", v, lines)
				}
				for _, w := range want {
					if !strings.Contains(lines[0], w) {
						t.Errorf("at V(%d): %s\nwant %s in it", v, lines[0], w)
					}
				}
			}
			check(0, lines, tt.v0)
			if tt.v2 == nil {
				tt.v2 = tt.v0
			}
			_, lines = send(tt.h, 2, tt.body, tt.contentType)
			check(2, lines, tt.v2)
		})
	}

	// A burst of refusals (too large, and no review in it) logs one line
	// per interval, then says how many it left out.
	big := bytes.Repeat([]byte(" "), int(DefaultLimits.MaxBodyBytes)+1)
	var burst []string
	for range 5 {
		code, lines := send(h, 2, big, "application/json")
		if code != http.StatusRequestEntityTooLarge {
			t.Fatalf("HTTP %d, want 413", code)
		}
		burst = append(burst, lines...)
	}
	if len(burst) != 1 || !strings.Contains(burst[0], `"reason"="too-large"`) || !strings.Contains(burst[0], `"leftOutSinceLastLine"=0`) {
		t.Fatalf("a burst of 5 refusals logged %q, want one line", burst)
	}
	h.refusals.mu.Lock()
	h.refusals.next = time.Time{}
	h.refusals.mu.Unlock()
	if _, lines := send(h, 2, big, "application/json"); len(lines) != 1 || !strings.Contains(lines[0], `"leftOutSinceLastLine"=4`) {
		t.Fatalf("after the interval: %q, want one line counting the 4 left out", lines)
	}

	// A pod whose review is too large is refused with its uid, at V(0) as
	// the other refusals of pods, and the line no longer says that no pod
	// the apiserver accepts is that big.
	h.refusals.mu.Lock()
	h.refusals.next = time.Time{}
	h.refusals.mu.Unlock()
	pod := append(reviewBody(t, "shop", podResource, admissionv1.Create, testPod()), bytes.Repeat([]byte(" "), int(DefaultLimits.MaxBodyBytes))...)
	code, lines := send(h, 0, pod, "application/json")
	if code != http.StatusOK || len(lines) != 1 || !strings.Contains(lines[0], `"uid"="uid-1"`) || !strings.Contains(lines[0], `"containers"=1`) ||
		!strings.Contains(lines[0], "Refused a pod whose review is too large to decode") {
		t.Fatalf("a pod's review over the limit: HTTP %d, logged %q; want 200 and one line with its uid and containers", code, lines)
	}
}

func TestSampler(t *testing.T) {
	s := &sampler{every: time.Second}
	t0 := time.Unix(100, 0)
	for i, tt := range []struct {
		at      time.Duration
		ok      bool
		dropped int
	}{{0, true, 0}, {100 * time.Millisecond, false, 0}, {900 * time.Millisecond, false, 0}, {time.Second, true, 2}, {3 * time.Second, true, 0}} {
		if ok, dropped := s.allow(t0.Add(tt.at)); ok != tt.ok || dropped != tt.dropped {
			t.Errorf("%d: allow = %v, %d; want %v, %d", i, ok, dropped, tt.ok, tt.dropped)
		}
	}
}
