package extender

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	extenderv1 "k8s.io/kube-scheduler/extender/v1"

	"github.com/zzcloud/zz/internal/balance"
	"github.com/zzcloud/zz/internal/contract"
	"github.com/zzcloud/zz/internal/gpushare"
)

func gpuNode(name string, mib ...int64) *corev1.Node {
	inv := &contract.NodeGPUInventory{Version: contract.InventoryVersion}
	for i, m := range mib {
		inv.Cards = append(inv.Cards, contract.GPU{Index: i, UUID: fmt.Sprintf("GPU-%s-%d", name, i), Model: "T4", MemoryMiB: m, Healthy: true})
	}
	v, _ := inv.Encode()
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name, Annotations: map[string]string{contract.AnnotationNodeGPUInventory: v}},
		Status: corev1.NodeStatus{Allocatable: corev1.ResourceList{
			corev1.ResourceCPU: resource.MustParse("16"), corev1.ResourceMemory: resource.MustParse("64Gi")}},
	}
}

func gpuPod(name, mem string, cards int) *corev1.Pod {
	// 0 cards: the webhook's zz.io/gpu: 1, which every admitted GPU pod has
	// (the extender refuses one without it: TestNoCardResource).
	limits := corev1.ResourceList{contract.ResourceGPUMem: resource.MustParse(mem),
		contract.ResourceGPU: *resource.NewQuantity(int64(max(cards, 1)), resource.DecimalSI)}
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", UID: types.UID("uid-" + name)},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Resources: corev1.ResourceRequirements{Limits: limits}}}},
	}
}

type env struct {
	handler *Handler
	client  *fake.Clientset
	ledger  *gpushare.Ledger
	decider *Decider
}

// newEnv wires a handler over books holding nodes, with a fake API server
// that knows pods and binds them.
func newEnv(t testing.TB, nodes []*corev1.Node, pods ...*corev1.Pod) *env {
	t.Helper()
	objs := []runtime.Object{}
	for _, p := range pods {
		objs = append(objs, p)
	}
	client := fake.NewClientset(objs...)
	client.PrependReactor("create", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if a.GetSubresource() != "binding" {
			return false, nil, nil
		}
		b := a.(k8stesting.CreateAction).GetObject().(*corev1.Binding)
		p, err := client.Tracker().Get(corev1.SchemeGroupVersion.WithResource("pods"), b.Namespace, b.Name)
		if err != nil {
			return true, nil, err
		}
		pod := p.(*corev1.Pod).DeepCopy()
		pod.Spec.NodeName = b.Target.Name
		return true, b, client.Tracker().Update(corev1.SchemeGroupVersion.WithResource("pods"), pod, b.Namespace)
	})
	ledger, book := gpushare.NewLedger(), balance.NewBook()
	for _, n := range nodes {
		ledger.SetNode(n)
		book.SetNode(n)
	}
	d := &Decider{GPU: ledger, Usage: book, DefaultPolicy: gpushare.Binpack, Weights: balance.Default, Now: time.Now}
	get := func(ctx context.Context, ns, name string) (*corev1.Pod, error) {
		return client.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
	}
	b := &Binder{Client: client, GetPod: get, Decider: d, Now: time.Now}
	return &env{handler: NewHandler(d, b, func() error { return nil }, NewMetrics()), client: client, ledger: ledger, decider: d}
}

func (e *env) call(t testing.TB, path string, body any, out any) int {
	t.Helper()
	var buf bytes.Buffer
	if s, ok := body.(string); ok {
		buf.WriteString(s)
	} else if err := json.NewEncoder(&buf).Encode(body); err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest(http.MethodPost, path, &buf)
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	e.handler.ServeHTTP(rec, req)
	if out != nil && rec.Code == http.StatusOK {
		if err := json.Unmarshal(rec.Body.Bytes(), out); err != nil {
			t.Fatalf("decode %s reply %q: %v", path, rec.Body.String(), err)
		}
	}
	return rec.Code
}

func names(n ...string) *[]string { return &n }

