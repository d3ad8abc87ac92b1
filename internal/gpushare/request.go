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
	"slices"
	"strconv"
	"strings"
	"unicode"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/zzcloud/zz/internal/contract"
)

// MiB is one mebibyte; the contract counts GPU memory in whole MiB.
const MiB = 1 << 20

// Limits on a request beyond which it is a mistake, not a workload.
const (
	MaxMemMiB = contract.MaxCardMemoryMiB // 1 TiB per card: no card has more
	MaxCards  = 64
)

// ErrCardsWithoutMemory means a container asks for contract.ResourceGPU
// cards but no contract.ResourceGPUMem.
var ErrCardsWithoutMemory = errors.New("cards without GPU memory")

// ErrNoCardResource is a pod asking for GPU memory but for no
// contract.ResourceGPU. The scheduler configuration's bind entry manages that
// resource, and kube-scheduler sends an extender only the pods asking for one
// of its managedResources (HTTPExtender.IsInterested): the default binder
// would bind this pod with no cards chosen, and the kubelet, which calls the
// device plugin for zz.io/gpu, would start it with none. The extender's
// filter refuses it on every node instead, with this reason, and kubectl zz
// gpu --fit judges it so. The webhook adds zz.io/gpu: 1, so only a pod it
// does not serve gets there.
var ErrNoCardResource = fmt.Errorf("pod asks for %s but no container asks for %s, the resource zz-scheduler binds GPU pods and the kubelet hands out cards by: "+
	"add %s: 1 beside %s (the zz webhook adds it in the namespaces it serves)",
	contract.ResourceGPUMem, contract.ResourceGPU, contract.ResourceGPU, contract.ResourceGPUMem)

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
	// Models, when set, admits only the cards whose model names one of its
	// comma-separated parts, in any case ("A100,H100"; the pod's
	// contract.AnnotationGPUModel, as HAMi's nvidia.com/use-gputype), and
	// AvoidModels refuses the cards whose model names one of its parts
	// (contract.AnnotationGPUModelAvoid). ParseModels normalizes both; like
	// SameNUMA they are not part of the request's shape in the stream.
	Models      string `json:"models,omitempty"`
	AvoidModels string `json:"avoidModels,omitempty"`
	// UUIDs, when set, admits only the cards with one of its
	// comma-separated UUIDs (contract.AnnotationGPUCard), and AvoidUUIDs
	// refuses them (AnnotationGPUCardAvoid). ParseUUIDs normalizes both;
	// they are not part of the request's shape either.
	UUIDs      string `json:"uuids,omitempty"`
	AvoidUUIDs string `json:"avoidUUIDs,omitempty"`
	// Whole asks for whole cards of any size up to MemMiB, all of one size
	// and each with no other pod (contract.AnnotationGPUWhole): the pod then
	// holds each card's whole memory, never more than it asks for (whole.go).
	Whole bool `json:"whole,omitempty"`
	// cardMiB, set on a whole request resolved to one card size (sized),
	// admits only the cards of exactly that memory that hold no pod.
	cardMiB int64
}

func (r Request) String() string {
	var s string
	switch {
	case r.Whole && r.Cards == 1:
		s = fmt.Sprintf("a whole card of at most %d MiB", r.MemMiB)
	case r.Whole:
		s = fmt.Sprintf("%d whole cards of one size, at most %d MiB each", r.Cards, r.MemMiB)
		if r.SameNUMA {
			s += ", of one NUMA node"
		}
	case r.Cards == 1:
		s = fmt.Sprintf("%d MiB on 1 card", r.MemMiB)
	case r.SameNUMA:
		s = fmt.Sprintf("%d MiB on each of %d cards of one NUMA node", r.MemMiB, r.Cards)
	default:
		s = fmt.Sprintf("%d MiB on each of %d cards", r.MemMiB, r.Cards)
	}
	if m := r.cardsPhrase(); m != "" {
		s += ", " + m
	}
	return s
}

// Limits on a model list: a pod's list is matched against every card of
// every node it is offered, so its cost is bounded.
const (
	maxModelNames = 16
	maxModelName  = 64
)

