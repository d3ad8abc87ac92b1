package e2e

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/zzcloud/zz/internal/contract"
)

// zonePolicy routes the pool "zones" (nodes this test makes, each in a
// zone) to zz-scheduler, as the shipped policy routes every pool.
const zonePolicy = `cluster: e2e
largestGPUCard: 80Gi
defaultPool: general
pools:
  general: {nodeSelector: {zz.io/pool: general}, cpuOvercommitRatio: 1, scheduler: zz-scheduler}
  zones: {nodeSelector: {zz.io/pool: zones}, cpuOvercommitRatio: 1, scheduler: zz-scheduler}
`

// TestZoneSpread: spec.zoneSpread through zz-scheduler and the balance
// extender, on nodes of this test's own pool in three zones (the shared
// nodes carry no zone and stay as other tests count them). required puts
// 3 replicas one per zone; a zone cordoned leaves the count
// (nodeTaintsPolicy Honor), so its pod's replacement and one more go to
// the other zones and none waits; the zone back, status says the pods sit
// in two zones of three (an edit user, who may not list nodes, gets the
// status without it); a zone full but not tainted still
// counts, so the pod that would unbalance the zones stays Pending and
// kubectl zz status shows the scheduler's reason with the hint. preferred wins over balance: with two empty nodes in
// one zone, and again with the third zone's only node half full, 3
// replicas land in 3 zones (without zoneSpread, balance puts 2 in one zone
// in the second case).
func TestZoneSpread(t *testing.T) {
	startZZScheduler(t)
	startWebhook(t, zonePolicy)
	ns := cluster.Namespace(t, map[string]string{contract.LabelInjection: contract.InjectionEnabled})
	cluster.WaitFor(t, 30*time.Second, "the apiserver to call the webhook", func(ctx context.Context) (bool, string, error) {
		pod, err := dryRunPod(ctx, ns, appPod("probe", "1"))
		if err != nil {
			return false, err.Error(), nil
		}
		return pod.Spec.SchedulerName == contract.SchedulerName, "schedulerName " + pod.Spec.SchedulerName, nil
	})
	// Node names of this run's own: a pod of an earlier run's namespace,
	// still being deleted, would be counted on a node of the same name.
	node := func(n string) string { return ns + "-" + n }
	zoneOf := map[string]string{}
	for _, n := range []string{"a", "b", "c"} {
		zoneNode(t, node(n), "zone-"+n)
		zoneOf[node(n)] = "zone-" + n
	}

	t.Run("required: one replica per zone", func(t *testing.T) {
		if out, errOut, err := zz(t, ns, "deploy", "-f", zoneSpec(t, "shop", "required", 3, "zones"), "--timeout", "90s"); err != nil {
			t.Fatalf("kubectl zz deploy: %v\n%s\n%s", err, out, errOut)
		}
		pods := cluster.RunningPods(t, ns, contract.LabelApp+"=shop", 3, 60*time.Second)
		if zones := podZones(pods, zoneOf); len(zones) != 3 {
			t.Errorf("pods in zones %v; want one in each of zone-a, zone-b, zone-c", zones)
		}
		p := pods[0]
		if !scheduledBy(t, ns, p.Name, contract.SchedulerName) {
			t.Errorf("pod %s has no Scheduled event from zz-scheduler", p.Name)
		}
		// The apiserver merges matchLabelKeys into the pod's selector
		// (MatchLabelKeysInPodTopologySpreadSelectorMerge, on since 1.34):
		// the pod counts its own ReplicaSet's pods only.
		hash := p.Labels[appsv1.DefaultDeploymentUniqueLabelKey]
		if c := p.Spec.TopologySpreadConstraints; len(c) != 1 || c[0].LabelSelector == nil ||
			!slices.ContainsFunc(c[0].LabelSelector.MatchExpressions, func(r metav1.LabelSelectorRequirement) bool {
				return r.Key == appsv1.DefaultDeploymentUniqueLabelKey && slices.Equal(r.Values, []string{hash})
			}) {
			t.Errorf("pod %s spread constraints %+v; want pod-template-hash in (%s) merged into the selector", p.Name, c, hash)
		}
	})

	t.Run("required: a cordoned zone leaves the count, its pods' replacements do not wait", func(t *testing.T) {
		// An outage in small: zone-c cordoned (the node lifecycle
		// controller taints it, as it taints NotReady nodes) and its pod
		// gone. Under nodeTaintsPolicy Honor zone-c leaves the skew, so
		// the replacement and a fourth pod go 2/2 over zone-a and zone-b;
		// under Ignore zone-c would count 0 and both would wait.
		if _, err := cluster.Kubectl(t.Context(), "cordon", node("c")); err != nil {
			t.Fatal(err)
		}
		waitTaint(t, node("c"), true)
		if err := cluster.Client.CoreV1().Pods(ns).DeleteCollection(t.Context(), metav1.DeleteOptions{GracePeriodSeconds: ptr.To(int64(0))},
			metav1.ListOptions{LabelSelector: contract.LabelApp + "=shop", FieldSelector: "spec.nodeName=" + node("c")}); err != nil {
			t.Fatal(err)
		}
		if _, err := cluster.Kubectl(t.Context(), "-n", ns, "scale", "deployment", "shop", "--replicas=4"); err != nil {
			t.Fatal(err)
		}
		cluster.WaitFor(t, 60*time.Second, "4 pods placed 2/2 over zone-a and zone-b", func(context.Context) (bool, string, error) {
			count, pending, err := shopPlacement(t.Context(), ns, zoneOf) // not ctx: its last poll, cut at the deadline, would hide the placement
			if err != nil {
				return false, err.Error(), nil
			}
			return pending == 0 && count["zone-a"] == 2 && count["zone-b"] == 2 && count["zone-c"] == 0,
				fmt.Sprintf("%d pending, placed by zone %v", pending, count), nil
		})
	})

	t.Run("required: back from the outage, status says the pods sit in fewer zones", func(t *testing.T) {
		// zone-c schedulable again: the 4 pods stay 2/2 over zone-a and
		// zone-b (the spread is judged at scheduling only), Ready, and
		// status says so with the way to spread them.
		if _, err := cluster.Kubectl(t.Context(), "uncordon", node("c")); err != nil {
			t.Fatal(err)
		}
		waitTaint(t, node("c"), false)
		const note = "spec.zoneSpread: required, but its 4 ready pods are in zones zone-a and zone-b (zone-c has schedulable nodes again): kubectl zz restart shop spreads them where those nodes have room"
		cluster.WaitFor(t, 30*time.Second, "kubectl zz status to say the pods sit in two zones of three", func(ctx context.Context) (bool, string, error) {
			out, errOut, err := zz(t, ns, "status", "shop")
			return err == nil && strings.Contains(out, " Ready ") && strings.Contains(out, "\n"+note+"\n"), out + errOut, nil
		})
		out, errOut, err := zz(t, ns, "status", "shop", "-o", "jsonpath={.items[0].zoneGap.freeZones}")
		if err != nil || out != `["zone-c"]` {
			t.Errorf("status -o jsonpath zoneGap.freeZones: %v, %q\n%s", err, out, errOut)
		}
		// A namespace's edit user may not list nodes: the rest of the
		// status, nothing said of zones, no failure.
		tenant := editTenant(t, ns)
		out, errOut, err = zzRaw(t, "--kubeconfig", tenant.kubeconfig, "-n", ns, "status", "shop")
		if err != nil || !strings.Contains(out, " Ready ") || strings.Contains(out+errOut, "zoneSpread") {
			t.Errorf("status as an edit user: %v\n%s\n%s; want the status without the zone note", err, out, errOut)
		}
	})

	t.Run("required: a full zone still counts, the pod that would unbalance the zones waits, status says why", func(t *testing.T) {
		// zone-c back, but full (a pod of all its CPU) and not tainted: it
		// counts its 0 pods, so a fifth pod would put zone-a or zone-b
		// two ahead and waits.
		if _, err := cluster.Kubectl(t.Context(), "uncordon", node("c")); err != nil {
			t.Fatal(err)
		}
		waitTaint(t, node("c"), false)
		all := corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("8"), corev1.ResourceMemory: resource.MustParse("1Gi")}
		full := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "full", Labels: map[string]string{contract.LabelPool: "zones"}},
			Spec: corev1.PodSpec{NodeName: node("c"), NodeSelector: map[string]string{contract.LabelPool: "zones"},
				Containers: []corev1.Container{{Name: "app", Image: "registry.local/filler:1", Resources: corev1.ResourceRequirements{Limits: all, Requests: all}}}}}
		if _, err := cluster.Client.CoreV1().Pods(ns).Create(t.Context(), full, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		// Gone before the next subtest, failed or not: it needs zone-c.
		t.Cleanup(func() {
			_ = cluster.Client.CoreV1().Pods(ns).Delete(context.Background(), "full", metav1.DeleteOptions{GracePeriodSeconds: ptr.To(int64(0))})
		})
		if _, err := cluster.Kubectl(t.Context(), "-n", ns, "scale", "deployment", "shop", "--replicas=5"); err != nil {
			t.Fatal(err)
		}
		cluster.WaitFor(t, 60*time.Second, "kubectl zz status to show the spread keeping a pod Pending", func(ctx context.Context) (bool, string, error) {
			out, errOut, _ := zz(t, ns, "status", "shop")
			ok := strings.Contains(out, "didn't match pod topology spread constraints") && strings.Contains(out, "Insufficient cpu") &&
				strings.Contains(out, "Unschedulable") &&
				strings.Contains(out, "; spec.zoneSpread: required keeps a pod waiting rather than put one zone two of the app's pods ahead of another (a zone whose nodes are full still counts its pods")
			if ok {
				t.Logf("kubectl zz status shop:\n%s", out)
			}
			return ok, out + errOut, nil
		})
		if count, pending, err := shopPlacement(t.Context(), ns, zoneOf); err != nil {
			t.Fatal(err)
		} else if pending != 1 || count["zone-a"] != 2 || count["zone-b"] != 2 || count["zone-c"] != 0 {
			t.Errorf("%d pending, placed by zone %v; want 1 pending, zone-a 2, zone-b 2, zone-c 0", pending, count)
		}
		mustZZ(t, ns, "delete", "shop", "--yes")
		podsGone(t, ns, "shop")
	})

	t.Run("required where no node has a zone: deploy warns, status says why", func(t *testing.T) {
		// The shared pool general: no zone labels.
		out, errOut, err := zz(t, ns, "deploy", "-f", zoneSpec(t, "nozone", "required", 2, "general"), "--wait=false")
		if err != nil || !strings.Contains(errOut, "warning: spec.zoneSpread required: no node of pool general (zz.io/pool=general) in context") {
			t.Fatalf("kubectl zz deploy: %v\n%s\n%s; want the warning that no node has a zone", err, out, errOut)
		}
		cluster.WaitFor(t, 60*time.Second, "kubectl zz status to say the nodes lack the zone label", func(ctx context.Context) (bool, string, error) {
			out, errOut, _ := zz(t, ns, "status", "nozone")
			return strings.Contains(out, "(missing required label)") &&
				strings.Contains(out, "spec.zoneSpread: required places pods only on nodes labelled topology.kubernetes.io/zone"), out + errOut, nil
		})
		mustZZ(t, ns, "delete", "nozone", "--yes")
		podsGone(t, ns, "nozone")
	})

	t.Run("preferred wins over balance", func(t *testing.T) {
		if _, err := cluster.Kubectl(t.Context(), "uncordon", node("c")); err != nil {
			t.Fatal(err)
		}
		// A second empty node in zone-a: balance alone finds a2 (and a) as
		// good as c for the third pod; the spread must choose c.
		zoneNode(t, node("a2"), "zone-a")
		zoneOf[node("a2")] = "zone-a"
		prefix := map[string]string{"equal nodes": "eq", "zone-c half full": "busy"}
		measure := func(nodes string) {
			for _, mode := range []string{"preferred", ""} {
				counts := deployThrice(t, ns, prefix[nodes], mode, zoneOf)
				t.Logf("%s, zoneSpread %q: pods by zone in 3 deploys: %s", nodes, mode, strings.Join(counts, ", "))
				// Without zoneSpread the result is measured, not asserted:
				// it is balance's call.
				if mode == "preferred" && slices.ContainsFunc(counts, func(c string) bool { return c != "map[zone-a:1 zone-b:1 zone-c:1]" }) {
					t.Errorf("%s, zoneSpread preferred: %v; want one pod per zone each time", nodes, counts)
				}
			}
		}
		measure("equal nodes")
		// c, the only node of zone-c, half full of another pod's requests:
		// balance pulls the third pod to the empty a2.
		half := corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("4"), corev1.ResourceMemory: resource.MustParse("16Gi")}
		filler := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "filler", Labels: map[string]string{contract.LabelPool: "zones"}},
			Spec: corev1.PodSpec{NodeName: node("c"), NodeSelector: map[string]string{contract.LabelPool: "zones"},
				Containers: []corev1.Container{{Name: "app", Image: "registry.local/filler:1", Resources: corev1.ResourceRequirements{Limits: half, Requests: half}}}}}
		if _, err := cluster.Client.CoreV1().Pods(ns).Create(t.Context(), filler, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			_ = cluster.Client.CoreV1().Pods(ns).Delete(context.Background(), "filler", metav1.DeleteOptions{GracePeriodSeconds: ptr.To(int64(0))})
		})
		measure("zone-c half full")
	})
}

