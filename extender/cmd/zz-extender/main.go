// zz-extender is the zz scheduler extender server (see package extender).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/tools/record"
	"k8s.io/klog/v2"

	"github.com/zzcloud/zz/extender"
	"github.com/zzcloud/zz/internal/balance"
	"github.com/zzcloud/zz/internal/contract"
	"github.com/zzcloud/zz/internal/gpushare"
	"github.com/zzcloud/zz/internal/kubeconfig"
	"github.com/zzcloud/zz/internal/serve"
	"github.com/zzcloud/zz/internal/version"
)

type options struct {
	kubeconfig   string
	listen       string
	health       string
	policy       string
	assumeTTL    time.Duration
	unstartedTTL time.Duration
	qps          float64
	burst        int
	balance      balance.Weights
	shutdownWait time.Duration
	hungAfter    time.Duration
	preemption   bool
	requeue      time.Duration
	leaderLease  string
	version      bool
}

func main() {
	o := options{balance: balance.Default}
	klog.InitFlags(nil)
	flag.StringVar(&o.kubeconfig, "kubeconfig", "", "kubeconfig file; empty means in-cluster")
	flag.StringVar(&o.listen, "listen-address", "127.0.0.1:8890", "address to serve the extender verbs (and /healthz, /readyz, /metrics) on; keep it on loopback next to the scheduler: bind acts with the extender's rights")
	flag.StringVar(&o.health, "health-address", "", "extra address serving only /healthz, /readyz and /metrics, for probes and Prometheus (e.g. :8891); empty for none")
	flag.StringVar(&o.policy, "gpu-policy", string(gpushare.Binpack), "default GPU placement policy: binpack (best-fit that leaves the holes the recent requests can fill), bestfit (plain tightest fit) or spread; a pod may override it with the zz.io/gpu-policy annotation")
	flag.DurationVar(&o.assumeTTL, "assume-ttl", gpushare.DefaultAssumeTTL, "release cards reserved for a pod that is still not bound after this long")
	flag.DurationVar(&o.unstartedTTL, "unstarted-ttl", 10*time.Minute, "release cards of a bound pod that neither runs nor was allocated by the device plugin after this long (its assignment is cleared, so the device plugin refuses it)")
	flag.BoolVar(&o.preemption, "gpu-preemption", true, "evict pods of lower priority to make room for a GPU pod that fits no node (kube-scheduler's preemption cannot see GPU memory), through the Eviction API so that PodDisruptionBudgets hold, and add such pods to the victims kube-scheduler's own preemption chose for CPU or memory where the GPU pod needs them (the preempt verb); false leaves such a pod Pending, and kube-scheduler's preemption then evicts only on nodes where its victims alone make room for the GPU memory")
	flag.DurationVar(&o.requeue, "gpu-requeue-window", 10*time.Second, "when GPU memory is freed on a node, ask kube-scheduler to retry (by a pod condition) the GPU pods the extender refused there within this window that now fit: kube-scheduler's own retry may have reached the extender before its informer saw the memory freed, and would otherwise wait for the next cluster event; 0 turns it off")
	flag.Float64Var(&o.qps, "kube-api-qps", 100, "API requests per second (binds and annotation patches)")
	flag.IntVar(&o.burst, "kube-api-burst", 200, "API request burst")
	flag.Float64Var(&o.balance.Imbalance, "balance-imbalance-weight", balance.Default.Imbalance, "weight of a node's own CPU/memory imbalance")
	flag.Float64Var(&o.balance.Load, "balance-load-weight", balance.Default.Load, "weight of a node's distance from the cluster's mean load")
	flag.Float64Var(&o.balance.Spread, "balance-spread-weight", balance.Default.Spread, "share of the score (0-1) given to spreading an app's replicas across hosts")
	flag.DurationVar(&o.shutdownWait, "shutdown-grace", 10*time.Second, "time to finish calls in flight after SIGTERM")
	flag.DurationVar(&o.hungAfter, "hung-after", extender.DefaultHungAfter, "/healthz fails (and the liveness probe restarts the extender) while a filter, prioritize or preempt call has been in flight, or the GPU ledger's lock held, for longer than this; keep it above the httpTimeout of the scheduler configuration's gpu/filter entry; 0 turns it off")
	flag.StringVar(&o.leaderLease, "leader-lease", contract.SystemNamespace+"/"+contract.SchedulerName,
		"namespace/name of the leader-election Lease of the kube-scheduler that calls this extender (its configuration's leaderElection; kube-system/kube-scheduler beside the default scheduler): zz_extender_leading says whether the one on this host or pod holds it, so that ZZExtenderDown judges the leader's extender; empty for no such gauge")
	flag.BoolVar(&o.version, "version", false, "print the version and exit")
	flag.Parse()
	if o.version {
		fmt.Println(version.Banner(contract.ComponentExtender))
		return
	}
	if err := run(o); err != nil {
		klog.ErrorS(err, "zz-extender failed")
		klog.Flush()
		os.Exit(1)
	}
}

