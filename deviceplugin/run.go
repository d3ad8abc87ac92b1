package deviceplugin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/klog/v2"

	"github.com/zzcloud/zz/internal/contract"
	"github.com/zzcloud/zz/internal/gpushare"
	"github.com/zzcloud/zz/internal/kubeconfig"
	"github.com/zzcloud/zz/internal/podannotate"
	"github.com/zzcloud/zz/internal/serve"
	"github.com/zzcloud/zz/internal/version"
)

// Config is what the device plugin's flags set.
type Config struct {
	Kubeconfig string // empty: in-cluster
	Node       string // this node's name
	// NVML is "real", or "mock:<machine>" (MockModels) for tests and demos,
	// in a binary built with -tags zzmock; the mock's control endpoints are
	// then served under /debug/mocknvml/ on HealthAddress.
	NVML          string
	SlotsPerCard  int
	Dir           string // the kubelet's device-plugin folder
	HealthAddress string // /healthz, /readyz, /metrics
	MPS           bool
	ProcRoot      string        // the host's /proc
	UsageEvery    time.Duration // per-pod GPU memory sampling
	// UsageAnnotateEvery is the least time between two writes of one pod's
	// used-memory annotation (PublishPolicy.MinInterval).
	UsageAnnotateEvery time.Duration
	XIDRecover         time.Duration // a card down for a passing XID is up again after this long
	// DeviceListStrategy is how Allocate hands the cards to the runtime:
	// envvar, cdi-annotations, cdi-cri, or several comma-separated.
	DeviceListStrategy string
	// OverRequest is what a pod over its GPU memory request on a card gets:
	// "event", or "kill" once it has been over for OverRequestGrace.
	OverRequest      string
	OverRequestGrace time.Duration
}

// joinActions is the over-request actions as "event or kill".
func joinActions() string {
	names := make([]string, len(OverRequestActions))
	for i, a := range OverRequestActions {
		names[i] = string(a)
	}
	return strings.Join(names, " or ")
}

// Validate checks c without I/O.
func (c *Config) Validate() error {
	if c.Node == "" {
		return errors.New("--node-name (or $NODE_NAME) is required")
	}
	if c.UsageEvery < time.Second {
		return fmt.Errorf("--usage-interval %v is under 1s", c.UsageEvery)
	}
	if c.UsageAnnotateEvery < time.Second {
		return fmt.Errorf("--usage-annotation-interval %v is under 1s", c.UsageAnnotateEvery)
	}
	if !slices.Contains(OverRequestActions, OverRequestAction(c.OverRequest)) {
		return fmt.Errorf("--over-request %q: use %s", c.OverRequest, joinActions())
	}
	if c.OverRequestGrace < 0 {
		return fmt.Errorf("--over-request-grace %v must not be negative", c.OverRequestGrace)
	}
	if c.XIDRecover <= 0 {
		return fmt.Errorf("--xid-recover-after %v must be positive", c.XIDRecover)
	}
	if c.SlotsPerCard < 1 || c.SlotsPerCard > 256 {
		return fmt.Errorf("--slots-per-card %d must be between 1 and 256", c.SlotsPerCard)
	}
	if _, err := ParseDeviceListStrategies(c.DeviceListStrategy); err != nil {
		return err
	}
	return nil
}

// Run serves the node's GPUs and the health endpoints until ctx ends.
func Run(ctx context.Context, c Config) error {
	if err := c.Validate(); err != nil {
		return err
	}
	lib, mockControl, err := newNVML(c.NVML, c.Node)
	if err != nil {
		return err
	}
	registry := prometheus.NewRegistry()
	registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	state := newProgress(registry)
	health := serve.Listener{Flag: "--health-address", Addr: c.HealthAddress, Handler: healthHandler(&state.notReady, registry, mockControl)}
	return serve.Run(ctx, 5*time.Second, []serve.Listener{health}, func(ctx context.Context) error {
		return serveGPUs(ctx, c, lib, registry, state)
	})
}

// newNVML returns the NVML implementation backend names: the real library,
// or a mock machine (and its control endpoints) for tests and demos.
func newNVML(backend, node string) (nvml.Interface, http.Handler, error) {
	if backend == "real" {
		return nvml.New(), nil, nil
	}
	model, ok := strings.CutPrefix(backend, "mock:")
	if !ok {
		if !MockNVML {
			return nil, nil, fmt.Errorf("--nvml %q: use real", backend)
		}
		return nil, nil, fmt.Errorf("--nvml %q: use real, or mock:<machine> with machine one of %v", backend, MockModels())
	}
	lib, control, err := newMockNVML(model, node)
	if err != nil {
		return nil, nil, fmt.Errorf("--nvml %q: %w", backend, err)
	}
	return lib, control, nil
}

