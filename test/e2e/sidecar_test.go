package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/zzcloud/zz/internal/contract"
	"github.com/zzcloud/zz/internal/logs"
)

// TestDeploySidecars: an app with two native sidecars (spec.sidecars)
// deploys into a namespace whose Pod Security level is restricted: the
// pods run with the sidecars first among the init containers, started
// (kwok runs an init container with restartPolicy Always as started, the
// others as completed), sharing only the mounts they list; status is
// Ready without drift, -o wide's SIDECARS each ready in both pods;
// kubectl zz logs follows the sidecars beside the
// app, each line under its container's name. The auth sidecar's port is in
// front of the app (front: true): the Service's main port and its
// EndpointSlices point at it, and its secretEnv is env from its Secret's
// key in it alone, with no missing Secret warned. A sidecar named as the
// app's container is refused by the CLI before anything is applied. It is
// deployed first without the auth proxy, which a second deploy adds to the
// running app.
func TestDeploySidecars(t *testing.T) {
	ctx := t.Context()
	ns := cluster.Namespace(t, map[string]string{"pod-security.kubernetes.io/enforce": "restricted"})
	spec := specFile(t, `apiVersion: zz.io/v1
kind: App
name: orders
spec:
  type: web
  image: registry.local/orders:1.0
  replicas: 2
  cpu: 100m
  memory: 64Mi
  initCommand: [/app/migrate, up]
  healthTimeout: 5s
  securityContext: {runAsUser: 10001, readOnlyRootFilesystem: true, restricted: true}
  scratch:
  - {mountPath: /tmp}
  - {mountPath: /var/log/orders}
  sidecars:
  - {name: db-proxy, image: "registry.local/proxy:2.1", args: [--port=5432, --credentials-file=/etc/db-sa/key.json], ports: [{name: db-proxy, port: 5432}],
     startup: {port: db-proxy}, secretFiles: [{secret: orders-db-sa, mountPath: /etc/db-sa}]}
  - {name: log-shipper, image: "registry.local/shipper:3.1", cpu: 50m, memory: 32Mi, mounts: [/var/log/orders]}
  - {name: auth, image: "registry.local/oauth2-proxy:7.7", args: ["--upstream=http://127.0.0.1:$(ZZ_APP_PORT)"], ports: [{name: auth, port: 4180, front: true}],
     secretEnv: {OAUTH2_PROXY_COOKIE_SECRET: {secret: orders-auth, key: cookie-secret}}}
`)
	for name, data := range map[string]map[string]string{"orders-db-sa": {"key.json": "{}"}, "orders-auth": {"cookie-secret": "0123456789abcdef"}} {
		if _, err := cluster.Client.CoreV1().Secrets(ns).Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name},
			StringData: data}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	out, errOut, err := zz(t, ns, "deploy", "-f", spec, "--set", "spec.sidecars=[{name: app, image: 'registry.local/proxy:2.1'}]", "--timeout", "30s")
	want := `spec.sidecars[0].name: "app" is the app's container; give the sidecar a name of its own`
	if err == nil || !strings.Contains(errOut, want) {
		t.Errorf("deploy of a sidecar named app: %v, want it refused with %q\n%s%s", err, want, out, errOut)
	}
	if _, err := cluster.Client.AppsV1().Deployments(ns).Get(ctx, "orders", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("the refused spec was applied: %v", err)
	}

	// First without the auth proxy, then with it: the Service moves to
	// the proxy's port once the rollout is done (the order of the applies
	// is proven by the unit TestServiceFollowsTheRollout: kwok readies a
	// pod at once, so no poll here sees the Endpoints empty either way).
	if out, errOut, err := zz(t, ns, "deploy", "-f", spec, "--set", "spec.sidecars=[{name: db-proxy, image: 'registry.local/proxy:2.1', ports: [{name: db-proxy, port: 5432}]}]", "--timeout", "90s"); err != nil {
		t.Fatalf("deploy without front into a restricted namespace: %v\n%s%s", err, out, errOut)
	}
	if out, errOut, err := zz(t, ns, "deploy", "-f", spec, "--timeout", "90s"); err != nil || strings.Contains(errOut, "does not exist") {
		t.Fatalf("deploy with front into a restricted namespace: %v (no Secret of the spec's missing)\n%s%s", err, out, errOut)
	}
	checkSidecarSecretEnv(t, ns)
	pods := cluster.RunningPods(t, ns, contract.LabelApp+"=orders", 2, 60*time.Second)
	checkSidecars(t, pods[0])
	checkFront(t, ns)

	statusReady(t, ns, "orders", "of the app with sidecars")
	// -o wide's SIDECARS: each sidecar ready in both pods (a pod of the
	// rollout before may still be going: it is not counted).
	cluster.WaitFor(t, 30*time.Second, "status -o wide's SIDECARS", func(ctx context.Context) (bool, string, error) {
		out, errOut, err := zz(t, ns, "status", "orders", "-o", "wide", "--no-headers")
		return err == nil && strings.Contains(out, " auth:2/2,db-proxy:2/2,log-shipper:2/2 "), out + errOut, nil
	})

	out, errOut, err = zz(t, ns, "logs", "orders", "--no-follow", "--tail", "1", "-o", "json")
	if err != nil {
		t.Fatalf("logs: %v\n%s", err, errOut)
	}
	seen := map[string]int{}
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		var line logs.Line
		if err := json.Unmarshal([]byte(l), &line); err != nil {
			t.Fatalf("not a JSON line: %q: %v", l, err)
		}
		seen[line.Container]++
	}
	// initCommand's container is in too (init containers are, by default).
	for _, c := range []string{"app", "db-proxy", "log-shipper", "auth"} {
		if seen[c] != 2 {
			t.Errorf("logs: %d lines of container %s, want one from each of 2 pods (%v)\n%s", seen[c], c, seen, out)
		}
	}
}