func TestFilter(t *testing.T) {
	e := newEnv(t, []*corev1.Node{gpuNode("t4", 15360, 15360), gpuNode("a100", 40960), {ObjectMeta: metav1.ObjectMeta{Name: "cpu"}}})
	// Fill the A100 to 37888 MiB used so 3072 MiB stay free.
	if _, err := e.ledger.Reserve("a100", types.NamespacedName{Name: "big"}, "big", gpushare.Request{MemMiB: 37888, Cards: 1}, gpushare.Binpack, time.Now()); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		pod    *corev1.Pod
		pass   []string
		failed map[string]string
		// invalid: the pod's request cannot be read; every node is
		// refused with this reason (not an Error of the call).
		invalid string
	}{
		{name: "4Gi fits the T4 only", pod: gpuPod("p", "4Gi", 0), pass: []string{"t4"}, failed: map[string]string{
			"a100": "largest free card 3072 MiB < 4096 MiB asked", "cpu": "node has no zz.io/gpu-inventory annotation",
			"gone": "node gone is not in the extender's cache"}},
		{name: "two cards", pod: gpuPod("p", "1Gi", 2), pass: []string{"t4"}, failed: map[string]string{
			"a100": "node has 1 GPU cards < 2 asked"}},
		{name: "more cards than any node", pod: gpuPod("p", "1Gi", 3), pass: []string{}, failed: map[string]string{
			"t4": "pod asks for 3 cards; the largest GPU node has 2", "a100": "pod asks for 3 cards; the largest GPU node has 2",
			"cpu": "pod asks for 3 cards; the largest GPU node has 2", "gone": "pod asks for 3 cards; the largest GPU node has 2"}},
		{name: "zero memory", pod: gpuPod("p", "0", 0), invalid: "must be positive"},
		{name: "cards without memory", pod: func() *corev1.Pod {
			p := gpuPod("p", "1Gi", 1)
			delete(p.Spec.Containers[0].Resources.Limits, contract.ResourceGPUMem)
			return p
		}(), invalid: "asks for zz.io/gpu 1 without zz.io/gpu-mem: zz shares cards by GPU memory"},
		{name: "bad policy", pod: func() *corev1.Pod {
			p := gpuPod("p", "1Gi", 0)
			p.Annotations = map[string]string{contract.AnnotationGPUPolicy: "worstfit"}
			return p
		}(), invalid: `GPU policy "worstfit" is unknown`},
		{name: "bad NUMA bind", pod: func() *corev1.Pod {
			p := gpuPod("p", "1Gi", 2)
			p.Annotations = map[string]string{contract.AnnotationGPUNUMABind: "yes"}
			return p
		}(), invalid: `annotation zz.io/gpu-numa-bind: "yes" is not a boolean; use "true"`},
		{name: "a model no node has", pod: func() *corev1.Pod {
			p := gpuPod("p", "1Gi", 0)
			p.Annotations = map[string]string{contract.AnnotationGPUModel: "A100, h100"}
			return p
		}(), pass: []string{}, failed: map[string]string{
			"t4":   "node has 0 healthy GPU cards of model A100 or h100 < 1 asked (its models: 2 T4)",
			"a100": "node has 0 healthy GPU cards of model A100 or h100 < 1 asked (its models: 1 T4)"}},
		{name: "a model to avoid", pod: func() *corev1.Pod {
			p := gpuPod("p", "1Gi", 0)
			p.Annotations = map[string]string{contract.AnnotationGPUModel: "t4", contract.AnnotationGPUModelAvoid: "V100"}
			return p
		}(), pass: []string{"t4", "a100"}},
		{name: "one card by UUID", pod: func() *corev1.Pod {
			p := gpuPod("p", "1Gi", 0)
			p.Annotations = map[string]string{contract.AnnotationGPUCard: "gpu-t4-1"}
			return p
		}(), pass: []string{"t4"}, failed: map[string]string{
			"a100": "node has 0 healthy GPU cards of card gpu-t4-1 < 1 asked (its cards: GPU-a100-0)"}},
		{name: "bad card list", pod: func() *corev1.Pod {
			p := gpuPod("p", "1Gi", 0)
			p.Annotations = map[string]string{contract.AnnotationGPUCardAvoid: ""}
			return p
		}(), invalid: `annotation zz.io/gpu-card-avoid: "" names no card`},
		{name: "bad model list", pod: func() *corev1.Pod {
			p := gpuPod("p", "1Gi", 0)
			p.Annotations = map[string]string{contract.AnnotationGPUModelAvoid: " , "}
			return p
		}(), invalid: `annotation zz.io/gpu-model-avoid: " , " names no card model`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var res extenderv1.ExtenderFilterResult
			code := e.call(t, "/gpu/filter", extenderv1.ExtenderArgs{Pod: tt.pod, NodeNames: names("t4", "a100", "cpu", "gone")}, &res)
			if code != http.StatusOK {
				t.Fatalf("status %d", code)
			}
			if tt.invalid != "" {
				if res.Error != "" || res.NodeNames == nil || len(*res.NodeNames) != 0 || len(res.FailedAndUnresolvableNodes) != 4 {
					t.Fatalf("invalid request: Error %q, passed %v, refused %v; want every node refused", res.Error, res.NodeNames, res.FailedAndUnresolvableNodes)
				}
				for node, why := range res.FailedAndUnresolvableNodes {
					if !strings.Contains(why, tt.invalid) {
						t.Errorf("node %s: reason %q, want %q", node, why, tt.invalid)
					}
				}
				return
			}
			if res.Error != "" || res.NodeNames == nil || strings.Join(*res.NodeNames, ",") != strings.Join(tt.pass, ",") {
				t.Fatalf("passed %v (err %q), want %v", res.NodeNames, res.Error, tt.pass)
			}
			for node, want := range tt.failed {
				if got := res.FailedAndUnresolvableNodes[node]; got != want {
					t.Errorf("node %s: reason %q, want %q", node, got, want)
				}
			}
		})
	}
}

