package clustercheck

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"strings"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
)

// testCA signs serving certificates.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

// newTestCA is a self-signed CA ending at notAfter.
func newTestCA(t *testing.T, notAfter time.Time) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "zz-webhook-ca"},
		NotBefore: notAfter.Add(-365 * 24 * time.Hour), NotAfter: notAfter, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &testCA{cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// serving is a serving certificate for dns signed by ca, ending at notAfter.
func (ca *testCA) serving(t *testing.T, dns string, notAfter time.Time) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: dns}, DNSNames: []string{dns},
		NotBefore: notAfter.Add(-365 * 24 * time.Hour), NotAfter: notAfter, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// TestServingCertificate: the certificate the webhook's pods serve (the
// Secret their Deployment mounts, found through the Service's selector) is
// judged as the API server judges it: within its dates, for the Service's
// DNS name, signed by the CA bundle; the CA alone lasts ten years.
func TestServingCertificate(t *testing.T) {
	ca, other := newTestCA(t, now.Add(330*24*time.Hour)), newTestCA(t, now.Add(330*24*time.Hour))
	const dns = "zz-webhook.zz-system.svc"
	tests := []struct {
		name   string
		secret []byte // tls.crt; nil: no Secret
		want   Status
		detail string
	}{
		{"valid", ca.serving(t, dns, now.Add(300*24*time.Hour)), OK, "valid for zz-webhook.zz-system.svc until 2027-10-01 (300 days), signed by the CA bundle"},
		{"ends in 3 days", ca.serving(t, dns, now.Add(3*24*time.Hour)), Warn, "the serving certificate (Secret zz-system/zz-webhook-tls) expires on 2026-12-08, in 3 days"},
		{"expired", ca.serving(t, dns, now.Add(-24*time.Hour)), Fail, "expired on 2026-12-04: the API server refuses the webhook's TLS"},
		{"signed by another CA", other.serving(t, dns, now.Add(300*24*time.Hour)), Fail, "does not verify for zz-webhook.zz-system.svc against the CA bundle"},
		{"for another name", ca.serving(t, "other.zz-system.svc", now.Add(300*24*time.Hour)), Fail, "does not verify for zz-webhook.zz-system.svc"},
		{"no certificate in it", []byte("junk"), Fail, "holds no certificate"},
		{"no Secret", nil, Fail, "Secret zz-system/zz-webhook-tls does not exist"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			objs := healthy(t)
			objs[3].(*admissionregistrationv1.MutatingWebhookConfiguration).Webhooks[0].ClientConfig.CABundle = ca.pem
			d := objs[1].(*appsv1.Deployment)
			d.Spec.Template.Labels = map[string]string{"app.kubernetes.io/name": "zz-webhook"}
			d.Spec.Template.Spec.Volumes = []corev1.Volume{{Name: "tls", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "zz-webhook-tls"}}}}
			objs = append(objs, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "zz-webhook", Namespace: "zz-system"},
				Spec: corev1.ServiceSpec{Selector: map[string]string{"app.kubernetes.io/name": "zz-webhook"}}})
			if tc.secret != nil {
				objs = append(objs, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "zz-webhook-tls", Namespace: "zz-system"},
					Data: map[string][]byte{corev1.TLSCertKey: tc.secret}})
			}
			rs := Evaluate(Gather(t.Context(), fake.NewClientset(objs...), Probes{}), now)
			var got *Result
			for i := range rs {
				if strings.HasSuffix(rs[i].Name, "serving certificate") {
					got = &rs[i]
				}
			}
			if got == nil || got.Status != tc.want || !strings.Contains(got.Detail, tc.detail) {
				t.Fatalf("got %+v, want %s %q\n%s", got, tc.want, tc.detail, lines(rs))
			}
			if got.Status != OK && !strings.Contains(got.Hint, "create job --from=cronjob/zz-webhook-certgen") {
				t.Errorf("hint %q", got.Hint)
			}
		})
	}
	// A Service no Deployment of zz backs: nothing to judge.
	objs := append(healthy(t), runtime.Object(&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "zz-webhook", Namespace: "zz-system"},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "elsewhere"}}}))
	if rs := Evaluate(Gather(t.Context(), fake.NewClientset(objs...), Probes{}), now); strings.Contains(lines(rs), "serving certificate") {
		t.Errorf("judged a certificate no zz Deployment serves:\n%s", lines(rs))
	}
}

// TestCACertificateHints: an ended or ending CA bundle names the CronJob to
// run, copy-pasteable (it used to say NAME).
func TestCACertificateHints(t *testing.T) {
	for _, tc := range []struct {
		ends time.Duration
		want Status
	}{{-24 * time.Hour, Fail}, {3 * 24 * time.Hour, Warn}} {
		wh := admissionregistrationv1.MutatingWebhook{Name: "pods.zz.io", ClientConfig: admissionregistrationv1.WebhookClientConfig{CABundle: caPEM(t, now.Add(tc.ends))}}
		r := certificate("zz-webhook", wh, now)
		if r.Status != tc.want || !strings.Contains(r.Hint, "kubectl -n zz-system create job --from=cronjob/zz-webhook-certgen zz-webhook-certgen-now") {
			t.Errorf("CA ending in %v: %s %q, hint %q", tc.ends, r.Status, r.Detail, r.Hint)
		}
	}
}
