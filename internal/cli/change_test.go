package cli

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/utils/ptr"

	"github.com/zzcloud/zz/internal/deploy"
)

func TestChangeFlags(t *testing.T) {
	zz := withFakeClusters(t, fakeClient(), fakeClient())
	tests := []struct {
		args    []string
		wantErr string
	}{
		{args: []string{"scale", "shop"}, wantErr: "--replicas is required: kubectl zz scale shop --replicas N"},
		{args: []string{"scale", "shop", "--replicas", "-1"}, wantErr: "--replicas must be 0 or more"},
		{args: []string{"scale", "--replicas", "2"}, wantErr: "an app name is required (kubectl zz list shows the apps); usage: kubectl zz scale APP --replicas N [flags]"},
		{args: []string{"scale", "shop", "5"}, wantErr: "one app name is expected, got 2 arguments (shop 5); usage: kubectl zz scale APP --replicas N [flags]"},
		{args: []string{"rollback", "shop", "2"}, wantErr: "got 2 arguments (shop 2); usage: kubectl zz rollback APP"},
		{args: []string{"promote"}, wantErr: "an app name is required"},
		{args: []string{"events", "shop", "web"}, wantErr: "at most one app name is expected, got 2 arguments (shop web); without one, every app of the namespace is shown"},
		{args: []string{"logs", "shop", "app.zz.io/web"}, wantErr: "at most one app name is expected, got 2 arguments (shop app.zz.io/web); without one, -l or --pod says whose logs; several apps: -l 'zz.io/app in (shop, web)'"},
		{args: []string{"restart", "shop", "--timeout", "0s"}, wantErr: "--timeout must be positive"},
		{args: []string{"restart", "shop"}, wantErr: "shop has no recorded revisions in namespace ns-a; deploy it with kubectl zz deploy first"},
		{args: []string{"scale", "shop", "--replicas", "2", "--context", "a,b"}, wantErr: "failed in 2 of 2 contexts"},
		{args: []string{"diff", "shop"}, wantErr: "shop has no recorded revisions in namespace ns-a"},
		{args: []string{"diff", "shop", "--revision", "-1"}, wantErr: "--revision must be positive, got -1"},
		{args: []string{"history", "shop", "--revision", "2", "-o", "wide"}, wantErr: "--revision prints objects"},
		{args: []string{"delete", "shop"}, wantErr: "refusing to delete shop without confirmation: stdin is not a terminal; add --yes"},
		{args: []string{"delete", "shop", "--yes"}, wantErr: "no app shop in namespace ns-a"},
		{args: []string{"deploy", "--name", "shop", "--type", "web", "--image", "r/shop:1", "--dry-run=server"}, wantErr: `"server" is not this command's dry run: --diff dry-runs the apply on the server`},
		{args: []string{"delete", "shop", "--dry-run=maybe"}, wantErr: `"maybe": use "none" or "client" (bare --dry-run is "client")`},
		// Only what the command takes: deploy listed "server", then refused it.
		{args: []string{"deploy", "--name", "shop", "--type", "web", "--image", "r/shop:1", "--dry-run=sever"}, wantErr: `"sever": use "none" or "client" (bare --dry-run is "client")`},
		{args: []string{"gpu", "cordon", "gpu-1", "0", "--dry-run=true", "--dry-run=false", "--dry-run=bogus"}, wantErr: `"bogus": use "none", "client" or "server" (bare --dry-run is "client")`},
		{args: []string{"scale", "shop", "--replicas", "2", "--dry-run=bogus"}, wantErr: `"bogus": use "none", "client" or "server" (bare --dry-run is "server")`},
		{args: []string{"status", "shop", "-l", "a=b"}, wantErr: "--selector picks apps; with the apps named (shop), drop it"},
		{args: []string{"list", "-l", "a=(b"}, wantErr: `--selector "a=(b"`},
		{args: []string{"rebalance", "--dry-run", "shop"}, wantErr: `rebalance takes no arguments, got "shop"; it plans over nodes`},
		{args: []string{"logs", "shop", "--since", "-5m"}, wantErr: "--since must be positive (how far back, e.g. 5m), got -5m0s"},
		{args: []string{"list", "shop"}, wantErr: `list takes no app name, got "shop"; kubectl zz status shop shows one app`},
		{args: []string{"promote", "shop"}, wantErr: "no app shop in namespace ns-a; kubectl zz list shows the apps there"},
		{args: []string{"abort", "shop"}, wantErr: "no app shop in namespace ns-a"},
		{args: []string{"restart", "shop", "-o", "wide"}, wantErr: `--output "wide" is for tables`},
		{args: []string{"rollback", "shop", "-o", "xml"}, wantErr: `--output "xml" is not supported`},
		{args: []string{"promote", "shop", "-o", "table"}, wantErr: `--output "table" is not supported`},
		{args: []string{"deploy", "--name", "shop", "--type", "web", "--image", "r/shop:1", "--diff", "-o", "json"}, wantErr: "--diff prints a diff: drop --output"},
		{args: []string{"scale", "shop", "--replicas", "4", "--dry-run=server", "-o", "yaml"}, wantErr: "--diff (and --dry-run, which is it here) prints a diff: drop --output"},
		{args: []string{"deploy", "--name", "shop", "--type", "web", "--image", "r/shop:1", "--wait=false", "--rollback-on-failure"},
			wantErr: "--rollback-on-failure acts on the rollout's outcome, which --wait=false does not wait for"},
		// What promote and abort remove must outlive the rollout.
		{args: []string{"promote", "shop", "--wait=false"}, wantErr: "unknown flag: --wait"},
		// promote and abort --diff (an audit: they had none), as the others'.
		{args: []string{"promote", "shop", "--diff", "-o", "json"}, wantErr: "--diff (and --dry-run, which is it here) prints a diff: drop --output"},
		{args: []string{"abort", "shop", "--dry-run", "-o", "name"}, wantErr: "--diff (and --dry-run, which is it here) prints a diff: drop --output"},
		{args: []string{"abort", "shop", "--diff"}, wantErr: "no app shop in namespace ns-a; kubectl zz list shows the apps there"},
		// Neither flag unsets the other (a code review: --diff --dry-run=none ran the real command).
		{args: []string{"promote", "shop", "--diff", "--dry-run=none", "-o", "json"}, wantErr: "--diff (and --dry-run, which is it here) prints a diff: drop --output"},
		{args: []string{"scale", "shop", "--replicas", "4", "--dry-run", "--diff=false", "-o", "json"}, wantErr: "--diff (and --dry-run, which is it here) prints a diff: drop --output"},
		{args: []string{"promote", "shop", "--dry-run=client", "--context", "a,b"}, wantErr: "context b: no app shop in namespace ns-b"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			if _, _, err := zz(tt.args...); err == nil || !strings.Contains(err.Error(), tt.wantErr) || strings.Contains(err.Error(), "revision not found") {
				t.Fatalf("err = %v, want %q (and no sentinel's words)", err, tt.wantErr)
			}
		})
	}
}

