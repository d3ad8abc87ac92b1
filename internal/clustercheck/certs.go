package clustercheck

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"

	"github.com/zzcloud/zz/internal/contract"
)

// certgenHint is how to renew the self-signed certificates now.
var certgenHint = "run certgen now: kubectl -n " + contract.SystemNamespace + " create job --from=cronjob/" + contract.CertgenName +
	" " + contract.CertgenName + "-now; with cert-manager, kubectl -n " + contract.SystemNamespace + " describe certificate"

func certificate(cfg string, wh admissionregistrationv1.MutatingWebhook, now time.Time) Result {
	r := Result{Group: GroupWebhook, Name: cfg + " " + wh.Name + " certificate"}
	block, _ := pem.Decode(wh.ClientConfig.CABundle)
	if block == nil {
		r.Status, r.Detail = Fail, "no CA bundle: the API server cannot trust the webhook, so it cannot call it"
		// A finished Job says nothing: a helm rollback that re-created the
		// configuration ran none (an admin's audit); certgen keeps a valid
		// certificate and writes its CA back.
		r.Hint = certgenHint + " and its CA injector (the cert-manager overlay)"
		return r
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		r.Status, r.Detail = Fail, "the CA bundle is no certificate: "+err.Error()
		return r
	}
	switch r.Status, r.Detail = expiry("CA", cert.NotAfter, now); r.Status {
	case Fail:
		r.Hint = certgenHint
	case Warn:
		r.Hint = "certgen renews it before it ends; check its CronJob (kubectl -n " + contract.SystemNamespace + " get cronjob " + contract.CertgenName + "), or " + certgenHint
	default:
		r.Detail = fmt.Sprintf("CA valid until %s (%s)", cert.NotAfter.UTC().Format(time.DateOnly), days(cert.NotAfter.Sub(now)))
	}
	return r
}

// expiry judges a certificate's end: Fail with "the WHAT expired on ..."
// once past, Warn with "the WHAT expires on ..., in N days" within
// CertWarnBefore, else OK with no detail.
func expiry(what string, notAfter, now time.Time) (Status, string) {
	switch left := notAfter.Sub(now); {
	case left <= 0:
		return Fail, fmt.Sprintf("the %s expired on %s", what, notAfter.UTC().Format(time.DateOnly))
	case left < CertWarnBefore:
		return Warn, fmt.Sprintf("the %s expires on %s, in %s", what, notAfter.UTC().Format(time.DateOnly), days(left))
	}
	return OK, ""
}

// ServingCert is the certificate a webhook Service's pods serve: the
// tls.crt of the Secret their Deployment mounts (Secret "namespace/name";
// "" when no Deployment of zz backs the Service, and nothing is judged).
type ServingCert struct {
	Secret string
	PEM    []byte
	Err    error
}

// servingCert reads the certificate the pods behind Service ns/name serve:
// the CA bundle lasts ten years, the serving certificate one, and it is
// the one that ends the webhook's calls when certgen stops renewing it.
func servingCert(ctx context.Context, c kubernetes.Interface, ns, name string, deps []appsv1.Deployment) ServingCert {
	svc, err := c.CoreV1().Services(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil || len(svc.Spec.Selector) == 0 {
		return ServingCert{} // the endpoints check says what is missing
	}
	sel := labels.SelectorFromSet(svc.Spec.Selector)
	for _, d := range deps {
		if d.Namespace != ns || !sel.Matches(labels.Set(d.Spec.Template.Labels)) {
			continue
		}
		for _, v := range d.Spec.Template.Spec.Volumes {
			if v.Secret == nil {
				continue
			}
			sc := ServingCert{Secret: ns + "/" + v.Secret.SecretName}
			secret, err := c.CoreV1().Secrets(ns).Get(ctx, v.Secret.SecretName, metav1.GetOptions{})
			if err != nil {
				sc.Err = err
				return sc
			}
			if crt, ok := secret.Data[corev1.TLSCertKey]; ok {
				sc.PEM = crt
				return sc
			}
		}
	}
	return ServingCert{}
}

// servingCertificate judges the serving certificate: within its dates, and
// verified by the CA bundle for the Service's DNS name, as the apiserver
// verifies it when it calls the webhook.
func servingCertificate(cfg string, wh admissionregistrationv1.MutatingWebhook, sc ServingCert, now time.Time) Result {
	what := "serving certificate (Secret " + sc.Secret + ")"
	r := Result{Group: GroupWebhook, Name: cfg + " " + wh.Name + " serving certificate", Status: Fail, Hint: certgenHint}
	if sc.Err != nil {
		if apierrors.IsNotFound(sc.Err) {
			r.Detail = "Secret " + sc.Secret + " does not exist: the webhook's pods cannot start"
			return r
		}
		return unreadable(GroupWebhook, "the webhook's "+what, sc.Err)
	}
	var chain []*x509.Certificate
	for rest := sc.PEM; ; {
		var block *pem.Block
		if block, rest = pem.Decode(rest); block == nil {
			break
		}
		if cert, err := x509.ParseCertificate(block.Bytes); err == nil {
			chain = append(chain, cert)
		}
	}
	if len(chain) == 0 {
		r.Detail = "the " + what + " holds no certificate"
		return r
	}
	leaf := chain[0]
	ends, endsDetail := expiry(what, leaf.NotAfter, now)
	if ends == Fail {
		r.Detail = endsDetail + ": the API server refuses the webhook's TLS, so pods in opted-in namespaces cannot be created"
		return r
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(wh.ClientConfig.CABundle) {
		r.Status, r.Detail, r.Hint = Warn, "the "+what+" cannot be verified without a CA bundle", ""
		return r
	}
	inter := x509.NewCertPool()
	for _, c := range chain[1:] {
		inter.AddCert(c)
	}
	dns := wh.ClientConfig.Service.Name + "." + wh.ClientConfig.Service.Namespace + ".svc"
	if _, err := leaf.Verify(x509.VerifyOptions{DNSName: dns, Roots: roots, Intermediates: inter, CurrentTime: now}); err != nil {
		r.Detail = fmt.Sprintf("the %s does not verify for %s against the CA bundle, so the API server refuses it: %v", what, dns, err)
		return r
	}
	if ends == Warn {
		r.Status, r.Detail = Warn, endsDetail
		return r
	}
	r.Status, r.Detail, r.Hint = OK, fmt.Sprintf("valid for %s until %s (%s), signed by the CA bundle", dns, leaf.NotAfter.UTC().Format(time.DateOnly), days(leaf.NotAfter.Sub(now))), ""
	return r
}
