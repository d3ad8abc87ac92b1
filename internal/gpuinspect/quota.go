package gpuinspect

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/zzcloud/zz/internal/contract"
	"github.com/zzcloud/zz/internal/gpushare"
)

// QuotaRoom is how many more pods of req a namespace's ResourceQuotas admit,
// and which quota and resource binds first ("gpu: 16Gi of
// requests.zz.io/gpu-mem-total left"); ok is false when no quota limits
// GPU memory or cards. A quota whose usage the controller has not counted
// yet counts as unused.
func QuotaRoom(quotas []corev1.ResourceQuota, req gpushare.Request) (n int, binding string, ok bool) {
	mib := func(v int64) resource.Quantity { return *resource.NewQuantity(v*gpushare.MiB, resource.BinarySI) }
	perPod := map[corev1.ResourceName]resource.Quantity{
		"requests." + contract.ResourceGPUMemTotal: mib(req.MemMiB * int64(req.Cards)),
		"requests." + contract.ResourceGPUMem:      mib(req.MemMiB),
		"requests." + contract.ResourceGPU:         *resource.NewQuantity(int64(req.Cards), resource.DecimalSI),
	}
	n = math.MaxInt
	// Quotas by name, resources by name: the first that binds is named.
	quotas = slices.Clone(quotas)
	slices.SortFunc(quotas, func(a, b corev1.ResourceQuota) int { return strings.Compare(a.Name, b.Name) })
	for _, q := range quotas {
		for _, name := range slices.Sorted(maps.Keys(q.Spec.Hard)) {
			each, counted := perPod[name]
			if !counted {
				continue
			}
			hard := q.Spec.Hard[name]
			left := hard.DeepCopy()
			if used, ok := q.Status.Used[name]; ok {
				left.Sub(used)
			}
			fits := 0
			if left.Sign() > 0 {
				fits = int(left.Value() / each.Value())
			}
			if fits < n {
				n, binding, ok = fits, fmt.Sprintf("%s: %s of %s left", q.Name, quantityOrZero(left), name), true
			}
		}
	}
	if !ok {
		return 0, "", false
	}
	return n, binding, true
}

func quantityOrZero(q resource.Quantity) string {
	if q.Sign() <= 0 {
		return "0"
	}
	return q.String()
}