// checkSidecars: orders' sidecars come first among the init containers,
// restartPolicy Always, started, each with its own resources, the
// restricted container settings and only the mounts it lists; initCommand's
// container last, run to completion.
func checkSidecars(t *testing.T, pod corev1.Pod) {
	t.Helper()
	in := pod.Spec.InitContainers
	if len(in) != 4 || in[0].Name != "db-proxy" || in[1].Name != "log-shipper" || in[2].Name != "auth" || in[3].Name != "init" {
		t.Fatalf("init containers %v, want db-proxy, log-shipper, auth, init", names(in))
	}
	for _, c := range in[:3] {
		if c.RestartPolicy == nil || *c.RestartPolicy != corev1.ContainerRestartPolicyAlways {
			t.Errorf("sidecar %s: restartPolicy %v, want Always", c.Name, c.RestartPolicy)
		}
		if sc := c.SecurityContext; sc == nil || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
			t.Errorf("sidecar %s: security context %+v, want the app's restricted settings", c.Name, sc)
		}
		if _, gpu := c.Resources.Limits[contract.ResourceGPUMem]; gpu {
			t.Errorf("sidecar %s asks for GPU memory", c.Name)
		}
	}
	// The apiserver mounts the pod's ServiceAccount token in every
	// container, sidecars too: not one of the app's mounts.
	own := func(c corev1.Container) []string {
		var out []string
		for _, m := range c.VolumeMounts {
			if !strings.HasPrefix(m.Name, "kube-api-access-") {
				out = append(out, m.MountPath)
			}
		}
		return out
	}
	// Its own Secret, which the app never sees; and its startup probe,
	// which holds initCommand and the app until it answers.
	if m := own(in[0]); len(m) != 1 || m[0] != "/etc/db-sa" {
		t.Errorf("db-proxy mounts %v, want its own /etc/db-sa alone (it lists none of the app's)", m)
	}
	if m := own(pod.Spec.Containers[0]); slices.Contains(m, "/etc/db-sa") {
		t.Errorf("the app mounts %v, the proxy's /etc/db-sa among them", m)
	}
	if p := in[0].StartupProbe; p == nil || p.TCPSocket == nil || p.TCPSocket.Port.String() != "db-proxy" || p.PeriodSeconds != 5 || p.TimeoutSeconds != 5 || p.FailureThreshold != 12 {
		t.Errorf("db-proxy startup probe %+v, want a TCP connect to db-proxy every 5 s (healthTimeout, its timeout), 12 times: a minute even when each try hangs", p)
	}
	if m := own(in[1]); len(m) != 1 || m[0] != "/var/log/orders" {
		t.Errorf("log-shipper mounts %v, want /var/log/orders alone", m)
	}
	// The front port's readiness connect, and healthTimeout on it and the
	// app's probes, as the apiserver kept them.
	if p := in[2].ReadinessProbe; p == nil || p.TCPSocket == nil || p.TCPSocket.Port.String() != "auth" || p.TimeoutSeconds != 5 {
		t.Errorf("auth readiness probe %+v, want a TCP connect to auth timing out at 5s", p)
	}
	if c := pod.Spec.Containers[0]; c.ReadinessProbe == nil || c.ReadinessProbe.TimeoutSeconds != 5 || c.LivenessProbe == nil || c.LivenessProbe.TimeoutSeconds != 5 {
		t.Errorf("app probes %+v %+v, want both timing out at 5s (spec.healthTimeout)", c.ReadinessProbe, c.LivenessProbe)
	}
	if q := in[1].Resources.Requests[corev1.ResourceMemory]; q.String() != "32Mi" {
		t.Errorf("log-shipper memory request %s, want 32Mi", q.String())
	}
	started := map[string]bool{}
	for _, st := range pod.Status.InitContainerStatuses {
		started[st.Name] = st.Started != nil && *st.Started && st.State.Running != nil
	}
	if !started["db-proxy"] || !started["log-shipper"] || !started["auth"] || started["init"] {
		t.Errorf("init container statuses %+v: want the sidecars started and running, init completed", pod.Status.InitContainerStatuses)
	}
}

