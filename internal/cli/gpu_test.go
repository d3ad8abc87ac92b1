package cli

import (
	"encoding/json"
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	clienttesting "k8s.io/client-go/testing"
	"k8s.io/utils/ptr"

	"github.com/zzcloud/zz/internal/contract"
	"github.com/zzcloud/zz/internal/gpushare"
)

// gpuCluster is a node with one 40 GiB card shared by up to 4 pods, and
// pods of namespace ns, each requesting reqMiB and using used (published
// by the device plugin; "" for none).
func gpuCluster(t *testing.T, ns string, pods ...[3]string) []runtime.Object {
	t.Helper()
	inv := &contract.NodeGPUInventory{Version: 1, Cards: []contract.GPU{{Index: 0, UUID: "GPU-A", Model: "NVIDIA A100-SXM4-40GB", MemoryMiB: 40960, Healthy: true}}}
	v, err := inv.Encode()
	if err != nil {
		t.Fatal(err)
	}
	objs := []runtime.Object{&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "gpu-1", Annotations: map[string]string{contract.AnnotationNodeGPUInventory: v}},
		Status: corev1.NodeStatus{Capacity: corev1.ResourceList{contract.ResourceGPU: resource.MustParse("4")}}}}
	for _, p := range pods { // name, app, used
		a := &gpushare.Assignment{Indexes: []int{0}, UUIDs: []string{"GPU-A"}, MemMiB: 8192, Assigned: true}
		ann := a.Annotations()
		if p[2] != "" {
			ann[contract.AnnotationGPUMemUsed] = "GPU-A=" + p[2]
		}
		objs = append(objs, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: p[0], Namespace: ns, UID: types.UID("u-" + p[0] + ns), Annotations: ann,
			Labels: map[string]string{contract.LabelApp: p[1]}},
			Spec: corev1.PodSpec{NodeName: "gpu-1", Containers: []corev1.Container{{Name: "c", Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{
				contract.ResourceGPUMem: resource.MustParse("8Gi"), contract.ResourceGPU: resource.MustParse("1")}}}}},
			Status: corev1.PodStatus{Phase: corev1.PodRunning}})
	}
	return objs
}

