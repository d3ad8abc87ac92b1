package deploy

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/zzcloud/zz/internal/contract"
	"github.com/zzcloud/zz/internal/version"
)

// editRecord changes the record of revision n of shop with edit.
func editRecord(t *testing.T, c kubernetes.Interface, n int64, edit func(*corev1.Secret)) {
	t.Helper()
	rec, err := c.CoreV1().Secrets(ns).Get(t.Context(), RecordName("shop", n), metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	edit(rec)
	if _, err := c.CoreV1().Secrets(ns).Update(t.Context(), rec, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// The records a newer kubectl-zz would write, and broken ones.
var (
	// newerFormat: a format above RecordFormat, as the next release writes
	// when a record needs what this one would apply wrongly.
	newerFormat = func(s *corev1.Secret) {
		s.Annotations[contract.AnnotationRecordFormat] = "3"
		s.Annotations[contract.AnnotationRecordedBy] = "kubectl-zz v9.9.9"
	}
	// unknownField: a spec field this version does not know, in every
	// spec of the record (a canary's too).
	unknownField = func(s *corev1.Secret) {
		s.Annotations[contract.AnnotationRecordedBy] = "kubectl-zz v9.9.9"
		for _, key := range []string{specKey, promoteSpecKey} {
			if b, ok := s.Data[key]; ok {
				var m map[string]any
				if err := json.Unmarshal(b, &m); err != nil {
					panic(err)
				}
				m["spec"].(map[string]any)["futureAuth"] = map[string]any{"mode": "mtls"}
				s.Data[key], _ = json.Marshal(m)
			}
		}
	}
	// unreadable: objects that do not decode (an edit, a truncation).
	unreadable = func(s *corev1.Secret) { s.Data[objectsKey] = []byte("not gzip") }
	// newerUnreadable: a newer format whose objects moved to another key.
	newerUnreadable = func(s *corev1.Secret) {
		newerFormat(s)
		s.Data["objects.v3.json.gz"] = s.Data[objectsKey]
		delete(s.Data, objectsKey)
	}
)

// skewCommands run each command that records or applies from the latest
// record (or from the one asked) on shop.
var skewCommands = map[string]func(t *testing.T, c kubernetes.Interface) error{
	"scale": func(t *testing.T, c kubernetes.Interface) error {
		_, err := Scale(t.Context(), c, &ChangeConfig{Options: opts(), App: "shop"}, 3)
		return err
	},
	"restart": func(t *testing.T, c kubernetes.Interface) error {
		_, err := Restart(t.Context(), c, &ChangeConfig{Options: opts(), App: "shop"})
		return err
	},
	"rollback": func(t *testing.T, c kubernetes.Interface) error {
		_, err := Rollback(t.Context(), c, &RollbackConfig{Options: opts(), App: "shop"})
		return err
	},
	"rollback --to-revision 2": func(t *testing.T, c kubernetes.Interface) error {
		_, err := Rollback(t.Context(), c, &RollbackConfig{Options: opts(), App: "shop", ToRevision: 2})
		return err
	},
	"canary": func(t *testing.T, c kubernetes.Interface) error {
		_, err := RunCanary(t.Context(), c, &Config{Options: opts(), App: spec(t, "reg/shop:3", "")}, CanaryShare{Count: 1})
		return err
	},
	"promote": func(t *testing.T, c kubernetes.Interface) error {
		_, err := Promote(t.Context(), c, &CanaryActionConfig{Options: opts(), App: "shop"})
		return err
	},
	"abort": func(t *testing.T, c kubernetes.Interface) error {
		_, err := Abort(t.Context(), c, &CanaryActionConfig{Options: opts(), App: "shop"})
		return err
	},
}

// TestSkewRefusals: a command that would record or apply from a record
// this version does not understand whole (a newer format, a spec field it
// does not know), or from the readable record before an unreadable newest
// one, refuses, naming the revision, why and the way out, and changes
// nothing. Every refusal names the way back that needs no upgrade
// (wayBack1): a readable record's named the upgrade alone (review 17a, S1). Before, each re-recorded the spec without the unknown field, or
// rolled the running image back to revision 1 (a version-skew audit).
func TestSkewRefusals(t *testing.T) {
	const wayBack1 = "kubectl zz rollback shop --to-revision 1 returns to revision 1 (1)"
	tests := []struct {
		name string
		// canary: revision 2 is a canary (promote, abort); else a deploy.
		canary bool
		edit   func(*corev1.Secret)
		cmds   []string
		want   error
		says   []string
	}{
		{"newer format", false, newerFormat, []string{"scale", "restart", "rollback", "rollback --to-revision 2", "canary"}, ErrNewerRecord,
			[]string{"revision 2 of shop was recorded by kubectl-zz v9.9.9 (record format 3; this kubectl-zz " + version.Get().GitVersion + " reads up to 2), which this version would apply wrongly: upgrade kubectl-zz (kubectl krew upgrade zz), or without upgrading: " + wayBack1}},
		{"unknown spec field", false, unknownField, []string{"scale", "restart", "rollback", "rollback --to-revision 2", "canary"}, ErrNewerRecord,
			[]string{"revision 2 of shop was recorded by kubectl-zz v9.9.9 (record format 2;", "holds spec.futureAuth, which this version does not know: upgrade kubectl-zz (kubectl krew upgrade zz)", wayBack1}},
		{"unreadable latest", false, unreadable, []string{"scale", "restart", "rollback", "canary"}, ErrUnreadableLatest,
			[]string{"revision 2 of shop, the latest, cannot be read (objects.json.gz: unexpected EOF)", "refuses to act on the revision before it, which is not what runs",
				"kubectl zz rollback shop --to-revision 1 returns to revision 1 (1) explicitly, or kubectl zz deploy shop -f FILE records a new revision"}},
		{"newer format, unreadable", false, newerUnreadable, []string{"scale", "restart", "rollback", "canary"}, ErrUnreadableLatest,
			[]string{"revision 2 of shop, the latest, was recorded by kubectl-zz v9.9.9 in record format 3, which this kubectl-zz", "upgrade kubectl-zz", wayBack1}},
		{"canary of a newer format", true, newerFormat, []string{"promote", "abort"}, ErrNewerRecord,
			[]string{"revision 2 of shop was recorded by kubectl-zz v9.9.9 (record format 3;", wayBack1}},
		{"canary with an unknown spec field", true, unknownField, []string{"promote", "abort"}, ErrNewerRecord,
			[]string{"holds spec.futureAuth, which this version does not know", wayBack1}},
		{"unreadable canary", true, unreadable, []string{"promote", "abort"}, ErrUnreadableLatest,
			[]string{"revision 2 of shop, the latest, cannot be read", wayBack1}},
	}
	for _, tt := range tests {
		for _, cmd := range tt.cmds {
			t.Run(tt.name+"/"+cmd, func(t *testing.T) {
				c := fake.NewClientset()
				startController(t, c)
				deployOK(t, c, spec(t, "reg/shop:1", ""), 0)
				stable := "reg/shop:2"
				if tt.canary {
					stable = "reg/shop:1"
					if _, err := RunCanary(t.Context(), c, &Config{Options: opts(), App: spec(t, "reg/shop:2", "")}, CanaryShare{Count: 1}); err != nil {
						t.Fatal(err)
					}
				} else {
					deployOK(t, c, spec(t, "reg/shop:2", ""), 0)
				}
				editRecord(t, c, 2, tt.edit)
				err := skewCommands[cmd](t, c)
				if !errors.Is(err, tt.want) {
					t.Fatalf("%s: %v, want %v", cmd, err, tt.want)
				}
				for _, s := range tt.says {
					if !strings.Contains(err.Error(), s) {
						t.Errorf("%s: error lacks %q:\n%v", cmd, s, err)
					}
				}
				if img := image(t, c); img != stable {
					t.Errorf("%s changed the running image to %s, want %s kept", cmd, img, stable)
				}
				if hist, _ := History(t.Context(), c, ns, "shop"); len(hist) != 2 {
					t.Errorf("%s recorded a revision: %d records", cmd, len(hist))
				}
			})
		}
	}
}

// TestSkewWayOut: with a newest record this version cannot act on, a
// rollback to a revision named explicitly, which it understands, is the
// way back the refusals name: it restores that revision and records it,
// stamped by this version.
func TestSkewWayOut(t *testing.T) {
	for name, edit := range map[string]func(*corev1.Secret){"newer format": newerFormat, "unknown spec field": unknownField, "unreadable": unreadable} {
		t.Run(name, func(t *testing.T) {
			c := fake.NewClientset()
			startController(t, c)
			deployOK(t, c, spec(t, "reg/shop:1", ""), 0)
			deployOK(t, c, spec(t, "reg/shop:2", ""), 0)
			editRecord(t, c, 2, edit)
			res, err := Rollback(t.Context(), c, &RollbackConfig{Options: opts(), App: "shop", ToRevision: 1})
			if err != nil || res.Revision != 3 || image(t, c) != "reg/shop:1" {
				t.Fatalf("rollback --to-revision 1: %+v, %v, runs %s", res, err, image(t, c))
			}
			rev, err := GetRevision(t.Context(), c, ns, "shop", 3)
			if err != nil || rev.Format != RecordFormat || rev.RecordedBy != "kubectl-zz "+version.Get().GitVersion {
				t.Fatalf("revision 3: %+v, %v", rev, err)
			}
		})
	}
}

// TestRestoreRefusesAnOlderRecord: a deploy whose rollout fails restores
// the newest record; when that one cannot be acted on, it restores
// nothing and says so plainly, with the way back that works (review 17a,
// S3), where it restored revision 1, past the newest.
func TestRestoreRefusesAnOlderRecord(t *testing.T) {
	for name, edit := range map[string]func(*corev1.Secret){"newer format": newerFormat, "unknown spec field": unknownField, "unreadable": unreadable} {
		t.Run(name, func(t *testing.T) {
			c := fake.NewClientset()
			ctl := startController(t, c)
			deployOK(t, c, spec(t, "reg/shop:1", ""), 0)
			deployOK(t, c, spec(t, "reg/shop:2", ""), 0)
			editRecord(t, c, 2, edit)
			ctl.setStuck("reg/shop:bad")
			_, err := Run(t.Context(), c, &Config{Options: opts(), App: spec(t, "reg/shop:bad", ""), RollbackOnFailure: true})
			for _, want := range []string{"nothing restored: --rollback-on-failure returns to the latest revision, and this version cannot apply it: revision 2 of shop",
				"kubectl zz rollback shop --to-revision 1 returns to revision 1 (1)"} {
				if !errors.Is(err, ErrRolloutFailed) || !strings.Contains(err.Error(), want) {
					t.Fatalf("failed deploy: %v\nwant it to say %q", err, want)
				}
			}
			if img := image(t, c); img == "reg/shop:1" {
				t.Errorf("the failed deploy restored revision 1, past revision 2")
			}
		})
	}
}

// TestDeployOverANewerRecord: deploy -f of a file this version read goes
// on over a newest record it does not understand whole (it renders from
// the file), says what the revision it records lacks, and names the
// unknown fields in its change cause, so history shows the deploy that
// dropped them.
func TestDeployOverANewerRecord(t *testing.T) {
	tests := []struct {
		name  string
		edit  func(*corev1.Secret)
		warn  string
		cause string
	}{
		{"unknown spec field", unknownField, "warning: revision 2 of shop was recorded by kubectl-zz v9.9.9 (record format 2; this kubectl-zz " + version.Get().GitVersion +
			" reads up to 2) and holds spec.futureAuth, which this version does not know; this deploy renders from your file alone, so the revision it records has no spec.futureAuth: upgrade kubectl-zz (kubectl krew upgrade zz) to keep it",
			"deploy 3 (futureAuth)"},
		{"newer format", newerFormat, "warning: revision 2 of shop was recorded by kubectl-zz v9.9.9 (record format 3; this kubectl-zz " + version.Get().GitVersion +
			" reads up to 2), which this version would apply wrongly; this deploy renders from your file alone, so the revision it records holds only what this version renders from it: upgrade kubectl-zz (kubectl krew upgrade zz) to keep it",
			"deploy 3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := fake.NewClientset()
			startController(t, c)
			deployOK(t, c, spec(t, "reg/shop:1", ""), 0)
			deployOK(t, c, spec(t, "reg/shop:2", ""), 0)
			editRecord(t, c, 2, tt.edit)
			var progress strings.Builder
			o := opts()
			o.Progress = &progress
			res, err := Run(t.Context(), c, &Config{Options: o, App: spec(t, "reg/shop:3", "")})
			if err != nil || res.Revision != 3 || image(t, c) != "reg/shop:3" {
				t.Fatalf("deploy: %+v, %v", res, err)
			}
			if !strings.Contains(progress.String(), tt.warn) {
				t.Errorf("progress lacks %q:\n%s", tt.warn, progress.String())
			}
			if rev, err := GetRevision(t.Context(), c, ns, "shop", 3); err != nil || rev.ChangeCause != tt.cause {
				t.Errorf("revision 3's cause: %v, %v; want %q", rev, err, tt.cause)
			}
		})
	}
}

// TestRecordStamps: every record written now says its format and writer,
// and reads back as such; one without them (written before) is format 1,
// read and acted on as before.
func TestRecordStamps(t *testing.T) {
	c := fake.NewClientset()
	startController(t, c)
	ctx := context.Background()
	deployOK(t, c, spec(t, "reg/shop:1", ""), 0)
	if _, err := Scale(t.Context(), c, &ChangeConfig{Options: opts(), App: "shop"}, 3); err != nil {
		t.Fatal(err)
	}
	if _, err := RunCanary(t.Context(), c, &Config{Options: opts(), App: spec(t, "reg/shop:2", "")}, CanaryShare{Count: 1}); err != nil {
		t.Fatal(err)
	}
	if _, err := Promote(t.Context(), c, &CanaryActionConfig{Options: opts(), App: "shop"}); err != nil {
		t.Fatal(err)
	}
	if _, err := Rollback(t.Context(), c, &RollbackConfig{Options: opts(), App: "shop", ToRevision: 1}); err != nil {
		t.Fatal(err)
	}
	want := "kubectl-zz " + version.Get().GitVersion
	for n := int64(1); n <= 5; n++ {
		s, err := c.CoreV1().Secrets(ns).Get(ctx, RecordName("shop", n), metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if f, by := s.Annotations[contract.AnnotationRecordFormat], s.Annotations[contract.AnnotationRecordedBy]; f != "2" || by != want {
			t.Errorf("record %d: format %q, recorded by %q; want 2, %q", n, f, by, want)
		}
	}
	hist, err := History(ctx, c, ns, "shop")
	if err != nil || len(hist) != 5 || hist[4].Format != RecordFormat || hist[4].RecordedBy != want || len(hist[4].NotUnderstood) != 0 {
		t.Fatalf("history: %+v, %v", hist, err)
	}
	// Written before the stamps: format 1, understood.
	editRecord(t, c, 5, func(s *corev1.Secret) {
		delete(s.Annotations, contract.AnnotationRecordFormat)
		delete(s.Annotations, contract.AnnotationRecordedBy)
	})
	if rev, err := GetRevision(ctx, c, ns, "shop", 5); err != nil || rev.Format != 1 || rev.RecordedBy != "" {
		t.Fatalf("unstamped record: %+v, %v", rev, err)
	}
	if res, err := Scale(t.Context(), c, &ChangeConfig{Options: opts(), App: "shop"}, 4); err != nil || res.Revision != 6 {
		t.Fatalf("scale of an unstamped record: %+v, %v", res, err)
	}
	// A format no kubectl-zz writes is an edit: the record is unreadable.
	editRecord(t, c, 6, func(s *corev1.Secret) { s.Annotations[contract.AnnotationRecordFormat] = "two" })
	if rev, err := GetRevision(ctx, c, ns, "shop", 6); err == nil || !strings.Contains(err.Error(), `annotation zz.io/record-format: "two" is no record format`) {
		t.Fatalf("record with a bad format: %+v, %v", rev, err)
	}
}

// TestFailedDeployOverANewerRecordNamesAWayBack: a deploy -f over a newest
// record this version cannot act on goes on (it renders from the file);
// when its rollout fails, the way back its error names is one this version
// takes. It named kubectl zz rollback shop, which refuses revision 2
// (review 17a, S3). The same for a deploy that follows a --wait=false
// rollout whose way back is such a record (notReady).
func TestFailedDeployOverANewerRecordNamesAWayBack(t *testing.T) {
	for _, tt := range []struct {
		name    string
		edit    func(*corev1.Secret)
		follows bool // revision 3 is recorded by a --wait=false deploy of the failing spec
	}{
		{name: "newer format", edit: newerFormat},
		{name: "unknown spec field", edit: unknownField},
		{name: "unreadable", edit: unreadable},
		{name: "newer format, following a --wait=false rollout", edit: newerFormat, follows: true},
		{name: "unknown spec field, following a --wait=false rollout", edit: unknownField, follows: true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := fake.NewClientset()
			ctl := startController(t, c)
			deployOK(t, c, spec(t, "reg/shop:1", ""), 0)
			deployOK(t, c, spec(t, "reg/shop:2", ""), 0)
			editRecord(t, c, 2, tt.edit)
			ctl.setStuck("reg/shop:3")
			o := opts()
			if tt.follows {
				o.NoWait = true
				if _, err := Run(t.Context(), c, &Config{Options: o, App: spec(t, "reg/shop:3", "")}); err != nil {
					t.Fatal(err)
				}
				o.NoWait = false
			}
			o.Timeout = 300 * time.Millisecond
			_, err := Run(t.Context(), c, &Config{Options: o, App: spec(t, "reg/shop:3", "")})
			if !errors.Is(err, ErrRolloutFailed) {
				t.Fatalf("want the rollout to fail, got %v", err)
			}
			const want = "kubectl zz rollback shop --to-revision 1 returns to revision 1 (1)"
			if !strings.Contains(err.Error(), want) {
				t.Fatalf("the failed deploy's error names no way back this version takes:\n%v\nwant %q", err, want)
			}
			ctl.mu.Lock()
			delete(ctl.stuck, "reg/shop:3")
			ctl.mu.Unlock()
			if _, err := Rollback(t.Context(), c, &RollbackConfig{Options: opts(), App: "shop", ToRevision: 1}); err != nil || image(t, c) != "reg/shop:1" {
				t.Errorf("the way back it names: %v, runs %s", err, image(t, c))
			}
		})
	}
}

// addObjectField returns an edit that adds field (a JSON object) at path
// to the recorded object of kind, as a newer renderer or k8s.io/api would
// write it.
func addObjectField(t *testing.T, kind string, path ...string) func(*corev1.Secret) {
	return func(s *corev1.Secret) {
		objs, err := decodeObjects(s.Data[objectsKey])
		if err != nil {
			t.Fatal(err)
		}
		var raws []map[string]any
		for _, o := range objs {
			b, _ := json.Marshal(o)
			var m map[string]any
			if err := json.Unmarshal(b, &m); err != nil {
				t.Fatal(err)
			}
			if m["kind"] == kind {
				at := m
				for _, p := range path[:len(path)-1] {
					at = at[p].(map[string]any)
				}
				at[path[len(path)-1]] = map[string]any{"on": true}
			}
			raws = append(raws, m)
		}
		b, _ := json.Marshal(raws)
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		if _, err := zw.Write(b); err != nil {
			t.Fatal(err)
		}
		zw.Close()
		s.Data[objectsKey] = buf.Bytes()
	}
}

// TestUnknownObjectFieldIsNotUnderstood: the recorded objects are read
// strictly, as the recorded spec is: a field this version's k8s.io/api
// does not know (a newer renderer's, a newer client-go's) makes the record
// one it does not understand whole, so rollback --to-revision refuses it,
// naming the field, where it re-applied the objects without it (review
// 17a, S2). The records this version writes read back whole.
func TestUnknownObjectFieldIsNotUnderstood(t *testing.T) {
	for _, tt := range []struct {
		name string
		edit func(t *testing.T) func(*corev1.Secret)
		want string // "" understood whole
	}{
		{name: "a pod field", edit: func(t *testing.T) func(*corev1.Secret) {
			return addObjectField(t, "Deployment", "spec", "template", "spec", "futurePodField")
		}, want: "Deployment shop's spec.template.spec.futurePodField"},
		{name: "a Service field", edit: func(t *testing.T) func(*corev1.Secret) {
			return addObjectField(t, "Service", "spec", "futureRouting")
		}, want: "Service shop's spec.futureRouting"},
		{name: "as this version records it", edit: func(*testing.T) func(*corev1.Secret) { return func(*corev1.Secret) {} }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := fake.NewClientset()
			startController(t, c)
			deployOK(t, c, spec(t, "reg/shop:1", front("auth")), 0)
			deployOK(t, c, spec(t, "reg/shop:2", ""), 0)
			editRecord(t, c, 1, tt.edit(t))
			rev, err := GetRevision(t.Context(), c, ns, "shop", 1)
			if err != nil {
				t.Fatal(err)
			}
			if tt.want == "" {
				if len(rev.NotUnderstood) > 0 {
					t.Errorf("a record this version wrote: NotUnderstood = %q, want none", rev.NotUnderstood)
				}
				return
			}
			if !slices.Contains(rev.NotUnderstood, tt.want) {
				t.Errorf("NotUnderstood = %q, want %q", rev.NotUnderstood, tt.want)
			}
			_, err = Rollback(t.Context(), c, &RollbackConfig{Options: opts(), App: "shop", ToRevision: 1})
			if !errors.Is(err, ErrNewerRecord) || !strings.Contains(err.Error(), "holds "+tt.want+", which this version does not know") {
				t.Fatalf("rollback --to-revision 1: %v\nwant it refused, naming %s", err, tt.want)
			}
			if img := image(t, c); img != "reg/shop:2" {
				t.Errorf("the refused rollback runs %s", img)
			}
		})
	}
}
