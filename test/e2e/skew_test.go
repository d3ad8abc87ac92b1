package e2e

import (
	"encoding/json"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/zzcloud/zz/internal/contract"
	"github.com/zzcloud/zz/internal/deploy"
	"github.com/zzcloud/zz/internal/version"
)

// TestSkewNewerRecord: a record stamped as a newer kubectl-zz writes it (a
// format above this one's and a spec field this one does not know, patched
// in with cluster-admin) makes scale and rollback refuse, naming the
// revision, the writer, the field and the upgrade, while status and
// history still read it and note it; and a newest record that cannot be
// read makes scale refuse instead of rolling the running image back to
// the revision before it (a version-skew audit: "scaled to 3" with the
// old image running).
func TestSkewNewerRecord(t *testing.T) {
	ns := cluster.Namespace(t, nil)
	mustZZ(t, ns, "deploy", "-f", shopSpec(t, "1.0", "one", 8080, ""), "--timeout", "90s")
	mustZZ(t, ns, "deploy", "-f", shopSpec(t, "1.1", "one", 8080, ""), "--timeout", "90s")
	secrets := cluster.Client.CoreV1().Secrets(ns)
	rec, err := secrets.Get(t.Context(), deploy.RecordName("shop", 2), metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if f, by := rec.Annotations[contract.AnnotationRecordFormat], rec.Annotations[contract.AnnotationRecordedBy]; f != "2" || by != "kubectl-zz "+version.Get().GitVersion {
		t.Fatalf("record 2 is stamped format %q by %q", f, by)
	}
	var spec map[string]any
	if err := json.Unmarshal(rec.Data["spec.json"], &spec); err != nil {
		t.Fatal(err)
	}
	spec["spec"].(map[string]any)["futureAuth"] = map[string]any{"mode": "mtls"}
	rec.Data["spec.json"], _ = json.Marshal(spec)
	rec.Annotations[contract.AnnotationRecordFormat] = "3"
	rec.Annotations[contract.AnnotationRecordedBy] = "kubectl-zz v9.9.9"
	if rec, err = secrets.Update(t.Context(), rec, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}

	for _, args := range [][]string{{"scale", "shop", "--replicas", "3"}, {"rollback", "shop"}, {"restart", "shop"}} {
		_, _, err := zz(t, ns, append(args, "--timeout", "60s")...)
		for _, want := range []string{"revision 2 of shop was recorded by kubectl-zz v9.9.9 (record format 3;", "reads up to 2) and holds spec.futureAuth, which this version does not know: upgrade kubectl-zz (kubectl krew upgrade zz)"} {
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("%s over a newer record: %v; want it to say %q", args[0], err, want)
			}
		}
	}
	if out := mustZZ(t, ns, "status", "shop"); !strings.Contains(out, "revision 2 of shop was recorded by kubectl-zz v9.9.9 (record format 3;") {
		t.Errorf("status lacks the note:\n%s", out)
	}
	out, stderr, err := zz(t, ns, "history", "shop")
	if err != nil || !strings.Contains(out, "deploy 1.1") || !strings.Contains(stderr, "note: revision 2 of shop was recorded by kubectl-zz v9.9.9") {
		t.Errorf("history: %v\n%s\n%s", err, out, stderr)
	}
	if out, _, err := zz(t, ns, "history", "shop", "--spec"); err != nil || !strings.Contains(out, "futureAuth") {
		t.Errorf("history --spec drops the unknown field: %v\n%s", err, out)
	}
	checkApp(t, ns, "1.1", "one", 8080)
	if revs := history(t, ns); len(revs) != 2 {
		t.Fatalf("a refused command recorded a revision: %d", len(revs))
	}

	// Unreadable now (its objects under a key this version does not read,
	// as a newer layout would put them): scale refuses, 1.1 keeps running.
	rec.Data["objects.v3.json.gz"] = rec.Data["objects.json.gz"]
	delete(rec.Data, "objects.json.gz")
	delete(rec.Annotations, contract.AnnotationRecordFormat)
	if _, err := secrets.Update(t.Context(), rec, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	_, _, err = zz(t, ns, "scale", "shop", "--replicas", "3", "--timeout", "60s")
	for _, want := range []string{"revision 2 of shop, the latest, cannot be read", "kubectl zz rollback shop --to-revision 1 returns to revision 1"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("scale over an unreadable newest record: %v; want it to say %q", err, want)
		}
	}
	checkApp(t, ns, "1.1", "one", 8080)
	d, err := cluster.Client.AppsV1().Deployments(ns).Get(t.Context(), "shop", metav1.GetOptions{})
	if err != nil || *d.Spec.Replicas != 2 {
		t.Errorf("the refused scale changed the replicas: %v", err)
	}
	// The way out it names.
	mustZZ(t, ns, "rollback", "shop", "--to-revision", "1", "--timeout", "90s")
	checkApp(t, ns, "1.0", "one", 8080)
}
