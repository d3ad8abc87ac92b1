// Package certgen makes and keeps the webhook's serving certificate where
// cert-manager is not installed (the self-signed overlay's Job and CronJob run
// it as `zz-webhook certgen`): a CA and a serving certificate for the webhook
// Service's DNS names in a kubernetes.io/tls Secret, and the CA in the
// caBundle of every webhook of the MutatingWebhookConfiguration.
//
// It is idempotent: a Secret holding a certificate that verifies against its
// ca.crt for exactly the wanted names and does not expire within RenewBefore
// is kept, so running it twice changes nothing. A serving certificate is
// renewed with the same CA (the caBundle does not change, so no webhook call
// fails while the kubelet refreshes the mounted Secret); a new CA is made only
// when there is none, or it is near its end, and the previous one stays in
// ca.crt until it expires, so the old serving certificate is trusted until the
// webhook loads the new one.
package certgen

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/zzcloud/zz/internal/contract"
)

// Secret keys. tls.crt and tls.key are what the webhook serves (and what
// cert-manager writes too); ca.key lets a renewal keep the CA.
const (
	KeyCert   = corev1.TLSCertKey       // tls.crt
	KeyKey    = corev1.TLSPrivateKeyKey // tls.key
	KeyCACert = "ca.crt"
	KeyCAKey  = "ca.key"
)

// LabelManagedBy=ManagedBy marks a Secret certgen made; certgen replaces a
// bad certificate only in a Secret carrying it, never an admin's own.
const (
	LabelManagedBy = contract.LabelK8sManagedBy
	ManagedBy      = contract.CertgenName
)

// Config says what certificate the Secret must hold.
type Config struct {
	// DNSNames the serving certificate must cover, exactly (the Service's
	// names the apiserver dials).
	DNSNames []string
	// CAValidity and CertValidity are the lifetimes of a new CA and serving
	// certificate; RenewBefore is how long before its end a certificate is
	// replaced.
	CAValidity, CertValidity, RenewBefore time.Duration
}

// Validate checks the durations fit together and names are given.
func (c Config) Validate() error {
	switch {
	case len(c.DNSNames) == 0:
		return errors.New("no DNS names for the serving certificate")
	case c.RenewBefore <= 0 || c.CertValidity <= c.RenewBefore:
		return fmt.Errorf("the certificate validity (%s) must be longer than the renewal window (%s), which must be positive", c.CertValidity, c.RenewBefore)
	case c.CAValidity < c.CertValidity:
		return fmt.Errorf("the CA validity (%s) must be at least the certificate validity (%s)", c.CAValidity, c.CertValidity)
	}
	return nil
}

// Decision is what Plan found.
type Decision struct {
	// Issue is true when the Secret must be (re)written with Data.
	Issue bool
	// NewCA is true when Data holds a new CA (ca.crt changes).
	NewCA bool
	// Reason says why, in words: "valid until ...", "no Secret", "... expires ...".
	Reason string
	// Data is the Secret's data after the decision: the current one when
	// kept, the new one when issued.
	Data map[string][]byte
	// NotAfter is when the serving certificate in Data expires.
	NotAfter time.Time
}

// CABundle is the PEM the MutatingWebhookConfiguration must trust.
func (d Decision) CABundle() []byte { return d.Data[KeyCACert] }

// Plan decides whether secret (nil: it does not exist) holds a usable
// certificate for cfg at now, and makes a new one when it does not. A Secret
// that is not certgen's (no LabelManagedBy=ManagedBy) and does not hold a
// usable certificate is an error: certgen does not overwrite it.
func Plan(secret *corev1.Secret, cfg Config, now time.Time) (Decision, error) {
	if err := cfg.Validate(); err != nil {
		return Decision{}, err
	}
	if secret == nil {
		return issue(nil, cfg, now, "no Secret yet")
	}
	managed := secret.Labels[LabelManagedBy] == ManagedBy
	leaf, problem := check(secret.Data, cfg, now, managed)
	if problem == nil {
		return Decision{Data: secret.Data, NotAfter: leaf.NotAfter,
			Reason: "valid until " + leaf.NotAfter.UTC().Format(time.RFC3339)}, nil
	}
	if !managed {
		return Decision{}, fmt.Errorf("Secret %s/%s was not made by certgen (no label %s=%s) and %v; fix it, or delete it and certgen makes one",
			secret.Namespace, secret.Name, LabelManagedBy, ManagedBy, problem)
	}
	return issue(secret.Data, cfg, now, problem.Error())
}