// TestNoWaitCommands: --wait=false returns once applied and recorded, and
// says how to follow the rollout; nothing here would ever become ready.
func TestNoWaitCommands(t *testing.T) {
	zz := withFakeClusters(t, fakeClient(), fakeClient())
	out, _, err := zz("deploy", "--name", "shop", "--type", "web", "--image", "r/shop:1", "--wait=false", "--timeout", "1h")
	if err != nil || !strings.Contains(out, "shop 1 deployed as revision 1 in namespace ns-a; its rollout goes on (--wait=false): the same command without --wait=false waits for it (exit 1 if it fails), kubectl zz status -w shop -n ns-a watches it") {
		t.Fatalf("deploy --wait=false: %v\n%s", err, out)
	}
	out, _, err = zz("deploy", "--name", "shop", "--type", "web", "--image", "r/shop:1", "--wait=false")
	if err != nil || !strings.Contains(out, "shop 1 unchanged: revision 1 is it already in namespace ns-a (nothing applied or recorded); its rollout goes on") {
		t.Fatalf("deploy --wait=false of the same spec mid-rollout: %v\n%s", err, out)
	}
	out, _, err = zz("scale", "shop", "--replicas", "3", "--wait=false")
	if err != nil || !strings.Contains(out, "shop scaled to 3, recorded as revision 2 in namespace ns-a; its rollout goes on") {
		t.Fatalf("scale --wait=false: %v\n%s", err, out)
	}
	// A restart again would replace the pods again: the gate restores
	// the revision it recorded, which follows its rollout.
	out, _, err = zz("restart", "shop", "--wait=false")
	if err != nil || !strings.Contains(out, "shop restarted, recorded as revision 3 in namespace ns-a; its rollout goes on (--wait=false): kubectl zz rollback shop --to-revision 3 waits for it") {
		t.Fatalf("restart --wait=false: %v\n%s", err, out)
	}
	if _, _, err := zz("restart", "shop", "--timeout", "200ms"); err == nil || !strings.Contains(err.Error(), "not ready after 200ms") {
		t.Fatalf("restart waits by default: %v", err)
	}
	// At 0 replicas no pod restarts: nothing applied or recorded, exit 0
	// (an app-developer audit saw a revision recorded for nothing).
	if _, _, err := zz("scale", "shop", "--replicas", "0", "--wait=false"); err != nil {
		t.Fatal(err)
	}
	out, _, err = zz("restart", "shop", "--wait=false")
	if err != nil || !strings.Contains(out, "shop unchanged: it runs 0 replicas in namespace ns-a, no pod to restart (nothing applied or recorded; kubectl zz scale shop --replicas N starts new ones)") {
		t.Fatalf("restart at 0 replicas: %v\n%s", err, out)
	}
	// With -o the App read back is the same document as a real deploy's:
	// the unchanged line goes to stderr, as --diff's "no changes" does.
	zz = withFakeClusters(t, fakeClient(), fakeClient())
	if _, _, err := zz("deploy", "--name", "shop", "--type", "web", "--image", "r/shop:1", "--wait=false"); err != nil {
		t.Fatal(err)
	}
	out, errOut, err := zz("deploy", "--name", "shop", "--type", "web", "--image", "r/shop:1", "--wait=false", "-o", "name")
	if err != nil || out != "app.zz.io/shop\n" || !strings.Contains(errOut, "shop 1 unchanged: revision 1 is it already in namespace ns-a (nothing applied or recorded)") {
		t.Fatalf("deploy -o name of the same spec: %v\nstdout %q\nstderr %q", err, out, errOut)
	}
}

