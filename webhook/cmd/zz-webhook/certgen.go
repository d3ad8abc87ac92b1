package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/klog/v2"

	"github.com/zzcloud/zz/internal/contract"
	"github.com/zzcloud/zz/internal/kubeconfig"
	"github.com/zzcloud/zz/webhook/certgen"
)

// certgenMain is `zz-webhook certgen`: the self-signed overlay's Job and
// CronJob. It exits 0 when the Secret and the caBundle are right (whether or
// not it changed them).
func certgenMain(args []string) int {
	fs := flag.NewFlagSet("zz-webhook certgen", flag.ContinueOnError)
	klog.InitFlags(fs)
	var (
		kube, ns, secret, service, domain, mwc string
		timeout                                time.Duration
		cfg                                    certgen.Config
	)
	fs.StringVar(&kube, "kubeconfig", "", "kubeconfig file; empty means in-cluster")
	fs.StringVar(&ns, "namespace", os.Getenv("POD_NAMESPACE"), "namespace of the webhook's Service and Secret (default $POD_NAMESPACE)")
	fs.StringVar(&secret, "secret", "zz-webhook-tls", "the kubernetes.io/tls Secret the webhook Deployment mounts")
	fs.StringVar(&service, "service", contract.ComponentWebhook, "the webhook's Service: the certificate is for <service>.<namespace>.svc and that name under --cluster-domain")
	fs.StringVar(&domain, "cluster-domain", "cluster.local", "the cluster's DNS domain; empty leaves the long name out")
	fs.StringVar(&mwc, "mutating-webhook-configuration", contract.ComponentWebhook, "the MutatingWebhookConfiguration whose every webhook gets the CA as caBundle")
	fs.DurationVar(&cfg.CAValidity, "ca-validity", 10*365*24*time.Hour, "lifetime of a new CA")
	fs.DurationVar(&cfg.CertValidity, "cert-validity", 365*24*time.Hour, "lifetime of a new serving certificate")
	fs.DurationVar(&cfg.RenewBefore, "renew-before", 30*24*time.Hour, "replace a certificate this long before it expires")
	fs.DurationVar(&timeout, "timeout", 5*time.Minute, "give up after this long (waiting for the MutatingWebhookConfiguration included)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if ns == "" {
		fmt.Fprintln(os.Stderr, "error: --namespace (or $POD_NAMESPACE) is required")
		return 2
	}
	cfg.DNSNames = certgen.DNSNames(service, ns, domain)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	defer klog.Flush()
	rc, err := kubeconfig.Load(kube, contract.CertgenName)
	if err != nil {
		klog.ErrorS(err, "certgen failed")
		return 1
	}
	client, err := kubernetes.NewForConfig(rc)
	if err != nil {
		klog.ErrorS(err, "certgen failed")
		return 1
	}
	res, err := certgen.Run(ctx, client, certgen.Options{Config: cfg, Namespace: ns, Secret: secret, WebhookConfiguration: mwc})
	if err != nil {
		klog.ErrorS(err, "certgen failed", "secret", ns+"/"+secret, "mutatingWebhookConfiguration", mwc)
		return 1
	}
	klog.InfoS("Webhook certificate ready", "secret", ns+"/"+secret, "dnsNames", cfg.DNSNames, "notAfter", res.NotAfter.UTC(),
		"issued", res.SecretWritten, "newCA", res.NewCA, "reason", res.Reason,
		"mutatingWebhookConfiguration", mwc, "caBundlePatched", res.BundlePatched)
	return 0
}
