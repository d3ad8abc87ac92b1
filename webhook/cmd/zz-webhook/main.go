// zz-webhook is the zz mutating admission webhook server (see package webhook).
// `zz-webhook certgen` makes and keeps its serving certificate where
// cert-manager is not installed (see package certgen).
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/tools/record"
	"k8s.io/klog/v2"

	"github.com/zzcloud/zz/internal/contract"
	"github.com/zzcloud/zz/internal/inject"
	"github.com/zzcloud/zz/internal/kubeconfig"
	"github.com/zzcloud/zz/internal/serve"
	"github.com/zzcloud/zz/internal/version"
	"github.com/zzcloud/zz/webhook"
)

type options struct {
	kubeconfig   string
	listen       string
	health       string
	limits       webhook.Limits
	certFile     string
	keyFile      string
	policy       string
	namespace    string
	shutdownWait time.Duration
	version      bool
	// schedulerLease is zz-scheduler's leader-election Lease, namespace/name;
	// "" routes pods to it whatever its state.
	schedulerLease string
	leaseGrace     time.Duration
	// fallback leaves routed pods to the default scheduler while the Lease
	// says zz-scheduler is down; without it the Lease is still followed,
	// for zz_webhook_scheduler_up (the ZZSchedulerDown alert) and /readyz.
	fallback bool
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == "certgen" {
		os.Exit(certgenMain(os.Args[2:]))
	}
	o := options{}
	klog.InitFlags(nil)
	flag.StringVar(&o.kubeconfig, "kubeconfig", "", "kubeconfig file; empty means in-cluster")
	flag.StringVar(&o.listen, "listen-address", ":8443", "address to serve HTTPS on: /mutate-pods, /healthz, /readyz")
	flag.StringVar(&o.health, "health-address", "", "address serving /healthz, /readyz and /metrics over HTTP, for probes and Prometheus (the manifests use :8893); empty for none")
	o.limits = webhook.DefaultLimits
	flag.Int64Var(&o.limits.MaxBodyBytes, "max-review-bytes", o.limits.MaxBodyBytes, "largest admission review decoded; a pod's review up to twice it is refused with its size and the fix, a bigger one gets 413 before it is read")
	flag.Int64Var(&o.limits.SmallBodyBytes, "small-review-bytes", o.limits.SmallBodyBytes, "reviews up to this size are ordinary pods, served in their own lane")
	flag.Int64Var(&o.limits.MaxSmallInFlight, "max-small-reviews", o.limits.MaxSmallInFlight, "ordinary reviews served at once")
	flag.Int64Var(&o.limits.MaxLargeBytes, "max-large-review-bytes", o.limits.MaxLargeBytes, "total size of the bigger reviews served at once")
	flag.DurationVar(&o.limits.QueueWait, "review-queue-wait", o.limits.QueueWait, "how long a review waits for room before a 429")
	flag.IntVar(&o.limits.QuietGCPercent, "quiet-gc-percent", o.limits.QuietGCPercent, "GOGC while no review bigger than --small-review-bytes is in flight (a big one restores the runtime's until it is answered); 0 leaves GOGC alone, and a GOGC set in the environment wins")
	flag.StringVar(&o.certFile, "tls-cert-file", "", "serving certificate (PEM), e.g. tls.crt of a mounted Secret; reloaded when it changes")
	flag.StringVar(&o.keyFile, "tls-private-key-file", "", "serving key (PEM), e.g. tls.key of a mounted Secret; reloaded when it changes")
	flag.StringVar(&o.policy, "policy-configmap", contract.PolicyConfigMap, "the policy ConfigMap: name (in --namespace) or namespace/name")
	flag.StringVar(&o.namespace, "namespace", os.Getenv("POD_NAMESPACE"), "the webhook's own namespace, never mutated (default $POD_NAMESPACE)")
	flag.DurationVar(&o.shutdownWait, "shutdown-grace", 10*time.Second, "time to finish reviews in flight after SIGTERM")
	flag.StringVar(&o.schedulerLease, "scheduler-lease", contract.SystemNamespace+"/"+contract.SchedulerName,
		"namespace/name of "+contract.SchedulerName+"'s leader-election Lease (its configuration's leaderElection): while no leader renews it, pods the policy routes to "+contract.SchedulerName+" are left to the default scheduler (GPU pods are not); empty to route them whatever its state")
	flag.DurationVar(&o.leaseGrace, "scheduler-lease-grace", webhook.DefaultLeaseGrace, "how long past its lease duration "+contract.SchedulerName+"'s lease may go unrenewed before it counts as down")
	flag.BoolVar(&o.fallback, "scheduler-fallback", true, "while "+contract.SchedulerName+" is down (--scheduler-lease), leave the pods the policy routes there to the default scheduler; false makes them wait for it, with the Lease still followed for zz_webhook_scheduler_up")
	flag.BoolVar(&o.version, "version", false, "print the version and exit")
	flag.Parse()
	if o.version {
		fmt.Println(version.Banner(contract.ComponentWebhook))
		return
	}
	if err := run(o); err != nil {
		klog.ErrorS(err, "zz-webhook failed")
		klog.Flush()
		os.Exit(1)
	}
}

