package extender

import (
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/utils/ptr"

	"github.com/zzcloud/zz/internal/balance"
	"github.com/zzcloud/zz/internal/contract"
	"github.com/zzcloud/zz/internal/gpushare"
)

// syncedCache is a Cache of client, run until the test ends, once synced.
func syncedCache(t *testing.T, client *fake.Clientset) *Cache {
	t.Helper()
	c, err := NewCache(client, gpushare.NewLedger(), balance.NewBook())
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = c.Run(t.Context(), time.Minute, time.Minute) }()
	for deadline := time.Now().Add(10 * time.Second); c.Ready() != nil; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("caches did not sync")
		}
	}
	return c
}

// TestGuarded: a pod is guarded when a budget of its namespace selects it
// and allows no disruption; policy/v1 selectors: empty selects every pod,
// null none.
func TestGuarded(t *testing.T) {
	pod := func(name, app string) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name, Labels: map[string]string{"app": app}}}
	}
	budget := func(name string, sel *metav1.LabelSelector, allowed int32) *policyv1.PodDisruptionBudget {
		return &policyv1.PodDisruptionBudget{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name},
			Spec: policyv1.PodDisruptionBudgetSpec{Selector: sel}, Status: policyv1.PodDisruptionBudgetStatus{DisruptionsAllowed: allowed}}
	}
	client := fake.NewClientset(pod("db-0", "db"), pod("web-0", "web"), pod("job-0", "job"),
		&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "other", Name: "db-0", Labels: map[string]string{"app": "db"}}},
		budget("db", &metav1.LabelSelector{MatchLabels: map[string]string{"app": "db"}}, 0),
		budget("web", &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}, 1),
		budget("none", nil, 0))
	c := syncedCache(t, client)
	for _, tc := range []struct {
		ns, name string
		want     bool
	}{
		{"ns", "db-0", true},     // its budget allows no disruption
		{"ns", "web-0", false},   // its budget allows one
		{"ns", "job-0", false},   // only the null selector, which selects nothing
		{"other", "db-0", false}, // budgets are per namespace
		{"ns", "gone", false},
	} {
		if got := c.Guarded(types.NamespacedName{Namespace: tc.ns, Name: tc.name}); got != tc.want {
			t.Errorf("Guarded(%s/%s) = %v, want %v", tc.ns, tc.name, got, tc.want)
		}
	}
	// An empty selector selects every pod of the namespace.
	if _, err := client.PolicyV1().PodDisruptionBudgets("ns").Create(t.Context(), budget("all", &metav1.LabelSelector{}, 0), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); !c.Guarded(types.NamespacedName{Namespace: "ns", Name: "job-0"}); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("an empty selector does not guard job-0")
		}
	}
}

