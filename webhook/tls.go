package webhook

import (
	"crypto/tls"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/klog/v2"
)

// CertReloader serves the certificate in CertFile/KeyFile (a mounted
// Secret) and reloads it when either file's modification time changes, so
// a rotated certificate is used by the next TLS handshake without a restart.
// A pair that does not load (half-written, mismatched) is logged and the
// previous one is kept.
type CertReloader struct {
	CertFile, KeyFile string

	mu              sync.Mutex
	cert            *tls.Certificate
	certMod, keyMod time.Time
	lastErr         error
}

// Load reads the pair now; call it once at start-up to fail early.
func (r *CertReloader) Load() error {
	_, err := r.GetCertificate(nil)
	return err
}

// GetCertificate is tls.Config.GetCertificate.
func (r *CertReloader) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	certInfo, err := os.Stat(r.CertFile)
	if err != nil {
		return r.keep(fmt.Errorf("serving certificate: %w", err))
	}
	keyInfo, err := os.Stat(r.KeyFile)
	if err != nil {
		return r.keep(fmt.Errorf("serving key: %w", err))
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cert != nil && certInfo.ModTime().Equal(r.certMod) && keyInfo.ModTime().Equal(r.keyMod) {
		return r.cert, nil
	}
	pair, err := tls.LoadX509KeyPair(r.CertFile, r.KeyFile)
	if err != nil {
		if r.cert == nil {
			return nil, fmt.Errorf("load the serving certificate %s and key %s: %w", r.CertFile, r.KeyFile, err)
		}
		if r.lastErr == nil || r.lastErr.Error() != err.Error() {
			klog.ErrorS(err, "Rotated serving certificate does not load; keeping the previous one", "cert", r.CertFile, "key", r.KeyFile)
		}
		r.lastErr = err
		return r.cert, nil
	}
	r.cert, r.certMod, r.keyMod, r.lastErr = &pair, certInfo.ModTime(), keyInfo.ModTime(), nil
	klog.InfoS("Serving certificate loaded", "cert", r.CertFile, "notAfter", pair.Leaf.NotAfter)
	return r.cert, nil
}

func (r *CertReloader) keep(err error) (*tls.Certificate, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cert == nil {
		return nil, err
	}
	// Said once, not at every handshake: a Secret unmounted or a file
	// removed leaves the loaded certificate served until it ends.
	if r.lastErr == nil || r.lastErr.Error() != err.Error() {
		klog.ErrorS(err, "Serving certificate files unreadable; keeping the loaded one", "cert", r.CertFile, "key", r.KeyFile, "notAfter", r.cert.Leaf.NotAfter)
	}
	r.lastErr = err
	return r.cert, nil
}

// Collector exports when the served certificate ends (read at each
// scrape, which also picks a rotated one up), for ZZWebhookCertificateExpiring:
// an expired one refuses every pod of the opted-in namespaces under
// failurePolicy Fail, and nothing watched it (an SRE audit).
func (r *CertReloader) Collector() prometheus.Collector {
	return prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "zz_webhook_serving_certificate_not_after_seconds",
		Help: "When the webhook's serving certificate ends, in Unix seconds.",
	}, func() float64 {
		c, err := r.GetCertificate(nil)
		if err != nil || c.Leaf == nil {
			return 0
		}
		return float64(c.Leaf.NotAfter.Unix())
	})
}
