package certgen

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"maps"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

var (
	t0    = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	names = DNSNames("zz-webhook", "zz-system", "cluster.local")
	cfg   = Config{DNSNames: names, CAValidity: 10 * 365 * 24 * time.Hour, CertValidity: 365 * 24 * time.Hour, RenewBefore: 30 * 24 * time.Hour}
)

func secretWith(data map[string][]byte, managed bool) *corev1.Secret {
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "zz-webhook-tls", Namespace: "zz-system"}, Type: corev1.SecretTypeTLS, Data: data}
	if managed {
		s.Labels = map[string]string{LabelManagedBy: ManagedBy}
	}
	return s
}

// issued is the data of a first run at t0.
func issued(t *testing.T) map[string][]byte {
	t.Helper()
	d, err := Plan(nil, cfg, t0)
	if err != nil || !d.Issue || !d.NewCA {
		t.Fatalf("first run: %+v, %v", d, err)
	}
	return d.Data
}

func with(data map[string][]byte, key string, value []byte) map[string][]byte {
	out := maps.Clone(data)
	if value == nil {
		delete(out, key)
	} else {
		out[key] = value
	}
	return out
}

// verifies checks data's serving certificate against its ca.crt for every name.
func verifies(t *testing.T, data map[string][]byte, names []string, now time.Time) {
	t.Helper()
	leaf, problem := check(data, Config{DNSNames: names, CAValidity: cfg.CAValidity, CertValidity: cfg.CertValidity, RenewBefore: time.Second}, now, true)
	if problem != nil {
		t.Fatalf("the issued certificate is not usable: %v", problem)
	}
	if leaf.NotAfter.Sub(now) < cfg.CertValidity-time.Minute {
		t.Fatalf("serving certificate valid until %s, want a full %s from %s", leaf.NotAfter, cfg.CertValidity, now)
	}
}