// TestCacheKeepsWhatItReads: a pod is cached with its zz.io/ annotations
// only (any case of the prefix), its labels whole; a budget with what
// Guarded reads. A tenant's pods and budgets of large annotations no longer
// grow the extender's memory (a hostile-tenant audit).
func TestCacheKeepsWhatItReads(t *testing.T) {
	big := strings.Repeat("x", 200<<10)
	// A node's mirror pods (any namespace, no quota in default) of 1 MB of
	// env each grew the extender 1.8 MB apiece (a root-on-one-node audit):
	// what a container runs with is never read, its resources, ports and
	// restart policy are.
	always := corev1.ContainerRestartPolicyAlways
	run := func(name string) corev1.Container {
		return corev1.Container{Name: name, Image: "x:1", Command: []string{big}, Args: []string{big}, WorkingDir: big[:4096],
			Env: []corev1.EnvVar{{Name: "X", Value: big}}, EnvFrom: []corev1.EnvFromSource{{Prefix: big[:253]}},
			Resources:      corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1")}},
			Ports:          []corev1.ContainerPort{{ContainerPort: 80, HostPort: 8080}},
			LivenessProbe:  &corev1.Probe{ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{big}}}},
			ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{big}}}},
			StartupProbe:   &corev1.Probe{ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{big}}}},
			Lifecycle:      &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{Exec: &corev1.ExecAction{Command: []string{big}}}}}
	}
	sidecar := run("sidecar")
	sidecar.RestartPolicy = &always
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "p", Labels: map[string]string{"app": "db"},
		Annotations: map[string]string{"note": big, contract.AnnotationGPUModel: "T4", "ZZ.io/GPU-typo": "1"}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{run("app")}, InitContainers: []corev1.Container{sidecar},
			EphemeralContainers: []corev1.EphemeralContainer{{EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: "debug", Env: []corev1.EnvVar{{Name: "X", Value: big}}}}}}}
	pdb := &policyv1.PodDisruptionBudget{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "db", Generation: 2, Annotations: map[string]string{"note": big}, Labels: map[string]string{"l": big[:63]}},
		Spec:   policyv1.PodDisruptionBudgetSpec{Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "db"}}, MinAvailable: ptr.To(intstr.FromInt32(1))},
		Status: policyv1.PodDisruptionBudgetStatus{DisruptionsAllowed: 0, ObservedGeneration: 2, CurrentHealthy: 1}}
	c := syncedCache(t, fake.NewClientset(pod, pdb))
	got, err := c.GetPod(t.Context(), "ns", "p")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{contract.AnnotationGPUModel: "T4", "ZZ.io/GPU-typo": "1"}
	if !maps.Equal(got.Annotations, want) || got.Labels["app"] != "db" {
		t.Errorf("cached pod: annotations %d keys (want %v), labels %v", len(got.Annotations), want, got.Labels)
	}
	if n := len(got.Spec.EphemeralContainers); n != 0 {
		t.Errorf("cached pod keeps %d ephemeral containers", n)
	}
	for _, c := range slices.Concat(got.Spec.InitContainers, got.Spec.Containers) {
		if len(c.Env)+len(c.EnvFrom)+len(c.Command)+len(c.Args) > 0 || c.WorkingDir != "" || c.LivenessProbe != nil || c.ReadinessProbe != nil ||
			c.StartupProbe != nil || c.Lifecycle != nil {
			t.Errorf("cached container %s keeps what it runs with: env %d, command %d, args %d, probes or lifecycle", c.Name, len(c.Env), len(c.Command), len(c.Args))
		}
		if c.Resources.Limits.Cpu().String() != "1" || len(c.Ports) != 1 || c.Ports[0].HostPort != 8080 {
			t.Errorf("cached container %s lost its resources or ports: %+v %+v", c.Name, c.Resources, c.Ports)
		}
	}
	if len(got.Spec.InitContainers) != 1 || got.Spec.InitContainers[0].RestartPolicy == nil {
		t.Error("the cached native sidecar lost its restart policy (its requests count as a sidecar's)")
	}
	b, err := c.factory.Policy().V1().PodDisruptionBudgets().Lister().PodDisruptionBudgets("ns").Get("db")
	if err != nil {
		t.Fatal(err)
	}
	if len(b.Annotations) > 0 || len(b.Labels) > 0 || b.Spec.MinAvailable != nil || b.Generation != 2 || b.Status.ObservedGeneration != 2 || b.Spec.Selector == nil {
		t.Errorf("cached budget keeps more or less than Guarded reads: %+v", b)
	}
	if !c.Guarded(types.NamespacedName{Namespace: "ns", Name: "p"}) {
		t.Error("the trimmed budget no longer guards its pod")
	}
}

// TestCacheRestoresNominations: a preemption recorded on its pending pod
// (another replica's, or this process's before a restart) is restored once
// the initial lists are in, whatever order they came in: the memory its
// terminating victim frees stays the preemptor's.
func TestCacheRestoresNominations(t *testing.T) {
	victim := terminatingVictim("a-victim")
	pre := gpuPod("0-preemptor", "40Gi", 1) // listed first where order is by name
	pre.Spec.Priority = ptr.To[int32](100)
	pre.Annotations = map[string]string{contract.AnnotationGPUNomination: gpushare.NominationRecord{Node: "a", Since: time.Now().Add(-5 * time.Second)}.Encode()}
	stale := gpuPod("stale", "40Gi", 1)
	stale.Annotations = map[string]string{contract.AnnotationGPUNomination: gpushare.NominationRecord{Node: "a", Since: time.Now().Add(-time.Hour)}.Encode()}
	client := fake.NewClientset(gpuNode("a", 40960), pre, victim, stale)
	c, ledger := runPreemptingCache(t, client)
	for deadline := time.Now().Add(10 * time.Second); c.Ready() != nil || !ledger.Nominated(pre.UID); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the recorded preemption was not restored (ready: %v)", c.Ready())
		}
	}
	if ledger.Nominated(stale.UID) {
		t.Error("a record older than the TTL was restored")
	}
	victimGoneCardKept(t, client, ledger, victim.Name, pre.UID)
}

// runPreemptingCache runs, until the test ends, a cache over client that
// restores and keeps preemptions (its DefaultPolicy set, as with
// --gpu-preemption), with a ledger of its own.
func runPreemptingCache(t *testing.T, client *fake.Clientset) (*Cache, *gpushare.Ledger) {
	t.Helper()
	ledger := gpushare.NewLedger()
	c, err := NewCache(client, ledger, balance.NewBook())
	if err != nil {
		t.Fatal(err)
	}
	c.DefaultPolicy = gpushare.Binpack
	go func() { _ = c.Run(t.Context(), time.Minute, time.Minute) }()
	return c, ledger
}

