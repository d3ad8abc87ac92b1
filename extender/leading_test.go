package extender

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/utils/ptr"
)

func lease(holder string) *coordinationv1.Lease {
	l := &coordinationv1.Lease{}
	if holder != "" {
		l.Spec.HolderIdentity = ptr.To(holder)
	}
	return l
}

// TestLeading: zz_extender_leading says whether the kube-scheduler beside
// the extender (same pod, same hostname) holds the Lease, so that
// ZZExtenderDown judges the leader's extender: a standby's idle, ready one
// kept it silent while the leader's crash-looped (an SRE audit). No series
// before the Lease was ever read; a failed read keeps what was known.
func TestLeading(t *testing.T) {
	forbidden := apierrors.NewForbidden(schema.GroupResource{Group: "coordination.k8s.io", Resource: "leases"}, "zz-scheduler", errors.New("no"))
	for _, tc := range []struct {
		name  string
		reads []any // *coordinationv1.Lease or error, in order
		want  string
	}{
		{"never read", []any{forbidden}, ""},
		{"this pod leads", []any{lease("zz-scheduler-7c9d-abcde_0b6e6f0a-1")}, "1"},
		{"another pod leads", []any{lease("zz-scheduler-7c9d-fghij_77aa")}, "0"},
		{"a longer hostname sharing the prefix", []any{lease("zz-scheduler-7c9d-abcdef_77aa")}, "0"},
		// No scheduler leads: no extender is a standby (absent, as
		// before a read), so the alert judges every replica.
		{"released", []any{lease("")}, ""},
		{"no Lease", []any{apierrors.NewNotFound(schema.GroupResource{Group: "coordination.k8s.io", Resource: "leases"}, "zz-scheduler")}, ""},
		{"led, then released", []any{lease("zz-scheduler-7c9d-abcde_1"), lease("")}, ""},
		{"a failed read keeps the last", []any{lease("zz-scheduler-7c9d-abcde_1"), errors.New("connection refused")}, "1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			i := 0
			l := &Leading{Hostname: "zz-scheduler-7c9d-abcde", Get: func(context.Context) (*coordinationv1.Lease, error) {
				r := tc.reads[i]
				i++
				if err, ok := r.(error); ok {
					return nil, err
				}
				return r.(*coordinationv1.Lease), nil
			}}
			for range tc.reads {
				l.read(t.Context())
			}
			body := ""
			if tc.want != "" {
				body = "# HELP zz_extender_leading " + leadingHelp + "\n# TYPE zz_extender_leading gauge\nzz_extender_leading " + tc.want + "\n"
			}
			if err := testutil.CollectAndCompare(l.Collector(), strings.NewReader(body), "zz_extender_leading"); err != nil {
				t.Error(err)
			}
		})
	}
}