// deployThrice deploys a 3-replica app of zoneSpread mode 3 times, each
// deleted before the next, and returns where its pods ran each time.
func deployThrice(t *testing.T, ns, prefix, mode string, zoneOf map[string]string) []string {
	t.Helper()
	var seen []string
	for i := range 3 {
		name := fmt.Sprintf("%s-%s%d", prefix, map[string]string{"preferred": "p", "": "n"}[mode], i)
		if out, errOut, err := zz(t, ns, "deploy", "-f", zoneSpec(t, name, mode, 3, "zones"), "--timeout", "90s"); err != nil {
			t.Fatalf("kubectl zz deploy: %v\n%s\n%s", err, out, errOut)
		}
		pods := cluster.RunningPods(t, ns, contract.LabelApp+"="+name, 3, 60*time.Second)
		seen = append(seen, fmt.Sprint(zoneCounts(pods, zoneOf)))
		mustZZ(t, ns, "delete", name, "--yes")
		podsGone(t, ns, name)
	}
	return seen
}

// podsGone waits until app has no pod left, so none counts in the next
// placement's node loads.
func podsGone(t *testing.T, ns, app string) {
	t.Helper()
	cluster.WaitFor(t, 60*time.Second, app+"'s pods to go", func(ctx context.Context) (bool, string, error) {
		l, err := cluster.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: contract.LabelApp + "=" + app})
		return err == nil && len(l.Items) == 0, fmt.Sprint(err), nil
	})
}