func TestDeleteCommand(t *testing.T) {
	a := fakeClient(fakeDeployment("ns-a", "shop", "shop", "1", 2, 2), revisionSecret(t, "ns-a", "shop", 1, "1", "alice", "deploy 1", time.Now()))
	b := fakeClient(fakeDeployment("ns-b", "shop", "shop", "1", 2, 2), revisionSecret(t, "ns-b", "shop", 3, "1", "alice", "deploy 1", time.Now()))
	zz := withFakeClusters(t, a, b)

	out, _, err := zz("delete", "shop", "--dry-run", "--context", "a,b")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"shop in context a, namespace ns-a: would delete Deployment/shop, Secret/zz.shop.r1", "shop in context b, namespace ns-b: would delete Deployment/shop, Secret/zz.shop.r3"} {
		if !strings.Contains(out, want) {
			t.Errorf("dry run lacks %q:\n%s", want, out)
		}
	}
	if _, err := a.AppsV1().Deployments("ns-a").Get(t.Context(), "shop", metav1.GetOptions{}); err != nil {
		t.Fatalf("--dry-run deleted: %v", err)
	}

	// On a terminal: asks, and only "y" deletes.
	old := stdinIsTerminal
	t.Cleanup(func() { stdinIsTerminal, fakeStdin = old, "" })
	stdinIsTerminal = func(any) bool { return true }
	for _, answer := range []string{"n\n", "", "shop\n"} {
		fakeStdin = answer
		if _, stderr, err := zz("delete", "shop"); err == nil || !strings.Contains(err.Error(), "not confirmed; nothing deleted") || !strings.Contains(stderr, "Delete shop? [y/N]") {
			t.Fatalf("answer %q: err = %v, stderr %s", answer, err, stderr)
		}
	}
	if _, err := a.AppsV1().Deployments("ns-a").Get(t.Context(), "shop", metav1.GetOptions{}); err != nil {
		t.Fatalf("deleted without a yes: %v", err)
	}
	fakeStdin = "y\n"
	if out, _, err := zz("delete", "shop"); err != nil || !strings.Contains(out, "shop deleted from namespace ns-a (1 object and 1 revision record)") {
		t.Fatalf("delete: %v\n%s", err, out)
	}
	if _, err := a.AppsV1().Deployments("ns-a").Get(t.Context(), "shop", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("Deployment after delete: %v", err)
	}
	if _, err := a.CoreV1().Secrets("ns-a").Get(t.Context(), "zz.shop.r1", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("revision record after delete: %v", err)
	}
	if _, err := b.AppsV1().Deployments("ns-b").Get(t.Context(), "shop", metav1.GetOptions{}); err != nil {
		t.Fatalf("delete in context a touched b: %v", err)
	}
	// Again: gone is a failure, unless --ignore-not-found (a teardown run twice).
	if _, _, err := zz("delete", "shop", "--yes"); err == nil || !strings.Contains(err.Error(), "no app shop in namespace ns-a") {
		t.Fatalf("a second delete: %v", err)
	}
	if out, stderr, err := zz("delete", "shop", "--yes", "--ignore-not-found"); err != nil || out != "" || !strings.Contains(stderr, "shop: nothing to delete in namespace ns-a (--ignore-not-found)") {
		t.Fatalf("a second delete --ignore-not-found: %v\n%s\n%s", err, out, stderr)
	}
	// Nothing to delete needs no answer, even where none can be given.
	stdinIsTerminal = func(any) bool { return false }
	if _, stderr, err := zz("delete", "shop", "--ignore-not-found"); err != nil || !strings.Contains(stderr, "nothing to delete") {
		t.Fatalf("delete --ignore-not-found of a gone app, no terminal, no --yes: %v\n%s", err, stderr)
	}
	stdinIsTerminal = func(any) bool { return true }

	// --keep-history: the records stay, and status says how to bring the
	// app back.
	out, stderr, err := zz("delete", "shop", "--context", "b", "--yes", "--keep-history")
	if err != nil || !strings.Contains(stderr, "shop in context b, namespace ns-b: deleting Deployment/shop\n  and keep its history, revisions 3 (kubectl zz rollback shop brings revision 3 back)") ||
		!strings.Contains(out, "shop deleted from context b, namespace ns-b (1 object); kept revisions 3 (kubectl zz rollback shop brings revision 3 back)") {
		t.Fatalf("delete --keep-history: %v\n%s\n%s", err, out, stderr)
	}
	if _, err := b.CoreV1().Secrets("ns-b").Get(t.Context(), "zz.shop.r3", metav1.GetOptions{}); err != nil {
		t.Fatalf("revision record after delete --keep-history: %v", err)
	}
	if out, _, err := zz("status", "shop", "--context", "b"); err != nil || !strings.Contains(out, "shop is Missing: its Deployment is gone and its history is kept; kubectl zz rollback shop brings revision 3 back") {
		t.Fatalf("status after delete --keep-history: %v\n%s", err, out)
	}
}

