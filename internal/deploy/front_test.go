package deploy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes/fake"
	clienttesting "k8s.io/client-go/testing"

	"github.com/zzcloud/zz/internal/appspec"
)

// front is a spec's auth proxy in front of the app, on port name.
func front(name string) string {
	return fmt.Sprintf("  sidecars:\n  - name: proxy\n    image: reg/proxy:1\n    ports: [{name: %s, port: 4180, front: true}]\n", name)
}

// TestServiceFollowsTheRollout: a deploy or rollback that moves the app's
// traffic to a port the running pods lack (a front proxy added, or its
// port renamed) applies the Service only once the rollout made pods with
// that port ready: applied first, it took every running pod out of the
// Service (its Endpoints empty until a new pod was ready). Every write of
// the Service is checked as it happens: the pods the Deployment runs
// then, rolled out, have the port it targets. A failed rollout leaves the
// Service where it was.
func TestServiceFollowsTheRollout(t *testing.T) {
	for _, tt := range []struct {
		name       string
		from, to   string // the spec's extra lines
		stuck      bool   // the new version never gets ready
		rollback   bool   // --rollback-on-failure
		wantTarget string // the Service's target port after it
	}{
		{name: "front added", from: "", to: front("auth"), wantTarget: "auth"},
		{name: "front renamed", from: front("auth"), to: front("oauth"), wantTarget: "oauth"},
		{name: "front removed", from: front("auth"), to: "", wantTarget: "http"},
		{name: "front added, rollout fails", from: "", to: front("auth"), stuck: true, wantTarget: "http"},
		{name: "front added, rollout fails, rolled back", from: "", to: front("auth"), stuck: true, rollback: true, wantTarget: "http"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := fake.NewClientset()
			wrong := serviceMoves(t, c)
			ctl := startController(t, c)
			deployOK(t, c, spec(t, "reg/shop:1", tt.from), 0)
			o := opts()
			image := "reg/shop:2"
			if tt.stuck {
				image = "reg/shop:bad"
				ctl.setStuck(image)
				o.Timeout = 300 * time.Millisecond
			}
			_, err := Run(t.Context(), c, &Config{Options: o, App: spec(t, image, tt.to), RollbackOnFailure: tt.rollback})
			if tt.stuck != errors.Is(err, ErrRolloutFailed) {
				t.Fatalf("deploy: %v", err)
			}
			if !tt.stuck {
				// Back to the first revision: the same move the other way.
				if _, err := Rollback(t.Context(), c, &RollbackConfig{Options: o, App: "shop"}); err != nil {
					t.Fatalf("rollback: %v", err)
				}
				if _, err := Rollback(t.Context(), c, &RollbackConfig{Options: o, App: "shop", ToRevision: 2}); err != nil {
					t.Fatalf("rollback to revision 2: %v", err)
				}
			}
			for _, w := range wrong() {
				t.Error(w)
			}
			svc, err := c.CoreV1().Services(ns).Get(t.Context(), "shop", metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if got := svc.Spec.Ports[0].TargetPort.String(); got != tt.wantTarget {
				t.Errorf("the Service targets %s after it, want %s", got, tt.wantTarget)
			}
		})
	}
}

// serving says why a Service targeting port would have no endpoint among
// the pods the live Deployment runs now ("" if it has them all, or there
// is no Deployment yet).
func serving(c *fake.Clientset, port string) string {
	obj, err := c.Tracker().Get(appsv1.SchemeGroupVersion.WithResource("deployments"), ns, "shop")
	if err != nil {
		return ""
	}
	d := obj.(*appsv1.Deployment)
	spec := d.Spec.Template.Spec
	has := slices.ContainsFunc(slices.Concat(spec.InitContainers, spec.Containers), func(c corev1.Container) bool {
		return slices.ContainsFunc(c.Ports, func(p corev1.ContainerPort) bool { return p.Name == port })
	})
	if !has {
		return fmt.Sprintf("the Service was moved to port %s, which the pods of the running template lack: none is an endpoint", port)
	}
	want := *d.Spec.Replicas
	if s := d.Status; s.ObservedGeneration != d.Generation || s.UpdatedReplicas != want || s.ReadyReplicas != want {
		return fmt.Sprintf("the Service was moved to port %s before the pods with it were ready (%+v)", port, s)
	}
	return ""
}