// zoneSpec is a web app of replicas pods in pool, with spec.zoneSpread
// mode ("" leaves it out).
func zoneSpec(t *testing.T, name, mode string, replicas int, pool string) string {
	t.Helper()
	spec := `apiVersion: zz.io/v1
kind: App
name: ` + name + `
spec:
  type: web
  image: registry.local/shop:1.0
  replicas: ` + itoa(replicas) + `
  cpu: 100m
  memory: 64Mi
  pool: ` + pool + `
`
	if mode != "" {
		spec += "  zoneSpread: " + mode + "\n"
	}
	return specFile(t, spec)
}

// zoneNode makes a kwok node of the pool "zones" in zone, gone at the
// end of the test, and waits until it takes pods: a node is made with the
// not-ready taint, which nodeTaintsPolicy Honor reads as a zone that
// cannot take the pod, so under a loaded CI run a deploy made before kwok
// marked b and c Ready put all 3 replicas in zone-a, as it should.
func zoneNode(t *testing.T, name, zone string) {
	t.Helper()
	res := corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("8"), corev1.ResourceMemory: resource.MustParse("32Gi"),
		corev1.ResourcePods: resource.MustParse("110")}
	_, err := cluster.Client.CoreV1().Nodes().Create(t.Context(), &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name,
			Annotations: map[string]string{"kwok.x-k8s.io/node": "fake"},
			Labels: map[string]string{corev1.LabelHostname: name, corev1.LabelTopologyZone: zone,
				contract.LabelPool: "zones", "type": "kwok"}},
		Status: corev1.NodeStatus{Capacity: res, Allocatable: res},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cluster.Client.CoreV1().Nodes().Delete(context.Background(), name, metav1.DeleteOptions{}) })
	cluster.WaitFor(t, 60*time.Second, "node "+name+" Ready with no taint", func(ctx context.Context) (bool, string, error) {
		n, err := cluster.Client.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err.Error(), nil
		}
		ready := slices.ContainsFunc(n.Status.Conditions, func(c corev1.NodeCondition) bool {
			return c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue
		})
		return ready && len(n.Spec.Taints) == 0, fmt.Sprintf("ready %v, taints %v", ready, n.Spec.Taints), nil
	})
}

