package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/zzcloud/zz/internal/contract"
	"github.com/zzcloud/zz/internal/deploy"
)

// cartSpec writes a 3-replica web app spec of version and returns its path.
func cartSpec(t *testing.T, version, extra string) string {
	t.Helper()
	spec := "apiVersion: zz.io/v1\nkind: App\nname: cart\nspec:\n  type: web\n  image: registry.local/cart:" + version +
		"\n  replicas: 3\n  cpu: 50m\n  memory: 32Mi\n" + extra
	path := filepath.Join(t.TempDir(), "zz.yaml")
	if err := os.WriteFile(path, []byte(spec), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// endpoints counts the ready endpoints the EndpointSlice controller lists
// for the cart Service, per track of the pod behind each (the pods' track
// label: stable or canary): what kube-proxy would spread traffic over.
func endpoints(ctx context.Context, ns string) (map[string]int, error) {
	slices, err := cluster.Client.DiscoveryV1().EndpointSlices(ns).List(ctx, metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=cart"})
	if err != nil {
		return nil, err
	}
	out := map[string]int{}
	for _, s := range slices.Items {
		for _, e := range s.Endpoints {
			if e.Conditions.Ready == nil || !*e.Conditions.Ready || e.TargetRef == nil {
				continue
			}
			p, err := cluster.Client.CoreV1().Pods(ns).Get(ctx, e.TargetRef.Name, metav1.GetOptions{})
			if apierrors.IsNotFound(err) {
				continue // gone; the controller drops it next
			} else if err != nil {
				return nil, err
			}
			out[p.Labels[contract.LabelTrack]]++
		}
	}
	return out, nil
}

// waitEndpoints waits until the Service's EndpointSlices hold exactly stable
// endpoints of the stable Deployment and canary of the canary.
func waitEndpoints(t *testing.T, ns string, stable, canary int) {
	t.Helper()
	want := map[string]int{contract.TrackStable: stable}
	if canary > 0 {
		want[contract.TrackCanary] = canary
	}
	cluster.WaitFor(t, 60*time.Second, fmt.Sprintf("EndpointSlices of Service cart: %v", want), func(ctx context.Context) (bool, string, error) {
		got, err := endpoints(ctx, ns)
		return maps.Equal(got, want), fmt.Sprintf("%v", got), err
	})
}

func noCanary(t *testing.T, ns, after string) {
	t.Helper()
	if _, err := cluster.Client.AppsV1().Deployments(ns).Get(t.Context(), "cart-canary", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("canary still there after %s: %v", after, err)
	}
}

func cartImage(t *testing.T, ns string) string {
	t.Helper()
	d, err := cluster.Client.AppsV1().Deployments(ns).Get(t.Context(), "cart", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return d.Spec.Template.Spec.Containers[0].Image
}

// TestCanary: a canary of 1 pod runs next to 3 stable pods behind one
// Service (its EndpointSlices hold 3 stable endpoints and 1 canary one);
// promote rolls stable to it; abort and a rollback during a canary remove
// it; each is in history.
func TestCanary(t *testing.T) {
	ns := cluster.Namespace(t, nil)
	run := func(args ...string) string {
		t.Helper()
		out, errOut, err := zz(t, ns, args...)
		if err != nil {
			t.Fatalf("kubectl zz %s: %v\n%s%s", strings.Join(args, " "), err, out, errOut)
		}
		return out
	}
	run("deploy", "-f", cartSpec(t, "1.0", ""), "--timeout", "60s")
	waitEndpoints(t, ns, 3, 0)

	out := run("deploy", "-f", cartSpec(t, "2.0", ""), "--canary", "1", "--timeout", "60s")
	if !strings.Contains(out, "cart 2.0 canary deployed as revision 2") {
		t.Errorf("canary output: %s", out)
	}
	waitEndpoints(t, ns, 3, 1)
	if img := cartImage(t, ns); img != "registry.local/cart:1.0" {
		t.Fatalf("the canary changed stable to %s", img)
	}
	cluster.RunningPods(t, ns, "zz.io/app=cart,zz.io/track=canary", 1, 60*time.Second)
	// The stable Deployment's selector is the app's label alone, which the
	// canary's pods carry too: status counted the ready canary pod as the
	// stable's and called its rollout unfinished (a review).
	var list struct {
		Items []deploy.AppStatus
	}
	out = run("status", "cart", "-o", "json")
	if err := json.Unmarshal([]byte(out), &list); err != nil || len(list.Items) != 1 || list.Items[0].Stable == nil || list.Items[0].Canary == nil {
		t.Fatalf("status cart -o json: %v\n%s", err, out)
	}
	if s := list.Items[0].Stable; s.RollingOut || len(list.Items[0].Rollout) > 0 || !slices.Equal(s.Serving, []deploy.VersionPods{{Version: "1.0", Pods: 3}}) && len(s.Serving) > 0 {
		t.Errorf("status during a canary: stable %+v, rollout %q\n%s", s, list.Items[0].Rollout, out)
	}
	// The same canary again, running: nothing applied or recorded, as a
	// deploy of what runs (an app-developer audit: each recorded a copy).
	if out, errOut, err := zz(t, ns, "deploy", "-f", cartSpec(t, "2.0", ""), "--canary", "1", "--timeout", "60s"); err != nil ||
		!strings.Contains(out+errOut, "cart 2.0 unchanged: revision 2 runs it already as its canary") {
		t.Errorf("the same canary again: %v\n%s%s", err, out, errOut)
	}
	if out := run("history", "cart", "-o", "jsonpath={.items[*].revision}"); out != "1 2" {
		t.Errorf("history after the same canary again: %q, want revisions 1 2", out)
	}

	run("promote", "cart", "--timeout", "60s")
	noCanary(t, ns, "promote")
	if img := cartImage(t, ns); img != "registry.local/cart:2.0" {
		t.Fatalf("stable after promote runs %s", img)
	}
	waitEndpoints(t, ns, 3, 0)

	// The stable pods' ReplicaSet keeps the cause of the revision that made
	// them through a canary and its abort: kubectl rollout history called
	// the stable pods "canary 3.0" (the Deployment controller copies the
	// Deployment's cause onto the running template's ReplicaSet).
	const promoted = "kubectl zz revision 3: promote canary of revision 2"
	run("deploy", "-f", cartSpec(t, "3.0", ""), "--canary", "25%", "--timeout", "60s")
	waitEndpoints(t, ns, 3, 1)
	if got := stableCause(t, ns, "registry.local/cart:2.0"); got != promoted {
		t.Errorf("the stable ReplicaSet's change cause during the canary: %q, want %q", got, promoted)
	}
	run("abort", "cart", "--timeout", "60s")
	noCanary(t, ns, "abort")
	waitEndpoints(t, ns, 3, 0)
	if got := stableCause(t, ns, "registry.local/cart:2.0"); got != promoted {
		t.Errorf("the stable ReplicaSet's change cause after the abort: %q, want %q", got, promoted)
	}

	run("deploy", "-f", cartSpec(t, "4.0", ""), "--canary", "1", "--timeout", "60s")
	run("rollback", "cart", "--timeout", "60s")
	noCanary(t, ns, "rollback")
	if img := cartImage(t, ns); img != "registry.local/cart:2.0" {
		t.Fatalf("stable after rollback runs %s", img)
	}
	out = run("history", "cart")
	for _, want := range []string{"canary 2.0 (1 pod)", "promote canary of revision 2", "abort canary of revision 4", "rollback to revision 5"} {
		if !strings.Contains(out, want) {
			t.Errorf("history lacks %q:\n%s", want, out)
		}
	}
}

// stableCause is the change cause of the cart ReplicaSet whose pods run
// image, read a few seconds after the command (the controller copies it).
func stableCause(t *testing.T, ns, image string) string {
	t.Helper()
	time.Sleep(2 * time.Second)
	list, err := cluster.Client.AppsV1().ReplicaSets(ns).List(t.Context(), metav1.ListOptions{LabelSelector: "zz.io/app=cart,zz.io/track!=canary"})
	if err != nil {
		t.Fatal(err)
	}
	for _, rs := range list.Items {
		if rs.Spec.Template.Spec.Containers[0].Image == image {
			return rs.Annotations["kubernetes.io/change-cause"]
		}
	}
	t.Fatalf("no ReplicaSet of cart runs %s", image)
	return ""
}

// TestDeployHPAKeepsReplicas: on the real apiserver, adding an hpa to an
// app that ran 10 replicas keeps 10 (server-side apply alone would drop the
// field and the Deployment would fall to 1).
func TestDeployHPAKeepsReplicas(t *testing.T) {
	ns := cluster.Namespace(t, nil)
	spec := func(extra string) string {
		return cartSpec(t, "1.0", extra)
	}
	if out, errOut, err := zz(t, ns, "deploy", "-f", spec(""), "--set", "spec.replicas=10", "--timeout", "90s"); err != nil {
		t.Fatalf("deploy: %v\n%s%s", err, out, errOut)
	}
	if out, errOut, err := zz(t, ns, "deploy", "-f", spec("  hpa: {min: 2, max: 20}\n"), "--timeout", "90s"); err != nil {
		t.Fatalf("deploy with hpa: %v\n%s%s", err, out, errOut)
	}
	d, err := cluster.Client.AppsV1().Deployments(ns).Get(t.Context(), "cart", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if *d.Spec.Replicas != 10 {
		t.Fatalf("replicas after adding an hpa: %d, want 10", *d.Spec.Replicas)
	}
}
