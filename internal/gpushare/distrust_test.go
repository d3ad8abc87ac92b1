package gpushare

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/zzcloud/zz/internal/contract"
)

var tNow = time.Unix(1_700_000_000, 0)

// distrustLedger is node a with two 16000 MiB cards and one honest pod
// holding 3000 MiB on card 0.
func distrustLedger(t testing.TB) (*Ledger, []int64) {
	t.Helper()
	l := NewLedger()
	l.Now = func() time.Time { return tNow }
	l.SetNode(gpuNode(t, "a", 16000, 16000))
	l.SetNode(gpuNode(t, "b", 16000))
	honest := podWith("honest", "a", asking(3000, 1), &Assignment{Indexes: []int{0}, UUIDs: []string{"GPU-a-0"}, MemMiB: 3000, AssumeTime: tNow})
	if err := l.SetPod(honest); err != nil {
		t.Fatal(err)
	}
	cs, _ := l.Cards("a")
	return l, []int64{cs[0].UsedMiB, cs[1].UsedMiB}
}

func podWith(name, node string, containers []corev1.Container, a *Assignment) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", UID: types.UID(name)},
		Spec: corev1.PodSpec{NodeName: node, Containers: containers}, Status: corev1.PodStatus{Phase: corev1.PodPending}}
	if a != nil {
		p.Annotations = a.Annotations()
	}
	return p
}

// TestLedgerRefusesInconsistentAssignments: an assignment that does not
// agree with its pod counts nowhere and moves nobody else's memory.
func TestLedgerRefusesInconsistentAssignments(t *testing.T) {
	card0 := func(mem int64) *Assignment {
		return &Assignment{Indexes: []int{0}, UUIDs: []string{"GPU-a-0"}, MemMiB: mem, AssumeTime: tNow}
	}
	tests := []struct {
		name       string
		pod        *corev1.Pod
		wantErr    string
		consistent bool
	}{
		{name: "consistent", pod: podWith("x", "a", asking(1000, 1), card0(1000)), consistent: true},
		{name: "asks for no GPU memory", pod: podWith("x", "a", nil, card0(1000)), wantErr: "asks for no zz.io/gpu-mem"},
		{name: "memory differs from the request", pod: podWith("x", "a", asking(1000, 1), card0(15000)), wantErr: "holds 15000 MiB per card, more than the 1000 MiB the pod asks for"},
		{name: "more cards than asked", pod: podWith("x", "a", asking(1000, 1),
			&Assignment{Indexes: []int{0, 1}, UUIDs: []string{"GPU-a-0", "GPU-a-1"}, MemMiB: 1000, AssumeTime: tNow}), wantErr: "names 2 card(s), the pod asks for 1"},
		{name: "card of another node", pod: podWith("x", "a", asking(1000, 1),
			&Assignment{Indexes: []int{0}, UUIDs: []string{"GPU-b-0"}, MemMiB: 1000, AssumeTime: tNow}), wantErr: "card GPU-b-0 is not on node a"},
		{name: "assume time in the future", pod: podWith("x", "a", asking(1000, 1),
			&Assignment{Indexes: []int{0}, UUIDs: []string{"GPU-a-0"}, MemMiB: 1000, AssumeTime: tNow.Add(time.Hour)}), wantErr: "in the future"},
		{name: "huge mem-mib", pod: func() *corev1.Pod {
			p := podWith("x", "a", asking(1000, 1), card0(1000))
			p.Annotations[contract.AnnotationGPUMemMiB] = strconv.FormatInt(1<<62, 10)
			return p
		}(), wantErr: "is not a number of MiB"},
		{name: "same card twice", pod: podWith("x", "a", asking(1000, 2),
			&Assignment{Indexes: []int{0, 0}, UUIDs: []string{"GPU-a-0", "GPU-a-0"}, MemMiB: 1000, AssumeTime: tNow}), wantErr: "repeated card UUID"},
		{name: "index disagrees with the UUID: charged by UUID", consistent: true, pod: podWith("x", "a", asking(1000, 1),
			&Assignment{Indexes: []int{1}, UUIDs: []string{"GPU-a-0"}, MemMiB: 1000, AssumeTime: tNow})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, before := distrustLedger(t)
			err := l.SetPod(tt.pod)
			got := used(t, l, "a")
			if tt.consistent {
				if err != nil || got[0] != before[0]+1000 || got[1] != before[1] {
					t.Fatalf("err %v, used %v (before %v): want 1000 more on card 0", err, got, before)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want %q", err, tt.wantErr)
			}
			if fmt.Sprint(got) != fmt.Sprint(before) {
				t.Fatalf("used %v, want %v unchanged", got, before)
			}
			if errors.Is(err, ErrInconsistent) && l.Refused() != 1 {
				t.Fatalf("Refused() = %d, want 1", l.Refused())
			}
			l.DeletePod(tt.pod.UID)
			if l.Refused() != 0 {
				t.Fatal("a deleted pod stays refused")
			}
		})
	}
}

