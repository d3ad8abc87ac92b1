package deploy

import (
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/zzcloud/zz/internal/contract"
	"github.com/zzcloud/zz/internal/render"
)

// SidecarReady is one sidecar of an app: in how many of its pods it runs
// (Pods) and is ready (Ready), as kubectl get pods counts a pod's
// containers in READY.
type SidecarReady struct {
	Name  string `json:"name"`
	Ready int32  `json:"ready"`
	Pods  int32  `json:"pods"`
}

// Sidecars are an app's sidecars, by name (pods read from an informer come
// in any order, and a rollout's pods may list different ones): the spec's (native: init containers that restart, which the kubelet counts in
// the pod's readiness) and those the zz webhook's policy adds (native or
// not): every container of a pod but the app's and the init containers
// that run to completion.
type Sidecars []SidecarReady

// add counts p's sidecars into s: none of a pod that is going (deleted,
// evicted, done), whose containers say nothing of the app's now.
func (s Sidecars) add(p *corev1.Pod) Sidecars {
	if p.DeletionTimestamp != nil || p.Status.Phase == corev1.PodFailed || p.Status.Phase == corev1.PodSucceeded {
		return s
	}
	ready := map[string]bool{}
	for _, cs := range slices.Concat(p.Status.InitContainerStatuses, p.Status.ContainerStatuses) {
		ready[cs.Name] = cs.Ready
	}
	count := func(name string) {
		i := slices.IndexFunc(s, func(r SidecarReady) bool { return r.Name == name })
		if i < 0 {
			s, i = append(s, SidecarReady{Name: name}), len(s)
		}
		s[i].Pods++
		if ready[name] {
			s[i].Ready++
		}
	}
	for _, c := range p.Spec.InitContainers {
		if contract.IsNativeSidecar(c) {
			count(c.Name)
		}
	}
	for _, c := range p.Spec.Containers {
		if c.Name != render.ContainerName {
			count(c.Name)
		}
	}
	return s
}

// String is s as a table cell, one field for awk, as kubectl glues
// Init:0/1: "auth:2/2,log-shipper:1/2"; "" for none.
func (s Sidecars) String() string {
	cells := make([]string, len(s))
	for i, r := range s {
		cells[i] = fmt.Sprintf("%s:%d/%d", r.Name, r.Ready, r.Pods)
	}
	return strings.Join(cells, ",")
}

// sort orders s by name.
func (s Sidecars) sort() {
	slices.SortFunc(s, func(a, b SidecarReady) int { return strings.Compare(a.Name, b.Name) })
}
