package main

import (
	"strings"
	"testing"
	"time"

	"github.com/zzcloud/zz/webhook"
)

// TestValidateLimits: the review limits from flags are refused with a message
// that names the flags when one is out of range, and accepted otherwise.
func TestValidateLimits(t *testing.T) {
	tests := []struct {
		name string
		edit func(*webhook.Limits)
		want string
	}{
		{"defaults", func(*webhook.Limits) {}, ""},
		{"GOGC pacing off", func(l *webhook.Limits) { l.QuietGCPercent = 0 }, ""},
		{"negative quiet GOGC", func(l *webhook.Limits) { l.QuietGCPercent = -1 }, "--quiet-gc-percent may be 0"},
		{"no small lane", func(l *webhook.Limits) { l.MaxSmallInFlight = 0 }, "every limit must be positive"},
		{"large lane under one review", func(l *webhook.Limits) { l.MaxLargeBytes = l.MaxBodyBytes - 1 }, "--max-large-review-bytes at least --max-review-bytes"},
		{"no queue wait", func(l *webhook.Limits) { l.QueueWait = 0 }, "every limit must be positive"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := options{certFile: "tls.crt", keyFile: "tls.key", namespace: "zz-system", policy: "zz-webhook-policy", limits: webhook.DefaultLimits}
			tt.edit(&o.limits)
			wantValidate(t, o, tt.want)
		})
	}
}

// TestValidateSchedulerLease: --scheduler-lease must be namespace/name (or
// empty), with a positive grace.
func TestValidateSchedulerLease(t *testing.T) {
	tests := []struct {
		lease string
		grace time.Duration
		want  string
	}{
		{"zz-system/zz-scheduler", webhook.DefaultLeaseGrace, ""},
		{"", 0, ""}, // routes to zz-scheduler whatever its state
		{"zz-scheduler", webhook.DefaultLeaseGrace, `--scheduler-lease "zz-scheduler" must be namespace/name`},
		{"a/b/c", webhook.DefaultLeaseGrace, "must be namespace/name"},
		{"/zz-scheduler", webhook.DefaultLeaseGrace, "must be namespace/name"},
		{"zz-system/zz-scheduler", 0, "--scheduler-lease-grace 0s must be positive"},
	}
	for _, tt := range tests {
		t.Run(tt.lease, func(t *testing.T) {
			o := options{certFile: "tls.crt", keyFile: "tls.key", namespace: "zz-system", policy: "zz-webhook-policy",
				limits: webhook.DefaultLimits, schedulerLease: tt.lease, leaseGrace: tt.grace}
			wantValidate(t, o, tt.want)
		})
	}
}

// wantValidate checks that o validates ("" want) or fails with want.
func wantValidate(t *testing.T, o options, want string) {
	t.Helper()
	_, err := o.validate()
	switch {
	case want == "" && err != nil:
		t.Fatalf("refused: %v", err)
	case want != "" && (err == nil || !strings.Contains(err.Error(), want)):
		t.Fatalf("got %v, want an error containing %q", err, want)
	}
}