// ErrNoMockNVML is --nvml mock:<machine>'s error in a production build.
var ErrNoMockNVML = errors.New("built without mock NVML; build with -tags zzmock")

// serveGPUs publishes the cards and serves them to the kubelet until ctx ends.
func serveGPUs(ctx context.Context, c Config, lib nvml.Interface, registry *prometheus.Registry, state *progress) error {
	logger := klog.FromContext(ctx).WithValues("node", c.Node)
	if ret := lib.Init(); ret != nvml.SUCCESS {
		// One clear line, then idle: a DaemonSet on a node without a driver
		// must not crash-loop.
		logger.Error(ErrNoDriver, "Serving no GPUs", "nvml", ret.Error())
		state.noDriver("no NVIDIA driver: " + ret.Error())
		return nil
	}
	defer lib.Shutdown()
	cards, err := Discover(lib)
	if err != nil {
		return err
	}
	sysfs := "/sys"
	if strings.HasPrefix(c.NVML, "mock:") {
		sysfs = "" // the mock's cards are not this host's PCI devices
	}
	LocateNUMA(lib, cards, sysfs)
	client, err := newClient(c.Kubeconfig)
	if err != nil {
		return err
	}
	state.stage("publishing the GPU inventory on the node (the log says why it fails)")
	if err := publishInventory(ctx, client, c.Node, cards); err != nil {
		return err
	}
	state.stage("listing the node's pods")
	pods, err := watchPods(ctx, client, c.Node)
	if err != nil {
		return err
	}
	mark := func(ctx context.Context, pod *corev1.Pod) error {
		return podannotate.Set(ctx, client, pod.Namespace, pod.Name, pod.UID, gpushare.MarkAllocated())
	}
	plugin := NewPlugin(c.Node, cards, c.SlotsPerCard, pods.list, mark)
	plugin.MPS = c.MPS
	if plugin.Strategies, err = ParseDeviceListStrategies(c.DeviceListStrategy); err != nil {
		return err
	}
	plugin.Arrival = pods.arrivals.Of
	registry.MustRegister(&CardCollector{Lib: lib, Plugin: plugin})

	broadcaster := record.NewBroadcaster(record.WithContext(ctx))
	broadcaster.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: client.CoreV1().Events("")})
	defer broadcaster.Shutdown()
	monitor := &UsageMonitor{Lib: lib, Plugin: plugin, Pods: pods.list, ProcRoot: c.ProcRoot, Interval: c.UsageEvery,
		Recorder: broadcaster.NewRecorder(scheme.Scheme, corev1.EventSource{Component: contract.ComponentDevicePlugin, Host: c.Node}),
		Node:     c.Node, Publish: DefaultPublishPolicy(c.UsageAnnotateEvery),
		Annotate: AnnotateUsed(client), OverRequest: OverRequestAction(c.OverRequest), Grace: c.OverRequestGrace}
	registry.MustRegister(monitor)
	go monitor.Run(ctx)

	ignored := map[uint64]bool{}
	for _, x := range DefaultIgnoredXIDs {
		ignored[x] = true
	}
	health := &HealthWatcher{Lib: lib, Plugin: plugin, Ignored: ignored, Poll: 2 * time.Second, RecoverAfter: c.XIDRecover, Now: time.Now}
	go health.Run(ctx)
	go keepInventory(ctx, client, c.Node, plugin)
	logger.Info("Serving", "cards", len(cards), "slotsPerCard", c.SlotsPerCard, "nvml", c.NVML, "deviceListStrategy", plugin.Strategies.String(), "version", version.Get().GitVersion)
	srv := NewServer(plugin, c.Dir)
	state.stage("registering with the kubelet")
	srv.Registered = state.registeredWith
	return srv.Run(ctx)
}

// progress is what /readyz and zz_device_plugin_registered say of the
// plugin, from the process's start: the gauge is 0 until the kubelet has
// it registered, whatever stage it is stuck in (NVML, the inventory patch,
// the pod list, the registration), so ZZDevicePluginUnregistered fires for
// each (an SRE audit found no series, and no alert, before registration).
// A node without an NVIDIA driver is idle by design (the DaemonSet must
// not crash-loop there): the gauge is withdrawn, and /readyz says why.
type progress struct {
	notReady   atomic.Pointer[string] // nil: ready
	registry   *prometheus.Registry
	registered prometheus.Gauge
}

