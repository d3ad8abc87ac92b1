package gpuinspect

import (
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/zzcloud/zz/internal/contract"
	"github.com/zzcloud/zz/internal/gpushare"
)

func fixture(t *testing.T) *fake.Clientset {
	socket1 := int64(1)
	inv := &contract.NodeGPUInventory{Version: 1, Cards: []contract.GPU{
		{Index: 0, UUID: "GPU-0", Model: "NVIDIA A100-SXM4-40GB", MemoryMiB: 40960, Healthy: true, NUMANode: &socket1},
		{Index: 1, UUID: "GPU-1", Model: "Tesla T4", MemoryMiB: 15360, Healthy: true},
	}}
	v, err := inv.Encode()
	if err != nil {
		t.Fatal(err)
	}
	pod := func(name string, a *gpushare.Assignment, askMiB int64) *corev1.Pod {
		limits := corev1.ResourceList{
			contract.ResourceGPUMem: *resource.NewQuantity(askMiB<<20, resource.BinarySI),
			contract.ResourceGPU:    *resource.NewQuantity(int64(len(a.UUIDs)), resource.DecimalSI),
		}
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "team", UID: types.UID("u-" + name), Annotations: a.Annotations()},
			Spec: corev1.PodSpec{NodeName: "gpu-1", Containers: []corev1.Container{{Name: "app", Resources: corev1.ResourceRequirements{Limits: limits}}}}}
	}
	// A node whose one card shares among 2 pods, both taken: FREE is 0.
	full := &contract.NodeGPUInventory{Version: 1, Cards: []contract.GPU{{Index: 0, UUID: "GPU-F", Model: "NVIDIA A100-SXM4-40GB", MemoryMiB: 40960, Healthy: true}}}
	fv, err := full.Encode()
	if err != nil {
		t.Fatal(err)
	}
	onFull := func(p *corev1.Pod) *corev1.Pod { p.Spec.NodeName = "gpu-2"; return p }
	used := func(p *corev1.Pod, value, app string) *corev1.Pod {
		p.Annotations[contract.AnnotationGPUMemUsed] = value
		if app != "" {
			p.Labels = map[string]string{contract.LabelApp: app}
		}
		return p
	}
	broken := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "broken", Namespace: "team", UID: "u-broken",
		Annotations: map[string]string{contract.AnnotationGPUIndexes: "zero"}}, Spec: corev1.PodSpec{NodeName: "gpu-1"}}
	return fake.NewClientset(
		&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "gpu-1", Annotations: map[string]string{contract.AnnotationNodeGPUInventory: v}}},
		&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "gpu-2", Annotations: map[string]string{contract.AnnotationNodeGPUInventory: fv}},
			Status: corev1.NodeStatus{Capacity: corev1.ResourceList{contract.ResourceGPU: resource.MustParse("2")}}},
		&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "cpu-1"}},
		used(pod("train", &gpushare.Assignment{Indexes: []int{0}, UUIDs: []string{"GPU-0"}, MemMiB: 8192}, 8192), "GPU-0=9000", "vision"),
		used(pod("infer", &gpushare.Assignment{Indexes: []int{0, 1}, UUIDs: []string{"GPU-0", "GPU-1"}, MemMiB: 3000}, 3000), "GPU-0=1000,GPU-1=500", "vision"),
		// Asks for 1 GiB, claims 30000 MiB: refused, shown as a warning;
		// its use still shows, against a request of 0.
		used(pod("forged", &gpushare.Assignment{Indexes: []int{1}, UUIDs: []string{"GPU-1"}, MemMiB: 30000}, 1024), "GPU-1=700", ""),
		onFull(pod("a", &gpushare.Assignment{Indexes: []int{0}, UUIDs: []string{"GPU-F"}, MemMiB: 1024}, 1024)),
		onFull(used(pod("b", &gpushare.Assignment{Indexes: []int{0}, UUIDs: []string{"GPU-F"}, MemMiB: 1024}, 1024), "GPU-F=12", "")),
		used(pod("bad-use", &gpushare.Assignment{Indexes: []int{1}, UUIDs: []string{"GPU-1"}, MemMiB: 1024}, 1024), "lots", ""),
		broken,
	)
}