// serviceMoves watches c's writes of the app's Service: each that moves its
// first port's target before the pods with that port are ready (serving)
// is in what the returned func gives.
func serviceMoves(t *testing.T, c *fake.Clientset) func() []string {
	t.Helper()
	var mu sync.Mutex
	var wrong []string
	c.PrependReactor("patch", "services", func(a clienttesting.Action) (bool, runtime.Object, error) {
		p, ok := a.(clienttesting.PatchActionImpl)
		if !ok || len(p.PatchOptions.DryRun) > 0 {
			return false, nil, nil
		}
		var svc corev1.Service
		if err := json.Unmarshal(p.GetPatch(), &svc); err != nil || len(svc.Spec.Ports) == 0 {
			return false, nil, nil
		}
		to := svc.Spec.Ports[0].TargetPort.String()
		if live, err := c.Tracker().Get(corev1.SchemeGroupVersion.WithResource("services"), ns, "shop"); err == nil && live.(*corev1.Service).Spec.Ports[0].TargetPort.String() == to {
			return false, nil, nil // applied again as it is: no pod moves
		}
		if why := serving(c, to); why != "" {
			mu.Lock()
			wrong = append(wrong, why)
			mu.Unlock()
		}
		return false, nil, nil
	})
	return func() []string {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(wrong)
	}
}

// TestServiceAfterAFailedFrontRollout: a deploy that adds front fails (or
// is interrupted) with no rollback: the Deployment's template has the front
// port, its pods are not ready, the old pods serve through the unmoved
// Service. The next deploy (the fix, or the same command again) must not
// move the Service before pods with the port are ready: judged by the
// template alone, it did (a review).
func TestServiceAfterAFailedFrontRollout(t *testing.T) {
	c := fake.NewClientset()
	wrong := serviceMoves(t, c)
	ctl := startController(t, c)
	deployOK(t, c, spec(t, "reg/shop:1", ""), 0)
	o := opts()
	ctl.setStuck("reg/shop:bad")
	o.Timeout = 300 * time.Millisecond
	if _, err := Run(t.Context(), c, &Config{Options: o, App: spec(t, "reg/shop:bad", front("auth"))}); !errors.Is(err, ErrRolloutFailed) {
		t.Fatalf("deploy: %v", err)
	}
	// The fix: a new image, still stuck at the moment the Service is written
	// (the controller has not made the new pods ready yet).
	ctl.setStuck("reg/shop:3")
	_, _ = Run(t.Context(), c, &Config{Options: o, App: spec(t, "reg/shop:3", front("auth"))})
	for _, w := range wrong() {
		t.Error(w)
	}
}

// TestServesLateByPortName: the live Service's port is found by name, not
// place: a port another writer adds with a strategic merge patch comes
// first in the live list, and mid-rollout the Service (only taking that
// port back) was left for after the rollout, its note never said (a CI run
// of TestConcurrentDeploy).
func TestServesLateByPortName(t *testing.T) {
	port := func(name string, target intstr.IntOrString) corev1.ServicePort {
		return corev1.ServicePort{Name: name, TargetPort: target}
	}
	svc := func(ports ...corev1.ServicePort) *corev1.Service {
		return &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "shop"}, Spec: corev1.ServiceSpec{Ports: ports}}
	}
	one := int32(1)
	running := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "shop", Generation: 1}, Spec: appsv1.DeploymentSpec{Replicas: &one,
		Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}}}}}}},
		Status: appsv1.DeploymentStatus{ObservedGeneration: 1, Replicas: 1, UpdatedReplicas: 1, AvailableReplicas: 1}}
	http, auth := intstr.FromString("http"), intstr.FromString("auth")
	rolling := running.DeepCopy() // a rollout under way: its pods are not all the template's
	rolling.Status.UpdatedReplicas = 0
	for _, tt := range []struct {
		name       string
		live, want *corev1.Service
		rolling    bool
		late       bool
	}{
		{"same port", svc(port("http", http)), svc(port("http", http)), false, false},
		{"same port, mid-rollout", svc(port("http", http)), svc(port("http", http)), true, false},
		{"another writer's port first", svc(port("debug", intstr.FromInt32(9999)), port("http", http)), svc(port("http", http)), false, false},
		{"another writer's port first, mid-rollout", svc(port("debug", intstr.FromInt32(9999)), port("http", http)), svc(port("http", http)), true, false},
		{"moved to a port the pods lack", svc(port("http", http)), svc(port("http", auth)), false, true},
		{"moved, another writer's port first", svc(port("debug", intstr.FromInt32(9999)), port("http", http)), svc(port("http", auth)), false, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			d := running
			if tt.rolling {
				d = rolling
			}
			targets := []target{{o: tt.want, live: tt.live}, {o: d, live: d}}
			if got := servesLate("shop", targets[0], targets); got != tt.late {
				t.Errorf("servesLate = %v, want %v", got, tt.late)
			}
		})
	}
}

