package gpushare

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/zzcloud/zz/internal/contract"
)

// ErrNoMemUsed means the pod carries no contract.AnnotationGPUMemUsed: the
// device plugin has not measured it (yet), or it uses no card.
var ErrNoMemUsed = errors.New("pod has no " + contract.AnnotationGPUMemUsed + " annotation")

// MemUsed is what a pod's processes use on each card, MiB by card UUID: the
// value of contract.AnnotationGPUMemUsed, which the device plugin writes.
type MemUsed map[string]int64

// Encode returns the annotation value: "<uuid>=<MiB>" per card, sorted by
// UUID, comma-separated ("" for no card).
func (u MemUsed) Encode() string {
	var b strings.Builder
	for i, uuid := range slices.Sorted(maps.Keys(u)) {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(uuid)
		b.WriteByte('=')
		b.WriteString(strconv.FormatInt(u[uuid], 10))
	}
	return b.String()
}

// ParseMemUsed decodes an annotation value. It refuses empty or repeated
// UUIDs, UUIDs with separators or spaces, more than MaxCards cards, and MiB
// that are negative or over MaxMemMiB: the value comes from a pod, and a
// reader shows it, never acts on half of it.
func ParseMemUsed(value string) (MemUsed, error) {
	if value == "" {
		return MemUsed{}, nil
	}
	parts := strings.Split(value, ",")
	if len(parts) > MaxCards {
		return nil, fmt.Errorf("%s lists %d cards, more than %d", contract.AnnotationGPUMemUsed, len(parts), MaxCards)
	}
	u := make(MemUsed, len(parts))
	for _, p := range parts {
		uuid, raw, ok := strings.Cut(p, "=")
		if !ok || uuid == "" || strings.ContainsAny(uuid, "=, \t\n") {
			return nil, fmt.Errorf("%s=%q: %q is not <uuid>=<MiB>", contract.AnnotationGPUMemUsed, value, p)
		}
		if _, dup := u[uuid]; dup {
			return nil, fmt.Errorf("%s=%q: card %s appears twice", contract.AnnotationGPUMemUsed, value, uuid)
		}
		mib, err := strconv.ParseInt(raw, 10, 64)
		if err != nil || mib < 0 || mib > MaxMemMiB {
			return nil, fmt.Errorf("%s=%q: %q is not a number of MiB from 0 to %d", contract.AnnotationGPUMemUsed, value, raw, MaxMemMiB)
		}
		u[uuid] = mib
	}
	return u, nil
}

// PodMemUsed reads a pod's contract.AnnotationGPUMemUsed: ErrNoMemUsed
// without it.
func PodMemUsed(pod *corev1.Pod) (MemUsed, error) {
	v, ok := pod.Annotations[contract.AnnotationGPUMemUsed]
	if !ok {
		return nil, ErrNoMemUsed
	}
	return ParseMemUsed(v)
}