// TestDeleteSeveral: delete takes several apps, as kubectl delete a b:
// one question for all, each found deleted, one not found (or locked) an
// error after the others, exit 1; a name given twice is one app.
func TestDeleteSeveral(t *testing.T) {
	now := metav1.NewMicroTime(time.Now())
	a := fakeClient(fakeDeployment("ns-a", "shop", "shop", "1", 2, 2), revisionSecret(t, "ns-a", "shop", 1, "1", "alice", "deploy 1", time.Now()),
		fakeDeployment("ns-a", "cart", "cart", "1", 1, 1), revisionSecret(t, "ns-a", "cart", 2, "1", "alice", "deploy 1", time.Now()),
		fakeDeployment("ns-a", "busy", "busy", "1", 1, 1), revisionSecret(t, "ns-a", "busy", 1, "1", "alice", "deploy 1", time.Now()),
		&coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: deploy.LockName("busy"), Namespace: "ns-a"},
			Spec: coordinationv1.LeaseSpec{HolderIdentity: ptr.To("bob (kubectl zz deploy)"), LeaseDurationSeconds: ptr.To(int32(60)), AcquireTime: &now, RenewTime: &now}})
	zz := withFakeClusters(t, a, fakeClient())
	gone := func(name string) bool {
		_, err := a.AppsV1().Deployments("ns-a").Get(t.Context(), name, metav1.GetOptions{})
		return apierrors.IsNotFound(err)
	}

	old := stdinIsTerminal
	t.Cleanup(func() { stdinIsTerminal, fakeStdin = old, "" })
	stdinIsTerminal = func(any) bool { return true }
	fakeStdin = "n\n"
	_, stderr, err := zz("delete", "shop", "app/cart", "shop", "nothere", "busy")
	if err == nil || !strings.Contains(stderr, "Delete shop, cart? [y/N]") || !strings.Contains(stderr, "not deleted: ") || !strings.Contains(stderr, "no app nothere") {
		t.Fatalf("one question for the apps found, the others said before it: %v\n%s", err, stderr)
	}
	if gone("shop") || gone("cart") {
		t.Fatal("deleted without a yes")
	}

	out, stderr, err := zz("delete", "shop", "cart", "nothere", "busy", "--yes")
	if err == nil || !strings.Contains(err.Error(), "no app nothere") || !strings.Contains(err.Error(), "busy is being changed by bob") {
		t.Fatalf("the missing and the locked app are errors: %v", err)
	}
	if !strings.Contains(out, "shop deleted from namespace ns-a") || !strings.Contains(out, "cart deleted from namespace ns-a") || !strings.Contains(stderr, "cart in namespace ns-a: deleting Deployment/cart") {
		t.Fatalf("the apps found are deleted:\n%s\n%s", out, stderr)
	}
	if !gone("shop") || !gone("cart") || gone("busy") {
		t.Fatalf("after delete: shop gone %v, cart gone %v, busy gone %v", gone("shop"), gone("cart"), gone("busy"))
	}
	if _, _, err := zz("delete", "shop", "cart", "--yes", "--ignore-not-found"); err != nil {
		t.Fatalf("a teardown run twice: %v", err)
	}

	stdinIsTerminal = func(any) bool { return false }
	if _, _, err := zz("delete", "busy", "other"); err == nil || !strings.Contains(err.Error(), "refusing to delete busy, other without confirmation") {
		t.Fatalf("no terminal, no --yes: %v", err)
	}
}

