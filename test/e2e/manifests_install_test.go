package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	pluginapi "k8s.io/kubelet/pkg/apis/deviceplugin/v1beta1"
	"k8s.io/utils/ptr"

	"github.com/zzcloud/zz/internal/contract"
	"github.com/zzcloud/zz/test/e2e/framework"
	"github.com/zzcloud/zz/webhook/certgen"
)

// rendered is an overlay as kubectl kustomize renders it.
type rendered []*unstructured.Unstructured

func renderOverlay(t *testing.T, dir string) rendered {
	t.Helper()
	out, err := cluster.Kubectl(t.Context(), "kustomize", dir)
	if err != nil {
		t.Fatal(err)
	}
	return decodeObjects(t, out)
}

// decodeObjects decodes a multi-document YAML stream.
func decodeObjects(t *testing.T, out string) rendered {
	t.Helper()
	var objs rendered
	dec := utilyaml.NewYAMLOrJSONDecoder(strings.NewReader(out), 4096)
	for {
		var m map[string]any
		if err := dec.Decode(&m); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		if m != nil {
			objs = append(objs, &unstructured.Unstructured{Object: m})
		}
	}
	return objs
}

// get converts the object of that kind and name into out.
func (r rendered) get(t *testing.T, kind, name string, out any) {
	t.Helper()
	for _, o := range r {
		if o.GetKind() == kind && o.GetName() == name {
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, out); err != nil {
				t.Fatal(err)
			}
			return
		}
	}
	t.Fatalf("the overlay has no %s %s", kind, name)
}