func (o *options) validate() (types.NamespacedName, error) {
	if o.certFile == "" || o.keyFile == "" {
		return types.NamespacedName{}, errors.New("--tls-cert-file and --tls-private-key-file are required: the apiserver calls webhooks over HTTPS only")
	}
	if l := o.limits; l.MaxBodyBytes <= 0 || l.SmallBodyBytes <= 0 || l.MaxSmallInFlight <= 0 || l.MaxLargeBytes < l.MaxBodyBytes || l.QueueWait <= 0 || l.QuietGCPercent < 0 {
		return types.NamespacedName{}, fmt.Errorf("review limits %+v: every limit must be positive (--quiet-gc-percent may be 0), and --max-large-review-bytes at least --max-review-bytes", l)
	}
	if o.namespace == "" {
		return types.NamespacedName{}, errors.New("--namespace (or $POD_NAMESPACE) is required: the webhook never mutates its own namespace")
	}
	if o.schedulerLease != "" {
		if ns, name, ok := strings.Cut(o.schedulerLease, "/"); !ok || ns == "" || name == "" || strings.Contains(name, "/") {
			return types.NamespacedName{}, fmt.Errorf("--scheduler-lease %q must be namespace/name, e.g. %s/%s (or empty)", o.schedulerLease, contract.SystemNamespace, contract.SchedulerName)
		}
		if o.leaseGrace <= 0 {
			return types.NamespacedName{}, fmt.Errorf("--scheduler-lease-grace %v must be positive", o.leaseGrace)
		}
	}
	src := types.NamespacedName{Namespace: o.namespace, Name: o.policy}
	if ns, name, ok := strings.Cut(o.policy, "/"); ok {
		src = types.NamespacedName{Namespace: ns, Name: name}
	}
	return src, nil
}

// schedulerLease is the follower of --scheduler-lease, nil when empty.
func (o *options) schedulerLeaseFollower() *webhook.SchedulerLease {
	ns, name, ok := strings.Cut(o.schedulerLease, "/")
	if !ok {
		return nil
	}
	return &webhook.SchedulerLease{Scheduler: contract.SchedulerName, Lease: types.NamespacedName{Namespace: ns, Name: name}, Grace: o.leaseGrace, NoFallback: !o.fallback}
}

// servingLimits: the apiserver sends a review in one go and waits at most
// the configuration's timeoutSeconds (5 s here, 30 s at most) for the reply,
// and keeps its connections busy; anything slower is not the apiserver.
// http1Only serves reviews over HTTP/1.1 alone, as controller-runtime's
// webhooks do since the HTTP/2 rapid-reset CVEs (CVE-2023-44487,
// CVE-2023-39325): each review then costs the webhook and the apiserver less
// CPU than an HTTP/2 stream (webhook/README.md, "Figures"), and the apiserver's
// calls spread over several connections, so over replicas behind the Service.
func http1Only() *http.Protocols {
	var p http.Protocols
	p.SetHTTP1(true)
	return &p
}

// ready is the policy's readiness and the LimitRange informer's: a webhook
// that has not listed the LimitRanges would lower CPU requests under them.
func ready(policy func() (string, error), limitRanges func() (string, error)) (string, error) {
	detail, err := policy()
	if err != nil {
		return detail, err
	}
	lrDetail, err := limitRanges()
	if lrDetail != "" {
		detail += "; " + lrDetail
	}
	return detail, err
}

var servingLimits = serve.Limits{ReadTimeout: 10 * time.Second, WriteTimeout: 35 * time.Second, IdleTimeout: 60 * time.Second, MaxConns: 512}

func run(o options) error {
	src, err := o.validate()
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	logger := klog.FromContext(ctx)
	serve.SetMemoryLimit(logger)
	certs := &webhook.CertReloader{CertFile: o.certFile, KeyFile: o.keyFile}
	if err := certs.Load(); err != nil {
		return err
	}
	cfg, err := kubeconfig.Load(o.kubeconfig, contract.ComponentWebhook)
	if err != nil {
		return err
	}
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	broadcaster := record.NewBroadcaster(record.WithContext(ctx))
	broadcaster.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: client.CoreV1().Events("")})
	defer broadcaster.Shutdown()
	recorder := broadcaster.NewRecorder(scheme.Scheme, corev1.EventSource{Component: contract.ComponentWebhook})

	store := webhook.NewPolicyStore(src, recorder)
	namespaces := webhook.NewNamespaces(client)
	h := webhook.Handler{
		Policy: store.Current, NamespaceLabels: namespaces.Labels, LimitRanges: namespaces.LimitRanges,
		Ready:        func() (string, error) { return ready(store.Ready, namespaces.Ready) },
		OwnNamespace: o.namespace, Limits: o.limits,
	}
	collectors := append(store.Collectors(), certs.Collector())
	tasks := []serve.Task{func(ctx context.Context) error { return store.Watch(ctx, client) }, namespaces.Run}
	if lease := o.schedulerLeaseFollower(); lease != nil {
		h.Policy = func() *inject.Policy { return lease.Policy(ctx, store.Current()) }
		h.Ready = func() (string, error) {
			detail, err := ready(store.Ready, namespaces.Ready)
			return detail + "; " + lease.Ready(), err
		}
		collectors = append(collectors, lease.Collector())
		tasks = append(tasks, func(ctx context.Context) error { return lease.Run(ctx, client) })
	}
	h.Metrics = webhook.NewMetrics(append(collectors, webhook.ReadyGauge(h.Ready))...)
	handler := webhook.NewHandler(h)
	logger.Info("Starting", "policy", src, "version", version.Get().GitVersion, "limits", o.limits, "schedulerLease", o.schedulerLease, "schedulerFallback", o.fallback)
	return serve.Run(ctx, o.shutdownWait, []serve.Listener{
		{Flag: "--listen-address", Addr: o.listen, Handler: handler, Limits: servingLimits, Protocols: http1Only(),
			TLS: &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: certs.GetCertificate}},
		{Flag: "--health-address", Addr: o.health, Handler: handler.HealthHandler()}},
		tasks...)
}
