// zz-device-plugin is the zz GPU device plugin (see package deviceplugin):
// a DaemonSet on GPU nodes.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync/atomic"
	"syscall"
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
	pluginapi "k8s.io/kubelet/pkg/apis/deviceplugin/v1beta1"

	"github.com/zzcloud/zz/deviceplugin"
	"github.com/zzcloud/zz/deviceplugin/mocknvml"
	"github.com/zzcloud/zz/internal/contract"
	"github.com/zzcloud/zz/internal/kubeconfig"
	"github.com/zzcloud/zz/internal/podannotate"
	"github.com/zzcloud/zz/internal/serve"
	"github.com/zzcloud/zz/internal/version"
)

type options struct {
	kubeconfig string
	node       string
	backend    string
	slots      int
	dir        string
	health     string
	mps        bool
	version    bool
	procRoot   string
	usageEvery time.Duration
	xidRecover time.Duration
}

// newNVML returns the NVML implementation --nvml names: the real library, or
// a mock machine (and its control endpoints) for tests and demos.
func newNVML(backend, node string) (nvml.Interface, http.Handler, error) {
	if backend == "real" {
		return nvml.New(), nil, nil
	}
	model, ok := strings.CutPrefix(backend, "mock:")
	if !ok {
		return nil, nil, fmt.Errorf("--nvml %q: use real, or mock:<machine> with machine one of %v", backend, mocknvml.ModelNames())
	}
	s, err := mocknvml.New(model, node)
	if err != nil {
		return nil, nil, fmt.Errorf("--nvml %q: %w", backend, err)
	}
	return s, s.Handler(), nil
}

func main() {
	o := options{}
	klog.InitFlags(nil)
	flag.StringVar(&o.kubeconfig, "kubeconfig", "", "kubeconfig file; empty means in-cluster")
	flag.StringVar(&o.node, "node-name", os.Getenv("NODE_NAME"), "this node's name (default $NODE_NAME, from the downward API)")
	flag.StringVar(&o.backend, "nvml", "real", "NVML backend: real, or a mock machine for tests and demos: mock:"+strings.Join(mocknvml.ModelNames(), ", mock:")+
		" (its control endpoints are then served under /debug/mocknvml/ on --health-address)")
	flag.IntVar(&o.slots, "slots-per-card", 16, "zz.io/gpu slots advertised per card: how many pods may share one card")
	flag.StringVar(&o.dir, "device-plugin-dir", pluginapi.DevicePluginPath, "the kubelet's device-plugin folder (its kubelet.sock is there)")
	flag.StringVar(&o.health, "health-address", ":8892", "address serving /healthz, /readyz and /metrics")
	flag.BoolVar(&o.mps, "mps", false, "an MPS daemon runs on the node: also set CUDA_MPS_PINNED_DEVICE_MEM_LIMIT and CUDA_MPS_ACTIVE_THREAD_PERCENTAGE, so the driver enforces each pod's limit")
	flag.StringVar(&o.procRoot, "proc-root", "/proc", "the host's /proc, where GPU processes' cgroups name their pods (the DaemonSet runs with hostPID)")
	flag.DurationVar(&o.usageEvery, "usage-interval", 15*time.Second, "how often per-pod GPU memory use is sampled for /metrics and over-request events")
	flag.DurationVar(&o.xidRecover, "xid-recover-after", 5*time.Minute, "a card marked unhealthy by an XID error is healthy again after this long without one (and reachable)")
	flag.BoolVar(&o.version, "version", false, "print the version and exit")
	flag.Parse()
	if o.version {
		fmt.Println(version.Banner("zz-device-plugin"))
		return
	}
	if err := run(o); err != nil {
		klog.ErrorS(err, "zz-device-plugin failed")
		klog.Flush()
		os.Exit(1)
	}
}

func (o *options) validate() error {
	if o.node == "" {
		return errors.New("--node-name (or $NODE_NAME) is required")
	}
	if o.usageEvery < time.Second {
		return fmt.Errorf("--usage-interval %v is under 1s", o.usageEvery)
	}
	if o.xidRecover <= 0 {
		return fmt.Errorf("--xid-recover-after %v must be positive", o.xidRecover)
	}
	if o.slots < 1 || o.slots > 256 {
		return fmt.Errorf("--slots-per-card %d must be between 1 and 256", o.slots)
	}
	return nil
}