// terminatingVictim is a preemption's victim on node a, holding its card 0
// while it terminates.
func terminatingVictim(name string) *corev1.Pod {
	victim := gpuPod(name, "40Gi", 1)
	a := gpushare.Assignment{Indexes: []int{0}, UUIDs: []string{"GPU-a-0"}, MemMiB: 40960, AssumeTime: time.Now().Add(-time.Minute), Assigned: true}
	victim.Annotations = a.Annotations()
	victim.Spec.NodeName, victim.Status.Phase = "a", corev1.PodRunning
	victim.DeletionTimestamp = &metav1.Time{Time: time.Now()}
	return victim
}

// victimGoneCardKept deletes the victim and waits for the card it held on
// node a to be kept for the preemptor.
func victimGoneCardKept(t *testing.T, client *fake.Clientset, ledger *gpushare.Ledger, victim string, preemptor types.UID) {
	t.Helper()
	if err := client.CoreV1().Pods("ns").Delete(t.Context(), victim, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if node, held := ledger.HeldOn(preemptor); held && node == "a" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the victim is gone, yet its card was not kept for the preemptor")
		}
	}
}

// TestCacheKeepsForKubeSchedulersNominee: kube-scheduler's own preemption
// evicted a GPU pod (the preempt verb added it) and nominated the node for
// the preemptor (status.nominatedNodeName): the card the victim frees is
// kept for the preemptor, not taken by a lower-priority pod waiting for a
// card; a pod of no GPU memory with a nominated node is left alone.
func TestCacheKeepsForKubeSchedulersNominee(t *testing.T) {
	victim := terminatingVictim("victim")
	pre := gpuPod("pre", "40Gi", 1)
	pre.Spec.Priority = ptr.To[int32](100)
	plain := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "plain", Namespace: "ns", UID: "uid-plain"}, Status: corev1.PodStatus{NominatedNodeName: "a"}}
	client := fake.NewClientset(gpuNode("a", 40960), pre, victim, plain)
	c, ledger := runPreemptingCache(t, client)
	for deadline := time.Now().Add(10 * time.Second); c.Ready() != nil; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("not ready: %v", c.Ready())
		}
	}
	if ledger.Nominated(pre.UID) {
		t.Fatal("memory kept for a pod kube-scheduler nominated no node for")
	}
	pre.Status.NominatedNodeName = "a"
	if _, err := client.CoreV1().Pods("ns").UpdateStatus(t.Context(), pre, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); !ledger.Nominated(pre.UID); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("kube-scheduler's nominee gets nothing kept")
		}
	}
	victimGoneCardKept(t, client, ledger, victim.Name, pre.UID)
	if fit, _ := ledger.Filter([]string{"a"}, gpushare.Request{MemMiB: 1024, Cards: 1}); len(fit) != 0 {
		t.Fatalf("a waiting pod fits on %v the card kept for the nominee", fit)
	}
	if ledger.Nominated(plain.UID) || ledger.Reserved(plain.UID) {
		t.Error("memory kept for a pod that asks for none")
	}
}

// TestCacheRemovesRecordsOfBoundPods: a bound pod's preemption record is
// removed, whether it was bound before the extender started or after, and
// whatever else the pod carries stays; a pending pod keeps its record.
func TestCacheRemovesRecordsOfBoundPods(t *testing.T) {
	record := func(p *corev1.Pod) *corev1.Pod {
		p.Annotations = map[string]string{contract.AnnotationGPUNomination: gpushare.NominationRecord{Node: "a", Since: time.Now()}.Encode(), "keep": "me"}
		return p
	}
	before := record(gpuPod("bound-before", "1Gi", 1))
	before.Spec.NodeName = "a"
	later := record(gpuPod("bound-later", "1Gi", 1))
	pending := record(gpuPod("pending", "1Gi", 1))
	client := fake.NewClientset(gpuNode("a", 40960), before, later, pending)
	runPreemptingCache(t, client)
	get := func(name string) *corev1.Pod {
		p, err := client.CoreV1().Pods("ns").Get(t.Context(), name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	removed := func(name string) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
			p := get(name)
			if _, ok := p.Annotations[contract.AnnotationGPUNomination]; !ok {
				if p.Annotations["keep"] != "me" {
					t.Errorf("%s lost its other annotations: %v", name, p.Annotations)
				}
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s is bound and still carries its preemption record", name)
			}
		}
	}
	removed("bound-before")
	bound := get("bound-later")
	bound.Spec.NodeName = "a"
	if _, err := client.CoreV1().Pods("ns").Update(t.Context(), bound, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	removed("bound-later")
	if _, ok := get("pending").Annotations[contract.AnnotationGPUNomination]; !ok {
		t.Error("a pending pod lost its preemption record")
	}
}
