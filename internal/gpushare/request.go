// Package gpushare owns zz's GPU pod protocol, the one statement of it that
// the extender, the device plugin, the webhook, kubectl zz gpu and the
// balance book call: what a pod asks for (request.go), the assignment the
// extender writes and the device plugin marks (assignment.go), when a pod
// holds GPU memory and when it waits for Allocate, in the kubelet's order
// (lifecycle.go), how much of each card is used (ledger.go) and which cards a
// request gets (choose.go). It holds decisions only; informers, HTTP and API
// writes live elsewhere. internal/contract names the keys.
package gpushare

import (
	"errors"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/zzcloud/zz/internal/contract"
)

// MiB is one mebibyte; the contract counts GPU memory in whole MiB.
const MiB = 1 << 20

// Limits on a request beyond which it is a mistake, not a workload.
const (
	MaxMemMiB = 1 << 20 // 1 TiB per card
	MaxCards  = 64
)

// ErrNoGPU means the pod asks for no GPU memory.
var ErrNoGPU = errors.New("pod asks for no " + string(contract.ResourceGPUMem))

// Request is what a pod asks for: MemMiB on each of Cards distinct cards.
type Request struct {
	MemMiB int64 `json:"memMiB"`
	Cards  int   `json:"cards"`
	// SameNUMA requires every card on one NUMA node (the pod's
	// contract.AnnotationGPUNUMABind, which the extender reads); it is not
	// part of the request's shape in the stream.
	SameNUMA bool `json:"sameNUMA,omitempty"`
}

func (r Request) String() string {
	if r.Cards == 1 {
		return fmt.Sprintf("%d MiB on 1 card", r.MemMiB)
	}
	if r.SameNUMA {
		return fmt.Sprintf("%d MiB on each of %d cards of one NUMA node", r.MemMiB, r.Cards)
	}
	return fmt.Sprintf("%d MiB on each of %d cards", r.MemMiB, r.Cards)
}

// PodRequest reads a pod's GPU request from its containers' limits (requests
// when no limit is set). zz shares GPUs per pod: one container holds the GPU
// work, so a second container asking for GPU memory is an error.
func PodRequest(pod *corev1.Pod) (Request, error) {
	var found []string
	var req Request
	for _, c := range Containers(pod) {
		mem, ok := Quantity(c, contract.ResourceGPUMem)
		if !ok {
			continue
		}
		found = append(found, c.Name)
		r, err := containerRequest(c, mem)
		if err != nil {
			return Request{}, fmt.Errorf("container %s: %w", c.Name, err)
		}
		req = r
	}
	switch len(found) {
	case 0:
		return Request{}, ErrNoGPU
	case 1:
		return req, nil
	}
	return Request{}, fmt.Errorf("containers %s all ask for %s; zz shares GPUs per pod: put the GPU work in one container",
		strings.Join(found, ", "), contract.ResourceGPUMem)
}

func containerRequest(c *corev1.Container, mem resource.Quantity) (Request, error) {
	bytes, ok := mem.AsInt64()
	if !ok || bytes > MaxMemMiB*MiB {
		return Request{}, fmt.Errorf("%s %s is more than %d GiB per card; it is a byte quantity like 4Gi or 3000Mi",
			contract.ResourceGPUMem, mem.String(), MaxMemMiB/1024)
	}
	if bytes <= 0 {
		return Request{}, fmt.Errorf("%s %s must be positive, e.g. 4Gi", contract.ResourceGPUMem, mem.String())
	}
	if bytes < MiB {
		return Request{}, fmt.Errorf("%s %s is less than 1Mi; it is in bytes: write 4Gi, not 4", contract.ResourceGPUMem, mem.String())
	}
	req := Request{MemMiB: (bytes + MiB - 1) / MiB, Cards: 1}
	if cards, ok := Quantity(c, contract.ResourceGPU); ok {
		n, ok := cards.AsInt64()
		if !ok || n <= 0 || n > MaxCards {
			return Request{}, fmt.Errorf("%s %s must be a whole number of cards from 1 to %d", contract.ResourceGPU, cards.String(), MaxCards)
		}
		req.Cards = int(n)
	}
	return req, nil
}

// Containers returns a pod's init and app containers, in that order: a
// request in either counts (an init container may hold the GPU work).
func Containers(pod *corev1.Pod) []*corev1.Container {
	out := make([]*corev1.Container, 0, len(pod.Spec.InitContainers)+len(pod.Spec.Containers))
	for i := range pod.Spec.InitContainers {
		out = append(out, &pod.Spec.InitContainers[i])
	}
	for i := range pod.Spec.Containers {
		out = append(out, &pod.Spec.Containers[i])
	}
	return out
}

// Quantity is a container's value for a resource: its limit, else its
// request (the API server copies limits of extended resources to requests,
// but a pod read before admission may have only one of them).
func Quantity(c *corev1.Container, name corev1.ResourceName) (resource.Quantity, bool) {
	if q, ok := c.Resources.Limits[name]; ok {
		return q, true
	}
	q, ok := c.Resources.Requests[name]
	return q, ok
}

// AsksGPU reports whether any container asks for contract.ResourceGPU, the
// device-plugin resource: the kubelet calls the plugin's Allocate for it.
func AsksGPU(pod *corev1.Pod) bool {
	for _, c := range Containers(pod) {
		if _, ok := Quantity(c, contract.ResourceGPU); ok {
			return true
		}
	}
	return false
}

// DefaultCards gives every container that asks for contract.ResourceGPUMem
// but not for contract.ResourceGPU one card (the webhook's default), in its
// limits and, when it has requests, in its requests too.
func DefaultCards(pod *corev1.Pod) {
	for _, c := range Containers(pod) {
		if _, ok := Quantity(c, contract.ResourceGPUMem); !ok {
			continue
		}
		if _, ok := Quantity(c, contract.ResourceGPU); ok {
			continue
		}
		one := resource.MustParse("1")
		if c.Resources.Limits == nil {
			c.Resources.Limits = corev1.ResourceList{}
		}
		c.Resources.Limits[contract.ResourceGPU] = one
		if c.Resources.Requests != nil {
			c.Resources.Requests[contract.ResourceGPU] = one
		}
	}
}
