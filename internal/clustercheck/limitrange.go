package clustercheck

import (
	"context"
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/zzcloud/zz/internal/contract"
	"github.com/zzcloud/zz/internal/inject"
)

// gatherLimitRanges reads every LimitRange when the policy overcommits CPU
// in some pool (nothing to contradict otherwise).
func gatherLimitRanges(ctx context.Context, c kubernetes.Interface, s *State) {
	if len(s.OvercommitPools) == 0 {
		return
	}
	if lrs, err := c.CoreV1().LimitRanges(metav1.NamespaceAll).List(ctx, metav1.ListOptions{}); err != nil {
		s.LimitRangesErr = err
	} else {
		s.LimitRanges = lrs.Items
	}
}

// limitRangeConflicts warns of the opted-in namespaces whose LimitRange
// refuses what the webhook's CPU overcommit makes of a pod that asks for
// request = limit: the LimitRanger validates after the mutating webhooks,
// so a min cpu above limit × ratio, or a maxLimitRequestRatio cpu below
// 1/ratio, refuses pods whose spec is right, and the developer is told
// their request is wrong (an incident audit: every pod of the pool was
// refused, and check said nothing).
func limitRangeConflicts(s *State) []Result {
	if len(s.OvercommitPools) == 0 {
		return nil
	}
	if s.LimitRangesErr != nil {
		return []Result{unreadable(GroupNamespaces, "LimitRanges", s.LimitRangesErr)}
	}
	var out []Result
	for _, lr := range s.LimitRanges {
		if !slices.Contains(s.OptedIn, lr.Namespace) {
			continue
		}
		var why []string
		for _, pool := range s.OvercommitPools {
			if !pool.Reaches(lr.Namespace) {
				continue
			}
			for _, item := range lr.Spec.Limits {
				if item.Type != corev1.LimitTypeContainer {
					continue
				}
				why = append(why, limitRangeConflict(pool, item)...)
			}
		}
		if len(why) == 0 {
			continue
		}
		out = append(out, Result{Group: GroupNamespaces, Name: "LimitRange " + lr.Namespace + "/" + lr.Name, Status: Warn,
			Detail: strings.Join(why, "; ") + ": the LimitRanger checks pods after the zz webhook lowered their CPU requests, so it refuses pods whose spec is right, and their owners are told their request is wrong",
			Hint: "an admin changes one of the two: the pool's cpuOvercommitRatio in the webhook policy (1 turns overcommit off), or the LimitRange (kubectl -n " + lr.Namespace + " edit limitrange " + lr.Name +
				"); an app keeps requests = limits with the pod annotation " + contract.AnnotationInjectDisable + ": " + contract.FeatureOvercommit})
	}
	return out
}

// limitRangeConflict says how one Container item of a LimitRange
// contradicts pool's ratio (none: it does not).
func limitRangeConflict(pool inject.PoolRatio, item corev1.LimitRangeItem) []string {
	var out []string
	if m, ok := item.MaxLimitRequestRatio[corev1.ResourceCPU]; ok && m.AsApproximateFloat64()*pool.Ratio < 1-1e-9 {
		out = append(out, fmt.Sprintf("maxLimitRequestRatio cpu %s refuses every pod of pool %s, whose CPU requests are limit × %g (a ratio of %.3g)",
			m.String(), pool.Name, pool.Ratio, 1/pool.Ratio))
	}
	if m, ok := item.Min[corev1.ResourceCPU]; ok && m.Sign() > 0 {
		// limit × ratio ≥ min: the limits from min up to min / ratio
		// pass without the webhook and are refused with it.
		below := resource.NewMilliQuantity(int64(float64(m.MilliValue())/pool.Ratio+0.999), resource.DecimalSI)
		out = append(out, fmt.Sprintf("min cpu %s refuses the containers of pool %s with a CPU limit under %s, whose requests become limit × %g",
			m.String(), pool.Name, below.String(), pool.Ratio))
	}
	return out
}
