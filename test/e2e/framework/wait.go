package framework

import (
	"context"
	"testing"
	"time"
)

// Condition reports whether what a test waits for holds. status says where
// things stand when it does not, and is printed if the wait times out; an
// error stops the wait at once.
type Condition func(ctx context.Context) (done bool, status string, err error)

// WaitFor polls cond until it holds, failing t after timeout with the last
// status seen.
func (c *Cluster) WaitFor(t testing.TB, timeout time.Duration, what string, cond Condition) {
	t.Helper()
	if err := Poll(t.Context(), timeout, cond); err != nil {
		t.Fatalf("waiting for %s: %v", what, err)
	}
}

// Poll is WaitFor without a testing.TB.
func Poll(ctx context.Context, timeout time.Duration, cond Condition) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	var last string
	for {
		done, status, err := cond(ctx)
		switch {
		case err != nil && ctx.Err() == nil:
			return err
		case done:
			return nil
		}
		if status != "" {
			last = status
		}
		select {
		case <-ctx.Done():
			return &TimeoutError{After: timeout, Last: last}
		case <-tick.C:
		}
	}
}

// TimeoutError is returned by Poll when the condition did not hold in time.
type TimeoutError struct {
	After time.Duration
	Last  string
}

func (e *TimeoutError) Error() string {
	if e.Last == "" {
		return "timed out after " + e.After.String()
	}
	return "timed out after " + e.After.String() + "; last seen: " + e.Last
}