func TestPlan(t *testing.T) {
	base := issued(t)
	verifies(t, base, names, t0)
	other := issued(t) // another CA and certificate
	// A CA that ends in 200 days: too short for a one-year certificate.
	shortCA := func() map[string][]byte {
		c := cfg
		c.CAValidity, c.CertValidity, c.RenewBefore = 200*24*time.Hour, 100*24*time.Hour, 30*24*time.Hour
		d, err := Plan(nil, c, t0)
		if err != nil {
			t.Fatal(err)
		}
		return d.Data
	}()
	day := 24 * time.Hour

	for _, tc := range []struct {
		name    string
		secret  *corev1.Secret
		cfg     Config
		now     time.Time
		issue   bool
		newCA   bool
		reason  string // in Decision.Reason, or in the error with wantErr
		wantErr bool
	}{
		{name: "no Secret", secret: nil, now: t0, issue: true, newCA: true, reason: "no Secret"},
		{name: "second run keeps it", secret: secretWith(base, true), now: t0, reason: "valid until 2027-01-01"},
		{name: "a month later keeps it", secret: secretWith(base, true), now: t0.Add(30 * day), reason: "valid until"},
		{name: "inside the renewal window: new certificate, same CA", secret: secretWith(base, true), now: t0.Add(340 * day),
			issue: true, reason: "expires at 2027-01-01T00:00:00Z, within the renewal window"},
		{name: "expired: new certificate, same CA", secret: secretWith(base, true), now: t0.Add(400 * day), issue: true, reason: "expires"},
		{name: "other DNS names: new certificate, same CA", secret: secretWith(base, true),
			cfg: Config{DNSNames: DNSNames("zz-webhook", "other-ns", "cluster.local")}, now: t0, issue: true, reason: "not zz-webhook.other-ns.svc"},
		{name: "a name fewer: new certificate", secret: secretWith(base, true),
			cfg: Config{DNSNames: DNSNames("zz-webhook", "zz-system", "")}, now: t0, issue: true, reason: "want exactly [zz-webhook.zz-system.svc]"},
		{name: "tls.crt garbage: new certificate, same CA", secret: secretWith(with(base, KeyCert, []byte("garbage")), true), now: t0,
			issue: true, reason: "tls.crt: not PEM"},
		{name: "tls.key missing", secret: secretWith(with(base, KeyKey, nil), true), now: t0, issue: true, reason: "tls.key: missing or not PEM"},
		{name: "tls.key of another certificate", secret: secretWith(with(base, KeyKey, other[KeyKey]), true), now: t0,
			issue: true, reason: "tls.key: the key does not belong to the certificate"},
		{name: "ca.crt of another CA", secret: secretWith(with(base, KeyCACert, other[KeyCACert]), true), now: t0,
			issue: true, newCA: true, reason: "does not verify against ca.crt"},
		{name: "ca.crt missing, ca.key kept: new CA", secret: secretWith(with(base, KeyCACert, nil), true), now: t0,
			issue: true, newCA: true, reason: "ca.crt: missing or empty"},
		{name: "ca.key garbage and expiring: new CA", secret: secretWith(with(base, KeyCAKey, []byte("x")), true), now: t0.Add(350 * day),
			issue: true, newCA: true, reason: "expires"},
		{name: "CA too short for another certificate: new CA", secret: secretWith(shortCA, true), now: t0.Add(80 * day),
			issue: true, newCA: true, reason: "expires"},
		{name: "CA in its renewal window, certificate not: new CA", secret: secretWith(craft(t, 100*day, 365*day), true), now: t0.Add(80 * day),
			issue: true, newCA: true, reason: "its CA expires at 2026-04-11T00:00:00Z"},
		{name: "not ours but valid: kept (e.g. cert-manager's, no ca.key)", secret: secretWith(with(base, KeyCAKey, nil), false), now: t0,
			reason: "valid until"},
		{name: "not ours and malformed: refused", secret: secretWith(with(base, KeyCert, []byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")), false),
			now: t0, wantErr: true, reason: "Secret zz-system/zz-webhook-tls was not made by certgen (no label app.kubernetes.io/managed-by=zz-webhook-certgen) and tls.crt: x509:"},
		{name: "not ours and without ca.crt: refused", secret: secretWith(with(base, KeyCACert, nil), false), now: t0,
			wantErr: true, reason: "ca.crt: missing or empty; fix it, or delete it"},
		{name: "not ours and expiring: refused", secret: secretWith(base, false), now: t0.Add(350 * day), wantErr: true, reason: "expires"},
		{name: "empty Secret of ours", secret: secretWith(nil, true), now: t0, issue: true, newCA: true, reason: "tls.crt: missing or empty"},
		{name: "a key where the certificate belongs", secret: secretWith(with(base, KeyCert, base[KeyKey]), true), now: t0,
			issue: true, reason: `a PEM block of type "PRIVATE KEY" where a CERTIFICATE belongs`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := cfg
			if tc.cfg.DNSNames != nil {
				c.DNSNames = tc.cfg.DNSNames
			}
			if tc.cfg.CertValidity != 0 {
				c.CAValidity, c.CertValidity, c.RenewBefore = tc.cfg.CAValidity, tc.cfg.CertValidity, tc.cfg.RenewBefore
			}
			d, err := Plan(tc.secret, c, tc.now)
			if tc.wantErr {
				if err == nil || !strings.Contains(err.Error(), tc.reason) {
					t.Fatalf("error %v, want one containing %q", err, tc.reason)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if d.Issue != tc.issue || d.NewCA != tc.newCA || !strings.Contains(d.Reason, tc.reason) {
				t.Fatalf("issue=%v newCA=%v reason %q; want issue=%v newCA=%v reason containing %q", d.Issue, d.NewCA, d.Reason, tc.issue, tc.newCA, tc.reason)
			}
			if !d.Issue {
				if tc.secret == nil || !maps.EqualFunc(d.Data, tc.secret.Data, bytes.Equal) {
					t.Fatal("a kept certificate's data changed")
				}
				return
			}
			verifies(t, d.Data, c.DNSNames, tc.now)
			// What was issued is kept by the next run.
			again, err := Plan(secretWith(d.Data, true), c, tc.now)
			if err != nil || again.Issue {
				t.Fatalf("the next run would not keep what this one issued: %+v, %v", again, err)
			}
			if tc.secret == nil {
				return
			}
			old := tc.secret.Data
			if !tc.newCA {
				if !bytes.Equal(d.Data[KeyCACert], old[KeyCACert]) || !bytes.Equal(d.Data[KeyCAKey], old[KeyCAKey]) {
					t.Fatal("a renewal with a usable CA changed the CA")
				}
				return
			}
			// A new CA is first in the bundle; a previous one that still
			// lives stays, so the certificate served now keeps verifying.
			bundle, err := parseCerts(d.Data[KeyCACert])
			if err != nil {
				t.Fatal(err)
			}
			if prev, err := parseCerts(old[KeyCACert]); err == nil {
				for _, p := range prev {
					if tc.now.Before(p.NotAfter) && !containsCert(bundle[1:], p) {
						t.Fatalf("the previous CA %s left the bundle while it lives", p.Subject)
					}
				}
				if leaf, err := parseCerts(old[KeyCert]); err == nil && tc.now.Before(leaf[0].NotAfter) {
					pool := x509.NewCertPool()
					for _, c := range bundle {
						pool.AddCert(c)
					}
					if _, err := leaf[0].Verify(x509.VerifyOptions{Roots: pool, CurrentTime: tc.now}); err != nil && tc.name != "ca.crt of another CA" {
						t.Fatalf("the certificate served until the webhook reloads no longer verifies against the new bundle: %v", err)
					}
				}
			}
		})
	}
}

// craft makes data whose CA lives caLife and whose serving certificate
// lives leafLife from t0, which certgen itself never issues.
func craft(t *testing.T, caLife, leafLife time.Duration) map[string][]byte {
	t.Helper()
	ca, caKey, err := newCA(Config{CAValidity: caLife}, t0)
	if err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: serial(), NotBefore: t0, NotAfter: t0.Add(leafLife), DNSNames: names,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, KeyUsage: x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyPEM, err := encodeKey(key)
	if err != nil {
		t.Fatal(err)
	}
	caKeyPEM, err := encodeKey(caKey)
	if err != nil {
		t.Fatal(err)
	}
	return map[string][]byte{KeyCert: pemCert(der), KeyKey: keyPEM, KeyCACert: pemCert(ca.Raw), KeyCAKey: caKeyPEM}
}

func containsCert(certs []*x509.Certificate, c *x509.Certificate) bool {
	for _, x := range certs {
		if x.Equal(c) {
			return true
		}
	}
	return false
}

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{CAValidity: 2, CertValidity: 2, RenewBefore: 1}, "no DNS names"},
		{Config{DNSNames: names, CAValidity: 2, CertValidity: 1, RenewBefore: 1}, "must be longer than the renewal window"},
		{Config{DNSNames: names, CAValidity: 2, CertValidity: 2, RenewBefore: 0}, "must be positive"},
		{Config{DNSNames: names, CAValidity: 1, CertValidity: 3, RenewBefore: 1}, "the CA validity"},
	} {
		if err := tc.cfg.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", tc.cfg, err, tc.want)
		}
		if _, err := Plan(nil, tc.cfg, t0); err == nil {
			t.Errorf("Plan accepted %+v", tc.cfg)
		}
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestDNSNames(t *testing.T) {
	if got := DNSNames("zz-webhook", "zz-system", "cluster.local."); strings.Join(got, ",") != "zz-webhook.zz-system.svc,zz-webhook.zz-system.svc.cluster.local" {
		t.Fatal(got)
	}
	if got := DNSNames("a", "b", ""); strings.Join(got, ",") != "a.b.svc" {
		t.Fatal(got)
	}
}
