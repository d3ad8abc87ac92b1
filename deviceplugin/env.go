package deviceplugin

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/zzcloud/zz/internal/contract"
	"github.com/zzcloud/zz/internal/gpushare"
)

// Env is the zz env a container gets for its assignment, whatever the
// device-list strategy (which adds NVIDIA_VISIBLE_DEVICES, see handOff): the
// memory it must stay within; with MPS, the limits the MPS server enforces:
// memory per device ordinal inside the container, and one thread share for
// all its cards, the smallest of its memory shares (so it never gets more
// compute than memory on any card).
func Env(a *gpushare.Assignment, cardMiB map[string]int64, mps bool) map[string]string {
	env := map[string]string{
		contract.EnvGPUMemLimitMiB: strconv.FormatInt(a.MemMiB, 10),
	}
	if !mps {
		return env
	}
	limits := make([]string, len(a.UUIDs))
	pct := 100
	for i, u := range a.UUIDs {
		limits[i] = fmt.Sprintf("%d=%dM", i, a.MemMiB)
		if total := cardMiB[u]; total > 0 {
			pct = min(pct, int((a.MemMiB*100+total-1)/total))
		}
	}
	env[contract.EnvMPSPinnedMemLimit] = strings.Join(limits, ",")
	env[contract.EnvMPSThreadPercentage] = strconv.Itoa(max(pct, 1))
	return env
}
