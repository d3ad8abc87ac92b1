package clustercheck

import (
	"cmp"
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

// limitRangeConflicts notes the opted-in namespaces whose LimitRange bounds
// what the webhook's CPU overcommit makes of a pod's requests: a min cpu
// above limit × ratio, or a maxLimitRequestRatio cpu below 1/ratio. The
// LimitRanger validates after the mutating webhooks and refused every such
// pod (an incident audit: every pod of the pool, with check silent); the
// webhook now raises those requests to the LimitRange's bounds
// (inject.WithLimitRanges), so the pods are admitted, and what is left to
// say is that the namespace's pods get less overcommit than the pool's
// ratio: an ok line with the numbers, for the admin who wonders why.
// Where the clamp cannot help (a limit under min cpu) the spec is at fault
// with or without the webhook, and the LimitRanger says so. A webhook that
// answered check's probe without contract.WebhookRaisesToLimitRanges is
// older than the clamp: there the LimitRanger refuses those pods, a warning.
func limitRangeConflicts(s *State) []Result {
	if len(s.OvercommitPools) == 0 {
		return nil
	}
	if s.LimitRangesErr != nil {
		return []Result{unreadable(GroupNamespaces, "LimitRanges", s.LimitRangesErr)}
	}
	older := olderWebhook(s.WebhookProbe)
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
				if item.Type == corev1.LimitTypeContainer || item.Type == corev1.LimitTypePod {
					why = append(why, limitRangeConflict(pool, item)...)
				}
			}
		}
		if len(why) == 0 {
			continue
		}
		loosen := "an admin loosens the LimitRange (kubectl -n " + lr.Namespace + " edit limitrange " + lr.Name + ")"
		r := Result{Group: GroupNamespaces, Name: "LimitRange " + lr.Namespace + "/" + lr.Name, Status: OK,
			Detail: strings.Join(why, "; ") + ": the zz webhook raises the CPU requests its overcommit would lower past these bounds up to them (the LimitRanger checks pods after it and would refuse them), so this namespace's pods are overcommitted less than the pool says (zz_webhook_cpu_request_clamps_total counts the raises)",
			Hint:   "to overcommit them as the pool says, " + loosen}
		if unread := limitRangesUnread(s.WebhookProbe); unread != "" {
			r.Status = Warn
			r.Detail = strings.Join(why, "; ") + ": the zz webhook that answered check's probe cannot read LimitRanges (" + unread + "), so it lowers the CPU requests past these bounds and does not raise them back, and the LimitRanger, which checks pods after it, refuses this namespace's pods of those limits"
			r.Hint = "let zz-webhook list and watch limitranges (apply the manifests or the chart whole: its ClusterRole has the rule), or " + loosen
		} else if older != "" {
			r.Status = Warn
			r.Detail = strings.Join(why, "; ") + ": the zz webhook that answered check's probe (" + older + ") lowers the CPU requests past these bounds and does not raise them back, so the LimitRanger, which checks pods after it, refuses this namespace's pods of those limits"
			r.Hint = "upgrade zz-webhook (its ClusterRole must let it list and watch LimitRanges: apply the manifests or chart whole), or " + loosen
		}
		out = append(out, r)
	}
	return out
}

// olderWebhook is the build of the zz webhook that answered check's probe
// when it does not raise requests to LimitRanges ("" when it does, when it
// would but cannot read them, or when no answer came: the webhook lines say
// why).
func olderWebhook(p *WebhookProbe) string {
	if p == nil || p.Answer == "" || strings.Contains(p.Answer, contract.WebhookRaisesToLimitRanges) || limitRangesUnread(p) != "" {
		return ""
	}
	build := strings.TrimPrefix(p.Answer, contract.WebhookProbeAnswer)
	return cmp.Or(strings.Trim(build, " ()"), "an unnamed build")
}

// limitRangesUnread is why the zz webhook that answered check's probe
// cannot read the LimitRanges, as its answer says; "" where it can (or
// none answered).
func limitRangesUnread(p *WebhookProbe) string {
	if p == nil {
		return ""
	}
	_, why, ok := strings.Cut(p.Answer, contract.WebhookLimitRangesUnread+": ")
	if !ok {
		return ""
	}
	return strings.TrimSuffix(why, ")")
}

// limitRangeConflict says how one Container or Pod item of a LimitRange
// bounds pool's ratio (none: it does not).
func limitRangeConflict(pool inject.PoolRatio, item corev1.LimitRangeItem) []string {
	var out []string
	per := strings.ToLower(string(item.Type))
	if m, ok := item.MaxLimitRequestRatio[corev1.ResourceCPU]; ok && m.AsApproximateFloat64()*pool.Ratio < 1-1e-9 {
		out = append(out, fmt.Sprintf("maxLimitRequestRatio cpu %s per %s holds the CPU requests of pool %s at limit ÷ %s or more, above its limit × %g (a ratio of %.3g)",
			m.String(), per, pool.Name, m.String(), pool.Ratio, 1/pool.Ratio))
	}
	if m, ok := item.Min[corev1.ResourceCPU]; ok && m.Sign() > 0 {
		// limit × ratio ≥ min: the limits from min up to min / ratio
		// get min, more than the ratio gives.
		below := resource.NewMilliQuantity(int64(float64(m.MilliValue())/pool.Ratio+0.999), resource.DecimalSI)
		out = append(out, fmt.Sprintf("min cpu %s per %s holds the CPU requests of pool %s at %s or more: a limit under %s gets more than limit × %g",
			m.String(), per, pool.Name, m.String(), below.String(), pool.Ratio))
	}
	return out
}