// TestTooManyCards: a pod asking for more cards than any node has is a
// verdict on every node, not an error of the call (which kube-scheduler
// shows as a SchedulerError and retries as the extender's failure), and no
// preemption is offered for it.
func TestTooManyCards(t *testing.T) {
	e := newEnv(t, []*corev1.Node{gpuNode("t4", 15360, 15360)})
	pod := gpuPod("p", "1Gi", 9)
	var res extenderv1.ExtenderFilterResult
	if code := e.call(t, "/gpu/filter", extenderv1.ExtenderArgs{Pod: pod, NodeNames: names("t4")}, &res); code != http.StatusOK || res.Error != "" ||
		res.NodeNames == nil || len(*res.NodeNames) != 0 || res.FailedAndUnresolvableNodes["t4"] != "pod asks for 9 cards; the largest GPU node has 2" {
		t.Fatalf("filter: status %d, %+v", code, res)
	}
	var pre extenderv1.ExtenderPreemptionResult
	victims := map[string]*extenderv1.MetaVictims{"t4": {}}
	if code := e.call(t, "/gpu/preempt", extenderv1.ExtenderPreemptionArgs{Pod: pod, NodeNameToMetaVictims: victims}, &pre); code != http.StatusOK || len(pre.NodeNameToMetaVictims) != 0 {
		t.Fatalf("preempt: status %d, %+v", code, pre)
	}
}

func TestBadRequests(t *testing.T) {
	e := newEnv(t, []*corev1.Node{gpuNode("n", 16000)})
	for _, tt := range []struct {
		path, body string
		code       int
	}{
		{"/gpu/filter", "{not json", http.StatusBadRequest},
		{"/gpu/prioritize", "[]", http.StatusBadRequest},
		{"/balance/prioritize", `{"Pod": 3}`, http.StatusBadRequest},
		{"/gpu/bind", `{"PodName": 1}`, http.StatusBadRequest},
		{"/gpu/preempt", `{"NodeNameToMetaVictims": {}}`, http.StatusBadRequest},
		{"/gpu/preempt", `{"Pod": {"spec": {"containers": [{"resources": {"limits": {"zz.io/gpu-mem": "-1"}}}]}}}`, http.StatusBadRequest},
	} {
		if code := e.call(t, tt.path, tt.body, nil); code != tt.code {
			t.Errorf("%s %q: status %d, want %d", tt.path, tt.body, code, tt.code)
		}
	}
	var res extenderv1.ExtenderFilterResult
	if e.call(t, "/gpu/filter", extenderv1.ExtenderArgs{NodeNames: names("n")}, &res); !strings.Contains(res.Error, "no pod") {
		t.Errorf("filter without a pod: %q", res.Error)
	}
	req := httptest.NewRequest(http.MethodPost, "/gpu/filter", strings.NewReader("{}"))
	req.Header.Set("Content-Type", "text/plain")
	rec := httptest.NewRecorder()
	e.handler.ServeHTTP(rec, req)
	if rec.Code != http.StatusUnsupportedMediaType {
		t.Errorf("text/plain: status %d", rec.Code)
	}
}

