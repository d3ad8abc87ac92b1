package cli

import (
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/zzcloud/zz/internal/appspec"
	"github.com/zzcloud/zz/internal/contract"
)

// TestSkewNotes: the read-only commands read a record a newer kubectl-zz
// wrote (a newer format, a spec field this version does not know) and say
// so: history and status note which revision and that the commands that
// record or apply refuse it; history --spec prints the spec as recorded,
// unknown field included, so deploying it again cannot drop it silently.
// Before, history --spec printed the spec without the field, and nothing
// said so (a version-skew audit).
func TestSkewNotes(t *testing.T) {
	withSpec := func(s *corev1.Secret, spec string) *corev1.Secret {
		s.Data["spec.json"] = []byte(spec)
		return s
	}
	newer := func(s *corev1.Secret) *corev1.Secret {
		s.Annotations[contract.AnnotationRecordFormat] = "3"
		s.Annotations[contract.AnnotationRecordedBy] = "kubectl-zz v9.9.9"
		return s
	}
	tests := []struct {
		name  string
		args  []string
		rec   *corev1.Secret // revision 2; revision 1 is understood
		out   []string       // in stdout
		notes []string       // in stderr (status: stdout)
		not   []string       // in neither
	}{
		{"history of a newer format", []string{"history", "shop"},
			newer(revisionSecret(t, "ns-a", "shop", 2, "2.0", "bob", "deploy 2.0", time.Unix(60, 0))),
			[]string{"deploy 2.0"},
			[]string{"note: revision 2 of shop was recorded by kubectl-zz v9.9.9 (record format 3;", "scale, restart, rollback, canary, promote and abort refuse it; upgrade kubectl-zz (kubectl krew upgrade zz)"},
			[]string{"revision 1 of shop was recorded"}},
		{"history of an unknown spec field", []string{"history", "shop"},
			withSpec(revisionSecret(t, "ns-a", "shop", 2, "2.0", "bob", "deploy 2.0", time.Unix(60, 0)), `{"name":"shop","spec":{"type":"web","image":"reg/shop:2.0","futureAuth":{"mode":"mtls"}}}`),
			[]string{"deploy 2.0"},
			[]string{"note: revision 2 of shop was recorded by a kubectl-zz that stamps no version (record format 1;", "and holds spec.futureAuth, which this version does not know"},
			nil},
		{"history --spec keeps the unknown field", []string{"history", "shop", "--spec"},
			withSpec(revisionSecret(t, "ns-a", "shop", 2, "2.0", "bob", "deploy 2.0", time.Unix(60, 0)), `{"name":"shop","spec":{"type":"web","image":"reg/shop:2.0","futureAuth":{"mode":"mtls"}}}`),
			[]string{"futureAuth:", "mode: mtls", "image: reg/shop:2.0"},
			[]string{"holds spec.futureAuth, which this version does not know"},
			nil},
		{"status of a newer format", []string{"status", "shop"},
			newer(revisionSecret(t, "ns-a", "shop", 2, "2.0", "bob", "deploy 2.0", time.Unix(60, 0))),
			[]string{"shop 2 2.0"},
			[]string{"shop: revision 2 of shop was recorded by kubectl-zz v9.9.9 (record format 3;", "scale, restart, rollback, canary, promote and abort refuse it; upgrade kubectl-zz"},
			nil},
		{"status of an understood record", []string{"status", "shop"},
			revisionSecret(t, "ns-a", "shop", 2, "2.0", "bob", "deploy 2.0", time.Unix(60, 0)),
			[]string{"shop 2 2.0"}, nil,
			[]string{"was recorded by"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := fakeClient(fakeDeployment("ns-a", "shop", "shop", "2.0", 2, 2),
				revisionSecret(t, "ns-a", "shop", 1, "1.0", "alice", "deploy 1.0", time.Unix(0, 0)), tt.rec)
			zz := withFakeClusters(t, a, fakeClient())
			out, stderr, err := zz(append(tt.args, "-n", "ns-a")...)
			if err != nil {
				t.Fatalf("%v\n%s", err, stderr)
			}
			flat := strings.Join(strings.Fields(out), " ")
			for _, s := range tt.out {
				if !strings.Contains(out, s) && !strings.Contains(flat, s) {
					t.Errorf("stdout lacks %q:\n%s", s, out)
				}
			}
			notes := stderr // history's stdout is the table, or a spec file
			if tt.args[0] == "status" {
				notes = out // under the table, as status's other reasons
			}
			for _, s := range tt.notes {
				if !strings.Contains(notes, s) {
					t.Errorf("notes lack %q:\n%s", s, notes)
				}
			}
			for _, s := range tt.not {
				if strings.Contains(out+stderr, s) {
					t.Errorf("output has %q:\n%s\n%s", s, out, stderr)
				}
			}
			if tt.args[0] == "history" && len(tt.args) > 2 {
				// A kubectl-zz that does not know the field refuses the
				// printed spec, naming it, where it deployed it without.
				if _, err := appspec.Load("printed", []byte(out)); err == nil || !strings.Contains(err.Error(), "futureAuth") {
					t.Errorf("the printed spec loads without a word of futureAuth: %v", err)
				}
			}
		})
	}
}