// ParseModels checks and normalizes a comma-separated list of card models
// (an AnnotationGPUModel or AnnotationGPUModelAvoid value): parts trimmed,
// empty ones and repeats (in any case) dropped, joined by ",".
func ParseModels(value string) (string, error) {
	var names []string
	for part := range strings.SplitSeq(value, ",") {
		part = strings.TrimSpace(part)
		if part == "" || slices.ContainsFunc(names, func(n string) bool { return strings.EqualFold(n, part) }) {
			continue
		}
		if len(part) > maxModelName {
			return "", fmt.Errorf("model %.20q… is longer than %d characters; name a card model as nvidia-smi shows it, or a part of it such as A100", part, maxModelName)
		}
		if len(names) == maxModelNames { // before more: a hostile list costs no more than this
			return "", fmt.Errorf("more than %d card models listed; name at most %d, or parts common to several (A100 names every A100)", maxModelNames, maxModelNames)
		}
		names = append(names, part)
	}
	if len(names) == 0 {
		return "", fmt.Errorf("%q names no card model; list models or parts of them, comma-separated, e.g. \"A100,H100\"", value)
	}
	return strings.Join(names, ","), nil
}

// Limits on a card list, for the same reason (a UUID longer than an
// inventory may hold names no card).
const (
	maxCardUUIDs = 16
	maxCardUUID  = contract.MaxCardName
)

// ParseUUIDs checks and normalizes a comma-separated list of card UUIDs (an
// AnnotationGPUCard or AnnotationGPUCardAvoid value): parts trimmed, empty
// ones and repeats (in any case) dropped, joined by ",".
func ParseUUIDs(value string) (string, error) {
	return parseUUIDList(value, maxCardUUIDs)
}

// parseUUIDList is ParseUUIDs with at most most UUIDs.
func parseUUIDList(value string, most int) (string, error) {
	var uuids []string
	for part := range strings.SplitSeq(value, ",") {
		part = strings.TrimSpace(part)
		if part == "" || slices.ContainsFunc(uuids, func(u string) bool { return strings.EqualFold(u, part) }) {
			continue
		}
		if len(part) > maxCardUUID || strings.ContainsFunc(part, unicode.IsSpace) {
			return "", fmt.Errorf("%.20q… is not a card UUID; write them as nvidia-smi -L or kubectl zz gpu show them (GPU-8f2b…), comma-separated", part)
		}
		if len(uuids) == most {
			return "", fmt.Errorf("more than %d card UUIDs listed; name at most %d, or choose cards by model (zz.io/gpu-model)", most, most)
		}
		uuids = append(uuids, part)
	}
	if len(uuids) == 0 {
		return "", fmt.Errorf("%q names no card; list card UUIDs as kubectl zz gpu shows them, comma-separated", value)
	}
	return strings.Join(uuids, ","), nil
}

// takes reports whether req may have card c: healthy, and one req admits
// (its model and UUID).
func (r *Request) takes(c *Card) bool {
	if !c.Healthy {
		return false
	}
	return r.admits(c)
}

// admits reports whether req may have card c by its model, UUID and, for
// whole cards, size (and, for a card of a given size, that it is empty).
func (r *Request) admits(c *Card) bool {
	return r.mayEverHave(c) && (r.cardMiB == 0 || c.Pods == 0)
}

// mayEverHave is admits whatever the card holds now: whether req could
// have c once it is empty.
func (r *Request) mayEverHave(c *Card) bool {
	if r.cardMiB > 0 && c.MemoryMiB != r.cardMiB || r.Whole && c.MemoryMiB > r.MemMiB {
		return false
	}
	if r.Models == "" && r.AvoidModels == "" && r.UUIDs == "" && r.AvoidUUIDs == "" {
		return true
	}
	return (r.Models == "" || namesModel(r.Models, c.Model)) && (r.AvoidModels == "" || !namesModel(r.AvoidModels, c.Model)) &&
		(r.UUIDs == "" || ListsUUID(r.UUIDs, c.UUID)) && (r.AvoidUUIDs == "" || !ListsUUID(r.AvoidUUIDs, c.UUID))
}

// ListsUUID reports whether uuid is one of list's comma-separated parts, in
// any case, without allocating.
func ListsUUID(list, uuid string) bool {
	for list != "" {
		part, rest, _ := strings.Cut(list, ",")
		if strings.EqualFold(part, uuid) {
			return true
		}
		list = rest
	}
	return false
}