func TestPrioritize(t *testing.T) {
	e := newEnv(t, []*corev1.Node{gpuNode("half", 16000), gpuNode("empty", 16000)})
	if _, err := e.ledger.Reserve("half", types.NamespacedName{Name: "x"}, "x", gpushare.Request{MemMiB: 8000, Cards: 1}, gpushare.Binpack, time.Now()); err != nil {
		t.Fatal(err)
	}
	score := func(pod *corev1.Pod) map[string]int64 {
		var list extenderv1.HostPriorityList
		if code := e.call(t, "/gpu/prioritize", extenderv1.ExtenderArgs{Pod: pod, NodeNames: names("half", "empty")}, &list); code != http.StatusOK {
			t.Fatalf("status %d", code)
		}
		out := map[string]int64{}
		for _, h := range list {
			out[h.Host] = h.Score
		}
		return out
	}
	if s := score(gpuPod("p", "4000Mi", 0)); s["half"] <= s["empty"] {
		t.Errorf("binpack: %v, want half > empty", s)
	}
	spread := gpuPod("p", "4000Mi", 0)
	spread.Annotations = map[string]string{contract.AnnotationGPUPolicy: contract.PolicySpread}
	if s := score(spread); s["half"] >= s["empty"] {
		t.Errorf("spread: %v, want empty > half", s)
	}
	var list extenderv1.HostPriorityList
	if code := e.call(t, "/balance/prioritize", extenderv1.ExtenderArgs{Pod: gpuPod("p", "1Gi", 0), NodeNames: names("half", "empty", "unknown")}, &list); code != http.StatusOK || len(list) != 3 {
		t.Fatalf("balance: %d %v", code, list)
	}
	for _, h := range list {
		if h.Score < 0 || h.Score > extenderv1.MaxExtenderPriority {
			t.Errorf("score %v out of range", h)
		}
	}
}

// TestBindConcurrent binds 300 pods at once onto one node of 2 x 16000 MiB:
// 2000 MiB each, so exactly 16 may succeed and no card may be overfilled.
func TestBindConcurrent(t *testing.T) {
	var pods []*corev1.Pod
	for i := range 300 {
		pods = append(pods, gpuPod(fmt.Sprint("p", i), "2000Mi", 0))
	}
	e := newEnv(t, []*corev1.Node{gpuNode("n", 16000, 16000)}, pods...)
	var wg sync.WaitGroup
	var mu sync.Mutex
	bound := 0
	for _, p := range pods {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var res extenderv1.ExtenderBindingResult
			if code := e.call(t, "/gpu/bind", extenderv1.ExtenderBindingArgs{PodName: p.Name, PodNamespace: "ns", PodUID: p.UID, Node: "n"}, &res); code != http.StatusOK {
				t.Errorf("status %d", code)
			}
			if res.Error == "" {
				mu.Lock()
				bound++
				mu.Unlock()
			} else if !strings.Contains(res.Error, "largest free card") {
				t.Errorf("unexpected bind error: %s", res.Error)
			}
		}()
	}
	wg.Wait()
	if bound != 16 {
		t.Fatalf("%d pods bound, want 16", bound)
	}
	// The API agrees with the ledger: annotations on exactly the bound pods,
	// and per card no more than it holds.
	list, err := e.client.CoreV1().Pods("ns").List(t.Context(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	perCard := map[string]int64{}
	for _, p := range list.Items {
		a, err := gpushare.PodAssignment(&p)
		if p.Spec.NodeName == "" {
			if err == nil {
				t.Errorf("unbound pod %s carries a card choice", p.Name)
			}
			continue
		}
		if err != nil {
			t.Fatalf("bound pod %s: %v", p.Name, err)
		}
		perCard[a.UUIDs[0]] += a.MemMiB
	}
	for card, used := range perCard {
		if used > 16000 {
			t.Errorf("card %s holds %d MiB > 16000", card, used)
		}
	}
}

// TestBindLandedDespiteAnError: a Binding that lands but answers with an
// error (a timeout) keeps the pod's cards: given back, the next pod would
// overfill them (an e2e burst on a loaded machine did); one that did not
// land gives them back.
func TestBindLandedDespiteAnError(t *testing.T) {
	for _, landed := range []bool{true, false} {
		p := gpuPod("p", "10000Mi", 0)
		e := newEnv(t, []*corev1.Node{gpuNode("n", 16000)}, p)
		e.client.PrependReactor("create", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
			if a.GetSubresource() != "binding" {
				return false, nil, nil
			}
			if landed {
				live, err := e.client.Tracker().Get(corev1.SchemeGroupVersion.WithResource("pods"), "ns", "p")
				if err != nil {
					return true, nil, err
				}
				pod := live.(*corev1.Pod).DeepCopy()
				pod.Spec.NodeName = "n"
				if err := e.client.Tracker().Update(corev1.SchemeGroupVersion.WithResource("pods"), pod, "ns"); err != nil {
					return true, nil, err
				}
			}
			return true, nil, apierrors.NewTimeoutError("request did not complete within requested timeout", 0)
		})
		var res extenderv1.ExtenderBindingResult
		e.call(t, "/gpu/bind", extenderv1.ExtenderBindingArgs{PodName: "p", PodNamespace: "ns", PodUID: p.UID, Node: "n"}, &res)
		cs, _ := e.ledger.Cards("n")
		switch {
		case landed && (res.Error != "" || cs[0].UsedMiB != 10000):
			t.Errorf("a Binding that landed: error %q, card holds %d MiB; want none and 10000", res.Error, cs[0].UsedMiB)
		case !landed && (res.Error == "" || cs[0].UsedMiB != 0):
			t.Errorf("a Binding that did not land: error %q, card holds %d MiB; want the error and 0", res.Error, cs[0].UsedMiB)
		}
	}
}