// check returns the serving certificate when data holds a usable one, or
// what is wrong with it.
func check(data map[string][]byte, cfg Config, now time.Time, exactNames bool) (*x509.Certificate, error) {
	chain, err := parseCerts(data[KeyCert])
	if err != nil {
		return nil, fmt.Errorf("%s: %w", KeyCert, err)
	}
	if _, err := parseKeyPair(data[KeyCert], data[KeyKey]); err != nil {
		return nil, fmt.Errorf("%s: %w", KeyKey, err)
	}
	cas, err := parseCerts(data[KeyCACert])
	if err != nil {
		return nil, fmt.Errorf("%s: %w", KeyCACert, err)
	}
	leaf := chain[0]
	if left := leaf.NotAfter.Sub(now); left < cfg.RenewBefore {
		return leaf, fmt.Errorf("the serving certificate expires at %s, within the renewal window of %s", leaf.NotAfter.UTC().Format(time.RFC3339), cfg.RenewBefore)
	}
	roots, inter := x509.NewCertPool(), x509.NewCertPool()
	for _, ca := range cas {
		roots.AddCert(ca)
	}
	for _, c := range chain[1:] {
		inter.AddCert(c)
	}
	for _, name := range cfg.DNSNames {
		_, err := leaf.Verify(x509.VerifyOptions{DNSName: name, Roots: roots, Intermediates: inter, CurrentTime: now,
			KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
		var host x509.HostnameError
		if errors.As(err, &host) {
			return leaf, fmt.Errorf("the serving certificate is for %v, not %s", leaf.DNSNames, name)
		}
		if err != nil {
			return leaf, fmt.Errorf("the serving certificate does not verify against %s: %w", KeyCACert, err)
		}
	}
	if exactNames && !sameNames(leaf.DNSNames, cfg.DNSNames) {
		return leaf, fmt.Errorf("the serving certificate is for %v, want exactly %v", leaf.DNSNames, cfg.DNSNames)
	}
	for _, ca := range cas {
		if ca.CheckSignature(leaf.SignatureAlgorithm, leaf.RawTBSCertificate, leaf.Signature) == nil && ca.NotAfter.Sub(now) < cfg.RenewBefore {
			return leaf, fmt.Errorf("its CA expires at %s, within the renewal window of %s", ca.NotAfter.UTC().Format(time.RFC3339), cfg.RenewBefore)
		}
	}
	return leaf, nil
}

func sameNames(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(slices.Compact(a), slices.Compact(b))
}

// issue makes a serving certificate, signed by the CA in old when that one
// is usable for a full CertValidity, else by a new CA.
func issue(old map[string][]byte, cfg Config, now time.Time, reason string) (Decision, error) {
	ca, caKey := reusableCA(old, cfg, now)
	d := Decision{Issue: true, Reason: reason, Data: map[string][]byte{}}
	if ca == nil {
		var err error
		if ca, caKey, err = newCA(cfg, now); err != nil {
			return Decision{}, err
		}
		d.NewCA = true
		keyPEM, err := encodeKey(caKey)
		if err != nil {
			return Decision{}, err
		}
		// The previous CAs stay trusted until they expire: the webhook
		// serves the old certificate until the kubelet refreshes its files.
		bundle := pemCert(ca.Raw)
		if prev, err := parseCerts(old[KeyCACert]); err == nil {
			for _, c := range prev {
				if now.Before(c.NotAfter) && !c.Equal(ca) {
					bundle = append(bundle, pemCert(c.Raw)...)
				}
			}
		}
		d.Data[KeyCACert], d.Data[KeyCAKey] = bundle, keyPEM
	} else {
		d.Data[KeyCACert], d.Data[KeyCAKey] = old[KeyCACert], old[KeyCAKey]
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return Decision{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(), Subject: pkix.Name{CommonName: cfg.DNSNames[0]},
		NotBefore: now.Add(-5 * time.Minute), NotAfter: now.Add(cfg.CertValidity),
		DNSNames: cfg.DNSNames, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return Decision{}, fmt.Errorf("sign the serving certificate: %w", err)
	}
	keyPEM, err := encodeKey(key)
	if err != nil {
		return Decision{}, err
	}
	d.Data[KeyCert], d.Data[KeyKey], d.NotAfter = pemCert(der), keyPEM, tmpl.NotAfter
	return d, nil
}

// reusableCA returns the CA in old whose key is ca.key, when it outlives a
// new serving certificate.
func reusableCA(old map[string][]byte, cfg Config, now time.Time) (*x509.Certificate, crypto.Signer) {
	key, err := parseKey(old[KeyCAKey])
	if err != nil {
		return nil, nil
	}
	cas, err := parseCerts(old[KeyCACert])
	if err != nil {
		return nil, nil
	}
	for _, ca := range cas {
		pub, ok := key.Public().(interface{ Equal(crypto.PublicKey) bool })
		if ok && pub.Equal(ca.PublicKey) && ca.IsCA && now.After(ca.NotBefore) && !now.Add(cfg.CertValidity).After(ca.NotAfter) {
			return ca, key
		}
	}
	return nil, nil
}

func newCA(cfg Config, now time.Time) (*x509.Certificate, crypto.Signer, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: fmt.Sprintf("zz-webhook-ca@%d", now.Unix())},
		NotBefore:    now.Add(-5 * time.Minute), NotAfter: now.Add(cfg.CAValidity),
		IsCA: true, BasicConstraintsValid: true, MaxPathLenZero: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, fmt.Errorf("make the CA: %w", err)
	}
	ca, err := x509.ParseCertificate(der)
	return ca, key, err
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		panic(err) // crypto/rand does not fail
	}
	return n.Add(n, big.NewInt(1))
}

