package e2e

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/zzcloud/zz/internal/contract"
	"github.com/zzcloud/zz/internal/gpushare"
)

// healthTarget is issue 14's figure for a card's health reaching the node's
// inventory. The asserts allow healthSlack: the e2e machine is shared (CI on
// 2 cores, parallel runs); the measured time is logged for the README.
const (
	healthTarget = 5 * time.Second
	healthSlack  = 15 * time.Second
)

// waitCardHealth waits until the node's inventory says card index is
// healthy (or not) and returns how long that took since start and the
// card's published reason.
func (n *dpNode) waitCardHealth(t *testing.T, index int, healthy bool, start time.Time) (time.Duration, string) {
	t.Helper()
	var reason string
	cluster.WaitFor(t, healthSlack, fmt.Sprintf("node %s inventory: card %d healthy=%v", n.Node, index, healthy), func(ctx context.Context) (bool, string, error) {
		node, err := cluster.Client.CoreV1().Nodes().Get(ctx, n.Node, metav1.GetOptions{})
		if err != nil {
			return false, err.Error(), nil
		}
		inv, err := contract.ParseInventory(node.Annotations[contract.AnnotationNodeGPUInventory])
		if err != nil {
			return false, err.Error(), nil
		}
		for _, c := range inv.Cards {
			if c.Index == index {
				reason = c.Reason
				return c.Healthy == healthy, fmt.Sprintf("healthy=%v reason=%q", c.Healthy, c.Reason), nil
			}
		}
		return false, "no such card", nil
	})
	took := time.Since(start)
	if took > healthTarget {
		t.Logf("card %d healthy=%v took %v, over the %v target (allowed up to %v on a loaded machine)", index, healthy, took.Round(10*time.Millisecond), healthTarget, healthSlack)
	}
	return took, reason
}

// refusedByAllocate waits for the kubelet to fail pod at admission and checks
// the fake runtime created no container for it; it returns the pod's message.
func (n *dpNode) refusedByAllocate(t *testing.T, ns, name string) string {
	t.Helper()
	p := waitPodPhase(t, ns, name, corev1.PodFailed, 60*time.Second)
	if p.Status.Reason != "UnexpectedAdmissionError" || !strings.Contains(p.Status.Message, "zz device plugin on "+n.Node) {
		t.Fatalf("pod %s: %s: %s", name, p.Status.Reason, p.Status.Message)
	}
	if c := n.Container(t, string(p.UID), "cuda"); c != nil {
		t.Fatalf("refused pod %s got a container: %+v", name, c)
	}
	return p.Status.Message
}

// cardOf is the inventory index of the (single) card a running pod got.
func (n *dpNode) cardOf(t *testing.T, pod *corev1.Pod) int {
	t.Helper()
	a, err := gpushare.PodAssignment(pod)
	if err != nil || len(a.Indexes) != 1 {
		t.Fatalf("pod %s: assignment %+v, %v", pod.Name, a, err)
	}
	return a.Indexes[0]
}

