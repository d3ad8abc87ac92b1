// zz-device-plugin is the zz GPU device plugin (see package deviceplugin):
// a DaemonSet on GPU nodes.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"k8s.io/klog/v2"
	pluginapi "k8s.io/kubelet/pkg/apis/deviceplugin/v1beta1"

	"github.com/zzcloud/zz/deviceplugin"
	"github.com/zzcloud/zz/internal/contract"
	"github.com/zzcloud/zz/internal/version"
)

func main() {
	var c deviceplugin.Config
	var showVersion bool
	klog.InitFlags(nil)
	flag.StringVar(&c.Kubeconfig, "kubeconfig", "", "kubeconfig file; empty means in-cluster")
	flag.StringVar(&c.Node, "node-name", os.Getenv("NODE_NAME"), "this node's name (default $NODE_NAME, from the downward API)")
	flag.StringVar(&c.NVML, "nvml", "real", nvmlHelp())
	flag.IntVar(&c.SlotsPerCard, "slots-per-card", 16, "zz.io/gpu slots advertised per card: how many pods may share one card")
	flag.StringVar(&c.Dir, "device-plugin-dir", pluginapi.DevicePluginPath, "the kubelet's device-plugin folder (its kubelet.sock is there)")
	flag.StringVar(&c.HealthAddress, "health-address", ":8892", "address serving /healthz, /readyz and /metrics")
	flag.BoolVar(&c.MPS, "mps", false, "an MPS daemon runs on the node: also set CUDA_MPS_PINNED_DEVICE_MEM_LIMIT and CUDA_MPS_ACTIVE_THREAD_PERCENTAGE, so the driver enforces each pod's limit")
	flag.StringVar(&c.ProcRoot, "proc-root", "/proc", "the host's /proc, where GPU processes' cgroups name their pods (the DaemonSet runs with hostPID)")
	flag.DurationVar(&c.UsageEvery, "usage-interval", 15*time.Second, "how often per-pod GPU memory use is sampled for /metrics and over-request events")
	flag.DurationVar(&c.UsageAnnotateEvery, "usage-annotation-interval", 30*time.Second, "the least time between two writes of one pod's "+contract.AnnotationGPUMemUsed+
		" annotation (written when a card's use moved by 64 MiB or more, crossed the request, or after 10 minutes)")
	flag.DurationVar(&c.XIDRecover, "xid-recover-after", 5*time.Minute, "a card marked unhealthy by an XID error is healthy again after this long without one (and reachable)")
	flag.StringVar(&c.DeviceListStrategy, "device-list-strategy", string(deviceplugin.StrategyEnvvar),
		"how a container gets its cards: envvar (NVIDIA_VISIBLE_DEVICES, for the NVIDIA container runtime), cdi-annotations (cdi.k8s.io/ container annotations), "+
			"cdi-cri (the CRI's CDI devices); several may be combined, comma-separated. CDI names cards nvidia.com/gpu=<UUID>")
	flag.StringVar(&c.OverRequest, "over-request", string(deviceplugin.OverRequestEvent),
		"what a pod whose processes use more GPU memory on a card than it requested gets: event (a Warning event and the metric), or kill "+
			"(also its processes on that card, largest first, until the rest fits, once it has been over for --over-request-grace; needs hostPID and --proc-root /proc)")
	flag.DurationVar(&c.OverRequestGrace, "over-request-grace", 30*time.Second, "with --over-request=kill, how long a pod may stay over its request before its processes are killed")
	flag.BoolVar(&showVersion, "version", false, "print the version and exit")
	flag.Parse()
	if showVersion {
		fmt.Println(version.Banner(contract.ComponentDevicePlugin))
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if err := deviceplugin.Run(ctx, c); err != nil {
		klog.ErrorS(err, "zz-device-plugin failed")
		klog.Flush()
		os.Exit(1)
	}
}

// nvmlHelp describes --nvml: the mock machines exist only in a binary built
// with -tags zzmock (tests, e2e, demos), never in the release images.
func nvmlHelp() string {
	if !deviceplugin.MockNVML {
		return "NVML backend: real (this build has no mock machines; tests build with -tags zzmock for mock:<machine>)"
	}
	return "NVML backend: real, or a mock machine for tests and demos: mock:" + strings.Join(deviceplugin.MockModels(), ", mock:") +
		" (its control endpoints are then served under /debug/mocknvml/ on --health-address)"
}