func TestGPUPods(t *testing.T) {
	a := fakeClient(append(gpuCluster(t, "ns-a", [3]string{"vision-0", "vision", "9000"}, [3]string{"vision-1", "vision", "2000"},
		[3]string{"llm-0", "llm", ""}), &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "ns-a"}},
		&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "queued", Namespace: "waiting"}, Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c",
			Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{contract.ResourceGPUMem: resource.MustParse("8Gi")}}}}}})...)
	b := fakeClient(gpuCluster(t, "ns-b", [3]string{"ocr-0", "ocr", "100"}, [3]string{"batch-0", "", ""})...)
	zz := withFakeClusters(t, a, b)
	tests := []struct {
		args []string
		want []string
	}{
		{args: []string{"gpu", "--pods"}, want: []string{
			"POD APP NODE CARD REQUESTED USED OVER",
			"llm-0 llm gpu-1 0 8Gi <unknown> false",
			"vision-0 vision gpu-1 0 8Gi 9000Mi true",
			"vision-1 vision gpu-1 0 8Gi 2000Mi false",
			"",
			"APP PODS REQUESTED USED OVER",
			"llm 1 8Gi <unknown> 0",
			"vision 2 16Gi 11000Mi 1",
		}},
		{args: []string{"gpu", "--pods", "-A", "-l", "zz.io/app=vision"}, want: []string{
			"NAMESPACE POD APP NODE CARD REQUESTED USED OVER",
			"ns-a vision-0 vision gpu-1 0 8Gi 9000Mi true",
			"ns-a vision-1 vision gpu-1 0 8Gi 2000Mi false",
			"",
			"NAMESPACE APP PODS REQUESTED USED OVER",
			"ns-a vision 2 16Gi 11000Mi 1",
		}},
		{args: []string{"gpu", "--pods", "-A", "--context", "a,b", "-l", "zz.io/app in (ocr,llm)"}, want: []string{
			"CLUSTER NAMESPACE POD APP NODE CARD REQUESTED USED OVER",
			"a ns-a llm-0 llm gpu-1 0 8Gi <unknown> false",
			"b ns-b ocr-0 ocr gpu-1 0 8Gi 100Mi false",
			"",
			"CLUSTER NAMESPACE APP PODS REQUESTED USED OVER",
			"a ns-a llm 1 8Gi <unknown> 0",
			"b ns-b ocr 1 8Gi 100Mi 0",
		}},
		// The card table: FREE is the ledger's (3 of 4 slots taken: 16 GiB
		// left); wide adds what the pods use.
		{args: []string{"gpu", "-o", "wide"}, want: []string{
			"NODE CARD MODEL TOTAL ALLOCATED FREE PODS UUID HEALTHY NUMA USED POD MEMORY (REQUESTED/USED)",
			"gpu-1 0 NVIDIA A100-SXM4-40GB 40Gi 24Gi 16Gi 3 GPU-A true <unknown> 11000Mi ns-a/llm-0:8Gi/<unknown>,ns-a/vision-0:8Gi/9000Mi,ns-a/vision-1:8Gi/2000Mi",
		}},
		// The shapes of the live GPU pods: 8 GiB on one card; cluster a's
		// card has room for two more by memory but one slot left.
		{args: []string{"gpu", "--shapes", "--context", "a,b"}, want: []string{
			"CLUSTER MEMORY CARDS SHARE MORE UNUSABLE FREE",
			"a 8Gi 1 100% 1 0Mi",
			"b 8Gi 1 100% 2 0Mi",
		}},
		{args: []string{"gpu", "--shapes", "-o", "name"}, want: []string{"gpushape.zz.io/8192mi-x1"}},
		{args: []string{"gpu", "--pods", "-o", "name"}, want: []string{"gpupod.zz.io/llm-0", "gpupod.zz.io/vision-0", "gpupod.zz.io/vision-1", "gpuapp.zz.io/llm", "gpuapp.zz.io/vision"}},
		// A pod without zz.io/app is a pod object, and the <none> row of the
		// app table, never an app object with no name.
		{args: []string{"gpu", "--pods", "--context", "b", "-n", "ns-b", "-o", "name"}, want: []string{"gpupod.zz.io/batch-0", "gpupod.zz.io/ocr-0", "gpuapp.zz.io/ocr"}},
		{args: []string{"gpu", "--pods", "--context", "b", "-n", "ns-b", "--no-headers"}, want: []string{
			"batch-0 <none> gpu-1 0 8Gi <unknown> false",
			"ocr-0 ocr gpu-1 0 8Gi 100Mi false",
			"",
			"<none> 1 8Gi <unknown> 0",
			"ocr 1 8Gi 100Mi 0",
		}},
		{args: []string{"gpu", "--pods", "--context", "b", "-n", "ns-b"}, want: []string{
			"POD APP NODE CARD REQUESTED USED OVER",
			"batch-0 <none> gpu-1 0 8Gi <unknown> false",
			"ocr-0 ocr gpu-1 0 8Gi 100Mi false",
			"",
			"APP PODS REQUESTED USED OVER",
			"<none> 1 8Gi <unknown> 0",
			"ocr 1 8Gi 100Mi 0",
		}},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			checkLines(t, zz, tt.args, tt.want)
		})
	}

	out, _, err := zz("gpu", "--pods", "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	var list struct {
		Items []struct {
			Kind     string
			Metadata struct{ Name, Namespace string }
			App      string
			Cards    []struct {
				Index        int
				RequestedMiB int64
				UsedMiB      *int64
				Over         bool
			}
			RequestedMiB, UsedMiB int64
			OverPods              int
		}
	}
	if err := json.Unmarshal([]byte(out), &list); err != nil || len(list.Items) != 5 {
		t.Fatalf("json: %v\n%s", err, out)
	}
	v0 := list.Items[1]
	if v0.Kind != contract.OutputKindGPUPod || v0.Metadata.Namespace != "ns-a" || v0.Metadata.Name != "vision-0" || len(v0.Cards) != 1 ||
		v0.Cards[0].RequestedMiB != 8192 || v0.Cards[0].UsedMiB == nil || *v0.Cards[0].UsedMiB != 9000 || !v0.Cards[0].Over {
		t.Errorf("vision-0 in json: %+v", v0)
	}
	if app := list.Items[4]; app.Kind != contract.OutputKindGPUApp || app.App != "vision" || app.RequestedMiB != 16384 || app.UsedMiB != 11000 || app.OverPods != 1 {
		t.Errorf("app vision in json: %+v", app)
	}

	for _, tt := range []struct {
		args    []string
		wantErr string
	}{
		{[]string{"gpu", "-A"}, "add --pods"},
		{[]string{"gpu", "-l", "app=x"}, "add --pods"},
		{[]string{"gpu", "--pods", "-l", "app in"}, `--selector "app in"`},
		{[]string{"gpu", "--pods", "--shapes"}, "give one"},
		{[]string{"gpu", "gpu-1", "--shapes"}, "drop the node names"},
		{[]string{"gpu", "pods"}, `nodes "pods" not found; list GPU nodes with: kubectl zz gpu; for the pods view, use the flag: kubectl zz gpu --pods`},
		{[]string{"gpu", "shapes"}, "use the flag: kubectl zz gpu --shapes"},
	} {
		if _, _, err := zz(tt.args...); err == nil || !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("%v: err = %v, want %q", tt.args, err, tt.wantErr)
		}
	}
	// What -o name prints is taken back, as kubectl's names are.
	names, _, err := zz("gpu", "--context", "a", "-o", "name")
	if err != nil || !strings.HasPrefix(names, "gpunode.zz.io/") {
		t.Fatalf("gpu -o name: %v, %q", err, names)
	}
	again, _, err := zz(append([]string{"gpu", "--context", "a", "-o", "name"}, strings.Fields(names)...)...)
	if err != nil || again != names {
		t.Errorf("gpu %s: %v, %q; want the same nodes", strings.Fields(names), err, again)
	}
	if _, stderr, err := zz("gpu", "--pods", "-n", "waiting", "--context", "a"); err != nil ||
		!strings.Contains(stderr, "No GPU pods on cards in waiting namespace. 1 GPU pod is waiting for cards (queued): kubectl zz gpu --fit pod/queued says why") {
		t.Errorf("a namespace whose GPU pod waits: %v, stderr %q", err, stderr)
	}
	// Beside pods on cards too: the table has no row for those that wait.
	if out, stderr, err := zz("gpu", "--pods", "-A", "--context", "a"); err != nil || !strings.Contains(out, "vision-0") ||
		!strings.Contains(stderr, "1 GPU pod is waiting for cards (waiting/queued): kubectl zz gpu --fit pod/NAME -n NAMESPACE says why") {
		t.Errorf("pods on cards and one waiting: %v\n%s%s", err, out, stderr)
	}
	// With several contexts, each waiting pod says which one it is in, and
	// --fit is given the context to ask (review 15).
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"gpu", "--pods", "-n", "waiting", "--context", "a,b"},
			"1 GPU pod is waiting for cards (queued in context a): kubectl zz gpu --fit pod/queued --context a says why"},
		{[]string{"gpu", "--pods", "-A", "--context", "a,b"},
			"1 GPU pod is waiting for cards (waiting/queued in context a): kubectl zz gpu --fit pod/NAME -n NAMESPACE --context CONTEXT says why"},
	} {
		if _, stderr, err := zz(tt.args...); err != nil || !strings.Contains(stderr, tt.want) {
			t.Errorf("%v: %v, stderr %q; want %q", tt.args, err, stderr, tt.want)
		}
	}
	if _, stderr, err := zz("gpu", "--pods", "-n", "empty"); err != nil || !strings.Contains(stderr, "No GPU pods on cards in empty namespace.\n") {
		t.Errorf("an empty namespace: %v, stderr %q", err, stderr)
	}
}

