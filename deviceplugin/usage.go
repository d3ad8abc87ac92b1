package deviceplugin

import (
	"cmp"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

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
	// Assigned is true when the pod holds a zz assignment on some card of
	// the node: only such a pod's processes are ever killed for going over
	// (a pod of another device plugin has no request zz could hold it to).
	Assigned bool
	// procs are the pod's processes on the card.
	procs []Process
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
				r := row(p, uuid)
				r.RequestedMiB, r.Assigned = a.MemMiB, true
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
			r.procs = append(r.procs, proc)
		}
	}
	assigned := map[types.UID]bool{}
	for k, r := range rows {
		if r.Assigned {
			assigned[k.uid] = true
		}
	}
	u := Usage{Unattributed: un, Pods: make([]PodUsage, 0, len(rows))}
	for k, r := range rows {
		r.Assigned = assigned[k.uid]
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

// OverRequestAction is what the device plugin does when a pod's processes
// use more GPU memory on a card than the pod requested there.
type OverRequestAction string

// The over-request actions (--over-request).
const (
	// OverRequestEvent warns: a Warning event and a metric, nothing stopped.
	OverRequestEvent OverRequestAction = "event"
	// OverRequestKill also kills the pod's processes on that card, largest
	// first, until the rest fits its request, once it has been over for the
	// grace period: what the kernel's OOM killer does at a memory limit, and
	// what keeps one tenant from taking the memory of the others on the card.
	OverRequestKill OverRequestAction = "kill"
)

// OverRequestActions lists the actions, for flags and errors.
var OverRequestActions = []OverRequestAction{OverRequestEvent, OverRequestKill}

// Kill is one process to stop and why: the pod's use of the card it runs on.
type Kill struct {
	Pod     PodUsage
	PID     uint32
	UsedMiB int64
}

// PlanKills chooses the processes to kill: for every pod with a zz
// assignment that has been over its request on a card since at least
// now-grace (overSince, per pod and card), its processes on that card,
// largest first, until what is left fits the request. Pods without an
// assignment and processes in no pod are never chosen.
func PlanKills(u Usage, overSince map[usageKey]time.Time, now time.Time, grace time.Duration) []Kill {
	var kills []Kill
	for _, pu := range u.Pods {
		since, ok := overSince[usageKey{pu.UID, pu.CardUUID}]
		if !pu.Over() || !pu.Assigned || !ok || now.Sub(since) < grace {
			continue
		}
		procs := slices.Clone(pu.procs)
		slices.SortFunc(procs, func(a, b Process) int { return cmp.Or(cmp.Compare(b.UsedMiB, a.UsedMiB), cmp.Compare(a.PID, b.PID)) })
		left := pu.UsedMiB
		for _, p := range procs {
			if left <= pu.RequestedMiB {
				break
			}
			kills = append(kills, Kill{Pod: pu, PID: p.PID, UsedMiB: p.UsedMiB})
			left -= p.UsedMiB
		}
	}
	return kills
}

// KillMessage is the event a pod gets when one of its processes is killed.
func KillMessage(k Kill, grace time.Duration) string {
	return fmt.Sprintf("killed process %d, which used %d MiB of GPU memory on card %d (%s): the pod's processes used %d MiB there for %v or more, "+
		"more than the %d MiB it requested (zz.io/gpu-mem), which takes memory other pods on the card were given: raise the request or lower the app's use",
		k.PID, k.UsedMiB, k.Pod.CardIndex, k.Pod.CardUUID, k.Pod.UsedMiB, grace, k.Pod.RequestedMiB)
}