// TestUnfrontedIsSaid: a deploy, rollback or their --diff that takes the
// Service's main port off the front sidecar the latest revision routed it
// through says so on stderr, naming the sidecar (an audit: an overlay that
// dropped the auth proxy deployed with exit 0 and no word, the Ingress then
// reaching the app unauthenticated). Moving the front to another sidecar,
// or a spec that never had one, says nothing.
func TestUnfrontedIsSaid(t *testing.T) {
	const want = "warning: the Service's port now reaches the app directly, no longer through sidecar proxy (front, port auth 4180): anyone who reaches the Service (and the Ingress) skips the auth proxy"
	other := "  sidecars:\n  - name: envoy\n    image: reg/envoy:1\n    ports: [{name: envoy, port: 10000, front: true}]\n"
	unfrontedProxy := "  sidecars:\n  - name: proxy\n    image: reg/proxy:1\n    ports: [{name: auth, port: 4180}]\n"
	for _, tt := range []struct {
		name     string
		from, to string
		say      bool
		back     bool // a rollback to the first revision says it
	}{
		{name: "sidecar dropped", from: front("auth"), to: "", say: true},
		{name: "front taken off its port", from: front("auth"), to: unfrontedProxy, say: true},
		{name: "front moved to another sidecar", from: front("auth"), to: other},
		{name: "front renamed", from: front("auth"), to: front("oauth")},
		{name: "front added", from: "", to: front("auth"), back: true},
		{name: "never fronted", from: "", to: "  env: {A: b}\n"},
		{name: "to a worker", from: front("auth"), to: "worker"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := fake.NewClientset()
			startController(t, c)
			deployOK(t, c, spec(t, "reg/shop:1", tt.from), 0)
			var to *appspec.App
			if tt.to != "worker" {
				to = spec(t, "reg/shop:2", tt.to)
			} else {
				to = spec(t, "reg/shop:2", "")
				to.Spec.Type, to.Spec.Port = "worker", 0
			}
			var diff, out bytes.Buffer
			o := opts()
			o.Progress = &diff
			if _, err := Diff(t.Context(), c, &Config{Options: o, App: to}, io.Discard); err != nil {
				t.Fatal(err)
			}
			o.Progress = &out
			if _, err := Run(t.Context(), c, &Config{Options: o, App: to}); err != nil {
				t.Fatal(err)
			}
			for what, got := range map[string]string{"deploy --diff": diff.String(), "deploy": out.String()} {
				if strings.Contains(got, want) != tt.say {
					t.Errorf("%s said %q; want the warning: %v", what, got, tt.say)
				}
			}
			// A rollback that unfronts says it, to either revision.
			var back bytes.Buffer
			o.Progress = &back
			if _, err := Rollback(t.Context(), c, &RollbackConfig{Options: o, App: "shop", ToRevision: 1}); err != nil {
				t.Fatal(err)
			}
			if strings.Contains(back.String(), "warning: the Service's port now reaches the app directly") != tt.back {
				t.Errorf("rollback to revision 1 said %q; want the warning: %v", back.String(), tt.back)
			}
			if tt.say {
				back.Reset()
				if _, err := Rollback(t.Context(), c, &RollbackConfig{Options: o, App: "shop", ToRevision: 2}); err != nil {
					t.Fatal(err)
				}
				if !strings.Contains(back.String(), want) {
					t.Errorf("rollback to the unfronted revision said %q, want %q", back.String(), want)
				}
			}
		})
	}
}

