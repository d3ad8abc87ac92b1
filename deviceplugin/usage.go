package deviceplugin

import (
	"cmp"
	"fmt"
	"regexp"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/zzcloud/zz/internal/contract"
	"github.com/zzcloud/zz/internal/gpushare"
)

// Process is one process NVML reports running on a card.
type Process struct {
	PID     uint32
	UsedMiB int64
}

// PodUsage is one pod's memory on one card: what its zz.io/gpu-mem
// assignment promised there, and what its processes use.
type PodUsage struct {
	Namespace, Name string
	// App is the pod's zz.io/app label (empty for pods kubectl zz did not deploy).
	App          string
	UID          types.UID
	CardUUID     string
	CardIndex    int
	RequestedMiB int64
	UsedMiB      int64
	Processes    int
}

// Over is true when the pod uses more than it asked for on the card.
func (u PodUsage) Over() bool { return u.UsedMiB > u.RequestedMiB }

// Usage is a node's GPU memory by pod, plus what no pod on the node accounts
// for (host processes, pods the informer does not know yet), by card UUID.
type Usage struct {
	Pods         []PodUsage
	Unattributed map[string]int64
}

// podUIDPattern finds a pod UID in a cgroup path: the kubelet names pod
// cgroups pod<uid>, with '_' for '-' under the systemd driver
// (kubepods-burstable-pod1234_abcd….slice).
var podUIDPattern = regexp.MustCompile(`pod([0-9a-f]{8}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{12})`)

// PodUIDFromCgroup reads /proc/<pid>/cgroup content and returns the UID of
// the pod the process runs in. It understands cgroup v1 and v2, the cgroupfs
// and systemd drivers, and containerd, CRI-O and Docker container scopes.
func PodUIDFromCgroup(content string) (types.UID, bool) {
	for line := range strings.SplitSeq(content, "\n") {
		// hierarchy-ID:controllers:path; the path may hold ':' itself.
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 || !strings.Contains(parts[2], "kubepods") {
			continue
		}
		if m := podUIDPattern.FindStringSubmatch(parts[2]); m != nil {
			return types.UID(strings.ReplaceAll(m[1], "_", "-")), true
		}
	}
	return "", false
}

// PodOfPID maps a process to the UID of its pod; false when it runs in none
// (or is gone).
type PodOfPID func(pid uint32) (types.UID, bool)

// ComputeUsage puts the processes on each card (by UUID) against the pods of
// the node: every pod the extender assigned a card shows there with its
// promise, even with no process yet; a pod running on a card it was not
// assigned shows with a promise of 0 (so it is over).
func ComputeUsage(cards []Card, procs map[string][]Process, podOf PodOfPID, pods []*corev1.Pod) Usage {
	type key struct {
		uid  types.UID
		uuid string
	}
	byUID := make(map[types.UID]*corev1.Pod, len(pods))
	for _, p := range pods {
		byUID[p.UID] = p
	}
	index := make(map[string]int, len(cards))
	for _, c := range cards {
		index[c.UUID] = c.Index
	}
	rows := map[key]*PodUsage{}
	row := func(p *corev1.Pod, uuid string) *PodUsage {
		k := key{p.UID, uuid}
		if r := rows[k]; r != nil {
			return r
		}
		r := &PodUsage{Namespace: p.Namespace, Name: p.Name, App: p.Labels[contract.LabelApp], UID: p.UID, CardUUID: uuid, CardIndex: index[uuid]}
		rows[k] = r
		return r
	}
	for _, p := range pods {
		if gpushare.Terminal(p) {
			continue
		}
		a, err := gpushare.PodAssignment(p)
		if err != nil || a == nil {
			continue
		}
		for _, uuid := range a.UUIDs {
			if _, ok := index[uuid]; ok {
				row(p, uuid).RequestedMiB = a.MemMiB
			}
		}
	}
	un := map[string]int64{}
	for _, c := range cards {
		for _, proc := range procs[c.UUID] {
			uid, ok := podOf(proc.PID)
			p := byUID[uid]
			if !ok || p == nil {
				un[c.UUID] += proc.UsedMiB
				continue
			}
			r := row(p, c.UUID)
			r.UsedMiB += proc.UsedMiB
			r.Processes++
		}
	}
	u := Usage{Unattributed: un, Pods: make([]PodUsage, 0, len(rows))}
	for _, r := range rows {
		u.Pods = append(u.Pods, *r)
	}
	slices.SortFunc(u.Pods, func(a, b PodUsage) int {
		return cmp.Or(cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name), cmp.Compare(a.CardIndex, b.CardIndex))
	})
	return u
}

// OverMessage is the event a pod gets when it goes over its promise.
func OverMessage(u PodUsage) string {
	return fmt.Sprintf("processes of this pod use %d MiB of GPU memory on card %d (%s), more than the %d MiB it requested (zz.io/gpu-mem); "+
		"other pods sharing the card may run out of memory: raise the request or lower the app's use", u.UsedMiB, u.CardIndex, u.CardUUID, u.RequestedMiB)
}
