package deviceplugin

import (
	"context"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	"github.com/zzcloud/zz/internal/contract"
	"github.com/zzcloud/zz/internal/gpushare"
	"github.com/zzcloud/zz/internal/podannotate"
)

// PublishPolicy rate-limits the contract.AnnotationGPUMemUsed writes, so a
// node's pods cost the API server a write only when what they use moved.
type PublishPolicy struct {
	// MinInterval is the least time between two writes on one pod.
	MinInterval time.Duration
	// MinChangeMiB is how far a card must move to be written before Refresh.
	MinChangeMiB int64
	// Refresh writes a value that moved less than MinChangeMiB once it is
	// this old, so small drifts still show.
	Refresh time.Duration
}

// DefaultPublishPolicy is the policy of the device plugin's flags' defaults.
func DefaultPublishPolicy(minInterval time.Duration) PublishPolicy {
	return PublishPolicy{MinInterval: minInterval, MinChangeMiB: 64, Refresh: 10 * time.Minute}
}

// Publish is one annotation write: Value nil removes the annotation.
type Publish struct {
	Pod   *corev1.Pod
	Value *string
}

// PlanPublish decides which pods of node get their used-memory annotation
// written now, from the latest sample u, the pods' current annotations and
// when each pod was last written (zero: not since this process started).
// It is pure: the caller writes, then records the time of each success.
//
// A pod is written when its value differs from the annotation and at least
// MinInterval passed since its last write, and then only when the
// annotation is missing or unreadable, the set of cards changed, a card
// moved by MinChangeMiB or more, a card went over its request or back under
// it, or the last write is older than Refresh. A pod that has the
// annotation but uses no card any more gets it removed. Pods of other nodes
// and finished pods are never written.
func PlanPublish(node string, pods []*corev1.Pod, u Usage, last map[types.UID]time.Time, now time.Time, p PublishPolicy) []Publish {
	type card struct{ used, requested int64 }
	byPod := map[types.UID]map[string]card{}
	for _, pu := range u.Pods {
		if byPod[pu.UID] == nil {
			byPod[pu.UID] = map[string]card{}
		}
		byPod[pu.UID][pu.CardUUID] = card{pu.UsedMiB, pu.RequestedMiB}
	}
	var out []Publish
	for _, pod := range pods {
		if pod.Spec.NodeName != node || gpushare.Terminal(pod) || now.Sub(last[pod.UID]) < p.MinInterval {
			continue
		}
		want := byPod[pod.UID]
		raw, has := pod.Annotations[contract.AnnotationGPUMemUsed]
		if len(want) == 0 {
			if has {
				out = append(out, Publish{Pod: pod})
			}
			continue
		}
		used := make(gpushare.MemUsed, len(want))
		for uuid, c := range want {
			used[uuid] = c.used
		}
		value := used.Encode()
		if has && raw == value {
			continue
		}
		cur, err := gpushare.ParseMemUsed(raw)
		write := !has || err != nil || len(cur) != len(used) || now.Sub(last[pod.UID]) >= p.Refresh
		for uuid, c := range want {
			old, ok := cur[uuid]
			if !ok || max(old-c.used, c.used-old) >= p.MinChangeMiB || (old > c.requested) != (c.used > c.requested) {
				write = true
			}
		}
		if write {
			out = append(out, Publish{Pod: pod, Value: &value})
		}
	}
	return out
}

// AnnotateUsed is the monitor's Annotate through client: one JSON merge
// patch that sets (or, for nil, removes) contract.AnnotationGPUMemUsed alone,
// with the pod's UID as precondition, so it never lands on a new pod of the
// same name and touches nothing else of the pod.
func AnnotateUsed(client kubernetes.Interface) func(ctx context.Context, pod *corev1.Pod, value *string) error {
	return func(ctx context.Context, pod *corev1.Pod, value *string) error {
		return podannotate.Patch(ctx, client, pod.Namespace, pod.Name, pod.UID, map[string]*string{contract.AnnotationGPUMemUsed: value})
	}
}