// TestDevicePluginKubeletCardHealth: a critical XID (48, double-bit ECC) on
// card 1 reaches the node's inventory within seconds, zz-scheduler's extender
// stops placing pods there, Allocate refuses a pod pinned to it, and only a
// reset brings it back.
func TestDevicePluginKubeletCardHealth(t *testing.T) {
	n := startDPNode(t, "dp-health")
	ns := cluster.Namespace(t, nil)
	startZZScheduler(t)
	const sick = 1
	uuid := n.inv.Cards[sick].UUID

	// A pod already on card 1 makes it the fullest card: without the health
	// check, a packing extender would put the next pods there.
	warm := n.gpuPodFor(ns, "warm", 4096, 1, n.assignment(4096, time.Now(), sick))
	createPods(t, []*corev1.Pod{warm})
	n.checkCards(t, waitPodPhase(t, ns, warm.Name, corev1.PodRunning, 60*time.Second))

	start := time.Now()
	n.mock(t, "POST", "/xid?uuid="+uuid+"&xid=48", "")
	took, reason := n.waitCardHealth(t, sick, false, start)
	t.Logf("XID 48 on card %d: inventory unhealthy after %v (target %v): %q", sick, took.Round(10*time.Millisecond), healthTarget, reason)
	if !strings.Contains(reason, "48") {
		t.Fatalf("card %d's reason %q does not name the XID", sick, reason)
	}
	n.waitGPUs(t, 7*dpSlots, 30*time.Second)

	t.Run("zz-scheduler places pods on other cards", func(t *testing.T) {
		var pods []*corev1.Pod
		for i := range 4 {
			pods = append(pods, n.gpuPodFor(ns, fmt.Sprintf("after-xid-%d", i), 2048, 1, nil))
		}
		createPods(t, pods)
		for _, p := range pods {
			got := waitPodPhase(t, ns, p.Name, corev1.PodRunning, 90*time.Second)
			n.checkCards(t, got)
			if c := n.cardOf(t, got); c == sick {
				t.Fatalf("pod %s was placed on card %d, which is down (%s)", p.Name, c, reason)
			}
		}
	})

	t.Run("Allocate refuses a pod pinned to the sick card", func(t *testing.T) {
		// Annotations written as the extender would, with admin credentials:
		// no ValidatingAdmissionPolicies are installed here.
		p := n.gpuPodFor(ns, "pinned-sick", 1024, 1, n.assignment(1024, time.Now(), sick))
		createPods(t, []*corev1.Pod{p})
		msg := n.refusedByAllocate(t, ns, p.Name)
		if !strings.Contains(msg, uuid) || !strings.Contains(msg, "unhealthy") || !strings.Contains(msg, reason) {
			t.Fatalf("pod %s: the refusal does not carry the card and the plugin's reason %q: %s", p.Name, reason, msg)
		}
		t.Logf("refused: %s", msg)
	})

	t.Run("XID 48 is sticky until a reset", func(t *testing.T) {
		// The node runs with --xid-recover-after 2s: a timer would have
		// brought the card back by now.
		time.Sleep(3 * time.Second)
		if _, r := n.waitCardHealth(t, sick, false, time.Now()); r == "" {
			t.Fatal("card lost its reason before a reset")
		}
		start := time.Now()
		n.mock(t, "POST", "/reset?uuid="+uuid, "")
		took, _ := n.waitCardHealth(t, sick, true, start)
		t.Logf("reset of card %d: inventory healthy after %v", sick, took.Round(10*time.Millisecond))
		n.waitGPUs(t, 8*dpSlots, 30*time.Second)
		p := n.gpuPodFor(ns, "back-on-1", 1024, 1, n.assignment(1024, time.Now(), sick))
		createPods(t, []*corev1.Pod{p})
		n.checkCards(t, waitPodPhase(t, ns, p.Name, corev1.PodRunning, 60*time.Second))
	})
}