func pemCert(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func encodeKey(key crypto.Signer) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// parseCerts reads every CERTIFICATE block; anything else, or none, is an error.
func parseCerts(b []byte) ([]*x509.Certificate, error) {
	if len(bytes.TrimSpace(b)) == 0 {
		return nil, errors.New("missing or empty")
	}
	var certs []*x509.Certificate
	for rest := b; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			if len(bytes.TrimSpace(rest)) > 0 {
				return nil, errors.New("not PEM")
			}
			break
		}
		if block.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("a PEM block of type %q where a CERTIFICATE belongs", block.Type)
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, err
		}
		certs = append(certs, c)
	}
	if len(certs) == 0 {
		return nil, errors.New("no PEM certificate")
	}
	return certs, nil
}

func parseKey(b []byte) (crypto.Signer, error) {
	block, _ := pem.Decode(b)
	if block == nil {
		return nil, errors.New("missing or not PEM")
	}
	var key any
	var err error
	switch block.Type {
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(block.Bytes)
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	default:
		return nil, fmt.Errorf("a PEM block of type %q where a private key belongs", block.Type)
	}
	if err != nil {
		return nil, err
	}
	s, ok := key.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("unsupported key type %T", key)
	}
	return s, nil
}

// parseKeyPair checks key is the private key of cert's first certificate.
func parseKeyPair(cert, key []byte) (crypto.Signer, error) {
	k, err := parseKey(key)
	if err != nil {
		return nil, err
	}
	certs, err := parseCerts(cert)
	if err != nil {
		return nil, err
	}
	pub, ok := k.Public().(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(certs[0].PublicKey) {
		return nil, fmt.Errorf("the key does not belong to the certificate in %s", KeyCert)
	}
	return k, nil
}

// DNSNames are the names the apiserver may dial a Service by.
func DNSNames(service, namespace, clusterDomain string) []string {
	names := []string{service + "." + namespace + ".svc"}
	if d := strings.Trim(clusterDomain, "."); d != "" {
		names = append(names, names[0]+"."+d)
	}
	return names
}
