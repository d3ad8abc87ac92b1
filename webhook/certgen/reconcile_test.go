package certgen

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

func mwc(caBundles ...[]byte) *admissionregistrationv1.MutatingWebhookConfiguration {
	cfg := &admissionregistrationv1.MutatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: "zz-webhook"}}
	for i, b := range caBundles {
		cfg.Webhooks = append(cfg.Webhooks, admissionregistrationv1.MutatingWebhook{
			Name: []string{"pods.zz.io", "other.zz.io"}[i], ClientConfig: admissionregistrationv1.WebhookClientConfig{CABundle: b}})
	}
	return cfg
}

func options(now time.Time) Options {
	return Options{Config: cfg, Namespace: "zz-system", Secret: "zz-webhook-tls", WebhookConfiguration: "zz-webhook",
		Now: func() time.Time { return now }, Poll: 10 * time.Millisecond}
}

// writes lists the create, update and patch calls a client saw.
func writes(c *fake.Clientset) []string {
	var out []string
	for _, a := range c.Actions() {
		switch a.GetVerb() {
		case "create", "update", "patch", "delete":
			out = append(out, a.GetVerb()+" "+a.GetResource().Resource)
		}
	}
	return out
}

func TestRun(t *testing.T) {
	ctx := t.Context()
	client := fake.NewClientset(mwc(nil, []byte("stale")))
	res, err := Run(ctx, client, options(t0))
	if err != nil {
		t.Fatal(err)
	}
	if !res.SecretWritten || !res.BundlePatched || !res.NewCA {
		t.Fatalf("first run: %+v", res)
	}
	if got := strings.Join(writes(client), ","); got != "patch mutatingwebhookconfigurations,create secrets" {
		t.Fatalf("first run wrote %s; want the caBundle first, then the Secret", got)
	}
	s, err := client.CoreV1().Secrets("zz-system").Get(ctx, "zz-webhook-tls", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if s.Type != corev1.SecretTypeTLS || s.Labels[LabelManagedBy] != ManagedBy {
		t.Fatalf("Secret type %q labels %v", s.Type, s.Labels)
	}
	verifies(t, s.Data, names, t0)
	cfgNow, err := client.AdmissionregistrationV1().MutatingWebhookConfigurations().Get(ctx, "zz-webhook", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range cfgNow.Webhooks {
		if !bytes.Equal(w.ClientConfig.CABundle, s.Data[KeyCACert]) {
			t.Fatalf("webhook %s has caBundle %q, want the Secret's ca.crt", w.Name, w.ClientConfig.CABundle)
		}
	}

	// Twice is once: nothing written.
	client.ClearActions()
	res, err = Run(ctx, client, options(t0.Add(time.Hour)))
	if err != nil {
		t.Fatal(err)
	}
	if res.SecretWritten || res.BundlePatched || len(writes(client)) > 0 {
		t.Fatalf("second run changed things: %+v, %v", res, writes(client))
	}

	// Someone reset the caBundle (an apply of an old manifest): only that is mended.
	if _, err := client.AdmissionregistrationV1().MutatingWebhookConfigurations().Update(ctx, mwc(nil, s.Data[KeyCACert]), metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	client.ClearActions()
	if res, err = Run(ctx, client, options(t0.Add(time.Hour))); err != nil || res.SecretWritten || !res.BundlePatched {
		t.Fatalf("caBundle reset: %+v, %v", res, err)
	}
	if got := strings.Join(writes(client), ","); got != "patch mutatingwebhookconfigurations" {
		t.Fatalf("wrote %s", got)
	}

	// Near expiry: a new certificate from the same CA, the bundle untouched.
	client.ClearActions()
	res, err = Run(ctx, client, options(t0.Add(350*24*time.Hour)))
	if err != nil {
		t.Fatal(err)
	}
	if !res.SecretWritten || res.BundlePatched || res.NewCA {
		t.Fatalf("renewal: %+v", res)
	}
	if got := strings.Join(writes(client), ","); got != "update secrets" {
		t.Fatalf("renewal wrote %s", got)
	}
}

func TestRunWaitsForTheConfiguration(t *testing.T) {
	client := fake.NewClientset()
	go func() {
		time.Sleep(50 * time.Millisecond)
		_, _ = client.AdmissionregistrationV1().MutatingWebhookConfigurations().Create(context.Background(), mwc(nil), metav1.CreateOptions{})
	}()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if res, err := Run(ctx, client, options(t0)); err != nil || !res.BundlePatched {
		t.Fatalf("%+v, %v", res, err)
	}

	ctx, cancel = context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	_, err := Run(ctx, fake.NewClientset(), options(t0))
	if err == nil || !strings.Contains(err.Error(), "MutatingWebhookConfiguration zz-webhook does not exist (context deadline exceeded); apply the whole overlay") {
		t.Fatalf("no configuration: %v", err)
	}
}

func TestRunRefusesAForeignSecret(t *testing.T) {
	foreign := secretWith(map[string][]byte{KeyCert: []byte("x"), KeyKey: []byte("y")}, false)
	client := fake.NewClientset(mwc(nil), foreign)
	_, err := Run(t.Context(), client, options(t0))
	if err == nil || !strings.Contains(err.Error(), "was not made by certgen") || !strings.Contains(err.Error(), "tls.crt: not PEM") {
		t.Fatalf("foreign malformed Secret: %v", err)
	}
	if w := writes(client); len(w) > 0 {
		t.Fatalf("wrote %v", w)
	}
}

func TestRunRetriesAConflict(t *testing.T) {
	client := fake.NewClientset(mwc(nil))
	// Another run creates the Secret between our read and our create.
	racer := true
	client.PrependReactor("create", "secrets", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if !racer {
			return false, nil, nil
		}
		racer = false
		d, err := Plan(nil, cfg, t0)
		if err != nil {
			t.Fatal(err)
		}
		s := secretWith(d.Data, true)
		if err := client.Tracker().Add(s); err != nil {
			t.Fatal(err)
		}
		return false, nil, nil // the tracker now answers AlreadyExists
	})
	res, err := Run(t.Context(), client, options(t0))
	if err != nil {
		t.Fatal(err)
	}
	// The second attempt found the other run's valid certificate and kept it,
	// trusting its CA.
	if res.SecretWritten || res.Issue {
		t.Fatalf("%+v", res)
	}
	got, err := client.AdmissionregistrationV1().MutatingWebhookConfigurations().Get(t.Context(), "zz-webhook", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	s, _ := client.CoreV1().Secrets("zz-system").Get(t.Context(), "zz-webhook-tls", metav1.GetOptions{})
	if !bytes.Equal(got.Webhooks[0].ClientConfig.CABundle, s.Data[KeyCACert]) {
		t.Fatal("caBundle is not the winning run's CA")
	}
}