// container returns a pod template's container by name.
func container(t *testing.T, spec corev1.PodSpec, name string) corev1.Container {
	t.Helper()
	for _, c := range spec.Containers {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("no container %s", name)
	return corev1.Container{}
}

// replaceArgs returns args with every --flag=... named in with replaced by
// its value there ("" drops the flag), and the extra args appended.
func replaceArgs(args []string, with map[string]string, extra ...string) []string {
	var out []string
	for _, a := range args {
		flag, _, _ := strings.Cut(a, "=")
		if v, ok := with[flag]; ok {
			if v != "" {
				out = append(out, flag+"="+v)
			}
			continue
		}
		out = append(out, a)
	}
	return append(out, extra...)
}

// TestManifestsSelfSigned installs manifests/overlays/self-signed for real
// with kubectl apply -k, then runs what its pods would run, with their
// arguments and ServiceAccounts (the images cannot run here): the certgen
// Job makes the webhook's certificate and caBundle (a second run and a
// re-apply change nothing), the webhook serves it through its Service to the
// apiserver for a pod of an opted-in namespace, and the device plugin
// publishes its node's cards with the DaemonSet's rights.
func TestManifestsSelfSigned(t *testing.T) {
	overlay := filepath.Join(cluster.Root, "manifests", "overlays", "self-signed")
	installAndCheck(t, "kubectl apply -k manifests/overlays/self-signed", renderOverlay(t, overlay), func(ctx context.Context) (string, error) {
		return cluster.Kubectl(ctx, "apply", "-k", overlay)
	})
}

// installAndCheck installs objs with install (run twice: a re-install must
// change nothing), then runs what the pods would run with the installed
// arguments and ServiceAccounts: certgen, the webhook through its Service,
// the device plugin with its DaemonSet's rights.
func installAndCheck(t *testing.T, how string, objs rendered, install func(context.Context) (string, error)) {
	ctx := t.Context()
	var job batchv1.Job
	objs.get(t, "Job", "zz-webhook-certgen", &job)
	var svc corev1.Service
	objs.get(t, "Service", "zz-webhook", &svc)
	var mwcName string
	for _, o := range objs {
		if o.GetKind() == "MutatingWebhookConfiguration" {
			mwcName = o.GetName()
		}
	}
	sysNS := job.Namespace

	// Whatever a former run left, the Secret starts missing.
	if err := cluster.Client.CoreV1().Secrets(sysNS).Delete(ctx, "zz-webhook-tls", metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		t.Fatal(err)
	}
	start := time.Now()
	if out, err := install(ctx); err != nil {
		t.Fatalf("%s: %v\n%s", how, err, out)
	}
	t.Logf("%s: %d objects in %s", how, len(objs), time.Since(start).Round(time.Millisecond))
	t.Cleanup(func() { uninstallWorkloads(t, objs) })
	// The controllers create every workload's pods: the Pod Security level
	// of zz-system (restricted) admits them.
	cluster.WaitFor(t, 60*time.Second, "the overlay's pods in "+sysNS, func(ctx context.Context) (bool, string, error) {
		pods, err := cluster.Client.CoreV1().Pods(sysNS).List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, "", err
		}
		n := map[string]int{}
		for _, p := range pods.Items {
			n[p.Labels["app.kubernetes.io/name"]]++
		}
		return n["zz-scheduler"] == 2 && n["zz-webhook"] == 2 && n["zz-webhook-certgen"] >= 1, fmt.Sprintf("pods by name: %v", n), nil
	})
	// kubectl zz version finds what was installed, by its part-of label.
	if out, _, err := zzRaw(t, "--kubeconfig", cluster.Kubeconfig, "version"); err != nil ||
		!strings.Contains(squash(out), sysNS+" zz-scheduler Deployment") || !strings.Contains(out, "zz-extender") || !strings.Contains(squash(out), sysNS+" zz-webhook Deployment") {
		t.Errorf("kubectl zz version after %s: %v\n%s", how, err, out)
	}

	// certgen, as its Job runs it.
	cg := container(t, job.Spec.Template.Spec, "certgen")
	if cg.Args[0] != "certgen" {
		t.Fatalf("the Job does not run zz-webhook certgen: %v", cg.Args)
	}
	webhookBin := cluster.GoBuild(t, "./webhook/cmd/zz-webhook")
	certgenKubeconfig := tokenKubeconfig(t, sysNS, job.Spec.Template.Spec.ServiceAccountName)
	runCertgen := func() string {
		t.Helper()
		cmd := exec.CommandContext(ctx, webhookBin, append(slices.Clone(cg.Args), "--kubeconfig", certgenKubeconfig)...)
		cmd.Env = append(os.Environ(), "POD_NAMESPACE="+sysNS) // the Job's downward API
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("zz-webhook %s: %v\n%s", strings.Join(cg.Args, " "), err, out)
		}
		return string(out)
	}
	out := runCertgen()
	if !strings.Contains(out, "issued=true") || !strings.Contains(out, "caBundlePatched=true") {
		t.Fatalf("first certgen run did not issue a certificate:\n%s", out)
	}
	secret, err := cluster.Client.CoreV1().Secrets(sysNS).Get(ctx, "zz-webhook-tls", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	mwcAPI := cluster.Client.AdmissionregistrationV1().MutatingWebhookConfigurations()
	mwc, err := mwcAPI.Get(ctx, mwcName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	dnsNames := []string{svc.Name + "." + svc.Namespace + ".svc", svc.Name + "." + svc.Namespace + ".svc.cluster.local"}
	leaf := verifyServing(t, secret, mwc.Webhooks[0].ClientConfig.CABundle, dnsNames)
	for _, w := range mwc.Webhooks {
		if !bytes.Equal(w.ClientConfig.CABundle, mwc.Webhooks[0].ClientConfig.CABundle) {
			t.Fatalf("webhook %s has another caBundle", w.Name)
		}
	}
	t.Logf("certificate for %v until %s", leaf.DNSNames, leaf.NotAfter.Format(time.RFC3339))

	// Twice, and after the admin applies the overlay again, is once.
	unchanged := func(when string) {
		t.Helper()
		s, err := cluster.Client.CoreV1().Secrets(sysNS).Get(ctx, "zz-webhook-tls", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		m, err := mwcAPI.Get(ctx, mwcName, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if s.ResourceVersion != secret.ResourceVersion || m.ResourceVersion != mwc.ResourceVersion {
			t.Fatalf("%s changed the Secret (%s -> %s) or the configuration (%s -> %s)", when,
				secret.ResourceVersion, s.ResourceVersion, mwc.ResourceVersion, m.ResourceVersion)
		}
	}
	if out := runCertgen(); !strings.Contains(out, "issued=false") || !strings.Contains(out, "caBundlePatched=false") {
		t.Fatalf("second certgen run changed something:\n%s", out)
	}
	unchanged("a second certgen run")
	if out, err := install(ctx); err != nil {
		t.Fatalf("%s again: %v\n%s", how, err, out)
	}
	unchanged("installing again")
	runCertgen()
	unchanged("certgen after applying the overlay again")

	t.Run("webhook through its Service", func(t *testing.T) { webhookThroughService(t, objs, secret, webhookBin) })
	t.Run("device plugin with its DaemonSet's rights", func(t *testing.T) { devicePluginAsDaemonSet(t, objs) })
}

// verifyServing checks the Secret's certificate against caBundle for every name.
func verifyServing(t *testing.T, s *corev1.Secret, caBundle []byte, names []string) *x509.Certificate {
	t.Helper()
	if s.Type != corev1.SecretTypeTLS || s.Labels[certgen.LabelManagedBy] != certgen.ManagedBy {
		t.Fatalf("Secret type %q labels %v", s.Type, s.Labels)
	}
	pair, err := tls.X509KeyPair(s.Data[corev1.TLSCertKey], s.Data[corev1.TLSPrivateKeyKey])
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	if len(caBundle) == 0 || !roots.AppendCertsFromPEM(caBundle) {
		t.Fatalf("caBundle %q holds no certificate", caBundle)
	}
	for _, name := range names {
		if _, err := pair.Leaf.Verify(x509.VerifyOptions{DNSName: name, Roots: roots,
			KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
			t.Fatalf("the serving certificate does not verify for %s against the caBundle: %v", name, err)
		}
	}
	return pair.Leaf
}

// uninstallWorkloads deletes what the overlay runs and what would break other
// tests (a MutatingWebhookConfiguration with failurePolicy Fail and no server,
// pods taking kwok nodes' room); namespaces, RBAC and ConfigMaps stay, as
// other tests apply them too.
func uninstallWorkloads(t *testing.T, objs rendered) {
	ctx := context.WithoutCancel(t.Context())
	for _, o := range objs {
		switch o.GetKind() {
		// The policies too: other tests set up scenes by writing the GPU
		// annotations as the admin, which they refuse to all but zz's servers.
		case "MutatingWebhookConfiguration", "Deployment", "DaemonSet", "Job", "CronJob", "PodDisruptionBudget", "Service",
			"ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding", "MutatingAdmissionPolicy", "MutatingAdmissionPolicyBinding":
		default:
			continue
		}
		resource := strings.ToLower(o.GetKind())
		if g := o.GroupVersionKind().Group; g != "" {
			resource += "." + g
		}
		args := []string{"delete", "--ignore-not-found", "--wait=false", resource + "/" + o.GetName()}
		if ns := o.GetNamespace(); ns != "" {
			args = append(args, "-n", ns)
		}
		if _, err := cluster.Kubectl(ctx, args...); err != nil {
			t.Errorf("uninstall: %v", err)
		}
	}
	if err := cluster.Client.CoreV1().Secrets("zz-system").Delete(ctx, "zz-webhook-tls", metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		t.Errorf("uninstall: %v", err)
	}
	waitPoliciesGone(t)
}

// hostIP is a non-loopback IPv4 address of this machine: Endpoints may not
// point at loopback, and the apiserver dials a webhook Service's endpoints.
func hostIP(t *testing.T) string {
	t.Helper()
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil && n.IP.IsGlobalUnicast() {
			return n.IP.String()
		}
	}
	t.Skip("this machine has no non-loopback IPv4 address for the webhook's endpoint")
	return ""
}

// webhookThroughService runs zz-webhook with the Deployment's arguments,
// ServiceAccount and the certificate certgen made, as the only endpoint of
// the overlay's Service; the overlay's own MutatingWebhookConfiguration
// (clientConfig.service, the caBundle certgen set) sends it a pod.
func webhookThroughService(t *testing.T, objs rendered, secret *corev1.Secret, bin string) {
	ctx := t.Context()
	requireAggregatorRouting(t)
	var dep appsv1.Deployment
	objs.get(t, "Deployment", "zz-webhook", &dep)
	var svc corev1.Service
	objs.get(t, "Service", "zz-webhook", &svc)
	ip, port := hostIP(t), framework.FreePort(t)

	// The Deployment's pods run on kwok with addresses nothing listens on:
	// scale it to 0, so the test's process is the Service's one endpoint.
	if _, err := cluster.Kubectl(ctx, "-n", dep.Namespace, "scale", "deployment", dep.Name, "--replicas=0"); err != nil {
		t.Fatal(err)
	}
	cluster.WaitFor(t, 60*time.Second, "no ready endpoint left in the zz-webhook Service", func(ctx context.Context) (bool, string, error) {
		list, err := cluster.Client.DiscoveryV1().EndpointSlices(svc.Namespace).List(ctx, metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=" + svc.Name})
		if err != nil {
			return false, "", err
		}
		n := 0
		for _, s := range list.Items {
			n += len(s.Endpoints)
		}
		return n == 0, fmt.Sprintf("%d endpoints", n), nil
	})

	dir := t.TempDir()
	for _, k := range []string{corev1.TLSCertKey, corev1.TLSPrivateKeyKey} {
		if err := os.WriteFile(filepath.Join(dir, k), secret.Data[k], 0o600); err != nil {
			t.Fatal(err)
		}
	}
	c := container(t, dep.Spec.Template.Spec, "zz-webhook")
	health := fmt.Sprintf("127.0.0.1:%d", framework.FreePort(t))
	args := replaceArgs(c.Args, map[string]string{
		"--listen-address":       net.JoinHostPort(ip, strconv.Itoa(port)),
		"--health-address":       health,
		"--tls-cert-file":        filepath.Join(dir, corev1.TLSCertKey),
		"--tls-private-key-file": filepath.Join(dir, corev1.TLSPrivateKeyKey),
	}, "--kubeconfig", tokenKubeconfig(t, dep.Namespace, dep.Spec.Template.Spec.ServiceAccountName),
		"--namespace", dep.Namespace) // the Deployment's POD_NAMESPACE
	proc := cluster.Start(t, "zz-webhook-manifests", bin, args...)
	cluster.WaitHTTP(t, proc, fmt.Sprintf("https://%s/readyz", net.JoinHostPort(ip, strconv.Itoa(port))), 30*time.Second)
	// Its ServiceAccount may read zz-scheduler's lease (up or down: this
	// cluster runs no zz-scheduler from the overlay, and other tests' leave
	// the lease behind).
	cluster.WaitFor(t, 30*time.Second, "the webhook to read zz-scheduler's lease under its RBAC", func(context.Context) (bool, string, error) {
		r := scrape(t, "http://"+health+"/readyz")
		return strings.Contains(r, "; zz-scheduler up (lease zz-system/zz-scheduler)") || strings.Contains(r, "; zz-scheduler down ("), r, nil
	})

	ns := cluster.Namespace(t, map[string]string{contract.LabelInjection: contract.InjectionEnabled})
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "app", Namespace: ns}, Spec: corev1.PodSpec{
		Containers: []corev1.Container{{Name: "app", Image: "registry.local/app:1", Resources: corev1.ResourceRequirements{
			Limits: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2"), corev1.ResourceMemory: resource.MustParse("1Gi")}}}}}}
	// No endpoint yet: the shipped configuration (failurePolicy Fail) refuses
	// the pod, so what admits it below is the webhook behind the Service.
	if _, err := cluster.Client.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err == nil ||
		!strings.Contains(err.Error(), `failed calling webhook "pods.zz.io"`) {
		t.Fatalf("a pod was created in an opted-in namespace while the webhook had no endpoint: %v", err)
	} else {
		t.Logf("without an endpoint: %v", err)
	}
	t.Run("kubectl debug with the webhook down", debugWithoutWebhook)

	// The endpoint the EndpointSlice controller would write for a ready pod.
	slice := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{Name: svc.Name + "-e2e", Namespace: svc.Namespace, Labels: map[string]string{
			discoveryv1.LabelServiceName: svc.Name, discoveryv1.LabelManagedBy: "zz-e2e"}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{ip}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)}}},
		Ports:       []discoveryv1.EndpointPort{{Name: ptr.To(svc.Spec.Ports[0].Name), Port: ptr.To(int32(port)), Protocol: ptr.To(corev1.ProtocolTCP)}},
	}
	sliceAPI := cluster.Client.DiscoveryV1().EndpointSlices(svc.Namespace)
	if _, err := sliceAPI.Create(ctx, slice, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sliceAPI.Delete(context.WithoutCancel(ctx), slice.Name, metav1.DeleteOptions{}) })

	var got *corev1.Pod
	// The apiserver's informers see the new endpoint a moment later.
	cluster.WaitFor(t, 30*time.Second, "a pod admitted through the zz-webhook Service", func(ctx context.Context) (bool, string, error) {
		var err error
		got, err = cluster.Client.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{})
		if err != nil {
			return false, err.Error(), nil
		}
		return true, "", nil
	})
	env := envOf(got.Spec.Containers[0])
	if env[contract.EnvClusterName] != "my-cluster" || env[contract.EnvNumCPUs] != "2" || got.Spec.NodeSelector[contract.LabelPool] != "general" {
		t.Fatalf("the pod was not mutated by the shipped policy: env %v, node selector %v", env, got.Spec.NodeSelector)
	}
	// This process is registered nowhere but as the Service's endpoint:
	// an admission counted on its /metrics is the apiserver's call through
	// the Service (its per-review log line is at -v=4, below the shipped -v).
	m := regexp.MustCompile(`(?m)^zz_webhook_admissions_total\{result="(?:patched|unchanged)"\} ([1-9]\d*)$`).FindStringSubmatch(scrape(t, "http://"+health+"/metrics"))
	if m == nil {
		log, _ := os.ReadFile(proc.LogPath)
		t.Fatalf("the webhook admitted nothing (zz_webhook_admissions_total); did the apiserver call another server?\n%s", log)
	}
	checkInstall(t, objs, ns)
}

// checkInstall runs kubectl zz check on the installed overlay while the
// webhook serves behind its Service: the certificate certgen made, the
// endpoint, every policy bound; then with one binding removed, as an admin
// repairing an object would, it fails and names it.
func checkInstall(t *testing.T, objs rendered, ns string) {
	ctx := t.Context()
	out, stderr, err := zz(t, ns, "check")
	t.Logf("kubectl zz check:\n%s%s", out, stderr)
	for _, want := range []string{
		"✓ zz-webhook pods.zz.io certificate: CA valid until",
		"✓ zz-webhook pods.zz.io serving certificate: valid for zz-webhook.zz-system.svc until",
		"✓ zz-webhook pods.zz.io endpoints: Service zz-system/zz-webhook has 1 ready endpoint",
		"✓ zz-gpu-mem-total: bound, Deny", "✓ zz-gpu-pod-annotations: bound, Deny", "✓ zz-gpu-node-inventory: bound, Deny", "✓ zz-node-pods: bound, Deny",
		"✓ zz-gpu-agents-pods: bound, Deny", "✓ zz-gpu-pod-templates: bound, Deny", "✓ zz-ephemeral-containers: bound, Deny",
		"✓ zz-ephemeral-void: bound: kubectl debug's containers get NVIDIA_VISIBLE_DEVICES=void with no webhook",
		"✓ NodeRestriction admission plugin: on: a node's credentials are held to its own Node and pods",
		"✓ GPU memory requests enforced (zz-device-plugin/zz-device-plugin): --over-request=kill",
		// The shipped plugin hands cards over by env, which a pod can set too.
		"‼ cards handed over by (zz-device-plugin/zz-device-plugin): --device-list-strategy=envvar: the NVIDIA runtime takes the cards from NVIDIA_VISIBLE_DEVICES",
		"Deployment zz-system/zz-scheduler: ",
		"✓ zz-system/zz-scheduler: GPU extender: filter and preempt verbs, zz.io/gpu-mem and zz.io/gpu-mem-total left to it; bind in an entry of its own",
		// Its kwok pods run no kube-scheduler: whether a Lease is left from
		// other tests' zz-schedulers decides the line's verdict, not its presence.
		"zz-system/zz-scheduler leader: ",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("kubectl zz check lacks %q", want)
		}
	}
	if strings.Contains(out, "admission policies\n  ✗") || strings.Contains(out, "webhook\n  ✗") {
		t.Errorf("kubectl zz check fails the webhook or a policy of a fresh install (exit: %v)", err)
	}
	// Installed without components/network-policy, every pod reaches the
	// webhook's port (a hostile-tenant audit held its connections); the
	// component's NetworkPolicy selects the shipped webhook's pods.
	isolation := "Deployment zz-system/zz-webhook network isolation: "
	if !strings.Contains(out, "‼ "+isolation+"no NetworkPolicy selects its pods") {
		t.Errorf("kubectl zz check lacks the webhook's isolation warning")
	}
	netpol := filepath.Join(cluster.Root, "manifests", "components", "network-policy", "networkpolicy.yaml")
	if out, err := cluster.Kubectl(ctx, "apply", "-f", netpol); err != nil {
		t.Fatalf("apply %s: %v\n%s", netpol, err, out)
	}
	out, _, _ = zz(t, ns, "check")
	if !strings.Contains(out, "✓ "+isolation+"NetworkPolicy zz-webhook selects its pods") {
		t.Errorf("kubectl zz check with components/network-policy applied:\n%s", out)
	}
	if out, err := cluster.Kubectl(context.WithoutCancel(ctx), "delete", "-f", netpol); err != nil {
		t.Fatalf("delete %s: %v\n%s", netpol, err, out)
	}
	var binding admissionregistrationv1.ValidatingAdmissionPolicyBinding
	objs.get(t, "ValidatingAdmissionPolicyBinding", "zz-gpu-mem-total", &binding)
	api := cluster.Client.AdmissionregistrationV1().ValidatingAdmissionPolicyBindings()
	if err := api.Delete(ctx, binding.Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	out, _, err = zz(t, ns, "check")
	if err == nil || !strings.Contains(out, "✗ zz-gpu-mem-total: not bound: nothing enforces it") || !strings.Contains(out, "kubectl apply -k manifests/policies") {
		t.Errorf("kubectl zz check with a policy unbound: %v\n%s", err, out)
	}
	binding.ResourceVersion = ""
	if _, err := api.Create(context.WithoutCancel(ctx), &binding, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// requireAggregatorRouting fails when the test cluster's apiserver dials a
// Service's ClusterIP (nothing routes it on this machine) instead of its
// endpoints: a cluster started before hack/cluster-up.sh set the flag.
func requireAggregatorRouting(t *testing.T) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(cluster.StateDir, "pids", "kube-apiserver.pid"))
	if err != nil {
		t.Logf("cannot check the apiserver's flags (%v); assuming --enable-aggregator-routing", err)
		return
	}
	pid, _, _ := strings.Cut(strings.TrimSpace(string(b)), " ")
	cmdline, err := os.ReadFile("/proc/" + pid + "/cmdline")
	if err != nil {
		t.Logf("cannot check the apiserver's flags (%v); assuming --enable-aggregator-routing", err)
		return
	}
	if !bytes.Contains(cmdline, []byte("--enable-aggregator-routing")) {
		t.Fatalf("the test cluster's apiserver runs without --enable-aggregator-routing (started by an older hack/cluster-up.sh): restart it with ZZ_CLUSTER=%s make cluster-down cluster-up", cluster.Name)
	}
}

// devicePluginAsDaemonSet runs zz-device-plugin with the DaemonSet's
// arguments (NVML from go-nvml's DGX A100 mock, a temporary device-plugin
// folder) and a token of its ServiceAccount, for a GPU node carrying the
// usual GPU taint: the DaemonSet places a pod there, the plugin publishes the
// node's cards, and its rights are exactly the ones it needs.
func devicePluginAsDaemonSet(t *testing.T, objs rendered) {
	ctx := t.Context()
	var ds appsv1.DaemonSet
	objs.get(t, "DaemonSet", "zz-device-plugin", &ds)
	const node = "mani-gpu-1"
	res := corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("32"), corev1.ResourceMemory: resource.MustParse("256Gi"),
		corev1.ResourcePods: resource.MustParse("110")}
	_, err := cluster.Client.CoreV1().Nodes().Create(ctx, &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: node, Annotations: map[string]string{"kwok.x-k8s.io/node": "fake"},
			Labels: map[string]string{"kubernetes.io/hostname": node, contract.LabelGPUNode: "true", "type": "kwok"}},
		Spec:   corev1.NodeSpec{Taints: []corev1.Taint{{Key: "nvidia.com/gpu", Value: "present", Effect: corev1.TaintEffectNoSchedule}}},
		Status: corev1.NodeStatus{Capacity: res, Allocatable: res},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cluster.Client.CoreV1().Nodes().Delete(context.WithoutCancel(ctx), node, metav1.DeleteOptions{})
	})
	// Node selector, tolerations and the namespace's Pod Security level let
	// the DaemonSet's pod onto the tainted GPU node.
	var dsPod *corev1.Pod
	cluster.WaitFor(t, 60*time.Second, "a zz-device-plugin pod on "+node, func(ctx context.Context) (bool, string, error) {
		pods, err := cluster.Client.CoreV1().Pods(ds.Namespace).List(ctx, metav1.ListOptions{FieldSelector: "spec.nodeName=" + node})
		if err != nil {
			return false, "", err
		}
		if len(pods.Items) == 1 {
			dsPod = &pods.Items[0]
		}
		d, err := cluster.Client.AppsV1().DaemonSets(ds.Namespace).Get(ctx, ds.Name, metav1.GetOptions{})
		if err != nil {
			return false, "", err
		}
		return len(pods.Items) == 1, fmt.Sprintf("%d pods on the node; DaemonSet status %+v", len(pods.Items), d.Status), nil
	})

	dir, err := os.MkdirTemp("", "zzdp") // short: unix socket paths are limited
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	healthPort := framework.FreePort(t)
	c := container(t, ds.Spec.Template.Spec, "zz-device-plugin")
	if !slices.ContainsFunc(c.Env, func(e corev1.EnvVar) bool {
		return e.Name == "NODE_NAME" && e.ValueFrom != nil && e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == "spec.nodeName"
	}) {
		t.Fatalf("the DaemonSet does not give NODE_NAME from the downward API: %+v", c.Env)
	}
	sa := ds.Spec.Template.Spec.ServiceAccountName
	args := replaceArgs(c.Args, map[string]string{
		"--nvml":              "mock:dgxa100",
		"--device-plugin-dir": dir,
		"--health-address":    fmt.Sprintf("127.0.0.1:%d", healthPort),
		// The token of the DaemonSet's pod, bound to it: it names the pod's
		// node, the one node whose inventory the policies let it write.
	}, "--kubeconfig", identityWithToken(t, sa, token(t, ds.Namespace, sa, dsPod)).kubeconfig, "--node-name", node)
	bin := cluster.GoBuild(t, "./deviceplugin/cmd/zz-device-plugin")
	acceptRegistrations(t, dir)
	dp := cluster.Start(t, "zz-device-plugin-manifests", bin, args...)
	// Ready means its pod informer (list, watch) synced and the kubelet's
	// registration socket took it.
	cluster.WaitHTTP(t, dp, fmt.Sprintf("http://127.0.0.1:%d/readyz", healthPort), 60*time.Second)
	n, err := cluster.Client.CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	inv, err := contract.ParseInventory(n.Annotations[contract.AnnotationNodeGPUInventory])
	if err != nil || len(inv.Cards) != 8 {
		t.Fatalf("inventory published with the DaemonSet's rights: %v %+v", err, inv)
	}

	// What the run above did not exercise (Allocate marks pods, events), and
	// what it must not be able to do.
	user := "system:serviceaccount:" + ds.Namespace + ":" + sa
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"patch", "nodes"}, "yes"},
		{[]string{"patch", "pods", "-A"}, "yes"},
		{[]string{"watch", "pods", "-A"}, "yes"},
		{[]string{"create", "events", "-A"}, "yes"},
		{[]string{"patch", "events.events.k8s.io", "-A"}, "yes"},
		{[]string{"update", "nodes"}, "no"},
		{[]string{"delete", "pods", "-A"}, "no"},
		{[]string{"get", "secrets", "-A"}, "no"},
		{[]string{"create", "pods", "-A"}, "no"},
	} {
		out, _ := cluster.Kubectl(ctx, append([]string{"auth", "can-i", "--as", user}, tc.args...)...)
		if strings.TrimSpace(out) != tc.want {
			t.Errorf("kubectl auth can-i %s as %s: %q, want %q", strings.Join(tc.args, " "), user, strings.TrimSpace(out), tc.want)
		}
	}
}

// registrations is the kubelet's registration service, taking every plugin.
type registrations struct {
	pluginapi.UnimplementedRegistrationServer
}

func (*registrations) Register(context.Context, *pluginapi.RegisterRequest) (*pluginapi.Empty, error) {
	return &pluginapi.Empty{}, nil
}

// acceptRegistrations serves the kubelet's registration socket in dir, for
// a device plugin run with no kubelet: it is ready only once registered.
func acceptRegistrations(t *testing.T, dir string) {
	lis, err := net.Listen("unix", filepath.Join(dir, filepath.Base(pluginapi.KubeletSocket)))
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	pluginapi.RegisterRegistrationServer(srv, &registrations{})
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
}