func newProgress(registry *prometheus.Registry) *progress {
	p := &progress{registry: registry, registered: prometheus.NewGauge(prometheus.GaugeOpts{Name: "zz_device_plugin_registered",
		Help: "1 while the kubelet has the zz device plugin registered (the node advertises zz.io/gpu), 0 otherwise (starting, or stuck before); absent on a node without an NVIDIA driver."})}
	registry.MustRegister(p.registered)
	p.stage("initialising NVML")
	return p
}

// stage says what the plugin is doing before it is registered.
func (p *progress) stage(what string) {
	why := "starting: " + what
	p.notReady.Store(&why)
}

// noDriver withdraws the gauge: this node serves no GPUs, by design.
func (p *progress) noDriver(why string) {
	p.registry.Unregister(p.registered)
	p.notReady.Store(&why)
}

// registeredWith is the server's Registered callback. Ready only while
// registered: before, the node advertises no zz.io/gpu and GPU pods placed
// on it fail the kubelet's admission (an SRE audit saw /readyz answer ok
// while registering failed for good).
func (p *progress) registeredWith(ok bool, why error) {
	if ok {
		p.registered.Set(1)
		p.notReady.Store(nil)
		return
	}
	p.registered.Set(0)
	msg := "not registered with the kubelet: " + why.Error()
	p.notReady.Store(&msg)
}

// nodePods is the informer's view of the pods bound to this node, numbered
// by arrival.
type nodePods struct {
	list     PodLister
	arrivals *Arrivals
}

// watchPods starts an informer on the pods bound to node and waits for its
// first list.
func watchPods(ctx context.Context, client kubernetes.Interface, node string) (*nodePods, error) {
	factory := informers.NewSharedInformerFactoryWithOptions(client, 0,
		informers.WithTweakListOptions(func(lo *metav1.ListOptions) {
			lo.FieldSelector = fields.OneTermEqualSelector("spec.nodeName", node).String()
		}))
	lister := factory.Core().V1().Pods().Lister()
	arrivals := &Arrivals{}
	podInformer := factory.Core().V1().Pods().Informer()
	if err := podInformer.SetTransform(arrivals.Transform); err != nil {
		return nil, err
	}
	if _, err := podInformer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		DeleteFunc: func(obj any) {
			if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = d.Obj
			}
			if p, ok := obj.(*corev1.Pod); ok {
				arrivals.Forget(p.UID)
			}
		},
	}); err != nil {
		return nil, err
	}
	factory.Start(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), podInformer.HasSynced) {
		return nil, errors.New("pod cache did not sync")
	}
	arrivals.Synced()
	return &nodePods{list: func() ([]*corev1.Pod, error) { return lister.List(labels.Everything()) }, arrivals: arrivals}, nil
}

func newClient(path string) (kubernetes.Interface, error) {
	cfg, err := kubeconfig.Load(path, contract.ComponentDevicePlugin)
	if err != nil {
		return nil, err
	}
	return kubernetes.NewForConfig(cfg)
}

// publishInventory writes the node's cards in its annotation, retrying while
// the API server is unreachable.
func publishInventory(ctx context.Context, client kubernetes.Interface, node string, cards []Card) error {
	value, err := Inventory(cards).Encode()
	if err != nil {
		return err
	}
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": map[string]string{contract.AnnotationNodeGPUInventory: value}}})
	if err != nil {
		return err
	}
	for delay := time.Second; ; delay = min(2*delay, 30*time.Second) {
		_, err = client.CoreV1().Nodes().Patch(ctx, node, types.MergePatchType, patch, metav1.PatchOptions{})
		if err == nil {
			return nil
		}
		klog.FromContext(ctx).Error(err, "Could not publish the GPU inventory; retrying", "in", delay)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(delay):
		}
	}
}

// keepInventory writes the node's inventory again whenever a card's health
// changes, so the extender stops placing pods on a card within seconds of an
// XID and puts it back after recovery.
func keepInventory(ctx context.Context, client kubernetes.Interface, node string, plugin *Plugin) {
	_, changed := plugin.Watch()
	for {
		select {
		case <-ctx.Done():
			return
		case <-changed:
		}
		var cards []Card
		cards, changed = plugin.Watch()
		if err := publishInventory(ctx, client, node, cards); err != nil {
			return // ctx ended
		}
		klog.FromContext(ctx).Info("Published card health in the node's inventory", "node", node)
	}
}

func healthHandler(notReady *atomic.Pointer[string], reg *prometheus.Registry, mockControl http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if why := notReady.Load(); why != nil {
			http.Error(w, "not ready: "+*why, http.StatusServiceUnavailable)
			return
		}
		_, _ = io.WriteString(w, "ok")
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	if mockControl != nil {
		mux.Handle("/debug/mocknvml/", http.StripPrefix("/debug/mocknvml", mockControl))
	}
	return mux
}