func TestCollectAndPrint(t *testing.T) {
	snap, err := Collect(t.Context(), fixture(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	warnings := strings.Join(snap.Warnings, "\n")
	if len(snap.Warnings) != 3 || !strings.Contains(warnings, "team/broken") ||
		!strings.Contains(warnings, "team/forged: GPU assignment does not agree with the pod") ||
		!strings.Contains(warnings, "pod team/bad-use: "+contract.AnnotationGPUMemUsed+`="lots"`) {
		t.Errorf("warnings = %v, want one about team/broken, team/forged and team/bad-use", snap.Warnings)
	}
	if len(snap.Nodes) != 2 || snap.Nodes[0].Name != "gpu-1" || snap.Nodes[1].Name != "gpu-2" {
		t.Fatalf("nodes = %+v, want gpu-1 and gpu-2", snap.Nodes)
	}
	tests := []struct {
		wide bool
		want []string
	}{
		{false, []string{"NODE CARD MODEL TOTAL ALLOCATED FREE PODS", "gpu-1 0 NVIDIA A100-SXM4-40GB 40Gi 11192Mi 29768Mi 2", "gpu-1 1 Tesla T4 15Gi 4024Mi 11336Mi 2",
			// Both slots taken: the ledger's free is 0, not 40960 - 2048.
			"gpu-2 0 NVIDIA A100-SXM4-40GB 40Gi 2Gi 0Mi 2"}},
		{true, []string{"UUID HEALTHY NUMA USED POD MEMORY (REQUESTED/USED)", "GPU-0 true 1 10000Mi team/infer:3000Mi/1000Mi,team/train:8Gi/9000Mi",
			// forged's use counts on the card, though the ledger refused its assignment.
			// NUMA nodes as the device plugin published them; unknown on the others.
			"GPU-1 true <unknown> 1200Mi team/bad-use:1Gi/<unknown>,team/infer:3000Mi/500Mi", "GPU-F true <unknown> 12Mi team/a:1Gi/<unknown>,team/b:1Gi/12Mi"}},
	}
	for _, tt := range tests {
		header, rows := Table(snap, tt.wide)
		if got := render(header, rows); !containsAll(got, tt.want) || strings.Contains(got, "<!cells>") {
			t.Errorf("wide=%t table lacks one of %q:\n%s", tt.wide, tt.want, got)
		}
	}
}

// render joins a table's cells with single spaces, one line per row; a row
// whose cell count is not the header's is marked.
func render(header []string, rows [][]string) string {
	lines := []string{strings.Join(header, " ")}
	for _, r := range rows {
		line := strings.Join(r, " ")
		if len(r) != len(header) {
			line += " <!cells>"
		}
		lines = append(lines, line)
	}
	return strings.Join(lines, "\n")
}

func containsAll(s string, subs []string) bool {
	for _, w := range subs {
		if !strings.Contains(s, w) {
			return false
		}
	}
	return true
}

// TestShapes: the shapes of the live GPU pods (broken asks for none) with the
// room the ledger has for each; gpu-2's card has no slot left, so it adds
// nothing, and the forged assignment is not charged.
func TestShapes(t *testing.T) {
	snap, err := Collect(t.Context(), fixture(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"MEMORY CARDS SHARE MORE UNUSABLE FREE",
		"1Gi 1 67% 40 0Mi",   // 29 + 11 pieces on gpu-1's cards
		"3000Mi 2 17% 3 0Mi", // 9 and 3 pieces, two cards a pod
		"8Gi 1 17% 4 0Mi"}
	if got := render(ShapeTable(snap.Shapes)); got != strings.Join(want, "\n") {
		t.Errorf("shapes:\n%s\nwant\n%s", got, strings.Join(want, "\n"))
	}
}

// TestCollectUnknownNode: a node without GPUs says so; a node that does not
// exist is not found, as kubectl says it.
func TestCollectUnknownNode(t *testing.T) {
	if _, err := Collect(t.Context(), fixture(t), []string{"cpu-1"}); err == nil || !strings.Contains(err.Error(), `node "cpu-1" has no GPUs`) {
		t.Fatalf("err = %v", err)
	}
	if _, err := Collect(t.Context(), fixture(t), []string{"nonode"}); err == nil || !strings.HasPrefix(err.Error(), `nodes "nonode" not found`) {
		t.Fatalf("a node that does not exist: err = %v", err)
	}
}

func TestQuotaRoom(t *testing.T) {
	q := func(name string, hard, used corev1.ResourceList) corev1.ResourceQuota {
		return corev1.ResourceQuota{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: corev1.ResourceQuotaSpec{Hard: hard}, Status: corev1.ResourceQuotaStatus{Used: used}}
	}
	r := resource.MustParse
	total := corev1.ResourceName("requests." + contract.ResourceGPUMemTotal)
	perCard := corev1.ResourceName("requests." + contract.ResourceGPUMem)
	cards := corev1.ResourceName("requests." + contract.ResourceGPU)
	req := gpushare.Request{MemMiB: 8192, Cards: 2} // 16 GiB in all
	for _, tc := range []struct {
		name    string
		quotas  []corev1.ResourceQuota
		want    int
		binding string
		ok      bool
	}{
		{"no quota", nil, 0, "", false},
		{"a CPU quota only", []corev1.ResourceQuota{q("cpu", corev1.ResourceList{corev1.ResourceCPU: r("4")}, nil)}, 0, "", false},
		{"total: 40Gi with 8Gi used", []corev1.ResourceQuota{q("gpu", corev1.ResourceList{total: r("40Gi")}, corev1.ResourceList{total: r("8Gi")})}, 2, "gpu: 32Gi of requests.zz.io/gpu-mem-total left", true},
		{"not counted yet: all left", []corev1.ResourceQuota{q("gpu", corev1.ResourceList{total: r("40Gi")}, nil)}, 2, "gpu: 40Gi of requests.zz.io/gpu-mem-total left", true},
		{"cards bind first", []corev1.ResourceQuota{q("gpu", corev1.ResourceList{total: r("100Gi"), cards: r("5")}, corev1.ResourceList{cards: r("2")})}, 1, "gpu: 3 of requests.zz.io/gpu left", true},
		{"per-card memory, from a second quota", []corev1.ResourceQuota{
			q("b", corev1.ResourceList{perCard: r("20Gi")}, corev1.ResourceList{perCard: r("16Gi")}),
			q("a", corev1.ResourceList{total: r("1Ti")}, nil)}, 0, "b: 4Gi of requests.zz.io/gpu-mem left", true},
		{"over its quota already", []corev1.ResourceQuota{q("gpu", corev1.ResourceList{total: r("8Gi")}, corev1.ResourceList{total: r("10Gi")})}, 0, "gpu: 0 of requests.zz.io/gpu-mem-total left", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n, binding, ok := QuotaRoom(tc.quotas, req)
			if n != tc.want || binding != tc.binding || ok != tc.ok {
				t.Errorf("QuotaRoom = %d, %q, %v; want %d, %q, %v", n, binding, ok, tc.want, tc.binding, tc.ok)
			}
		})
	}
}

// TestCollectRestoresPreemption: a preemption the extender recorded on its
// pod (zz.io/gpu-nomination) is restored as the extender's own ledger does.
// While the victim terminates, its memory is promised: no other preemptor
// may count on it. Once it is gone, the card shows what the extender keeps
// for the preemptor. A stale record restores nothing.
func TestCollectRestoresPreemption(t *testing.T) {
	inv := &contract.NodeGPUInventory{Version: 1, Cards: []contract.GPU{{Index: 0, UUID: "GPU-P", Model: "NVIDIA A100-SXM4-40GB", MemoryMiB: 40960, Healthy: true}}}
	v, err := inv.Encode()
	if err != nil {
		t.Fatal(err)
	}
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "gpu-p", Annotations: map[string]string{contract.AnnotationNodeGPUInventory: v}}}
	limits := func(mib int64) corev1.ResourceRequirements {
		return corev1.ResourceRequirements{Limits: corev1.ResourceList{
			contract.ResourceGPUMem: *resource.NewQuantity(mib<<20, resource.BinarySI),
			contract.ResourceGPU:    *resource.NewQuantity(1, resource.DecimalSI)}}
	}
	prio := func(p int32) *int32 { return &p }
	bound := func(name string, terminating bool) *corev1.Pod {
		a := &gpushare.Assignment{Indexes: []int{0}, UUIDs: []string{"GPU-P"}, MemMiB: 20480}
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "batch", UID: types.UID("u-" + name), Annotations: a.Annotations()},
			Spec: corev1.PodSpec{NodeName: "gpu-p", Priority: prio(0), Containers: []corev1.Container{{Name: "app", Resources: limits(20480)}}}}
		if terminating {
			p.DeletionTimestamp, p.Finalizers = &metav1.Time{Time: time.Now()}, []string{"example.com/hold"}
		}
		return p
	}
	pending := func(name string, since time.Time) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "team", UID: types.UID("u-" + name),
			Annotations: map[string]string{contract.AnnotationGPUNomination: gpushare.NominationRecord{Node: "gpu-p", Since: since}.Encode()}},
			Spec: corev1.PodSpec{Priority: prio(1000), Containers: []corev1.Container{{Name: "app", Resources: limits(20480)}}}}
	}
	recent := time.Now().Add(-10 * time.Second)

	// The victim still terminates beside a live pod of low priority: the
	// preemption waits for it, and a second preemptor of 30Gi cannot count
	// on its memory (evicting the live pod would leave it 20Gi).
	snap, err := Collect(t.Context(), fake.NewClientset(node, bound("victim", true), bound("live", false), pending("pre", recent)), nil)
	if err != nil {
		t.Fatal(err)
	}
	if p, ok := snap.Preemption("u-pre"); !ok || p != (Preemption{Node: "gpu-p", Waiting: 1}) {
		t.Errorf("Preemption = %+v, %v; want waiting for 1 on gpu-p", p, ok)
	}
	other := gpushare.Request{MemMiB: 30720, Cards: 1}
	fits := snap.Fits(other, gpushare.Binpack)
	if n := snap.Preempt(fits, other, 2000); n != 0 {
		t.Errorf("another preemptor could count on the promised victim: %+v", fits)
	}

	// The victim is gone: the card is kept for the preemptor.
	snap, err = Collect(t.Context(), fake.NewClientset(node, pending("pre", recent)), nil)
	if err != nil {
		t.Fatal(err)
	}
	_, rows := Table(snap, false)
	if got, want := strings.Join(rows[0], " "), "gpu-p 0 NVIDIA A100-SXM4-40GB 40Gi 20Gi 20Gi 1"; got != want {
		t.Errorf("card = %q, want %q (20Gi kept for the preemptor)", got, want)
	}
	if p, ok := snap.Preemption("u-pre"); !ok || p != (Preemption{Node: "gpu-p", Held: true}) {
		t.Errorf("Preemption = %+v, %v; want held on gpu-p", p, ok)
	}

	// A record older than the extender keeps a reservation: given up.
	snap, err = Collect(t.Context(), fake.NewClientset(node, pending("old", time.Now().Add(-gpushare.DefaultAssumeTTL-time.Minute))), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, rows := Table(snap, false); rows[0][4] != "0Mi" {
		t.Errorf("a stale record holds memory: %q", rows[0])
	}
	if p, ok := snap.Preemption("u-old"); ok {
		t.Errorf("a stale record restored: %+v", p)
	}
	if len(snap.Warnings) != 0 {
		t.Errorf("warnings: %q", snap.Warnings)
	}
}

