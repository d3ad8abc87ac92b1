package gpushare

import (
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

func TestNominationRecord(t *testing.T) {
	since := time.Date(2026, 12, 5, 7, 0, 0, 123, time.UTC)
	rec := NominationRecord{Node: "gpu-3", Since: since}
	got, err := ParseNominationRecord(rec.Encode())
	if err != nil || got.Node != "gpu-3" || !got.Since.Equal(since) {
		t.Fatalf("round trip of %s: %+v, %v", rec.Encode(), got, err)
	}
	for _, tt := range []struct{ value, want string }{
		{`{"node":"gpu-3"}`, "no since"},
		{`{"since":"2026-12-05T07:00:00Z"}`, `node ""`},
		{`{"node":"GPU_3","since":"2026-12-05T07:00:00Z"}`, `node "GPU_3"`},
		{`gpu-3`, "invalid character"},
		{`{"node":"` + strings.Repeat("a", 600) + `"}`, "at most 512"},
	} {
		if _, err := ParseNominationRecord(tt.value); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ParseNominationRecord(%.40s) = %v, want an error with %q", tt.value, err, tt.want)
		}
	}
}

// preemptor is a pending pod of priority 100 asking for two whole 40000 MiB cards.
func preemptor() *corev1.Pod {
	prio := int32(100)
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "pre", Namespace: "ns", UID: "pre"},
		Spec:       corev1.PodSpec{Priority: &prio, Containers: asking(40000, 2)},
		Status:     corev1.PodStatus{Phase: corev1.PodPending},
	}
}

// terminating marks a running pod as the eviction leaves it.
func terminating(t *testing.T, l *Ledger, p *corev1.Pod) {
	t.Helper()
	p = p.DeepCopy()
	p.DeletionTimestamp = &metav1.Time{Time: time.Now()}
	if err := l.SetPod(p); err != nil {
		t.Fatal(err)
	}
}

// TestRestoreNomination: a ledger that did not make the nomination (another
// replica, or this one before a restart) restores it from the record on the
// preemptor: it waits for the pods terminating on the node and keeps what
// they free, or settles at once when they are gone.
func TestRestoreNomination(t *testing.T) {
	const ttl = 2 * time.Minute
	setup := func(t *testing.T) (*Ledger, *corev1.Pod, *corev1.Pod) {
		l := NewLedger()
		l.SetNode(gpuNode(t, "a", 40000, 40000))
		return l, running(t, l, "a", "v1", 0, 40000, time.Minute, 0), running(t, l, "a", "v2", 0, 40000, time.Minute, 1)
	}
	rec := NominationRecord{Node: "a", Since: time.Now().Add(-10 * time.Second)}

	t.Run("victims terminating", func(t *testing.T) {
		l, v1, v2 := setup(t)
		terminating(t, l, v1)
		terminating(t, l, v2)
		if !l.RestoreNomination(preemptor(), rec, Binpack, ttl) || !l.Nominated("pre") {
			t.Fatal("not restored")
		}
		if got, ok := l.NominationOf("pre"); !ok || got.Node != "a" || !got.Since.Equal(rec.Since) {
			t.Fatalf("NominationOf = %+v, %v; want the record's node and time", got, ok)
		}
		if l.RestoreNomination(preemptor(), rec, Binpack, ttl) {
			t.Fatal("restored twice")
		}
		l.DeletePod("v1")
		if fit, _ := l.Filter([]string{"a"}, Request{MemMiB: 1000, Cards: 1}); len(fit) != 0 {
			t.Fatalf("a pod fits on %v the memory kept for the restored preemptor", fit)
		}
		l.DeletePod("v2")
		if node, held := l.HeldOn("pre"); !held || node != "a" || l.Nominated("pre") {
			t.Fatalf("after the victims: held on %q %v, nominated %v", node, held, l.Nominated("pre"))
		}
	})
	t.Run("victims gone", func(t *testing.T) {
		l, _, _ := setup(t)
		l.DeletePod("v1")
		l.DeletePod("v2")
		if !l.RestoreNomination(preemptor(), rec, Binpack, ttl) {
			t.Fatal("not restored")
		}
		if node, held := l.HeldOn("pre"); !held || node != "a" {
			t.Fatalf("held on %q %v: the free cards are the preemptor's at once", node, held)
		}
	})
	t.Run("victims not evicted", func(t *testing.T) {
		// The writer records after the evictions; running pods are nobody's
		// victims, and no room comes: the preemptor plans again.
		l, _, _ := setup(t)
		l.RestoreNomination(preemptor(), rec, Binpack, ttl)
		if _, held := l.HeldOn("pre"); held || l.Nominated("pre") {
			t.Fatal("a nomination with nothing to wait for and no room was kept")
		}
	})
	for _, tt := range []struct {
		name   string
		pod    func(p *corev1.Pod)
		record NominationRecord
	}{
		{"older than the TTL", nil, NominationRecord{Node: "a", Since: time.Now().Add(-ttl - time.Second)}},
		{"ahead of the clock", nil, NominationRecord{Node: "a", Since: time.Now().Add(MaxClockSkew + time.Minute)}},
		{"unknown node", nil, NominationRecord{Node: "b", Since: rec.Since}},
		{"bound", func(p *corev1.Pod) { p.Spec.NodeName = "a" }, rec},
		{"deleted", func(p *corev1.Pod) { p.DeletionTimestamp = &metav1.Time{Time: time.Now()} }, rec},
		{"failed", func(p *corev1.Pod) { p.Status.Phase = corev1.PodFailed }, rec},
		{"no GPU memory", func(p *corev1.Pod) { p.Spec.Containers = []corev1.Container{{Name: "c"}} }, rec},
	} {
		t.Run("refused: "+tt.name, func(t *testing.T) {
			l, v1, v2 := setup(t)
			terminating(t, l, v1)
			terminating(t, l, v2)
			p := preemptor()
			if tt.pod != nil {
				tt.pod(p)
			}
			if l.RestoreNomination(p, tt.record, Binpack, ttl) || l.Nominated("pre") {
				t.Fatal("restored")
			}
		})
	}
	t.Run("another nomination's pods", func(t *testing.T) {
		l, v1, v2 := setup(t)
		plan, ok := l.PlanPreemption([]string{"a"}, Request{MemMiB: 40000, Cards: 1}, 50, nil)
		if !ok || len(plan.Victims) != 1 || !l.Nominate("other", types.NamespacedName{Namespace: "ns", Name: "other"}, plan, Request{MemMiB: 40000, Cards: 1}, Binpack, time.Now()) {
			t.Fatalf("plan %s, %v", plan, ok)
		}
		theirs, mine := v1, v2
		if plan.Victims[0].UID == v2.UID {
			theirs, mine = v2, v1
		}
		terminating(t, l, theirs)
		terminating(t, l, mine)
		if !l.RestoreNomination(preemptor(), rec, Binpack, ttl) {
			t.Fatal("not restored")
		}
		if aw := l.Awaited("pre"); len(aw) != 1 || aw[0].UID != mine.UID {
			t.Fatalf("the restored nomination waits for %v, want only %s (%s is the other nomination's)", aw, mine.Name, theirs.Name)
		}
	})
}
