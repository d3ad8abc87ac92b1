package balance_test

import (
	"testing"

	"github.com/zzcloud/zz/internal/balance"
	"github.com/zzcloud/zz/internal/balance/jobsite"
)

// TestJobSiteStream: on the job site's stream the default weights end within
// one large pod of flat (a 4-CPU pod is 0.084 of a node; a placement that
// does not know the stream ahead cannot do much better: placing by CPU alone
// averages 0.076 here), and flatter than weighting the CPU/memory imbalance
// as much as the load, with a larger replica-spread share (the weights
// before: 0.081).
func TestJobSiteStream(t *testing.T) {
	const seeds = 20
	avg := func(w balance.Weights) (r, cv float64) {
		for seed := range uint64(seeds) {
			a, b := jobsite.CPUSpread(jobsite.Place(seed+1, 20, 0.75, w).Nodes)
			r, cv = r+a/seeds, cv+b/seeds
		}
		return r, cv
	}
	tests := []struct {
		name            string
		w               balance.Weights
		maxRange, maxCV float64 // means over the seeds
	}{
		{"default", balance.Default, 0.077, 0.029},
		{"before: imbalance as load, spread 0.3", balance.Weights{Imbalance: 1, Load: 1, Spread: 0.3}, 0.083, 0.031},
	}
	var ranges []float64
	for _, tt := range tests {
		r, cv := avg(tt.w)
		ranges = append(ranges, r)
		t.Logf("%s: mean CPU range %.3f, CV %.3f", tt.name, r, cv)
		if r > tt.maxRange || cv > tt.maxCV {
			t.Errorf("%s: mean CPU range %.3f (max %.3f), CV %.3f (max %.3f)", tt.name, r, tt.maxRange, cv, tt.maxCV)
		}
	}
	if ranges[0] >= ranges[1] {
		t.Errorf("the default weights (range %.3f) are no flatter than the old ones (%.3f)", ranges[0], ranges[1])
	}
}
