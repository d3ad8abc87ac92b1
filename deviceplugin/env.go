package deviceplugin

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/zzcloud/zz/internal/contract"
	"github.com/zzcloud/zz/internal/gpushare"
)

// xlaHeadroom is the part of the pod's share JAX is told to preallocate
// (its default is 75% of the card).
const xlaHeadroom = 0.85

// Env is the zz env a container gets for its assignment, whatever the
// device-list strategy (which adds NVIDIA_VISIBLE_DEVICES, see handOff): the
// memory it must stay within; with MPS, the limits the MPS server enforces:
// memory per device ordinal inside the container, and one thread share for
// all its cards, the smallest of its memory shares (so it never gets more
// compute than memory on any card).
//
// A pod sharing a card also gets the ML frameworks' memory knobs at its
// share, the smallest over its cards: JAX preallocates 75% of the card
// and TensorFlow all of it by default, over a smaller share, so a job was
// killed for over-request after the grace (an ML-engineer audit). They are
// defaults: the container's own env comes after the device plugin's in the
// kubelet's list, and the last one wins.
func Env(a *gpushare.Assignment, cardMiB map[string]int64, mps bool) map[string]string {
	env := map[string]string{
		contract.EnvGPUMemLimitMiB: strconv.FormatInt(a.MemMiB, 10),
	}
	share := 1.0
	for _, u := range a.UUIDs {
		if total := cardMiB[u]; total > 0 {
			share = min(share, float64(a.MemMiB)/float64(total))
		}
	}
	if share < 1 {
		env[contract.EnvTFAllowGrowth] = "true"
	}
	if share < 1 {
		// Below the share, by the CUDA context's few hundred MiB, which the
		// device plugin counts against the pod too; for every share below
		// the whole card (JAX's own 75% plus the context is over a share
		// just above it), in ten-thousandths (a hundredth of an 80 GB card
		// is over a 256 MiB share: a tenant audit).
		env[contract.EnvXLAMemFraction] = strconv.FormatFloat(max(0.0001, math.Floor(share*xlaHeadroom*10000)/10000), 'f', -1, 64)
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