// TestGPUFit: --fit judges one pod on every GPU node as the extender would:
// a request from flags, or a pending pod's own, with the cards chosen, the
// room, or the filter's reason.
// TestGPUPodsForTenant: a user who may read the pods of a namespace but not
// the nodes (edit, view) sees its GPU pods as their annotations record them,
// with a warning; every namespace still needs the rights to list every pod.
func TestGPUPodsForTenant(t *testing.T) {
	waiting := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "train-0", Namespace: "ns-a"},
		Spec: corev1.PodSpec{SchedulerName: contract.SchedulerName, Containers: []corev1.Container{{Name: "c", Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{
			contract.ResourceGPUMem: resource.MustParse("4Gi"), contract.ResourceGPU: resource.MustParse("1")}}}}},
		Status: corev1.PodStatus{Phase: corev1.PodPending}}
	a := fakeClient(append(gpuCluster(t, "ns-a", [3]string{"vision-0", "vision", "9000"}, [3]string{"llm-0", "llm", ""}), waiting)...)
	forbid := func(resource string) func(clienttesting.Action) (bool, runtime.Object, error) {
		return func(act clienttesting.Action) (bool, runtime.Object, error) {
			if act.GetNamespace() != "" {
				return false, nil, nil
			}
			return true, nil, apierrors.NewForbidden(corev1.Resource(resource), "", errors.New(`User "dev" cannot list resource "`+resource+`" at the cluster scope`))
		}
	}
	a.PrependReactor("list", "nodes", forbid("nodes"))
	a.PrependReactor("list", "pods", forbid("pods"))
	zz := withFakeClusters(t, a, fakeClient())
	checkLines(t, zz, []string{"gpu", "--pods"}, []string{
		"POD APP NODE CARD REQUESTED USED OVER",
		"llm-0 llm gpu-1 0 8Gi <unknown> false",
		"vision-0 vision gpu-1 0 8Gi 9000Mi true",
		"",
		"APP PODS REQUESTED USED OVER",
		"llm 1 8Gi <unknown> 0",
		"vision 1 8Gi 9000Mi 1",
	})
	if _, stderr, err := zz("gpu", "--pods"); err != nil || !strings.Contains(stderr, "nodes is forbidden") || !strings.Contains(stderr, "as their zz.io annotations record them") {
		t.Errorf("no warning: %v, stderr %q", err, stderr)
	}
	// The pod that waits is sent where this user may look, not to --fit,
	// which reads the nodes it may not (a GPU audit was refused there).
	if _, stderr, _ := zz("gpu", "--pods"); !strings.Contains(stderr, "1 GPU pod is waiting for cards (train-0): the scheduler's events say why (kubectl zz status APP, for an app's pods; kubectl describe pod NAME)") ||
		strings.Contains(stderr, "--fit pod/") {
		t.Errorf("the waiting pod's note: stderr %q", stderr)
	}
	for _, args := range [][]string{{"gpu", "--pods", "-A"}, {"gpu"}, {"gpu", "gpu-1", "--pods"}} {
		if _, _, err := zz(args...); err == nil || !strings.Contains(err.Error(), "nodes is forbidden") {
			t.Errorf("%v: err = %v, want the refusal", args, err)
		}
	}
	// The cards' view says what the developer may read instead.
	if _, _, err := zz("gpu"); err == nil || !strings.Contains(err.Error(), "kubectl zz gpu --pods shows this namespace's GPU pods") {
		t.Errorf("gpu: err = %v, want what to run instead", err)
	}
}