// badAnnotationsTotal reads the extender's counter of refused or unreadable
// GPU assignments.
func badAnnotationsTotal(t *testing.T, z *zzScheduler) float64 {
	t.Helper()
	m := regexp.MustCompile(`(?m)^zz_extender_bad_gpu_annotations_total (\S+)$`).FindStringSubmatch(scrape(t, z.url("/metrics")))
	if m == nil {
		t.Fatal("the extender exports no zz_extender_bad_gpu_annotations_total")
	}
	v, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestDevicePluginKubeletForgedAssignments: with no admission policies
// installed (an admin who skipped them), pods carrying assignments that do
// not add up are counted nowhere by the extender's ledger (refused, or held
// on a card no node lists) and refused by Allocate, and the next real GPU pod still gets its own card with the memory
// it asked for.
func TestDevicePluginKubeletForgedAssignments(t *testing.T) {
	n := startDPNode(t, "dp-forged")
	ns := cluster.Namespace(t, nil)
	z := startZZScheduler(t)

	for _, tc := range []struct {
		name   string
		askMiB int64
		a      func() *gpushare.Assignment
		ledger string // the ledger's reason, in the extender's log
	}{
		{"mem-not-request", 1024, func() *gpushare.Assignment { return n.assignment(2048, time.Now(), 2) }, "more than the 1024 MiB the pod asks for"},
		{"cards-not-gpu", 1024, func() *gpushare.Assignment { return n.assignment(1024, time.Now(), 2, 3) }, "names 2 card(s), the pod asks for 1"},
		{"uuid-elsewhere", 1024, func() *gpushare.Assignment {
			a := n.assignment(1024, time.Now(), 4)
			a.UUIDs[0] = "GPU-0badc0de-0000-4000-8000-000000000000"
			return a
		}, "is not on node " + n.Node},
		{"assume-future", 1024, func() *gpushare.Assignment { return n.assignment(1024, time.Now().Add(time.Hour), 5) }, "in the future"},
		{"huge-mem", 1024, func() *gpushare.Assignment { return n.assignment(gpushare.MaxMemMiB, time.Now(), 6) }, "holds 1048576 MiB per card"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := badAnnotationsTotal(t, z)
			p := n.gpuPodFor(ns, tc.name, tc.askMiB, 1, tc.a())
			createPods(t, []*corev1.Pod{p})
			// The ledger counts these pods nowhere: running, one would use
			// memory nobody sees, so Allocate must refuse every one.
			t.Logf("Allocate refused %s: %s", tc.name, n.refusedByAllocate(t, ns, p.Name))
			cluster.WaitFor(t, 30*time.Second, "the extender's ledger refuses "+tc.name, func(context.Context) (bool, string, error) {
				for _, l := range strings.Split(readFile(t, z.extender.LogPath), "\n") {
					// A card its node does not list (now) is held, not
					// refused: it may be a card down for a moment
					// (ErrCardMissing); it counts on no card either way.
					if tc.name == "uuid-elsewhere" && strings.Contains(l, "card is missing from its node's inventory") && strings.Contains(l, `pod="`+ns+"/"+tc.name+`"`) {
						if !strings.Contains(l, tc.ledger) {
							return false, "", fmt.Errorf("the ledger held %s for another reason: %s", tc.name, l)
						}
						return true, "", nil
					}
					if strings.Contains(l, "Refused a GPU assignment") && strings.Contains(l, `pod="`+ns+"/"+tc.name+`"`) {
						if !strings.Contains(l, tc.ledger) {
							return false, "", fmt.Errorf("the ledger refused %s for another reason: %s", tc.name, l)
						}
						return badAnnotationsTotal(t, z) > before, "", nil
					}
				}
				return false, "no refusal in the extender's log", nil
			})
		})
	}

	t.Run("the next real pod gets its own card", func(t *testing.T) {
		p := n.gpuPodFor(ns, "real", 3000, 1, nil)
		createPods(t, []*corev1.Pod{p})
		got := waitPodPhase(t, ns, p.Name, corev1.PodRunning, 90*time.Second)
		n.checkCards(t, got) // the container's env: the pod's cards, 3000 MiB
		a, err := gpushare.PodAssignment(got)
		if err != nil || a.MemMiB != 3000 {
			t.Fatalf("pod %s: %+v, %v", p.Name, a, err)
		}
		// Nothing forged is counted: the ledger holds exactly the real pod.
		var total int64
		for u, mib := range z.allocatedMetric(t) {
			total += mib
			if mib != 0 && u != a.UUIDs[0] {
				t.Errorf("card %s holds %d MiB; only the real pod's card %s should", u, mib, a.UUIDs[0])
			}
		}
		if total != 3000 {
			t.Fatalf("the extender counts %d MiB allocated, want the real pod's 3000", total)
		}
	})
}