func TestBindRecreatedPod(t *testing.T) {
	p := gpuPod("p", "1Gi", 0)
	e := newEnv(t, []*corev1.Node{gpuNode("n", 16000)}, p)
	var res extenderv1.ExtenderBindingResult
	e.call(t, "/gpu/bind", extenderv1.ExtenderBindingArgs{PodName: "p", PodNamespace: "ns", PodUID: "old-uid", Node: "n"}, &res)
	if !strings.Contains(res.Error, "it was recreated") {
		t.Fatalf("Error = %q", res.Error)
	}
	if cs, _ := e.ledger.Cards("n"); cs[0].UsedMiB != 0 {
		t.Fatal("a refused bind holds memory")
	}
}

// TestNonGPUPodAtGPUVerbs: a profile without managedResources sends every pod
// to the GPU verbs; one asking for no GPU memory passes every node, scores
// neutrally and binds without a card choice.
func TestNonGPUPodAtGPUVerbs(t *testing.T) {
	plain := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "plain", Namespace: "ns", UID: "uid-plain"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app"}}}}
	e := newEnv(t, []*corev1.Node{gpuNode("gpu", 16000), {ObjectMeta: metav1.ObjectMeta{Name: "cpu"}}}, plain)
	var fr extenderv1.ExtenderFilterResult
	if code := e.call(t, "/gpu/filter", extenderv1.ExtenderArgs{Pod: plain, NodeNames: names("gpu", "cpu", "unknown")}, &fr); code != http.StatusOK {
		t.Fatalf("filter status %d", code)
	}
	if fr.Error != "" || fr.NodeNames == nil || len(*fr.NodeNames) != 3 || len(fr.FailedAndUnresolvableNodes) != 0 {
		t.Fatalf("filter = %+v, want every node", fr)
	}
	nodes := &corev1.NodeList{Items: []corev1.Node{{ObjectMeta: metav1.ObjectMeta{Name: "cpu"}}}}
	fr = extenderv1.ExtenderFilterResult{}
	if e.call(t, "/gpu/filter", extenderv1.ExtenderArgs{Pod: plain, Nodes: nodes}, &fr); fr.Nodes == nil || len(fr.Nodes.Items) != 1 {
		t.Fatalf("filter with Nodes = %+v", fr)
	}
	var list extenderv1.HostPriorityList
	if code := e.call(t, "/gpu/prioritize", extenderv1.ExtenderArgs{Pod: plain, NodeNames: names("gpu", "cpu")}, &list); code != http.StatusOK || len(list) != 2 || list[0].Score != list[1].Score {
		t.Fatalf("prioritize: %d %v, want equal scores", code, list)
	}
	var res extenderv1.ExtenderBindingResult
	if e.call(t, "/gpu/bind", extenderv1.ExtenderBindingArgs{PodName: "plain", PodNamespace: "ns", PodUID: "uid-plain", Node: "cpu"}, &res); res.Error != "" {
		t.Fatalf("bind: %s", res.Error)
	}
	got, err := e.client.CoreV1().Pods("ns").Get(t.Context(), "plain", metav1.GetOptions{})
	if err != nil || got.Spec.NodeName != "cpu" || len(got.Annotations) != 0 {
		t.Fatalf("bound pod %v (%v), want on cpu without annotations", got, err)
	}
}

