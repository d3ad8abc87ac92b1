package gpushare

import (
	"encoding/json"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/zzcloud/zz/internal/contract"
)

// NominationRecord is what the extender writes on a preemptor
// (contract.AnnotationGPUNomination) once it evicted the victims: the node it
// preempts on and since when. Another replica of the extender, or this one
// after a restart, restores the nomination from it (RestoreNomination), so
// the memory the victims free stays the preemptor's.
type NominationRecord struct {
	Node  string    `json:"node"`
	Since time.Time `json:"since"`
}

// maxNominationRecord bounds the annotation read: a node name and a time.
const maxNominationRecord = 512

// Encode is the annotation's value.
func (r NominationRecord) Encode() string {
	b, _ := json.Marshal(r) // a string and a time: never fails
	return string(b)
}

// ParseNominationRecord reads the annotation's value.
func ParseNominationRecord(s string) (NominationRecord, error) {
	var r NominationRecord
	if len(s) > maxNominationRecord {
		return r, fmt.Errorf("annotation %s: %d bytes, at most %d", contract.AnnotationGPUNomination, len(s), maxNominationRecord)
	}
	if err := json.Unmarshal([]byte(s), &r); err != nil {
		return r, fmt.Errorf("annotation %s: %w", contract.AnnotationGPUNomination, err)
	}
	if errs := validation.IsDNS1123Subdomain(r.Node); len(errs) > 0 {
		return r, fmt.Errorf("annotation %s: node %q: %s", contract.AnnotationGPUNomination, r.Node, errs[0])
	}
	if r.Since.IsZero() {
		return r, fmt.Errorf("annotation %s: no since", contract.AnnotationGPUNomination)
	}
	return r, nil
}

// NominationOf is the record of the ledger's nomination for uid, false when
// there is none.
func (l *Ledger) NominationOf(uid types.UID) (NominationRecord, bool) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	nom := l.nominations[uid]
	if nom == nil {
		return NominationRecord{}, false
	}
	return NominationRecord{Node: nom.node, Since: nom.since}, true
}

// RestoreNomination re-creates, from the record on its preemptor, a
// nomination this ledger does not have: another replica's, or this process's
// before a restart. Call it once the ledger knows every pod (after the
// informers' initial lists), since what it waits for is read from the node's
// pods: the ones terminating there (the victims the record's writer evicted,
// and those any preemption awaits) that no other nomination waits for. When
// none is left it settles at once: the preemptor's cards are chosen from what
// is free, as when the last victim goes. It restores nothing for a pod that
// is bound, terminating, placed or nominated already, a record older than
// ttl (the nomination would have been given up) or ahead of the ledger's
// clock by more than MaxClockSkew, or a node the ledger cannot use.
func (l *Ledger) RestoreNomination(pod *corev1.Pod, rec NominationRecord, def Policy, ttl time.Duration) bool {
	now := l.Now()
	if pod.Spec.NodeName != "" || pod.DeletionTimestamp != nil || pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed ||
		rec.Since.After(now.Add(MaxClockSkew)) || now.Sub(rec.Since) > ttl {
		return false
	}
	req, policy, err := PodPlacement(pod, def)
	if err != nil || req.MemMiB == 0 {
		return false
	}
	mix := l.stream.Mix()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.nominations[pod.UID] != nil || l.pods[pod.UID] != nil {
		return false
	}
	n := l.nodes[rec.Node]
	if n == nil || !n.known || n.err != nil {
		return false
	}
	nom := &nomination{pod: types.NamespacedName{Namespace: pod.Namespace, Name: pod.Name}, node: rec.Node, req: req, policy: policy,
		pending: map[types.UID]struct{}{}, since: rec.Since}
	for u := range n.pods {
		if h := l.pods[u]; h.terminating && h.seen && h.reservedFor == "" && !l.promised(u) {
			nom.pending[u] = struct{}{}
		}
	}
	l.nominations[pod.UID] = nom
	l.nominating.Add(1)
	if len(nom.pending) == 0 {
		l.settle(pod.UID, nom, mix)
	}
	return true
}