func run(o options) error {
	if err := o.validate(); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	var notReady atomic.Pointer[string]
	starting := "starting"
	notReady.Store(&starting)
	lib, mockControl, err := newNVML(o.backend, o.node)
	if err != nil {
		return err
	}
	registry := prometheus.NewRegistry()
	registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	health := serve.Listener{Flag: "--health-address", Addr: o.health, Handler: healthHandler(&notReady, registry, mockControl)}
	return serve.Run(ctx, 5*time.Second, []serve.Listener{health}, func(ctx context.Context) error {
		return serveGPUs(ctx, o, lib, registry, &notReady)
	})
}

// serveGPUs publishes the cards and serves them to the kubelet until ctx ends.
func serveGPUs(ctx context.Context, o options, lib nvml.Interface, registry *prometheus.Registry, notReady *atomic.Pointer[string]) error {
	logger := klog.FromContext(ctx).WithValues("node", o.node)
	if ret := lib.Init(); ret != nvml.SUCCESS {
		// One clear line, then idle: a DaemonSet on a node without a driver
		// must not crash-loop.
		logger.Error(deviceplugin.ErrNoDriver, "Serving no GPUs", "nvml", ret.Error())
		why := "no NVIDIA driver: " + ret.Error()
		notReady.Store(&why)
		return nil
	}
	defer lib.Shutdown()
	cards, err := deviceplugin.Discover(lib)
	if err != nil {
		return err
	}
	client, err := newClient(o.kubeconfig)
	if err != nil {
		return err
	}
	if err := publishInventory(ctx, client, o.node, cards); err != nil {
		return err
	}

	factory := informers.NewSharedInformerFactoryWithOptions(client, 0,
		informers.WithTweakListOptions(func(lo *metav1.ListOptions) {
			lo.FieldSelector = fields.OneTermEqualSelector("spec.nodeName", o.node).String()
		}))
	lister := factory.Core().V1().Pods().Lister()
	arrivals := &deviceplugin.Arrivals{}
	podInformer := factory.Core().V1().Pods().Informer()
	if err := podInformer.SetTransform(arrivals.Transform); err != nil {
		return err
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
		return err
	}
	factory.Start(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), podInformer.HasSynced) {
		return errors.New("pod cache did not sync")
	}
	arrivals.Synced()
	pods := func() ([]*corev1.Pod, error) { return lister.List(labels.Everything()) }
	mark := func(ctx context.Context, pod *corev1.Pod) error {
		return podannotate.Set(ctx, client, pod.Namespace, pod.Name, pod.UID, map[string]string{contract.AnnotationGPUAssigned: "true"})
	}
	plugin := deviceplugin.NewPlugin(o.node, cards, o.slots, pods, mark)
	plugin.MPS = o.mps
	plugin.Arrival = arrivals.Of
	registry.MustRegister(&deviceplugin.CardCollector{Lib: lib, Plugin: plugin})

	broadcaster := record.NewBroadcaster(record.WithContext(ctx))
	broadcaster.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: client.CoreV1().Events("")})
	defer broadcaster.Shutdown()
	monitor := &deviceplugin.UsageMonitor{Lib: lib, Plugin: plugin, Pods: pods, ProcRoot: o.procRoot, Interval: o.usageEvery,
		Recorder: broadcaster.NewRecorder(scheme.Scheme, corev1.EventSource{Component: "zz-device-plugin", Host: o.node})}
	registry.MustRegister(monitor)
	go monitor.Run(ctx)

	ignored := map[uint64]bool{}
	for _, x := range deviceplugin.DefaultIgnoredXIDs {
		ignored[x] = true
	}
	health := &deviceplugin.HealthWatcher{Lib: lib, Plugin: plugin, Ignored: ignored, Poll: 10 * time.Second, RecoverAfter: o.xidRecover, Now: time.Now}
	go health.Run(ctx)
	notReady.Store(nil)
	logger.Info("Serving", "cards", len(cards), "slotsPerCard", o.slots, "nvml", o.backend, "version", version.Get().GitVersion)
	return deviceplugin.NewServer(plugin, o.dir).Run(ctx)
}

func newClient(path string) (kubernetes.Interface, error) {
	cfg, err := kubeconfig.Load(path, "zz-device-plugin")
	if err != nil {
		return nil, err
	}
	return kubernetes.NewForConfig(cfg)
}

// publishInventory writes the node's cards in its annotation, retrying while
// the API server is unreachable.
func publishInventory(ctx context.Context, client kubernetes.Interface, node string, cards []deviceplugin.Card) error {
	value, err := deviceplugin.Inventory(cards).Encode()
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