// TestNodeExcludes: the scheduler's filters that keep a pod off a node
// whatever its GPU room, each named; a node they all pass is not excluded.
func TestNodeExcludes(t *testing.T) {
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "gpu-1", Labels: map[string]string{contract.LabelPool: "gpu", corev1.LabelHostname: "gpu-1"}},
		Spec: corev1.NodeSpec{Taints: []corev1.Taint{{Key: "nvidia.com/gpu", Value: "present", Effect: corev1.TaintEffectNoSchedule}}}}
	tolerates := []corev1.Toleration{{Key: "nvidia.com/gpu", Operator: corev1.TolerationOpExists}}
	affinity := func(host string) *corev1.Affinity {
		return &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{
			NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchExpressions: []corev1.NodeSelectorRequirement{{Key: corev1.LabelHostname, Operator: corev1.NodeSelectorOpIn, Values: []string{host}}}}}}}}
	}
	for _, tt := range []struct {
		name string
		spec corev1.PodSpec
		want string
	}{
		{"passes every filter", corev1.PodSpec{NodeSelector: map[string]string{contract.LabelPool: "gpu"}, Affinity: affinity("gpu-1"), Tolerations: tolerates}, ""},
		{"another pool", corev1.PodSpec{NodeSelector: map[string]string{contract.LabelPool: "general"}, Tolerations: tolerates},
			"the pod's nodeSelector zz.io/pool=general excludes it (the node has zz.io/pool=gpu)"},
		{"a label the node lacks", corev1.PodSpec{NodeSelector: map[string]string{"zone": "a"}, Tolerations: tolerates}, "the pod's nodeSelector zone=a excludes it"},
		{"required affinity", corev1.PodSpec{Affinity: affinity("gpu-2"), Tolerations: tolerates}, "the pod's required node affinity excludes it"},
		{"untolerated taint", corev1.PodSpec{}, "the pod does not tolerate its taint nvidia.com/gpu=present:NoSchedule"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := NodeExcludes(&corev1.Pod{Spec: tt.spec}, node); got != tt.want {
				t.Errorf("NodeExcludes = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestOverAllocated: a card holding more than it has (it shrank under its
// pods) is named with its pods, and its FREE cell says by how much, where
// it read 0 like any full card.
func TestOverAllocated(t *testing.T) {
	card := func(used int64, pods ...string) gpushare.CardView {
		v := gpushare.CardView{Card: gpushare.Card{GPU: contract.GPU{Index: 1, MemoryMiB: 16384, Healthy: true}, UsedMiB: used}}
		for _, p := range pods {
			v.Pods = append(v.Pods, gpushare.PodUse{Namespace: "ml", Name: p, MemMiB: 8192})
		}
		return v
	}
	nodes := []gpushare.NodeView{{Name: "gpu-1", Cards: []gpushare.CardView{card(16384, "a", "b"), card(24576, "a", "b", "c")}}}
	if got := OverAllocated(nodes); len(got) != 1 || got[0] != "node gpu-1 card 1: 24Gi of 16Gi (ml/a, ml/b, ml/c)" {
		t.Errorf("OverAllocated = %q", got)
	}
	if got := freeCell(nodes[0].Cards[1].Card); got != "0 (over by 8Gi)" {
		t.Errorf("FREE of the over-allocated card = %q", got)
	}
	if got := freeCell(nodes[0].Cards[0].Card); got != "0Mi" {
		t.Errorf("FREE of a full card = %q", got)
	}
}

// TestListPodsKeepsWhatTheTablesRead: a cluster's other pods are dropped
// while paging; pods on GPU nodes, pending ones, those asking for cards and
// those carrying card indexes anywhere are kept, without managed fields.
func TestListPodsKeepsWhatTheTablesRead(t *testing.T) {
	c := fixture(t)
	mf := []metav1.ManagedFieldsEntry{{Manager: "kubectl"}}
	add := func(p *corev1.Pod) {
		p.Namespace, p.UID, p.ManagedFields = "other", types.UID("u-"+p.Name), mf
		if _, err := c.CoreV1().Pods("other").Create(t.Context(), p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	add(&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web"}, Spec: corev1.PodSpec{NodeName: "cpu-1"}})
	add(&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "pending"}})
	add(&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "forged-elsewhere", Annotations: map[string]string{contract.AnnotationGPUIndexes: "0"}},
		Spec: corev1.PodSpec{NodeName: "cpu-1"}})
	add(&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "asks"}, Spec: corev1.PodSpec{NodeName: "cpu-1", Containers: []corev1.Container{{Name: "app",
		Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{contract.ResourceGPU: resource.MustParse("1")}}}}}})
	add(&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "on-gpu"}, Spec: corev1.PodSpec{NodeName: "gpu-1"}})
	nodes, err := listNodes(t.Context(), c)
	if err != nil {
		t.Fatal(err)
	}
	pods, err := listPods(t.Context(), c, nodes)
	if err != nil {
		t.Fatal(err)
	}
	var kept []string
	for _, p := range pods.Items {
		if p.Namespace == "other" {
			kept = append(kept, p.Name)
		}
		if p.ManagedFields != nil {
			t.Errorf("pod %s kept its managed fields", p.Name)
		}
	}
	if got, want := strings.Join(kept, ","), "asks,forged-elsewhere,on-gpu,pending"; got != want {
		t.Errorf("kept %s, want %s", got, want)
	}
	if len(pods.Items) != 11 {
		t.Errorf("kept %d pods, want the fixture's 7 and 4 others", len(pods.Items))
	}
}