// A forged annotation on a pod the ledger reserved for does not replace its
// reservation with the forged cards.
func TestForgedUpdateKeepsReservation(t *testing.T) {
	l, before := distrustLedger(t)
	a, err := l.Reserve("a", types.NamespacedName{Namespace: "ns", Name: "r"}, "r", Request{MemMiB: 2000, Cards: 1}, Binpack, tNow)
	if err != nil {
		t.Fatal(err)
	}
	forged := *a
	forged.MemMiB = 9000
	if err := l.SetPod(podWith("r", "a", asking(2000, 1), &forged)); !errors.Is(err, ErrInconsistent) {
		t.Fatalf("err = %v", err)
	}
	got := used(t, l, "a")
	if got[0]+got[1] != before[0]+before[1]+2000 {
		t.Fatalf("used %v: the reservation of 2000 MiB must stay, the forged 9000 must not count", got)
	}
}

func TestTerminatingPodKeepsMemory(t *testing.T) {
	l, before := distrustLedger(t)
	p := podWith("x", "a", asking(1000, 1), &Assignment{Indexes: []int{1}, UUIDs: []string{"GPU-a-1"}, MemMiB: 1000, AssumeTime: tNow})
	p.Status.Phase = corev1.PodRunning
	now := metav1.NewTime(tNow)
	p.DeletionTimestamp = &now
	if err := l.SetPod(p); err != nil {
		t.Fatal(err)
	}
	if got := used(t, l, "a"); got[1] != before[1]+1000 {
		t.Fatalf("a terminating pod's memory was freed: %v", got)
	}
	p.Status.Phase = corev1.PodSucceeded
	if err := l.SetPod(p); err != nil || used(t, l, "a")[1] != before[1] {
		t.Fatalf("a terminal pod still holds memory: %v", used(t, l, "a"))
	}
}

