package cli

import (
	"testing"

	"github.com/zzcloud/zz/internal/contract"
	"github.com/zzcloud/zz/internal/rebalance"
)

// TestOtherSchedulers: a plan whose pods another scheduler places says so,
// since their replacements may not land where planned.
func TestOtherSchedulers(t *testing.T) {
	move := func(sched string) rebalance.Move { return rebalance.Move{Pod: rebalance.Pod{Scheduler: sched}} }
	tests := []struct {
		moves []rebalance.Move
		want  string
	}{
		{nil, ""},
		{[]rebalance.Move{move(contract.SchedulerName), move(contract.SchedulerName)}, ""},
		{[]rebalance.Move{move(contract.SchedulerName), move("default-scheduler"), move("volcano"), move("default-scheduler")},
			"3 of the 4 moves are of pods placed by default-scheduler, volcano"},
	}
	for _, tt := range tests {
		if got := otherSchedulers(tt.moves); got != tt.want {
			t.Errorf("otherSchedulers = %q, want %q", got, tt.want)
		}
	}
}

// TestSampledWarning: past 100 nodes the scheduler scores a sample, and the
// plan says so when it moves anything.
func TestSampledWarning(t *testing.T) {
	for _, tt := range []struct {
		nodes, moves int
		warns        bool
	}{{100, 5, false}, {101, 5, true}, {5000, 0, false}} {
		if got := sampledWarning(tt.nodes, tt.moves); (got != "") != tt.warns {
			t.Errorf("%d nodes, %d moves: %q", tt.nodes, tt.moves, got)
		}
	}
}