// TestDeleteGoesOnPastAFailure: a failed delete of one app (etcd timing
// out) leaves the others going, as kubectl delete a b does, and the error
// names the app that failed (a code review: the loop stopped at the first).
func TestDeleteGoesOnPastAFailure(t *testing.T) {
	a := fakeClient(fakeDeployment("ns-a", "shop", "shop", "1", 2, 2), revisionSecret(t, "ns-a", "shop", 1, "1", "alice", "deploy 1", time.Now()),
		fakeDeployment("ns-a", "cart", "cart", "1", 1, 1), revisionSecret(t, "ns-a", "cart", 2, "1", "alice", "deploy 1", time.Now()))
	a.PrependReactor("delete", "deployments", func(act k8stesting.Action) (bool, runtime.Object, error) {
		if d := act.(k8stesting.DeleteActionImpl); d.Name == "shop" && len(d.DeleteOptions.DryRun) == 0 {
			return true, nil, errors.New("etcdserver: request timed out")
		}
		return false, nil, nil
	})
	zz := withFakeClusters(t, a, fakeClient())
	out, _, err := zz("delete", "shop", "cart", "--yes")
	if err == nil || !strings.Contains(err.Error(), "shop: delete Deployment/shop of shop (deleted so far: nothing): etcdserver: request timed out") {
		t.Errorf("the error names shop's failed delete: %v", err)
	}
	if _, gerr := a.AppsV1().Deployments("ns-a").Get(t.Context(), "cart", metav1.GetOptions{}); !apierrors.IsNotFound(gerr) || !strings.Contains(out, "cart deleted from namespace ns-a") {
		t.Errorf("cart, found and confirmed, is deleted past shop's failure: %v\n%s", gerr, out)
	}
}