// TestDuplicateUUIDShown: a card whose UUID two nodes list shows on both,
// FREE 0 with why, HEALTHY false naming the other node, and in Duplicates.
func TestDuplicateUUIDShown(t *testing.T) {
	inv := func(uuids ...string) string {
		v := &contract.NodeGPUInventory{Version: 1}
		for i, u := range uuids {
			v.Cards = append(v.Cards, contract.GPU{Index: i, UUID: u, Model: "A100", MemoryMiB: 40960, Healthy: true})
		}
		s, err := v.Encode()
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	c := fake.NewClientset(
		&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "gpu-a100-1", Annotations: map[string]string{contract.AnnotationNodeGPUInventory: inv("GPU-a-7")}}},
		&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "gpu-t4-1", Annotations: map[string]string{contract.AnnotationNodeGPUInventory: inv("GPU-t-0", "GPU-a-7")}}})
	snap, err := Collect(t.Context(), c, nil)
	if err != nil {
		t.Fatal(err)
	}
	got := render(Table(snap, true))
	for _, want := range []string{
		"gpu-a100-1 0 A100 40Gi 0Mi 0 (UUID on another node) 0 GPU-a-7 false (" + gpushare.DuplicateReason + "node gpu-t4-1)",
		"gpu-t4-1 0 A100 40Gi 0Mi 40Gi 0 GPU-t-0 true",
		"gpu-t4-1 1 A100 40Gi 0Mi 0 (UUID on another node) 0 GPU-a-7 false (" + gpushare.DuplicateReason + "node gpu-a100-1)",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("table lacks %q:\n%s", want, got)
		}
	}
	if len(snap.Duplicates) != 1 || snap.Duplicates[0] != "card GPU-a-7 on nodes gpu-a100-1, gpu-t4-1" {
		t.Errorf("Duplicates = %q", snap.Duplicates)
	}
}