func TestGPUFit(t *testing.T) {
	objs := gpuCluster(t, "ns-a", [3]string{"vision-0", "vision", ""}, [3]string{"vision-1", "vision", ""}, [3]string{"llm-0", "llm", ""})
	objs = append(objs, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "cpu-1"}})
	waiting := func(name string, ann map[string]string) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns-a", UID: types.UID("u-" + name), Annotations: ann},
			Spec: corev1.PodSpec{SchedulerName: contract.SchedulerName, Containers: []corev1.Container{{Name: "c", Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{
				contract.ResourceGPUMem: resource.MustParse("4Gi"), contract.ResourceGPU: resource.MustParse("1")}}}}},
			Status: corev1.PodStatus{Phase: corev1.PodPending}}
	}
	// Waiting on a scheduler that cannot give it cards, and on nvidia.com/
	// resources no node offers: room is not why they wait.
	elsewhere := waiting("elsewhere", nil)
	elsewhere.Spec.SchedulerName = corev1.DefaultSchedulerName
	nvidia := waiting("nvidia", nil)
	nvidia.Spec.Containers[0].Resources.Limits = corev1.ResourceList{"nvidia.com/gpu": resource.MustParse("1")}
	objs = append(objs, elsewhere, nvidia)
	// No zz.io/gpu (a pod no webhook served): the extender refuses it on
	// every node, so --fit does too, with its reason; nvidia.com/gpu beside
	// zz.io/gpu-mem waits for a resource no node offers. Both were told they
	// fit (a GPU audit).
	nocards := waiting("nocards", nil)
	delete(nocards.Spec.Containers[0].Resources.Limits, contract.ResourceGPU)
	nvidiaToo := waiting("nvidia-too", nil)
	nvidiaToo.Spec.Containers[0].Resources.Limits["nvidia.com/gpu"] = resource.MustParse("1")
	objs = append(objs, nocards, nvidiaToo)
	urgent := waiting("urgent", nil)
	urgent.Spec.Containers[0].Resources.Limits[contract.ResourceGPUMem] = resource.MustParse("20Gi")
	urgent.Spec.Priority = ptr.To[int32](100)
	polite := urgent.DeepCopy()
	polite.Name, polite.UID, polite.Spec.PreemptionPolicy = "polite", "u-polite", ptr.To(corev1.PreemptNever)
	preempting := urgent.DeepCopy()
	preempting.Name, preempting.UID = "preempting", "u-preempting"
	preempting.Annotations = map[string]string{contract.AnnotationGPUNomination: gpushare.NominationRecord{Node: "gpu-1", Since: time.Now().Add(-30 * time.Second)}.Encode()}
	forgotten := waiting("forgotten", nil)
	forgotten.Spec.SchedulerName, forgotten.CreationTimestamp = contract.SchedulerName, metav1.NewTime(time.Now().Add(-2*time.Minute))
	objs = append(objs, forgotten)
	erred := waiting("erred", nil)
	erred.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: corev1.PodReasonSchedulerError,
		Message: `Post "http://127.0.0.1:8890/gpu/filter": connection refused`}}
	objs = append(objs, erred)
	// Sent to a pool of CPU nodes: room on the GPU nodes is beside the point.
	pinned := waiting("pinned", nil)
	pinned.Spec.NodeSelector = map[string]string{contract.LabelPool: "general"}
	objs = append(objs, pinned)
	objs = append(objs, preempting, waiting("waiting", map[string]string{contract.AnnotationGPUModel: "a100"}),
		waiting("waiting-h100", map[string]string{contract.AnnotationGPUModel: "H100"}),
		waiting("waiting-bad", map[string]string{contract.AnnotationGPUNUMABind: "yes"}), urgent, polite)
	objs = append(objs, &corev1.ResourceQuota{ObjectMeta: metav1.ObjectMeta{Name: "gpu", Namespace: "ns-a"},
		Spec:   corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{"requests." + contract.ResourceGPUMemTotal: resource.MustParse("40Gi")}},
		Status: corev1.ResourceQuotaStatus{Used: corev1.ResourceList{"requests." + contract.ResourceGPUMemTotal: resource.MustParse("24Gi")}}})
	zz := withFakeClusters(t, fakeClient(objs...), fakeClient(gpuCluster(t, "ns-b")...))
	// gpu-1: one 40 GiB card, 4 slots, three 8 GiB pods: 16 GiB and one slot left.
	for _, tt := range []struct {
		args       []string
		want       []string
		wantStderr string
	}{
		{[]string{"gpu", "--fit", "8Gi"}, []string{"NODE FITS CARDS MORE REASON", "gpu-1 true 0 1 <none>"},
			"8192 MiB on 1 card (binpack): fits 1 of 1 GPU nodes now; 1 such pods fit in all, each node counted alone"},
		{[]string{"gpu", "--fit", "20Gi", "--policy", "spread"}, []string{"NODE FITS CARDS MORE REASON", "gpu-1 false <none> 0 largest free card 16384 MiB < 20480 MiB asked"},
			"20480 MiB on 1 card (spread): fits 0 of 1 GPU nodes now; 0 such pods fit in all"},
		{[]string{"gpu", "--fit", "1Gi", "--cards", "2"}, []string{"NODE FITS CARDS MORE REASON", "gpu-1 false <none> 0 node has 1 GPU cards < 2 asked"}, ""},
		{[]string{"gpu", "--fit", "80Gi", "--whole"}, []string{"NODE FITS CARDS MORE REASON",
			"gpu-1 false <none> 0 no whole card of at most 81920 MiB free (cards no pod holds: 0 of 1 of 40960 MiB)"},
			"a whole card of at most 81920 MiB (binpack): fits 0 of 1 GPU nodes now"},
		{[]string{"gpu", "--fit", "1Gi", "--gpu-model", "H100,B200", "--avoid-gpu-model", "PCIE"}, []string{"NODE FITS CARDS MORE REASON",
			"gpu-1 false <none> 0 node has 0 healthy GPU cards of model H100 or B200, not PCIE < 1 asked (its models: 1 NVIDIA A100-SXM4-40GB)"},
			"1024 MiB on 1 card, model H100 or B200, not PCIE (binpack)"},
		{[]string{"gpu", "--fit", "1Gi", "--gpu-card", "gpu-a"}, []string{"NODE FITS CARDS MORE REASON", "gpu-1 true 0 1 <none>"},
			"1024 MiB on 1 card, card gpu-a (binpack): fits 1 of 1 GPU nodes now"},
		{[]string{"gpu", "--fit", "1Gi", "--avoid-gpu-card", "GPU-A"}, []string{"NODE FITS CARDS MORE REASON",
			"gpu-1 false <none> 0 node has 0 healthy GPU cards of not card GPU-A < 1 asked (its cards: GPU-A)"}, ""},
		{[]string{"gpu", "--fit", "pod/waiting", "-n", "ns-a"}, []string{"NODE FITS CARDS MORE REASON", "gpu-1 true 0 1 <none>"},
			"4096 MiB on 1 card, model a100 (binpack): fits 1 of 1 GPU nodes now; 1 such pods fit in all, each node counted alone; namespace ns-a's quota admits 4 more (gpu: 16Gi of requests.zz.io/gpu-mem-total left)"},
		// It fits, so room is not why it waits: no scheduler has looked.
		{[]string{"gpu", "--fit", "pod/forgotten", "-n", "ns-a"}, []string{"NODE FITS CARDS MORE REASON", "gpu-1 true 0 1 <none>"},
			`each node counted alone; namespace ns-a's quota admits 4 more (gpu: 16Gi of requests.zz.io/gpu-mem-total left); but no scheduler has tried it in over 30s; is scheduler "zz-scheduler" running? (kubectl zz check)`},
		// Nor when its scheduling failed with an error: the extender is down.
		{[]string{"gpu", "--fit", "pod/erred", "-n", "ns-a"}, []string{"NODE FITS CARDS MORE REASON", "gpu-1 true 0 1 <none>"},
			`; but its last scheduling failed with an error, not for room: Post "http://127.0.0.1:8890/gpu/filter": connection refused; the zz scheduler extender did not answer zz-scheduler`},
		{[]string{"gpu", "--fit", "pod/elsewhere", "-n", "ns-a"}, []string{"NODE FITS CARDS MORE REASON", "gpu-1 true 0 1 <none>"},
			`; but it asks for zz.io/gpu-mem, which only zz-scheduler places, but names scheduler "default-scheduler": label namespace ns-a zz.io/injection=enabled`},
		{[]string{"gpu", "--fit", "pod/nocards", "-n", "ns-a"}, []string{"NODE FITS CARDS MORE REASON",
			"gpu-1 false <none> 0 pod asks for zz.io/gpu-mem but no container asks for zz.io/gpu, the resource zz-scheduler binds GPU pods and the kubelet hands out cards by: add zz.io/gpu: 1 beside zz.io/gpu-mem (the zz webhook adds it in the namespaces it serves)"},
			"4096 MiB on 1 card (binpack): fits 0 of 1 GPU nodes now; 0 such pods fit in all"},
		{[]string{"gpu", "--fit", "pod/nvidia-too", "-n", "ns-a"}, []string{"NODE FITS CARDS MORE REASON", "gpu-1 true 0 1 <none>"},
			"; but it asks for nvidia.com/gpu beside zz.io/gpu-mem: zz chooses the pod's cards by zz.io/gpu-mem and zz.io/gpu alone"},
		{[]string{"gpu", "--fit", "pod/pinned", "-n", "ns-a"}, []string{"NODE FITS CARDS MORE REASON",
			"gpu-1 false <none> 0 the pod's nodeSelector zz.io/pool=general excludes it"},
			"4096 MiB on 1 card (binpack): fits 0 of 1 GPU nodes now (1 kept off by the pod's node selector, affinity or taints); 0 such pods fit in all"},
		{[]string{"gpu", "--fit", "pod/waiting-h100", "-n", "ns-a"}, []string{"NODE FITS CARDS MORE REASON",
			"gpu-1 false <none> 0 node has 0 healthy GPU cards of model H100 < 1 asked (its models: 1 NVIDIA A100-SXM4-40GB)"}, ""},
		// 20 GiB of priority 100: no room (16 GiB left), but evicting one
		// 8 GiB pod of priority 0 would make it; not for a pod that may not
		// preempt.
		{[]string{"gpu", "--fit", "pod/urgent", "-n", "ns-a"}, []string{"NODE FITS CARDS MORE REASON",
			"gpu-1 false <none> 0 largest free card 16384 MiB < 20480 MiB asked; preemption would evict 1 pods of lower priority than 100"},
			"20480 MiB on 1 card (binpack): fits 0 of 1 GPU nodes now (preemption would make room on 1 more); 0 such pods"},
		{[]string{"gpu", "--fit", "pod/preempting", "-n", "ns-a"}, []string{"NODE FITS CARDS MORE REASON",
			"gpu-1 false <none> 0 largest free card 16384 MiB < 20480 MiB asked; preemption would evict 1 pods of lower priority than 100"},
			"s ago, but keeps nothing for it now: the memory they freed was taken meanwhile"},
		{[]string{"gpu", "--fit", "pod/polite", "-n", "ns-a"}, []string{"NODE FITS CARDS MORE REASON",
			"gpu-1 false <none> 0 largest free card 16384 MiB < 20480 MiB asked"}, "fits 0 of 1 GPU nodes now; 0 such pods"},
		{[]string{"gpu", "--fit", "8Gi", "-o", "name"}, []string{"gpufit.zz.io/gpu-1"}, ""},
		// Two clusters: a's card has 16 GiB left (one such pod), b's is
		// empty (two).
		{[]string{"gpu", "--fit", "16Gi", "--context", "a,b"}, []string{"CLUSTER NODE FITS CARDS MORE REASON", "a gpu-1 true 0 1 <none>", "b gpu-1 true 0 2 <none>"},
			"b: 16384 MiB on 1 card (binpack): fits 1 of 1 GPU nodes now; 2 such pods fit in all"},
	} {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			checkLines(t, zz, tt.args, tt.want)
			if tt.wantStderr != "" {
				if _, stderr, _ := zz(tt.args...); !strings.Contains(stderr, tt.wantStderr) {
					t.Errorf("stderr %q, want %q", stderr, tt.wantStderr)
				}
			}
		})
	}

	// Completion offers the namespace's GPU pods that wait, not the bound ones.
	if out, _, err := zz("__complete", "-n", "ns-a", "gpu", "--fit", ""); err != nil || !strings.HasPrefix(out, "pod/elsewhere\npod/erred\npod/forgotten\npod/nocards\npod/nvidia-too\npod/pinned\npod/polite\npod/preempting\npod/urgent\npod/waiting\npod/waiting-bad\npod/waiting-h100\n:4\n") {
		t.Errorf("completion of --fit: %v\n%s", err, out)
	}

	// gpu NODE completes the GPU nodes (cpu-1 has no inventory) after the
	// subcommands, and a node named already is not offered again.
	if out, _, err := zz("__complete", "gpu", ""); err != nil || !strings.HasSuffix(out, "uncordon\tGive cordoned GPU cards of a node back to scheduling\ngpu-1\n:4\n") {
		t.Errorf("completion of gpu: %v\n%s", err, out)
	}
	if out, _, err := zz("__complete", "gpu", "gpu-1", ""); err != nil || out != ":4\n" {
		t.Errorf("completion of gpu gpu-1: %v\n%s", err, out)
	}
	if out, _, err := zz("__complete", "gpu", "cordon", ""); err != nil || out != "gpu-1\n:4\n" {
		t.Errorf("completion of gpu cordon: %v\n%s", err, out)
	}

	out, _, err := zz("gpu", "--fit", "8Gi", "--numa-bind", "--cards", "1", "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	var list struct {
		Items []struct {
			Kind    string
			Request gpushare.Request
			Policy  string
			Node    string
			Fits    bool
			Cards   []int
			More    int
		}
	}
	err = json.Unmarshal([]byte(out), &list)
	if err != nil || len(list.Items) != 1 {
		t.Fatalf("json: %v\n%s", err, out)
	}
	if item := list.Items[0]; item.Kind != contract.OutputKindGPUFit || item.Node != "gpu-1" || !item.Fits ||
		item.Request != (gpushare.Request{MemMiB: 8192, Cards: 1, SameNUMA: true}) || item.Policy != "binpack" || len(item.Cards) != 1 || item.More != 1 {
		t.Errorf("json: %+v\n%s", item, out)
	}

	for _, tt := range []struct {
		args    []string
		wantErr string
	}{
		{[]string{"gpu", "--cards", "2"}, "describe the pod --fit judges: add --fit 24Gi"},
		{[]string{"gpu", "--policy", "spread"}, "add --fit"},
		{[]string{"gpu", "--fit", "8Gi", "--pods"}, "three views: give one"},
		{[]string{"gpu", "--fit", "lots"}, `--fit "lots" is neither GPU memory per card (24Gi, 3000Mi) nor pod/NAME`},
		{[]string{"gpu", "--fit", "24"}, "--fit: zz.io/gpu-mem 24 is 24 bytes, less than 1Mi: write 24Mi (MiB, as HAMi's gpumem counts) or 24Gi"},
		{[]string{"gpu", "--fit", "8Gi", "--cards", "65"}, "--cards 65: a pod asks for 1 to 64 cards"},
		{[]string{"gpu", "--fit", "8Gi", "--cards", "-1"}, "--cards -1: a pod asks for 1 to 64 cards"},
		{[]string{"gpu", "--fit", "8Gi", "--cards", "0"}, "--cards 0: a pod asks for 1 to 64 cards"},
		{[]string{"gpu", "--fit", "8Gi", "--gpu-model", ","}, `--gpu-model: "," names no card model`},
		{[]string{"gpu", "--fit", "8Gi", "--gpu-card", "GPU A"}, `--gpu-card: "GPU A"… is not a card UUID`},
		{[]string{"gpu", "--fit", "pod/waiting", "--avoid-gpu-card", "GPU-A"}, "judges what the pod asks for: drop --cards"},
		{[]string{"gpu", "--fit", "8Gi", "--policy", "worstfit"}, `--policy: GPU policy "worstfit" is unknown`},
		{[]string{"gpu", "--fit", "pod/waiting", "--cards", "2"}, "judges what the pod asks for: drop --cards"},
		{[]string{"gpu", "--fit", "pod/"}, "names no pod"},
		{[]string{"gpu", "--fit", "pod/vision-0", "-n", "ns-a"}, "pod ns-a/vision-0 is already on node gpu-1: --fit judges a pod that waits"},
		{[]string{"gpu", "--fit", "pod/nope", "-n", "ns-a"}, `pods "nope" not found`},
		{[]string{"gpu", "--fit", "pod/waiting-bad", "-n", "ns-a"}, `pod ns-a/waiting-bad: annotation zz.io/gpu-numa-bind: "yes" is not a boolean`},
		{[]string{"gpu", "--fit", "pod/nvidia", "-n", "ns-a"}, "; it asks for nvidia.com/gpu, which no node offers here: zz shares GPUs as zz.io/gpu-mem (GPU memory on each card) and zz.io/gpu (cards)"},
	} {
		if _, _, err := zz(tt.args...); err == nil || !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("%v: err = %v, want %q", tt.args, err, tt.wantErr)
		}
	}
}