// TestResultOutput: -o of the commands that change an app prints, once all
// clusters are done, the apps read back in --context order (whichever
// cluster finished first), so a script reads the revision recorded; without
// -o each success is its line; a table format is refused.
func TestResultOutput(t *testing.T) {
	recent := time.Now().Add(-time.Minute)
	a := target{context: "a", name: "a", namespace: "ns-a", client: fakeClient(fakeDeployment("ns-a", "shop", "shop", "2.0", 3, 3),
		revisionSecret(t, "ns-a", "shop", 4, "2.0", "alice", "scale to 3", recent))}
	b := target{context: "b", name: "b", namespace: "ns-b", client: fakeClient(fakeDeployment("ns-b", "shop", "shop", "2.0", 2, 2),
		revisionSecret(t, "ns-b", "shop", 9, "2.0", "carol", "scale to 2", recent))}
	targets := []target{a, b}

	r := resultOutput{format: "jsonpath={range .items[*]}{.cluster} {.metadata.namespace} {.revision} {.health}{\"\\n\"}{end}"}
	if err := r.validate(); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	for _, tg := range []target{b, a} {
		if err := r.done(t.Context(), &out, tg, true, "shop", "line"); err != nil {
			t.Fatal(err)
		}
	}
	if out.Len() != 0 {
		t.Errorf("printed before every cluster was done: %q", out.String())
	}
	if err := r.flush(&out, targets, nil); err != nil {
		t.Fatal(err)
	}
	if want := "a ns-a 4 Ready\nb ns-b 9 Ready\n"; out.String() != want {
		t.Errorf("-o jsonpath printed %q, want %q", out.String(), want)
	}

	// One cluster failed: what was done is printed, and the error stays.
	r = resultOutput{format: "name"}
	if err := r.validate(); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if err := r.done(t.Context(), &out, a, false, "shop", "line"); err != nil {
		t.Fatal(err)
	}
	failed := errors.New("failed in 1 of 2 contexts")
	if err := r.flush(&out, targets, failed); !errors.Is(err, failed) || out.String() != "app.zz.io/shop\n" {
		t.Errorf("flush = %v, printed %q", err, out.String())
	}

	// Unchanged: with -o the line goes to stderr beside the App (the same
	// document a real change prints); without, it is the line on stdout.
	for _, tc := range []struct{ format, out, progress string }{
		{"name", "app.zz.io/shop\n", "shop unchanged (nothing applied or recorded)\n"},
		{"", "shop unchanged (nothing applied or recorded)\n", ""},
	} {
		r = resultOutput{format: tc.format}
		if err := r.validate(); err != nil {
			t.Fatal(err)
		}
		var out, progress bytes.Buffer
		if err := r.unchanged(t.Context(), &out, &progress, a, false, "shop", "shop unchanged (nothing applied or recorded)"); err != nil {
			t.Fatal(err)
		}
		if err := r.flush(&out, targets, nil); err != nil || out.String() != tc.out || progress.String() != tc.progress {
			t.Errorf("-o %q unchanged: %v, stdout %q, stderr %q; want %q, %q", tc.format, err, out.String(), progress.String(), tc.out, tc.progress)
		}
	}

	// No -o: the line, at once.
	r = resultOutput{}
	out.Reset()
	if err := r.done(t.Context(), &out, a, false, "shop", "shop scaled to 3, recorded as revision 4 in namespace ns-a"); err != nil {
		t.Fatal(err)
	}
	if err := r.flush(&out, targets, nil); err != nil || out.String() != "shop scaled to 3, recorded as revision 4 in namespace ns-a\n" {
		t.Errorf("flush = %v, printed %q", err, out.String())
	}

	for _, bad := range []string{"wide", "xml"} {
		r = resultOutput{format: bad}
		if err := r.validate(); err == nil || !strings.Contains(err.Error(), "--output") {
			t.Errorf("-o %s: %v", bad, err)
		}
	}
}

