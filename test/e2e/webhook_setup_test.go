package e2e

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/zzcloud/zz/internal/contract"
	"github.com/zzcloud/zz/test/e2e/framework"
)

// zzWebhook is the webhook binary serving on 127.0.0.1 with a certificate
// from a CA made for the test, registered with the apiserver by URL.
type zzWebhook struct {
	port      int
	health    int    // --health-address: /metrics, probes
	namespace string // its own namespace, holding the policy ConfigMap
	policy    string // the ConfigMap's name
	caPEM     []byte
	certDir   string       // tls.crt and tls.key the webhook serves
	client    *http.Client // trusts the CA
	proc      *framework.Process
}

// startWebhook creates the policy ConfigMap, starts the webhook and
// registers it for namespaces labelled zz.io/injection=enabled.
func startWebhook(t *testing.T, policyYAML string, extraArgs ...string) *zzWebhook {
	t.Helper()
	w := &zzWebhook{port: framework.FreePort(t), health: framework.FreePort(t), namespace: cluster.Namespace(t, nil), policy: "zz-webhook-policy"}
	dir := t.TempDir()
	w.certDir = dir
	w.caPEM = writeServingCert(t, dir)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(w.caPEM)
	w.client = &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	w.setPolicy(t, policyYAML)

	bin := cluster.GoBuild(t, "./webhook/cmd/zz-webhook")
	args := append([]string{"--kubeconfig", cluster.Kubeconfig,
		"--listen-address", fmt.Sprintf("127.0.0.1:%d", w.port), "--health-address", fmt.Sprintf("127.0.0.1:%d", w.health),
		"--tls-cert-file", filepath.Join(dir, "tls.crt"), "--tls-private-key-file", filepath.Join(dir, "tls.key"),
		"--namespace", w.namespace, "--policy-configmap", w.policy, "--v", "2"}, extraArgs...)
	w.proc = cluster.Start(t, "zz-webhook", bin, args...)
	cluster.WaitHTTP(t, w.proc, w.url("/readyz"), 30*time.Second)
	w.register(t)
	return w
}

func (w *zzWebhook) url(path string) string {
	return fmt.Sprintf("https://127.0.0.1:%d%s", w.port, path)
}

// get fetches a webhook endpoint over TLS verified against the test CA.
func (w *zzWebhook) get(t *testing.T, path string) string {
	t.Helper()
	resp, err := w.client.Get(w.url(path))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// metrics scrapes /metrics on the health port (the serving port has none).
func (w *zzWebhook) metrics(t *testing.T) string {
	t.Helper()
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", w.health))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// setPolicy creates or replaces the policy ConfigMap.
func (w *zzWebhook) setPolicy(t *testing.T, policyYAML string) {
	t.Helper()
	cms := cluster.Client.CoreV1().ConfigMaps(w.namespace)
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: w.policy}, Data: map[string]string{contract.PolicyKey: policyYAML}}
	if _, err := cms.Get(t.Context(), w.policy, metav1.GetOptions{}); err != nil {
		if _, err := cms.Create(t.Context(), cm, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		return
	}
	if _, err := cms.Update(t.Context(), cm, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// register creates the MutatingWebhookConfiguration (cluster-scoped, so it
// is deleted when the test ends).
func (w *zzWebhook) register(t *testing.T) {
	t.Helper()
	w.registerAs(t, "zz-webhook-"+w.namespace, w.caPEM, map[string]string{contract.LabelInjection: contract.InjectionEnabled})
}

// registerAs creates a MutatingWebhookConfiguration name for the webhook,
// trusting caPEM, for the namespaces labelled selector.
func (w *zzWebhook) registerAs(t *testing.T, name string, caPEM []byte, selector map[string]string) {
	t.Helper()
	cfg := &admissionregistrationv1.MutatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Webhooks: []admissionregistrationv1.MutatingWebhook{{
			Name:                    "pods.zz.io",
			ClientConfig:            admissionregistrationv1.WebhookClientConfig{URL: ptr.To(w.url("/mutate-pods")), CABundle: caPEM},
			AdmissionReviewVersions: []string{"v1"},
			SideEffects:             ptr.To(admissionregistrationv1.SideEffectClassNone),
			ReinvocationPolicy:      ptr.To(admissionregistrationv1.IfNeededReinvocationPolicy),
			TimeoutSeconds:          ptr.To[int32](5),
			FailurePolicy:           ptr.To(admissionregistrationv1.Fail),
			NamespaceSelector:       &metav1.LabelSelector{MatchLabels: selector},
			Rules: []admissionregistrationv1.RuleWithOperations{{
				Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create},
				Rule: admissionregistrationv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"},
					Resources: []string{"pods"}, Scope: ptr.To(admissionregistrationv1.NamespacedScope)},
			}},
		}},
	}
	api := cluster.Client.AdmissionregistrationV1().MutatingWebhookConfigurations()
	if _, err := api.Create(t.Context(), cfg, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	ctx := context.WithoutCancel(t.Context())
	t.Cleanup(func() {
		if err := api.Delete(ctx, name, metav1.DeleteOptions{}); err != nil {
			t.Errorf("delete MutatingWebhookConfiguration %s: %v", name, err)
		}
	})
}

// writeServingCert makes a CA and a serving certificate for 127.0.0.1 in
// dir (tls.crt, tls.key) and returns the CA's PEM, the caBundle.
func writeServingCert(t *testing.T, dir string) []byte {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "zz-webhook-e2e-ca"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "zz-webhook"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	write := func(name, typ string, b []byte) {
		if err := os.WriteFile(filepath.Join(dir, name), pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: b}), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("tls.crt", "CERTIFICATE", der)
	write("tls.key", "EC PRIVATE KEY", keyDER)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})
}

func envOf(c corev1.Container) map[string]string {
	m := map[string]string{}
	for _, e := range c.Env {
		m[e.Name] = e.Value
	}
	return m
}

func containerNames(pod *corev1.Pod) string {
	var names []string
	for _, c := range pod.Spec.Containers {
		names = append(names, c.Name)
	}
	return strings.Join(names, ",")
}