func (o *options) validate() error {
	if _, err := gpushare.ParsePolicy(o.policy, ""); err != nil || o.policy == "" {
		return fmt.Errorf("--gpu-policy %q: use %s, %s or %s", o.policy, gpushare.Binpack, gpushare.BestFit, gpushare.Spread)
	}
	if o.balance.Spread < 0 || o.balance.Spread > 1 {
		return fmt.Errorf("--balance-spread-weight %v must be between 0 and 1", o.balance.Spread)
	}
	if o.listen == "" {
		return errors.New("--listen-address is required")
	}
	if o.assumeTTL <= 0 || o.unstartedTTL <= 0 {
		return errors.New("--assume-ttl and --unstarted-ttl must be positive")
	}
	if o.requeue < 0 {
		return errors.New("--gpu-requeue-window must not be negative (0 turns it off)")
	}
	if o.leaderLease != "" {
		if ns, name, ok := strings.Cut(o.leaderLease, "/"); !ok || ns == "" || name == "" || strings.Contains(name, "/") {
			return fmt.Errorf("--leader-lease %q must be namespace/name, e.g. %s/%s (or empty)", o.leaderLease, contract.SystemNamespace, contract.SchedulerName)
		}
	}
	return nil
}

func run(o options) error {
	if err := o.validate(); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	logger := klog.FromContext(ctx)
	cfg, err := kubeconfig.Load(o.kubeconfig, contract.ComponentExtender)
	if err != nil {
		return err
	}
	cfg.QPS, cfg.Burst = float32(o.qps), o.burst
	// Protobuf halves the CPU the pod informer spends decoding watch events.
	cfg.ContentType = "application/vnd.kubernetes.protobuf"
	cfg.AcceptContentTypes = "application/vnd.kubernetes.protobuf,application/json"
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}

	ledger, book := gpushare.NewLedger(), balance.NewBook()
	c, err := extender.NewCache(client, ledger, book)
	if err != nil {
		return err
	}
	decider := &extender.Decider{GPU: ledger, Usage: book, DefaultPolicy: gpushare.Policy(o.policy), Weights: o.balance, Now: time.Now}
	preemptions, candidates := extender.NewPreemptionMetric(), extender.NewCandidateMetric()
	decider.Candidates = func(result string) { candidates.WithLabelValues(result).Inc() }
	if o.preemption {
		decider.AddVictims, decider.Guarded = true, c.Guarded
		broadcaster := record.NewBroadcaster(record.WithContext(ctx))
		broadcaster.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: client.CoreV1().Events("")})
		defer broadcaster.Shutdown()
		// Its evictions under way finish: SIGTERM does not cut a preemption
		// between victims (each call is bounded by its own timeout).
		p := &extender.Preemptor{Ledger: ledger, Client: client, Now: time.Now, Ctx: context.WithoutCancel(ctx), Results: preemptions,
			Recorder: broadcaster.NewRecorder(scheme.Scheme, corev1.EventSource{Component: contract.ComponentExtender}), Guarded: c.Guarded}
		decider.Preempt, decider.Refresh = p.Consider, p.Refresh
		c.DefaultPolicy = gpushare.Policy(o.policy)
		defer func() {
			if !p.Wait(o.shutdownWait) {
				logger.Info("Exiting with a GPU preemption under way; its preemptor waits for the scheduler's next try", "waited", o.shutdownWait)
			}
		}()
	}
	requeues := extender.NewRequeueMetric()
	if o.requeue > 0 {
		r := &extender.Requeuer{Ledger: ledger, Client: client, GetPod: c.GetPod, Now: time.Now, Window: o.requeue, Results: requeues}
		decider.Filtered = r.Filtered
		go r.Run(ctx)
	}
	binder := &extender.Binder{Client: client, GetPod: c.GetPod, Decider: decider, Now: time.Now}
	var watchdog *extender.Watchdog
	if o.hungAfter > 0 {
		watchdog = &extender.Watchdog{HungAfter: o.hungAfter, Now: time.Now}
		go watchdog.ProbeLock(ctx, ledger.Responsive, time.Second)
	}
	// The gauge follows /readyz: a hung extender answers no verb either.
	ready := extender.ReadyGauge(extender.ReadyUnlessHung(watchdog, c.Ready))
	collectors := append(c.Collectors(), preemptions, candidates, extender.NewPreemptionWaiting(ledger), requeues, ready)
	if o.leaderLease != "" {
		leading, err := newLeading(client, o.leaderLease)
		if err != nil {
			return err
		}
		collectors = append(collectors, leading.Collector())
		go func() { _ = leading.Run(ctx, leaderLeaseEvery) }()
	}
	handler := extender.NewHandler(decider, binder, c.Ready, extender.NewMetrics(collectors...))
	handler.Watchdog = watchdog

	logger.Info("Started", "policy", o.policy, "version", version.Get().GitVersion)
	return serve.Run(ctx, o.shutdownWait, []serve.Listener{
		{Flag: "--listen-address", Addr: o.listen, Handler: handler},
		{Flag: "--health-address", Addr: o.health, Handler: handler.HealthHandler()},
	}, func(ctx context.Context) error { return c.Run(ctx, o.assumeTTL, o.unstartedTTL) })
}

// leaderLeaseEvery spaces the reads of --leader-lease: kube-scheduler's
// Lease lasts 15 s, and ZZExtenderDown waits 5 minutes.
const leaderLeaseEvery = 10 * time.Second

// newLeading follows lease ("namespace/name") for the kube-scheduler on
// this host (its identity starts with the hostname, as a pod's containers
// share theirs).
func newLeading(client kubernetes.Interface, lease string) (*extender.Leading, error) {
	host, err := os.Hostname()
	if err != nil {
		return nil, fmt.Errorf("--leader-lease needs the hostname, kube-scheduler's identity: %w", err)
	}
	ns, name, _ := strings.Cut(lease, "/")
	return &extender.Leading{Hostname: host, Get: func(ctx context.Context) (*coordinationv1.Lease, error) {
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		return client.CoordinationV1().Leases(ns).Get(ctx, name, metav1.GetOptions{})
	}}, nil
}