// TestResultOutputSharesTheJudge: with -o, the command on a target keeps
// its verdicts in the judge its read back uses (one per target), so an
// unchanged deploy's dry runs are not asked again for -o
// (deploy.TestStatusAfterUnchangedAsksNoDryRunAgain counts them); without
// -o nothing is read back and no judge is kept.
func TestResultOutputSharesTheJudge(t *testing.T) {
	a, b := target{name: "a", namespace: "ns-a"}, target{name: "b", namespace: "ns-b"}
	for _, tc := range []struct {
		format string
		kept   bool
	}{{"json", true}, {"name", true}, {"", false}} {
		f := rolloutFlags{result: resultOutput{format: tc.format}}
		if err := f.result.validate(); err != nil {
			t.Fatal(err)
		}
		ja, jb := f.options(a, io.Discard, false).Judge, f.options(b, io.Discard, false).Judge
		if kept := ja != nil; kept != tc.kept || ja != f.result.judge(a) || (kept && (jb == nil || jb == ja)) {
			t.Errorf("-o %q: judges a %p (read back with %p), b %p; want kept %v, one a target", tc.format, ja, f.result.judge(a), jb, tc.kept)
		}
	}
}

// TestExitCode: a command that diffs exits 2 on any error, a flag's too,
// since its 1 means "differs"; others exit 1.
func TestExitCode(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want int
	}{
		{[]string{"diff", "shop"}, 2},
		{[]string{"diff", "shop", "--revision", "abc"}, 2},
		{[]string{"diff", "shop", "--revision", "1", "--bogus"}, 2},
		{[]string{"deploy", "-f", "/nonexistent.yaml", "--diff"}, 2},
		{[]string{"rollback", "shop", "--diff", "--to-revision", "x"}, 2},
		// scale's and restart's --dry-run is their --diff (an audit: a
		// typo in it exited 1, "would change").
		{[]string{"scale", "shop", "--replicas", "3", "--dry-run=sever"}, 2},
		{[]string{"scale", "shop", "--dry-run", "--replicas", "x"}, 2},
		{[]string{"scale", "shop", "--replicas", "x", "--dry-run"}, 2},
		{[]string{"scale", "shop", "--replicas", "x", "--dry-run=client"}, 2},
		{[]string{"restart", "shop", "--dry-run", "--bogus"}, 2},
		{[]string{"restart", "shop", "--bogus", "--dry-run=server"}, 2},
		{[]string{"restart", "shop", "--dry-run=none", "--bogus"}, 1},
		{[]string{"restart", "shop", "--bogus", "--dry-run=false"}, 1},
		{[]string{"scale", "shop", "--replicas", "x"}, 1},
		{[]string{"delete", "shop", "--dry-run=sever"}, 1}, // delete's --dry-run lists, it does not diff
		{[]string{"promote", "shop", "--dry-run=sever"}, 2},
		{[]string{"abort", "shop", "--diff", "--bogus"}, 2},
		{[]string{"abort", "shop", "--bogus", "--dry-run"}, 2},
		{[]string{"promote", "shop", "--bogus"}, 1},
		{[]string{"deploy", "-f", "/nonexistent.yaml"}, 1},
		{[]string{"status", "--bogus"}, 1},
		{[]string{"completion", "tcsh"}, 1}, // as kubectl: an unsupported shell is an error
		{[]string{"completion"}, 1},
	} {
		root := NewCmdZZ(genericiooptions.IOStreams{In: strings.NewReader(""), Out: io.Discard, ErrOut: io.Discard})
		root.SetArgs(append([]string{"--kubeconfig", "/nonexistent"}, tc.args...))
		cmd, err := root.ExecuteC()
		if got := exitCode(cmd, err, tc.args); err == nil || got != tc.want {
			t.Errorf("kubectl zz %v: %v, exit %d; want %d", tc.args, err, got, tc.want)
		}
	}
}