// TestGPUHelpNamesFitFlags: the help's --fit paragraph names every flag of
// a --fit request (its --gpu-card and --avoid-gpu-card were missing, which
// README and the flags have: a GPU audit).
func TestGPUHelpNamesFitFlags(t *testing.T) {
	cmd := NewCmdGPU(genericclioptions.NewConfigFlags(true), genericiooptions.IOStreams{})
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		if strings.HasPrefix(f.Usage, "With --fit MEMORY:") && !regexp.MustCompile(`--`+f.Name+`[ ,)]`).MatchString(cmd.Long) {
			t.Errorf("kubectl zz gpu --help does not name --%s among --fit's flags", f.Name)
		}
	})
}

// TestGPUFitSizeCordonedNode: --fit SIZE keeps a cordoned node off, as
// --fit pod/NAME does and as the card table shows its free memory (0): no
// app's pod tolerates the cordon (a review: --fit 4Gi offered it as room,
// FITS true, MORE 3).
func TestGPUFitSizeCordonedNode(t *testing.T) {
	objs := gpuCluster(t, "ns-a", [3]string{"llm-0", "llm", ""})
	objs[0].(*corev1.Node).Spec.Unschedulable = true
	zz := withFakeClusters(t, fakeClient(objs...), fakeClient())
	checkLines(t, zz, []string{"gpu", "--fit", "4Gi"}, []string{"NODE FITS CARDS MORE REASON",
		"gpu-1 false <none> 0 the node is cordoned (kubectl uncordon gpu-1 gives it back)"})
	if _, stderr, err := zz("gpu", "--fit", "4Gi"); err != nil || !strings.Contains(stderr, "fits 0 of 1 GPU nodes now (1 cordoned)") {
		t.Errorf("the summary does not say the cordoned node: %v\n%s", err, stderr)
	}
}
