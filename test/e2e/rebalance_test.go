package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/zzcloud/zz/internal/contract"
	"github.com/zzcloud/zz/internal/rebalance"
)

// TestRebalance: four nodes, the apps (zz-scheduler's) started while only
// the first was schedulable (the job site's starved nodes); kubectl zz rebalance --dry-run
// prints a plan and moves nothing; kubectl zz rebalance moves pods one at a
// time: the PodDisruptionBudget's minimum of ready pods holds throughout, a
// pod without a controller stays, an app bound by its node selector to two
// of the nodes is planned onto those only, and the range after is at most
// the plan's.
func TestRebalance(t *testing.T) {
	// Replacements are placed by zz-scheduler's balance extender, on the
	// least loaded nodes, as the plan expects.
	startZZScheduler(t)
	nodes := benchNodesOf(t, 4, resource.MustParse("16"), resource.MustParse("64Gi"))
	ctx := t.Context()
	ns := cluster.Namespace(t, nil)
	setUnschedulable(t, nodes[1:], true)
	web := rebalanceApp(t, ns, "web", 6, "1500m", nil)
	// api may run on the first and the last node only (a planner that
	// ignored it would send api's pods to the second, the first of the
	// emptiest).
	const apiNodes = "zz-e2e-rebalance-api"
	for _, n := range []string{nodes[0], nodes[3]} {
		if _, err := cluster.Client.CoreV1().Nodes().Patch(ctx, n, "application/merge-patch+json",
			fmt.Appendf(nil, `{"metadata":{"labels":{%q:"yes"}}}`, apiNodes), metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	rebalanceApp(t, ns, "api", 4, "1", map[string]string{apiNodes: "yes"})
	// locked's budget allows no disruption: every eviction would be refused.
	locked := rebalanceApp(t, ns, "locked", 2, "1", nil)
	bare := benchPod("bare", corev1.DefaultSchedulerName, corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("500m")})
	bare.Namespace = ns
	if _, err := cluster.Client.CoreV1().Pods(ns).Create(ctx, bare, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	cluster.RunningPods(t, ns, "", 13, 90*time.Second)
	setUnschedulable(t, nodes[1:], false)
	pdb := &policyv1.PodDisruptionBudget{ObjectMeta: metav1.ObjectMeta{Name: "web"}, Spec: policyv1.PodDisruptionBudgetSpec{
		MinAvailable: ptr.To(intstr.FromInt32(5)), Selector: web.Spec.Selector}}
	if _, err := cluster.Client.PolicyV1().PodDisruptionBudgets(ns).Create(ctx, pdb, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	lockedPDB := &policyv1.PodDisruptionBudget{ObjectMeta: metav1.ObjectMeta{Name: "locked"}, Spec: policyv1.PodDisruptionBudgetSpec{
		MaxUnavailable: ptr.To(intstr.FromInt32(0)), Selector: locked.Spec.Selector}}
	if _, err := cluster.Client.PolicyV1().PodDisruptionBudgets(ns).Create(ctx, lockedPDB, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	cluster.WaitFor(t, 30*time.Second, "the budgets' status", func(ctx context.Context) (bool, string, error) {
		l, err := cluster.Client.PolicyV1().PodDisruptionBudgets(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, "", err
		}
		for _, b := range l.Items {
			if b.Status.ObservedGeneration < b.Generation {
				return false, b.Name + " not observed yet", nil
			}
		}
		return true, "", nil
	})
	before := podPlaces(t, ns)

	out, errOut, err := zz(t, ns, "rebalance", "--dry-run", "-l", benchLabel+"=true", "-o", "json")
	if err != nil {
		t.Fatalf("rebalance --dry-run: %v\n%s", err, errOut)
	}
	var plan struct {
		Items []struct{ Pod, App, To string }
	}
	if err := json.Unmarshal([]byte(out), &plan); err != nil {
		t.Fatalf("rebalance --dry-run -o json: %v\n%s", err, out)
	}
	for _, m := range plan.Items {
		if strings.HasPrefix(m.Pod, "api-") && m.To != nodes[0] && m.To != nodes[3] {
			t.Errorf("planned %s onto %s, which its node selector does not allow:\n%s", m.Pod, m.To, out)
		}
		if strings.HasPrefix(m.Pod, "locked-") {
			t.Errorf("planned %s, whose budget allows no disruption:\n%s", m.Pod, out)
		}
	}
	if !strings.Contains(errOut, "\n  2  "+rebalance.ReasonBudget+" locked allows no disruption now\n") {
		t.Errorf("the dry run does not say why locked's pods stay:\n%s", errOut)
	}
	t.Logf("dry run:\n%s", errOut)
	m := regexp.MustCompile(`range ([0-9.]+), CV [0-9.]+ now; expected after (\d+) moves: range ([0-9.]+)`).FindStringSubmatch(errOut)
	if m == nil {
		t.Fatalf("no plan summary in:\n%s", errOut)
	}
	rangeNow, _ := strconv.ParseFloat(m[1], 64)
	estimate, _ := strconv.ParseFloat(m[3], 64)
	if m[2] == "0" || estimate >= rangeNow {
		t.Fatalf("plan of %s moves from range %.3f to %.3f; want moves that lower it", m[2], rangeNow, estimate)
	}
	// A tenant (edit in this namespace) may not even plan: the plan reads
	// every node and pod, and the moves evict other teams' pods.
	tenant := editTenant(t, ns)
	if _, _, err := zzRaw(t, "--kubeconfig", tenant.kubeconfig, "-n", ns, "rebalance", "--dry-run"); err == nil || !strings.Contains(err.Error(), "forbidden") {
		t.Errorf("rebalance as an edit user of one namespace: %v, want the apiserver's refusal", err)
	}
	if after := podPlaces(t, ns); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Fatalf("the dry run moved pods:\nbefore %v\nafter  %v", before, after)
	}

	// The budget keeps at least 5 of web's 6 pods ready while pods move.
	var lowest int32 = 6
	var mu sync.Mutex
	watchCtx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() {
		for watchCtx.Err() == nil {
			if d, err := cluster.Client.AppsV1().Deployments(ns).Get(watchCtx, "web", metav1.GetOptions{}); err == nil {
				mu.Lock()
				lowest = min(lowest, d.Status.ReadyReplicas)
				mu.Unlock()
			}
			time.Sleep(100 * time.Millisecond)
		}
	})
	out, errOut, err = zz(t, ns, "rebalance", "-l", benchLabel+"=true", "--timeout", "60s")
	stop()
	wg.Wait()
	if err != nil {
		t.Fatalf("rebalance: %v\n%s\n%s", err, out, errOut)
	}
	t.Logf("rebalance:\n%s%s", out, errOut)
	if lowest < 5 {
		t.Errorf("web had %d ready pods during the moves; its budget wants 5", lowest)
	}
	after := podPlaces(t, ns)
	if after["bare"] != before["bare"] {
		t.Errorf("the pod without a controller moved from %s to %s", before["bare"], after["bare"])
	}
	for pod, node := range after {
		if strings.HasPrefix(pod, "api-") && node != nodes[0] && node != nodes[3] {
			t.Errorf("%s runs on %s, which its node selector does not allow", pod, node)
		}
	}
	nodesNow, _, err := rebalance.Snapshot(ctx, cluster.Client, benchLabel+"=true")
	if err != nil {
		t.Fatal(err)
	}
	now, _ := rebalance.Measure(nodesNow)
	got := now.Range
	t.Logf("CPU request fraction range: %.3f before, %.3f planned, %.3f after", rangeNow, estimate, got)
	if got > estimate+1e-3 {
		t.Errorf("range after the moves %.3f, above the plan's %.3f", got, estimate)
	}
	if !strings.Contains(errOut, "moves made") {
		t.Errorf("no summary of the moves made:\n%s", errOut)
	}
	// Each move made says where its replacement runs.
	moved := regexp.MustCompile(`(?m)^moved \S+ off \S+ to \S+`).FindAllString(errOut, -1)
	if len(moved) == 0 {
		t.Errorf("no move says where its replacement went:\n%s", errOut)
	}
}

// rebalanceApp creates a Deployment of n pods on the bench nodes (those
// with the labels nodeSelector adds, too).
func rebalanceApp(t *testing.T, ns, name string, n int32, cpu string, nodeSelector map[string]string) *appsv1.Deployment {
	t.Helper()
	labels := map[string]string{"app": name}
	tmpl := benchPod(name, contract.SchedulerName, corev1.ResourceList{
		corev1.ResourceCPU: resource.MustParse(cpu), corev1.ResourceMemory: resource.MustParse("1Gi")})
	maps.Copy(tmpl.Spec.NodeSelector, nodeSelector)
	d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: appsv1.DeploymentSpec{
		Replicas: ptr.To(n), Selector: &metav1.LabelSelector{MatchLabels: labels},
		Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: tmpl.Spec}}}
	d, err := cluster.Client.AppsV1().Deployments(ns).Create(t.Context(), d, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func setUnschedulable(t *testing.T, nodes []string, on bool) {
	t.Helper()
	patch := fmt.Appendf(nil, `{"spec":{"unschedulable":%t}}`, on)
	for _, n := range nodes {
		if _, err := cluster.Client.CoreV1().Nodes().Patch(t.Context(), n, "application/merge-patch+json", patch, metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
	}
}

// podPlaces maps each pod of ns to its node (bare pods by name, replicas by
// name too: a moved replica is a new pod).
func podPlaces(t *testing.T, ns string) map[string]string {
	t.Helper()
	l, err := cluster.Client.CoreV1().Pods(ns).List(t.Context(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, p := range l.Items {
		if p.DeletionTimestamp == nil {
			out[p.Name] = p.Spec.NodeName
		}
	}
	return out
}

// TestRebalanceLeavesNotReadyOut: a node whose kubelet is not heard from
// (no kwok manages it: Ready Unknown) is left out of the plan and named,
// and the measure is over the Ready node alone (an incident audit: a
// NotReady node's pods, about to be evicted, were measured as load).
func TestRebalanceLeavesNotReadyOut(t *testing.T) {
	ns := cluster.Namespace(t, nil)
	ready, lost := ns+"-ready", ns+"-lost"
	zoneNode(t, ready, "zone-r")
	res := corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("8"), corev1.ResourceMemory: resource.MustParse("32Gi"), corev1.ResourcePods: resource.MustParse("110")}
	if _, err := cluster.Client.CoreV1().Nodes().Create(t.Context(), &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: lost, Labels: map[string]string{corev1.LabelHostname: lost, "type": "kwok"}},
		Status: corev1.NodeStatus{Capacity: res, Allocatable: res,
			Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionUnknown, Reason: "NodeStatusUnknown"}}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cluster.Client.CoreV1().Nodes().Delete(context.Background(), lost, metav1.DeleteOptions{}) })
	_, errOut, err := zz(t, ns, "rebalance", "--dry-run", "-l", fmt.Sprintf("%s in (%s,%s)", corev1.LabelHostname, ready, lost))
	if err != nil || !strings.Contains(errOut, "1 node not Ready left out: "+lost+"\n") || !strings.Contains(errOut, "CPU request fractions over 1 nodes") {
		t.Errorf("rebalance --dry-run: %v\n%s; want %s left out and the measure over 1 node", err, errOut, lost)
	}
}