// TestNoWaitRefusesServiceMove: a command with --wait=false whose apply
// moves the app's Service to a port only the new pods have is refused
// before anything changes (review 17a, W1/W2): moved at once, the Service
// reached no pod until a new one was ready; left on its old port, nothing
// moved it once they were, so after the rollout no pod had that port (front
// renamed, web to rpc) or the new auth proxy stayed bypassed (front added).
// Where the running pods have the new port (front removed) it goes on.
func TestNoWaitRefusesServiceMove(t *testing.T) {
	for _, tt := range []struct {
		name     string
		from, to string // front() of the running revision and of the new one
		rpc      bool   // the new one is type rpc
		rollback bool   // rollback --to-revision 1 after deploying to (waiting), from "to" back to "from"
		want     string // "" goes on
	}{
		{name: "front added", to: front("auth"),
			want: "kubectl zz deploy without --wait=false: service shop moves to port auth, which only the new pods have, once they are ready; --wait=false cannot move it without an outage (moved now, it reaches no pod until one is ready; left on port http, a new auth proxy would be bypassed); nothing was applied"},
		{name: "front renamed", from: front("auth"), to: front("oauth"),
			want: "left on port auth, once the rollout ends no pod has that port"},
		{name: "web to rpc", rpc: true, want: "service shop moves to port rpc"},
		{name: "rollback to a fronted revision", from: front("auth"), rollback: true,
			want: "kubectl zz rollback without --wait=false: service shop moves to port auth"},
		{name: "front removed goes on", from: front("auth")},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := fake.NewClientset()
			startController(t, c)
			deployOK(t, c, spec(t, "reg/shop:1", tt.from), 0)
			o := opts()
			o.NoWait = true
			var err error
			if tt.rollback {
				deployOK(t, c, spec(t, "reg/shop:2", tt.to), 0)
				_, err = Rollback(t.Context(), c, &RollbackConfig{Options: o, App: "shop", ToRevision: 1})
			} else {
				app := spec(t, "reg/shop:2", tt.to)
				if tt.rpc {
					app.Spec.Type = "rpc"
				}
				_, err = Run(t.Context(), c, &Config{Options: o, App: app})
			}
			hist, _ := History(t.Context(), c, ns, "shop")
			if tt.want == "" {
				if err != nil {
					t.Fatalf("%v; want it to go on", err)
				}
				waitReady(t, c)
				if got, ports := targetPort(t, c), templatePorts(t, c); !slices.Contains(ports, got) {
					t.Errorf("the Service targets %s, the pods declare only %v", got, ports)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v\nwant a refusal saying %q", err, tt.want)
			}
			want := map[bool]int{false: 1, true: 2}[tt.rollback]
			if len(hist) != want {
				t.Errorf("%d revisions recorded, want %d: a refusal records nothing", len(hist), want)
			}
			if img := image(t, c); img != map[bool]string{false: "reg/shop:1", true: "reg/shop:2"}[tt.rollback] {
				t.Errorf("the refusal changed the running image to %s", img)
			}
		})
	}
}

