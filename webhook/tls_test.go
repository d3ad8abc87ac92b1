package webhook

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

func writePair(t *testing.T, dir, cn string, mod time.Time) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), DNSNames: []string{cn}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	for name, block := range map[string]*pem.Block{"tls.crt": {Type: "CERTIFICATE", Bytes: der}, "tls.key": {Type: "EC PRIVATE KEY", Bytes: keyDER}} {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(path, mod, mod); err != nil {
			t.Fatal(err)
		}
	}
}

func TestCertReloaderRotates(t *testing.T) {
	dir := t.TempDir()
	r := &CertReloader{CertFile: filepath.Join(dir, "tls.crt"), KeyFile: filepath.Join(dir, "tls.key")}
	if err := r.Load(); err == nil {
		t.Fatal("loaded a missing pair")
	}
	t0 := time.Now().Add(-time.Minute)
	writePair(t, dir, "first", t0)
	cn := func() string {
		t.Helper()
		c, err := r.GetCertificate(nil)
		if err != nil {
			t.Fatal(err)
		}
		return c.Leaf.Subject.CommonName
	}
	if got := cn(); got != "first" {
		t.Fatalf("serving %s, want first", got)
	}
	writePair(t, dir, "second", t0.Add(time.Second))
	if got := cn(); got != "second" {
		t.Fatalf("after rotation serving %s, want second", got)
	}
	// A half-written rotation keeps the previous pair.
	if err := os.WriteFile(r.KeyFile, []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got := cn(); got != "second" {
		t.Fatalf("after a bad key serving %s, want second", got)
	}
	if err := os.Remove(r.CertFile); err != nil {
		t.Fatal(err)
	}
	if got := cn(); got != "second" {
		t.Fatalf("after the cert vanished serving %s, want second", got)
	}
}

// TestCertReloaderExportsNotAfter: the metric says when the served
// certificate ends, and follows a rotation.
func TestCertReloaderExportsNotAfter(t *testing.T) {
	dir := t.TempDir()
	r := &CertReloader{CertFile: filepath.Join(dir, "tls.crt"), KeyFile: filepath.Join(dir, "tls.key")}
	g := r.Collector()
	if got := testutil.ToFloat64(g); got != 0 {
		t.Errorf("with no certificate: %v, want 0", got)
	}
	writePair(t, dir, "first", time.Now().Add(-time.Minute))
	c, err := r.GetCertificate(nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := testutil.ToFloat64(g), float64(c.Leaf.NotAfter.Unix()); got != want {
		t.Errorf("not after %v, want %v", got, want)
	}
}