// choosesCards reports whether req names or refuses cards by UUID.
func (r *Request) choosesCards() bool { return r.UUIDs != "" || r.AvoidUUIDs != "" }

// namesModel reports whether one of list's comma-separated parts is in
// model, in any case ("a100" names "NVIDIA A100-SXM4-80GB"), without
// allocating: it runs on every card of every node a pod is offered.
func namesModel(list, model string) bool {
	for list != "" {
		part, rest, _ := strings.Cut(list, ",")
		list = rest
		for i := 0; i+len(part) <= len(model); i++ {
			if strings.EqualFold(model[i:i+len(part)], part) {
				return true
			}
		}
	}
	return false
}

// cardsPhrase says which cards req admits, for messages ("" if any).
func (r *Request) cardsPhrase() string {
	var parts []string
	if r.Models != "" {
		parts = append(parts, "model "+strings.ReplaceAll(r.Models, ",", " or "))
	}
	if r.AvoidModels != "" {
		parts = append(parts, "not "+strings.ReplaceAll(r.AvoidModels, ",", " nor "))
	}
	if r.UUIDs != "" {
		parts = append(parts, "card "+strings.ReplaceAll(r.UUIDs, ",", " or "))
	}
	if r.AvoidUUIDs != "" {
		parts = append(parts, "not card "+strings.ReplaceAll(r.AvoidUUIDs, ",", " nor "))
	}
	return strings.Join(parts, ", ")
}

// PodRequest reads a pod's GPU request from its containers' limits (requests
// when no limit is set) and whether it asks for whole cards
// (contract.AnnotationGPUWhole). zz shares GPUs per pod: one container holds
// the GPU work, so a second container asking for GPU memory is an error.
func PodRequest(pod *corev1.Pod) (Request, error) {
	req, err := podResources(pod)
	if err != nil {
		return req, err
	}
	if v, ok := pod.Annotations[contract.AnnotationGPUWhole]; ok {
		whole, err := strconv.ParseBool(v)
		if err != nil {
			return Request{}, fmt.Errorf("annotation %s: %q is not a boolean; use \"true\" for whole cards of any size up to the %s asked", contract.AnnotationGPUWhole, v, contract.ResourceGPUMem)
		}
		req.Whole = whole
	}
	return req, nil
}