// checkSidecarSecretEnv: the auth sidecar's secretEnv is in the rendered
// Deployment as env from its Secret's key, in that sidecar alone.
func checkSidecarSecretEnv(t *testing.T, ns string) {
	t.Helper()
	d, err := cluster.Client.AppsV1().Deployments(ns).Get(t.Context(), "orders", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pod := d.Spec.Template.Spec
	for _, c := range slices.Concat(pod.InitContainers, pod.Containers) {
		i := slices.IndexFunc(c.Env, func(e corev1.EnvVar) bool { return e.Name == "OAUTH2_PROXY_COOKIE_SECRET" })
		var ref *corev1.SecretKeySelector
		if i >= 0 && c.Env[i].ValueFrom != nil {
			ref = c.Env[i].ValueFrom.SecretKeyRef
		}
		switch {
		case c.Name == "auth" && (ref == nil || ref.Name != "orders-auth" || ref.Key != "cookie-secret" || c.Env[i].Value != ""):
			t.Errorf("sidecar auth env %+v, want OAUTH2_PROXY_COOKIE_SECRET from secret orders-auth key cookie-secret", c.Env)
		case c.Name != "auth" && i >= 0:
			t.Errorf("container %s has the auth sidecar's OAUTH2_PROXY_COOKIE_SECRET: %+v", c.Name, c.Env[i])
		}
	}
}

func names(cs []corev1.Container) []string {
	var out []string
	for _, c := range cs {
		out = append(out, c.Name)
	}
	return out
}

// checkFront: the Service's main port (http, 8080 for clients) targets the
// auth sidecar's port by name, and the EndpointSlice controller resolves
// it to 4180 on both pods, so traffic reaches the proxy, not the app.
func checkFront(t *testing.T, ns string) {
	t.Helper()
	svc, err := cluster.Client.CoreV1().Services(ns).Get(t.Context(), "orders", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if p := svc.Spec.Ports[0]; p.Name != "http" || p.Port != 8080 || p.TargetPort.String() != "auth" {
		t.Errorf("Service port %+v, want http 8080 to targetPort auth", p)
	}
	cluster.WaitFor(t, 60*time.Second, "EndpointSlices of Service orders: port http 4180 on 2 pods", func(ctx context.Context) (bool, string, error) {
		list, err := cluster.Client.DiscoveryV1().EndpointSlices(ns).List(ctx, metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=orders"})
		if err != nil {
			return false, "", err
		}
		port, ready := int32(0), 0
		for _, s := range list.Items {
			for _, p := range s.Ports {
				if p.Name != nil && *p.Name == "http" && p.Port != nil {
					port = *p.Port
				}
			}
			for _, e := range s.Endpoints {
				if e.Conditions.Ready != nil && *e.Conditions.Ready {
					ready++
				}
			}
		}
		return port == 4180 && ready == 2, fmt.Sprintf("port %d, %d ready", port, ready), nil
	})
}