// templatePorts are the port names the pods of Deployment shop declare.
func templatePorts(t *testing.T, c *fake.Clientset) []string {
	t.Helper()
	d, err := c.AppsV1().Deployments(ns).Get(t.Context(), "shop", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, ctr := range slices.Concat(d.Spec.Template.Spec.InitContainers, d.Spec.Template.Spec.Containers) {
		for _, p := range ctr.Ports {
			out = append(out, p.Name)
		}
	}
	return out
}

// targetPort is the target port of the app's Service's first port.
func targetPort(t *testing.T, c *fake.Clientset) string {
	t.Helper()
	svc, err := c.CoreV1().Services(ns).Get(t.Context(), "shop", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return svc.Spec.Ports[0].TargetPort.String()
}

// waitReady waits until status says shop is Ready.
func waitReady(t *testing.T, c *fake.Clientset) {
	t.Helper()
	for end := time.Now().Add(5 * time.Second); time.Now().Before(end); time.Sleep(5 * time.Millisecond) {
		if st, err := AppStatusOf(t.Context(), c, ns, "shop"); err == nil && st.Health == HealthReady {
			return
		}
	}
	t.Fatal("shop never Ready")
}

// TestUnfrontedJudgesWhatRuns: the unfronted warning compares with what
// runs, not with the latest readable record: past an unreadable newest
// record that routed the Service through the proxy, the rollback the
// refusals name took the proxy out of the traffic path and said nothing
// (review 17a, U1). Where neither what runs nor the newest record can be
// read, it says it cannot tell.
func TestUnfrontedJudgesWhatRuns(t *testing.T) {
	const warns = "warning: the Service's port now reaches the app directly, no longer through sidecar proxy"
	const unjudged = "warning: cannot tell whether this takes the Service's port off a front sidecar (an auth proxy): what runs could not be read"
	for _, tt := range []struct {
		name       string
		forbidden  bool // reading the live Service is refused
		unreadable bool // revision 2, the fronted one, cannot be read
		want       string
	}{
		{name: "past an unreadable fronted newest record", unreadable: true, want: warns},
		{name: "what runs unreadable, the newest record read", forbidden: true, want: warns},
		{name: "neither can be read", forbidden: true, unreadable: true, want: unjudged},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := fake.NewClientset()
			startController(t, c)
			deployOK(t, c, spec(t, "reg/shop:1", ""), 0)
			deployOK(t, c, spec(t, "reg/shop:2", front("auth")), 0)
			if tt.unreadable {
				editRecord(t, c, 2, unreadable)
			}
			history, err := History(t.Context(), c, ns, "shop")
			if err != nil {
				t.Fatal(err)
			}
			live := c
			if tt.forbidden {
				// A clientset of its own: c's reactors are not to be
				// changed while its controller reads them.
				live = fake.NewClientset()
				live.PrependReactor("get", "services", func(clienttesting.Action) (bool, runtime.Object, error) {
					return true, nil, errors.New("services \"shop\" is forbidden")
				})
			}
			var out bytes.Buffer
			sayUnfronted(t.Context(), live, ns, &out, "shop", history, history[0].objects)
			if !strings.Contains(out.String(), tt.want) {
				t.Errorf("said %q, want %q", out.String(), tt.want)
			}
			if tt.forbidden {
				return
			}
			// The rollback itself, as the refusals name it.
			out.Reset()
			o := opts()
			o.Progress = &out
			if _, err := Rollback(t.Context(), c, &RollbackConfig{Options: o, App: "shop", ToRevision: 1}); err != nil {
				t.Fatal(err)
			}
			if got := targetPort(t, c); got != "http" || !strings.Contains(out.String(), tt.want) {
				t.Errorf("rollback --to-revision 1 took the Service to %s and said %q, want %q", got, out.String(), tt.want)
			}
		})
	}
}

// TestNoWaitScaledToZero: an app scaled to zero has no pod to drop from its
// Service, so deploy --wait=false adding a front port is not refused (a
// review: it was, as if pods served).
func TestNoWaitScaledToZero(t *testing.T) {
	c := fake.NewClientset()
	startController(t, c)
	deployOK(t, c, spec(t, "reg/shop:1", ""), 0)
	o := opts()
	o.NoWait = true
	if _, err := Scale(t.Context(), c, &ChangeConfig{Options: o, App: "shop"}, 0); err != nil {
		t.Fatal(err)
	}
	d, err := c.AppsV1().Deployments(ns).Get(t.Context(), "shop", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	d.Status = appsv1.DeploymentStatus{ObservedGeneration: d.Generation} // the pods gone
	if _, err := c.AppsV1().Deployments(ns).UpdateStatus(t.Context(), d, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := Run(t.Context(), c, &Config{Options: o, App: spec(t, "reg/shop:2", front("auth"))}); err != nil {
		t.Fatalf("deploy --wait=false of a scaled-to-zero app: %v, want it applied", err)
	}
	if got := targetPort(t, c); got != "auth" {
		t.Errorf("the Service targets %q, want auth", got)
	}
}