// A reservation given back after a failed bind stays gone while the pod
// still carries it, is queued for clearing until Cleared, and a new
// reservation for the pod supersedes it.
func TestReleaseNeverReturnsAsPhantom(t *testing.T) {
	l, before := distrustLedger(t)
	a, err := l.Reserve("a", types.NamespacedName{Namespace: "ns", Name: "r"}, "r", Request{MemMiB: 2000, Cards: 1}, Binpack, tNow)
	if err != nil {
		t.Fatal(err)
	}
	l.Release("r")
	pod := podWith("r", "", asking(2000, 1), a)
	for range 3 { // informer updates of the unbound pod, annotations not yet cleared
		if err := l.SetPod(pod); err != nil {
			t.Fatal(err)
		}
	}
	if got := used(t, l, "a"); fmt.Sprint(got) != fmt.Sprint(before) {
		t.Fatalf("released reservation came back: %v", got)
	}
	if p := l.PendingClears(); len(p) != 1 || p[0].UID != "r" || !p[0].AssumeTime.Equal(tNow) {
		t.Fatalf("PendingClears = %+v", p)
	}
	l.Cleared("r")
	if p := l.PendingClears(); len(p) != 0 {
		t.Fatalf("PendingClears after Cleared = %+v", p)
	}
	if err := l.SetPod(pod); err != nil || fmt.Sprint(used(t, l, "a")) != fmt.Sprint(before) {
		t.Fatalf("cleared-but-not-yet-seen assignment came back: %v", used(t, l, "a"))
	}
	// The next scheduling cycle reserves again: that choice counts.
	b, err := l.Reserve("a", types.NamespacedName{Namespace: "ns", Name: "r"}, "r", Request{MemMiB: 2000, Cards: 1}, Binpack, tNow.Add(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if err := l.SetPod(podWith("r", "a", asking(2000, 1), b)); err != nil {
		t.Fatal(err)
	}
	if got := used(t, l, "a"); got[0]+got[1] != before[0]+before[1]+2000 {
		t.Fatalf("new reservation not counted: %v", got)
	}
}

// An unbound reservation that expired does not come back while the unbound
// pod still carries it.
func TestExpiredReservationNoPhantom(t *testing.T) {
	l, before := distrustLedger(t)
	a, err := l.Reserve("a", types.NamespacedName{Namespace: "ns", Name: "r"}, "r", Request{MemMiB: 2000, Cards: 1}, Binpack, tNow)
	if err != nil {
		t.Fatal(err)
	}
	if gone := l.Expire(tNow.Add(3*time.Minute), 2*time.Minute); len(gone) != 1 {
		t.Fatalf("expired %v", gone)
	}
	if err := l.SetPod(podWith("r", "", asking(2000, 1), a)); err != nil {
		t.Fatal(err)
	}
	if got := used(t, l, "a"); fmt.Sprint(got) != fmt.Sprint(before) {
		t.Fatalf("expired reservation came back: %v", got)
	}
}

// FuzzLedgerAnnotations: whatever a pod's assignment annotations say, it
// changes at most its own request's worth of one card per card asked, never
// touches another pod's memory, and leaves nothing behind when deleted.
func FuzzLedgerAnnotations(f *testing.F) {
	f.Add("0", "GPU-a-0", "1000", "1700000000000000000")
	f.Add("0,1", "GPU-a-0,GPU-a-1", "9223372036854775807", "1")
	f.Add("1", "GPU-b-0", "1000", "-5")
	f.Add("0", "GPU-a-0", "1000", "9223372036854775807")
	f.Fuzz(func(t *testing.T, idx, uuids, mem, assume string) {
		l, before := distrustLedger(t)
		p := podWith("x", "a", asking(1000, 1), nil)
		p.Annotations = map[string]string{contract.AnnotationGPUIndexes: idx, contract.AnnotationGPUUUIDs: uuids,
			contract.AnnotationGPUMemMiB: mem, contract.AnnotationGPUAssumeTime: assume}
		_ = l.SetPod(p)
		got := used(t, l, "a")
		grew := (got[0] - before[0]) + (got[1] - before[1])
		if got[0] < before[0] || got[1] < before[1] || (grew != 0 && grew != 1000) {
			t.Fatalf("used %v from %v", got, before)
		}
		l.DeletePod(p.UID)
		if got := used(t, l, "a"); fmt.Sprint(got) != fmt.Sprint(before) {
			t.Fatalf("after delete %v, want %v", got, before)
		}
	})
}

// TestCardMissingAtRebuildStaysHeld: a ledger rebuilt (an extender restart
// or failover) while a node's device plugin lists one card fewer (a GPU
// reset) keeps the memory its pods hold there, and counts it as soon as the
// card is back: refused, it came back empty and was given again (an admin
// audit bound 30720 MiB on a 15360 MiB card).
func TestCardMissingAtRebuildStaysHeld(t *testing.T) {
	l := NewLedger()
	l.Now = func() time.Time { return tNow }
	full := gpuNode(t, "a", 16000, 16000)
	down := full.DeepCopy()
	inv, err := contract.ParseInventory(full.Annotations[contract.AnnotationNodeGPUInventory])
	if err != nil {
		t.Fatal(err)
	}
	inv.Cards = inv.Cards[1:]
	if down.Annotations[contract.AnnotationNodeGPUInventory], err = inv.Encode(); err != nil {
		t.Fatal(err)
	}
	l.SetNode(down)
	p := podWith("x", "a", asking(15000, 1), &Assignment{Indexes: []int{0}, UUIDs: []string{"GPU-a-0"}, MemMiB: 15000, AssumeTime: tNow})
	p.Status.Phase = corev1.PodRunning
	if err := l.SetPod(p); !errors.Is(err, ErrCardMissing) || !strings.Contains(err.Error(), "card GPU-a-0 is not on node a") {
		t.Fatalf("SetPod with its card missing: %v, want ErrCardMissing", err)
	}
	if l.Refused() != 0 {
		t.Fatalf("Refused() = %d: a pod whose card is down is not refused", l.Refused())
	}
	l.SetNode(full)
	if got := used(t, l, "a"); got[0] != 15000 {
		t.Fatalf("used %v after the card came back, want 15000 MiB on card 0", got)
	}
	a, err := l.Reserve("a", types.NamespacedName{Namespace: "ns", Name: "y"}, "y", Request{MemMiB: 2000, Cards: 1}, Binpack, tNow)
	if err != nil || a.UUIDs[0] != "GPU-a-1" {
		t.Fatalf("Reserve 2000 MiB: %+v, %v; want card 1 (card 0 has 1000 MiB free)", a, err)
	}
}