// podResources is PodRequest from the pod's spec alone, which cannot change
// once the pod exists (its annotations can).
func podResources(pod *corev1.Pod) (Request, error) {
	var found []string
	var req Request
	for _, c := range Containers(pod) {
		mem, ok := Quantity(c, contract.ResourceGPUMem)
		if !ok {
			if cards, ok := Quantity(c, contract.ResourceGPU); ok {
				return Request{}, cardsWithoutMemory(c.Name, cards)
			}
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

// cardsWithoutMemory is the error for a container that asks for cards
// (contract.ResourceGPU, as nvidia.com/gpu would be) but no GPU memory: the
// device plugin can hand it no card, since the extender assigns cards by
// memory, so the pod would fail at the kubelet; refused up front instead.
func cardsWithoutMemory(container string, cards resource.Quantity) error {
	return cardsError{fmt.Sprintf("container %s asks for %s %s without %s: zz shares cards by GPU memory, so ask for the memory the container needs on each card "+
		"(%s: 16Gi); for cards of its own, ask for the most memory a card may have (kubectl zz gpu lists each card's TOTAL) with the pod annotation %s: \"true\" "+
		"(whole cards of any size up to it)",
		container, contract.ResourceGPU, cards.String(), contract.ResourceGPUMem, contract.ResourceGPUMem, contract.AnnotationGPUWhole)}
}

// cardsError is an ErrCardsWithoutMemory that reads as its fix alone.
type cardsError struct{ msg string }

func (e cardsError) Error() string        { return e.msg }
func (e cardsError) Is(target error) bool { return target == ErrCardsWithoutMemory }

// WholeCards gives every container that asks for contract.ResourceGPU cards
// without contract.ResourceGPUMem the memory mem on each, in its limits and,
// when it has requests, in its requests too, and asks for whole cards
// (contract.AnnotationGPUWhole, unless the pod says otherwise): cards of
// their own of any size up to mem, as nvidia.com/gpu gives.
func WholeCards(pod *corev1.Pod, mem resource.Quantity) {
	for _, c := range Containers(pod) {
		if _, ok := Quantity(c, contract.ResourceGPUMem); ok {
			continue
		}
		if _, ok := Quantity(c, contract.ResourceGPU); !ok {
			continue
		}
		if c.Resources.Limits == nil {
			c.Resources.Limits = corev1.ResourceList{}
		}
		c.Resources.Limits[contract.ResourceGPUMem] = mem.DeepCopy()
		if c.Resources.Requests != nil {
			c.Resources.Requests[contract.ResourceGPUMem] = mem.DeepCopy()
		}
		if _, set := pod.Annotations[contract.AnnotationGPUWhole]; !set {
			if pod.Annotations == nil {
				pod.Annotations = map[string]string{}
			}
			pod.Annotations[contract.AnnotationGPUWhole] = strconv.FormatBool(true)
		}
	}
}

// PodPlacement reads what a pod asks of the extender: its request
// (PodRequest) with the cards it admits (contract.AnnotationGPUNUMABind,
// AnnotationGPUModel, AnnotationGPUModelAvoid, AnnotationGPUCard,
// AnnotationGPUCardAvoid), and its policy
// (AnnotationGPUPolicy, def when absent). A malformed annotation is an error
// that says what to write.
func PodPlacement(pod *corev1.Pod, def Policy) (Request, Policy, error) {
	req, err := PodRequest(pod)
	if err != nil {
		return req, "", err
	}
	policy, err := ParsePolicy(pod.Annotations[contract.AnnotationGPUPolicy], def)
	if err != nil {
		return req, "", fmt.Errorf("annotation %s: %w", contract.AnnotationGPUPolicy, err)
	}
	if v, ok := pod.Annotations[contract.AnnotationGPUNUMABind]; ok {
		if req.SameNUMA, err = strconv.ParseBool(v); err != nil {
			return req, "", fmt.Errorf("annotation %s: %q is not a boolean; use \"true\" to require all the pod's cards on one NUMA node", contract.AnnotationGPUNUMABind, v)
		}
	}
	if req.Models, err = podList(pod, contract.AnnotationGPUModel, ParseModels); err != nil {
		return req, "", err
	}
	if req.AvoidModels, err = podList(pod, contract.AnnotationGPUModelAvoid, ParseModels); err != nil {
		return req, "", err
	}
	if req.UUIDs, err = podList(pod, contract.AnnotationGPUCard, ParseUUIDs); err != nil {
		return req, "", err
	}
	if req.AvoidUUIDs, err = podList(pod, contract.AnnotationGPUCardAvoid, ParseUUIDs); err != nil {
		return req, "", err
	}
	return req, policy, nil
}

// podList reads a pod's list of card models or UUIDs from annotation key
// with parse ("": none).
func podList(pod *corev1.Pod, key string, parse func(string) (string, error)) (string, error) {
	v, ok := pod.Annotations[key]
	if !ok {
		return "", nil
	}
	m, err := parse(v)
	if err != nil {
		return "", fmt.Errorf("annotation %s: %w", key, err)
	}
	return m, nil
}

func containerRequest(c *corev1.Container, mem resource.Quantity) (Request, error) {
	n := int64(1)
	if cards, ok := Quantity(c, contract.ResourceGPU); ok {
		v, ok := cards.AsInt64()
		if !ok {
			// 0.5 means half a card to a time-slicing user: here that is
			// memory.
			return Request{}, fmt.Errorf("%s %s must be a whole number of cards from 1 to %d; for a share of a card, ask for its memory with %s (e.g. 4Gi)", contract.ResourceGPU, cards.String(), MaxCards, contract.ResourceGPUMem)
		}
		n = v
	}
	return NewRequest(mem, n)
}

// NewRequest checks GPU memory per card (a byte quantity) and a number of
// cards, and returns them as a Request.
func NewRequest(mem resource.Quantity, cards int64) (Request, error) {
	// Compared as quantities: AsInt64 fails for 1.5Gi or 8.0Gi (kept as
	// decimals), which are fine sizes; Value rounds a fraction of a byte up.
	if mem.Cmp(*resource.NewQuantity(MaxMemMiB*MiB, resource.BinarySI)) > 0 {
		return Request{}, fmt.Errorf("%s %s is more than %d GiB per card; it is a byte quantity like 4Gi or 3000Mi",
			contract.ResourceGPUMem, mem.String(), MaxMemMiB/1024)
	}
	bytes := mem.Value()
	if mem.Sign() <= 0 {
		return Request{}, fmt.Errorf("%s %s must be positive, e.g. 4Gi", contract.ResourceGPUMem, mem.String())
	}
	if bytes < MiB {
		return Request{}, fmt.Errorf("%s %s is %d bytes, less than 1Mi: write %s", contract.ResourceGPUMem, mem.String(), bytes, BytesFix(mem, "MiB, as HAMi's gpumem counts"))
	}
	if cards <= 0 || cards > MaxCards {
		return Request{}, fmt.Errorf("%s %d must be a whole number of cards from 1 to %d", contract.ResourceGPU, cards, MaxCards)
	}
	return Request{MemMiB: (bytes + MiB - 1) / MiB, Cards: int(cards)}, nil
}

// BytesFix is the fix for GPU memory written as a plain number, which is
// bytes ("4096"), where MiB was meant (HAMi's nvidia.com/gpumem counts
// MiB) or GiB: "4096Mi (why) or 4Gi", the number as MiB and the same
// amount in Gi where it is a whole number of them, else the number as Gi
// where that is no more than a card may have. A value with a suffix of
// its own ("100m") gets a generic example.
func BytesFix(mem resource.Quantity, why string) string {
	n, err := strconv.ParseInt(mem.String(), 10, 64)
	if err != nil || n <= 0 {
		return "a byte quantity such as 4Gi or 3000Mi"
	}
	fix := fmt.Sprintf("%dMi (%s)", n, why)
	switch {
	case n%1024 == 0:
		fix += fmt.Sprintf(" or %dGi", n/1024)
	case n <= MaxMemMiB/1024:
		fix += fmt.Sprintf(" or %dGi", n)
	}
	return fix
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

// SetMemTotal writes contract.ResourceGPUMemTotal, ResourceGPUMem ×
// ResourceGPU (1 when absent), in the limits and the requests of every
// container that asks for GPU memory, over any value it had: what a
// ResourceQuota counts, and writes a ResourceGPUMem with a decimal point
// (1.5Gi) as whole bytes (1536Mi). A container whose request is malformed
// is left as it is; the extender refuses it anyway.
func SetMemTotal(pod *corev1.Pod) {
	for _, c := range Containers(pod) {
		total, ok := memTotal(c)
		if !ok {
			continue
		}
		// A gpu-mem of 1.5Gi is written 1536Mi: admission policies (CEL's isInteger)
		// and quotas read whole numbers only.
		for _, l := range []corev1.ResourceList{c.Resources.Limits, c.Resources.Requests} {
			if q, ok := l[contract.ResourceGPUMem]; ok {
				if _, whole := q.AsInt64(); !whole {
					l[contract.ResourceGPUMem] = *resource.NewQuantity(q.Value(), resource.BinarySI)
				}
			}
		}
		if c.Resources.Limits == nil {
			c.Resources.Limits = corev1.ResourceList{}
		}
		if c.Resources.Requests == nil {
			c.Resources.Requests = corev1.ResourceList{}
		}
		c.Resources.Limits[contract.ResourceGPUMemTotal] = total
		c.Resources.Requests[contract.ResourceGPUMemTotal] = total.DeepCopy()
	}
}

// memTotal is a container's GPU memory over all its cards, or false when it
// asks for none or asks wrongly.
func memTotal(c *corev1.Container) (resource.Quantity, bool) {
	mem, ok := Quantity(c, contract.ResourceGPUMem)
	if !ok {
		return resource.Quantity{}, false
	}
	req, err := containerRequest(c, mem)
	if err != nil {
		return resource.Quantity{}, false
	}
	return *resource.NewQuantity(mem.Value()*int64(req.Cards), resource.BinarySI), true
}