// shopPlacement is where the app shop's pods run by zone, and how many
// wait for a node.
func shopPlacement(ctx context.Context, ns string, zoneOf map[string]string) (map[string]int, int, error) {
	list, err := cluster.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: contract.LabelApp + "=shop"})
	if err != nil {
		return nil, 0, err
	}
	var placed []corev1.Pod
	pending := 0
	for _, p := range list.Items {
		switch {
		case p.DeletionTimestamp != nil:
		case p.Spec.NodeName == "":
			pending++
		default:
			placed = append(placed, p)
		}
	}
	return zoneCounts(placed, zoneOf), pending, nil
}

// waitTaint waits until the node lifecycle controller has put the
// unschedulable taint on a cordoned node (on: the spread's Honor reads
// taints, not spec.unschedulable), or taken it off.
func waitTaint(t *testing.T, name string, on bool) {
	t.Helper()
	cluster.WaitFor(t, 30*time.Second, fmt.Sprintf("node %s's %s taint to be %v", name, corev1.TaintNodeUnschedulable, on), func(ctx context.Context) (bool, string, error) {
		n, err := cluster.Client.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err.Error(), nil
		}
		has := slices.ContainsFunc(n.Spec.Taints, func(tt corev1.Taint) bool { return tt.Key == corev1.TaintNodeUnschedulable })
		return has == on, fmt.Sprint(n.Spec.Taints), nil
	})
}

// zoneCounts is how many of pods run in each zone.
func zoneCounts(pods []corev1.Pod, zoneOf map[string]string) map[string]int {
	n := map[string]int{}
	for _, p := range pods {
		n[zoneOf[p.Spec.NodeName]]++
	}
	return n
}

// podZones lists the zones pods run in, each once.
func podZones(pods []corev1.Pod, zoneOf map[string]string) []string {
	var zones []string
	for z := range zoneCounts(pods, zoneOf) {
		zones = append(zones, z)
	}
	slices.Sort(zones)
	return zones
}