// TestDeleteWhileLocked: a delete while another command holds the app's
// lock is refused before its plan and question, naming the holder.
func TestDeleteWhileLocked(t *testing.T) {
	now := metav1.NewMicroTime(time.Now())
	a := fakeClient(fakeDeployment("ns-a", "shop", "shop", "1", 2, 2), revisionSecret(t, "ns-a", "shop", 1, "1", "alice", "deploy 1", time.Now()),
		&coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: deploy.LockName("shop"), Namespace: "ns-a"},
			Spec: coordinationv1.LeaseSpec{HolderIdentity: ptr.To("bob (kubectl zz deploy)"), LeaseDurationSeconds: ptr.To(int32(60)), AcquireTime: &now, RenewTime: &now}})
	zz := withFakeClusters(t, a, fakeClient())
	_, stderr, err := zz("delete", "shop", "--yes")
	if !errors.Is(err, deploy.ErrLocked) || !strings.Contains(err.Error(), "shop is being changed by bob (kubectl zz deploy)") || strings.Contains(stderr, "deleting") {
		t.Fatalf("delete beside a held lock: %v\n%s", err, stderr)
	}
	if _, err := a.AppsV1().Deployments("ns-a").Get(t.Context(), "shop", metav1.GetOptions{}); err != nil {
		t.Fatalf("deleted beside the lock: %v", err)
	}
	if out, _, err := zz("delete", "shop", "--dry-run"); err != nil || !strings.Contains(out, "would delete") {
		t.Errorf("--dry-run beside the lock: %v\n%s", err, out)
	}
}

// TestDiffTargets: a --diff over several clusters goes on past one that
// fails, prints each cluster's header only above its diff, and exits 2
// naming every failed cluster (2 beats 1); one cluster gets no header.
func TestDiffTargets(t *testing.T) {
	type result struct {
		out     string
		changed bool
		err     error
	}
	for _, tc := range []struct {
		name       string
		results    map[string]result // by context
		contexts   []string
		wantOut    string
		wantCode   int // 0: nil error
		wantErr    []string
		wantStderr string
	}{
		{name: "one, differs", contexts: []string{"a"}, results: map[string]result{"a": {out: "-x\n+y\n", changed: true}},
			wantOut: "-x\n+y\n", wantCode: 1},
		{name: "first fails, second diffed", contexts: []string{"a", "b"},
			results: map[string]result{"a": {err: errors.New("shop has no recorded revisions")}, "b": {out: "-x\n+y\n", changed: true}},
			wantOut: "# context b, namespace ns-b\n-x\n+y\n", wantCode: 2, wantErr: []string{"context a: shop has no recorded revisions"}},
		{name: "both fail", contexts: []string{"a", "b"},
			results:  map[string]result{"a": {err: errors.New("one")}, "b": {err: errors.New("two")}},
			wantCode: 2, wantErr: []string{"context a: one", "context b: two"}},
		{name: "fails after a line: header kept above it", contexts: []string{"a", "b"},
			results: map[string]result{"a": {out: "-x\n", err: errors.New("external diff: exit 3")}, "b": {}},
			wantOut: "# context a, namespace ns-a\n-x\n", wantCode: 2, wantErr: []string{"context a: external diff: exit 3"},
			wantStderr: "shop: no changes in namespace ns-b\n"},
		{name: "no changes anywhere", contexts: []string{"a", "b"}, results: map[string]result{"a": {}, "b": {}},
			wantStderr: "shop: no changes in namespace ns-a\nshop: no changes in namespace ns-b\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var targets []target
			for _, c := range tc.contexts {
				targets = append(targets, target{context: c, name: c, namespace: "ns-" + c})
			}
			streams, _, out, errOut := genericiooptions.NewTestIOStreams()
			err := diffTargets(context.Background(), targets, streams, "shop", func(t target, w io.Writer) (bool, error) {
				r := tc.results[t.context]
				_, _ = io.WriteString(w, r.out)
				return r.changed, r.err
			})
			if out.String() != tc.wantOut || errOut.String() != tc.wantStderr {
				t.Errorf("stdout %q, stderr %q; want %q, %q", out, errOut, tc.wantOut, tc.wantStderr)
			}
			if got := exitCode(nil, err, nil); (err == nil) != (tc.wantCode == 0) || err != nil && got != tc.wantCode {
				t.Fatalf("error %v (exit %d), want exit %d", err, got, tc.wantCode)
			}
			for _, w := range tc.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}
