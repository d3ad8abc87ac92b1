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
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/dgxa100"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/dgxh100"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"
	pluginapi "k8s.io/kubelet/pkg/apis/deviceplugin/v1beta1"

	"github.com/zzcloud/zz/deviceplugin"
	"github.com/zzcloud/zz/internal/contract"
	"github.com/zzcloud/zz/internal/kubeconfig"
	"github.com/zzcloud/zz/internal/podannotate"
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
}

// backends are the NVML implementations --nvml accepts.
var backends = map[string]func() nvml.Interface{
	"real": func() nvml.Interface { return nvml.New() },
	"mock:dgxa100": func() nvml.Interface {
		s := dgxa100.New()
		s.EventSetCreateFunc = noEvents // the mocks have no XID events
		return s
	},
	"mock:dgxh100": func() nvml.Interface {
		s := dgxh100.New()
		s.EventSetCreateFunc = noEvents
		return s
	},
}

func noEvents() (nvml.EventSet, nvml.Return) { return nil, nvml.ERROR_NOT_SUPPORTED }

func main() {
	o := options{}
	klog.InitFlags(nil)
	flag.StringVar(&o.kubeconfig, "kubeconfig", "", "kubeconfig file; empty means in-cluster")
	flag.StringVar(&o.node, "node-name", os.Getenv("NODE_NAME"), "this node's name (default $NODE_NAME, from the downward API)")
	flag.StringVar(&o.backend, "nvml", "real", "NVML backend: real, or a go-nvml mock server for tests and demos: mock:dgxa100, mock:dgxh100")
	flag.IntVar(&o.slots, "slots-per-card", 16, "zz.io/gpu slots advertised per card: how many pods may share one card")
	flag.StringVar(&o.dir, "device-plugin-dir", pluginapi.DevicePluginPath, "the kubelet's device-plugin folder (its kubelet.sock is there)")
	flag.StringVar(&o.health, "health-address", ":8892", "address serving /healthz, /readyz and /metrics")
	flag.BoolVar(&o.mps, "mps", false, "an MPS daemon runs on the node: also set CUDA_MPS_PINNED_DEVICE_MEM_LIMIT and CUDA_MPS_ACTIVE_THREAD_PERCENTAGE, so the driver enforces each pod's limit")
	flag.BoolVar(&o.version, "version", false, "print the version and exit")
	flag.Parse()
	if o.version {
		fmt.Println("zz-device-plugin", version.Get().GitVersion, version.Get().GitCommit)
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
	if _, ok := backends[o.backend]; !ok {
		return fmt.Errorf("--nvml %q: use real, mock:dgxa100 or mock:dgxh100", o.backend)
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
	logger := klog.FromContext(ctx).WithValues("node", o.node)
	var notReady atomic.Pointer[string]
	setNotReady := func(why string) { notReady.Store(&why) }
	setNotReady("starting")
	registry := prometheus.NewRegistry()
	registry.MustRegister(prometheus.NewGoCollector(), prometheus.NewProcessCollector(prometheus.ProcessCollectorOpts{}))
	go serveHealth(ctx, o.health, &notReady, registry)

	lib := backends[o.backend]()
	if ret := lib.Init(); ret != nvml.SUCCESS {
		// One clear line, then idle: a DaemonSet on a node without a driver
		// must not crash-loop.
		logger.Error(deviceplugin.ErrNoDriver, "Serving no GPUs", "nvml", ret.Error())
		setNotReady("no NVIDIA driver: " + ret.Error())
		<-ctx.Done()
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
	factory.Start(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), factory.Core().V1().Pods().Informer().HasSynced) {
		return errors.New("pod cache did not sync")
	}
	pods := func() ([]*corev1.Pod, error) { return lister.List(labels.Everything()) }
	mark := func(ctx context.Context, pod *corev1.Pod) error {
		return podannotate.Set(ctx, client, pod.Namespace, pod.Name, pod.UID, map[string]string{contract.AnnotationGPUAssigned: "true"})
	}
	plugin := deviceplugin.NewPlugin(o.node, cards, o.slots, pods, mark)
	plugin.MPS = o.mps
	registry.MustRegister(&cardCollector{lib: lib, plugin: plugin})

	ignored := map[uint64]bool{}
	for _, x := range deviceplugin.DefaultIgnoredXIDs {
		ignored[x] = true
	}
	health := &deviceplugin.HealthWatcher{Lib: lib, Plugin: plugin, Ignored: ignored, Poll: 10 * time.Second, RecoverAfter: 5 * time.Minute, Now: time.Now}
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

func serveHealth(ctx context.Context, addr string, notReady *atomic.Pointer[string], reg *prometheus.Registry) {
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
	srv := &http.Server{Addr: addr, Handler: mux, ReadHeaderTimeout: 5 * time.Second,
		BaseContext: func(net.Listener) context.Context { return ctx }}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		klog.ErrorS(err, "Health server stopped", "address", addr)
	}
}

// cardCollector exports each card's memory and utilisation as NVML reads them.
type cardCollector struct {
	lib    nvml.Interface
	plugin *deviceplugin.Plugin
}

var (
	cardLabels   = []string{"uuid", "index", "model"}
	memTotalDesc = prometheus.NewDesc("zz_gpu_card_memory_total_mib", "Card memory (NVML).", cardLabels, nil)
	memUsedDesc  = prometheus.NewDesc("zz_gpu_card_memory_used_mib", "Card memory in use by processes (NVML).", cardLabels, nil)
	utilDesc     = prometheus.NewDesc("zz_gpu_card_utilization_ratio", "Share of time a kernel ran over the last sample period (NVML).", cardLabels, nil)
	healthyDesc  = prometheus.NewDesc("zz_gpu_card_healthy", "1 when the card's slots are advertised healthy.", cardLabels, nil)
)

func (c *cardCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{memTotalDesc, memUsedDesc, utilDesc, healthyDesc} {
		ch <- d
	}
}

func (c *cardCollector) Collect(ch chan<- prometheus.Metric) {
	for _, card := range c.plugin.Cards() {
		lv := []string{card.UUID, fmt.Sprint(card.Index), card.Model}
		healthy := 0.0
		if card.Healthy {
			healthy = 1
		}
		ch <- prometheus.MustNewConstMetric(healthyDesc, prometheus.GaugeValue, healthy, lv...)
		ch <- prometheus.MustNewConstMetric(memTotalDesc, prometheus.GaugeValue, float64(card.MemoryMiB), lv...)
		d, ret := c.lib.DeviceGetHandleByUUID(card.UUID)
		if ret != nvml.SUCCESS {
			continue
		}
		if mem, ret := d.GetMemoryInfo(); ret == nvml.SUCCESS {
			ch <- prometheus.MustNewConstMetric(memUsedDesc, prometheus.GaugeValue, float64(deviceplugin.ToMiB(mem.Used)), lv...)
		}
		if u, ret := d.GetUtilizationRates(); ret == nvml.SUCCESS {
			ch <- prometheus.MustNewConstMetric(utilDesc, prometheus.GaugeValue, float64(u.Gpu)/100, lv...)
		}
	}
}