// Until the caches have synced, no verb decides: the ledger may hold the
// nodes without the pods already on their cards.
func TestVerbsWaitForSync(t *testing.T) {
	e := newEnv(t, []*corev1.Node{gpuNode("t4", 15360)}, gpuPod("p", "4Gi", 0))
	synced := false
	e.handler.Ready = func() error {
		if !synced {
			return errors.New("informer caches have not synced yet")
		}
		return nil
	}
	args := extenderv1.ExtenderArgs{Pod: gpuPod("p", "4Gi", 0), NodeNames: names("t4")}
	bind := extenderv1.ExtenderBindingArgs{PodName: "p", PodNamespace: "ns", PodUID: "uid-p", Node: "t4"}
	verbs := []struct {
		path string
		body any
	}{{"/gpu/filter", args}, {"/gpu/prioritize", args}, {"/balance/prioritize", args}, {"/gpu/preempt", extenderv1.ExtenderPreemptionArgs{Pod: args.Pod}}, {"/gpu/bind", bind}}
	for _, v := range verbs {
		if code := e.call(t, v.path, v.body, nil); code != http.StatusServiceUnavailable {
			t.Errorf("%s before sync: HTTP %d, want 503", v.path, code)
		}
	}
	p, err := e.client.CoreV1().Pods("ns").Get(t.Context(), "p", metav1.GetOptions{})
	if err != nil || p.Spec.NodeName != "" || len(p.Annotations) != 0 {
		t.Fatalf("a verb acted before sync: node %q, annotations %v (%v)", p.Spec.NodeName, p.Annotations, err)
	}
	synced = true
	for _, v := range verbs[:4] {
		if code := e.call(t, v.path, v.body, nil); code != http.StatusOK {
			t.Errorf("%s after sync: HTTP %d, want 200", v.path, code)
		}
	}
}

// TestPrioritizeBalanceCountsInFlight: pods scored one after the other, none
// seen bound yet, must not herd: each call gives exactly one node the top
// score and counts the pod there, so equal pods on equal nodes take turns.
func TestPrioritizeBalanceCountsInFlight(t *testing.T) {
	cpuNode := func(name string) *corev1.Node {
		return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}, Status: corev1.NodeStatus{Allocatable: corev1.ResourceList{
			corev1.ResourceCPU: resource.MustParse("8"), corev1.ResourceMemory: resource.MustParse("32Gi")}}}
	}
	e := newEnv(t, []*corev1.Node{cpuNode("a"), cpuNode("b"), cpuNode("c")})
	tops := map[string]int{}
	for i := range 6 {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprint("p", i), Namespace: "ns", UID: types.UID(fmt.Sprint("uid-", i))},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
				corev1.ResourceCPU: resource.MustParse("1"), corev1.ResourceMemory: resource.MustParse("4Gi")}}}}}}
		var list extenderv1.HostPriorityList
		if code := e.call(t, "/balance/prioritize", extenderv1.ExtenderArgs{Pod: p, NodeNames: names("a", "b", "c")}, &list); code != http.StatusOK {
			t.Fatalf("status %d", code)
		}
		var top []string
		for _, h := range list {
			if h.Score == extenderv1.MaxExtenderPriority {
				top = append(top, h.Host)
			}
		}
		if len(top) != 1 {
			t.Fatalf("pod %d: nodes at the top score %v, want exactly one (%v)", i, top, list)
		}
		tops[top[0]]++
	}
	if tops["a"] != 2 || tops["b"] != 2 || tops["c"] != 2 {
		t.Fatalf("top nodes over 6 equal pods %v, want 2 each", tops)
	}
}
