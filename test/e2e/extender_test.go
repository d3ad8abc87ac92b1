package e2e

import (
	"bufio"
	"context"
	"fmt"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"

	"github.com/zzcloud/zz/internal/contract"
	"github.com/zzcloud/zz/internal/gpushare"
	"github.com/zzcloud/zz/test/e2e/framework"
)

// zzScheduler is the extender plus a second kube-scheduler whose zz-scheduler
// profile calls it, run as manifests/scheduler deploys them: the same
// KubeSchedulerConfiguration file, the same extender arguments, and the
// manifests' RBAC (both authenticate as the zz-scheduler ServiceAccount).
// Only the kubeconfig and the extender's port differ, so the tested
// configuration and the shipped one cannot drift.
type zzScheduler struct {
	extenderBin  string
	extenderPort int
	extenderArgs []string
	kubeconfig   string
	extender     *framework.Process
	scheduler    *framework.Process // the zz-scheduler's kube-scheduler
}

// manifestExtenderURL is where the manifests' scheduler finds its sidecar.
const manifestExtenderURL = "http://127.0.0.1:8890"

// likeDefaultProfile is a second profile the benchmarks add to the
// zz-scheduler: the shipped profile but scoring as many nodes as the default
// scheduler does (kube-scheduler's adaptive percentageOfNodesToScore), so the
// extender's own price is measured like for like beside the shipped setting.
const likeDefaultProfile = "zz-scheduler-like-default"

func startZZScheduler(t *testing.T) *zzScheduler {
	return startZZSchedulerWith(t, false)
}

// startZZSchedulerWith starts the extender and a kube-scheduler with the
// manifests' configuration; withLikeDefault adds likeDefaultProfile.
func startZZSchedulerWith(t *testing.T, withLikeDefault bool) *zzScheduler {
	z := &zzScheduler{extenderBin: cluster.GoBuild(t, "./extender/cmd/zz-extender"), extenderPort: framework.FreePort(t)}
	z.kubeconfig = serviceAccountKubeconfig(t, "zz-system", "zz-scheduler")
	z.extenderArgs = manifestExtenderArgs(t, z.extenderPort)
	z.startExtender(t)

	raw, err := os.ReadFile(filepath.Join(cluster.Root, "manifests", "scheduler", "zz-scheduler-config.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(raw), manifestExtenderURL) {
		t.Fatalf("the scheduler configuration no longer calls the extender at %s", manifestExtenderURL)
	}
	var cfg map[string]any
	if err := yaml.Unmarshal([]byte(strings.ReplaceAll(string(raw), manifestExtenderURL, z.url(""))), &cfg); err != nil {
		t.Fatal(err)
	}
	// In the cluster the scheduler uses its pod's ServiceAccount; here, a
	// kubeconfig holding a token of that same ServiceAccount.
	cfg["clientConnection"] = map[string]any{"kubeconfig": z.kubeconfig, "qps": 200, "burst": 400}
	if withLikeDefault {
		profiles, _ := cfg["profiles"].([]any)
		if len(profiles) != 1 {
			t.Fatalf("the scheduler configuration has %d profiles, the benchmark expects 1", len(profiles))
		}
		shipped, _ := profiles[0].(map[string]any)
		like := maps.Clone(shipped)
		like["schedulerName"] = likeDefaultProfile
		like["percentageOfNodesToScore"] = 0 // kube-scheduler's adaptive default
		cfg["profiles"] = append(profiles, like)
	}
	out, err := yaml.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(t.TempDir(), "zz-scheduler-config.yaml")
	if err := os.WriteFile(cfgPath, out, 0o644); err != nil {
		t.Fatal(err)
	}
	publishSchedulerConfig(t, out)
	port := framework.FreePort(t)
	sched := cluster.Start(t, "zz-scheduler", cluster.Bin("kube-scheduler"), "--config", cfgPath,
		"--authentication-kubeconfig", z.kubeconfig, "--authorization-kubeconfig", z.kubeconfig,
		"--bind-address", "127.0.0.1", "--secure-port", strconv.Itoa(port), "--cert-dir", t.TempDir(), "--v", "2")
	cluster.WaitHTTP(t, sched, fmt.Sprintf("https://127.0.0.1:%d/healthz", port), 60*time.Second)
	z.scheduler = sched
	return z
}

// publishSchedulerConfig puts the configuration a zz-scheduler outside the
// cluster runs with where kubectl zz check reads it (as hack/demo.sh does),
// until the test ends.
func publishSchedulerConfig(t *testing.T, cfg []byte) {
	t.Helper()
	cms := cluster.Client.CoreV1().ConfigMaps(contract.SystemNamespace)
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: contract.SchedulerConfigMap},
		Data: map[string]string{contract.SchedulerConfigKey: string(cfg)}}
	if _, err := cms.Update(t.Context(), cm, metav1.UpdateOptions{}); apierrors.IsNotFound(err) {
		_, err = cms.Create(t.Context(), cm, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
	} else if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := cms.Delete(context.WithoutCancel(t.Context()), contract.SchedulerConfigMap, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			t.Errorf("delete ConfigMap %s/%s: %v", contract.SystemNamespace, contract.SchedulerConfigMap, err)
		}
	})
}

// manifestExtenderArgs returns the zz-extender container's arguments from
// manifests/scheduler/scheduler.yaml, on port instead of 8890 and without the
// health port (several test extenders may run on this machine).
func manifestExtenderArgs(t *testing.T, port int) []string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(cluster.Root, "manifests", "scheduler", "scheduler.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var dep appsv1.Deployment
	if err := yaml.Unmarshal([]byte(strings.SplitN(string(raw), "\n---\n", 2)[0]), &dep); err != nil {
		t.Fatal(err)
	}
	for _, c := range dep.Spec.Template.Spec.Containers {
		if c.Name != "zz-extender" {
			continue
		}
		var args []string
		for _, a := range c.Args {
			switch {
			case strings.HasPrefix(a, "--listen-address="):
				args = append(args, fmt.Sprintf("--listen-address=127.0.0.1:%d", port))
			case strings.HasPrefix(a, "--health-address="):
			default:
				args = append(args, a)
			}
		}
		return args
	}
	t.Fatal("manifests/scheduler/scheduler.yaml has no zz-extender container")
	return nil
}

// serviceAccountKubeconfig applies the manifests' namespace and RBAC for the
// scheduler and returns a kubeconfig with a token of its ServiceAccount.
func serviceAccountKubeconfig(t *testing.T, ns, sa string) string {
	t.Helper()
	ctx := t.Context()
	for _, f := range []string{"manifests/base/namespace.yaml", "manifests/scheduler/rbac.yaml"} {
		if _, err := cluster.Kubectl(ctx, "apply", "--server-side", "--field-manager", "zz-e2e", "-f", filepath.Join(cluster.Root, f)); err != nil {
			t.Fatal(err)
		}
	}
	return tokenKubeconfig(t, ns, sa)
}

// tokenKubeconfig returns a kubeconfig for the cluster holding a token of the
// ServiceAccount ns/sa, so a server run here has exactly that account's rights.
func tokenKubeconfig(t *testing.T, ns, sa string) string {
	t.Helper()
	ctx := t.Context()
	tok, err := cluster.Client.CoreV1().ServiceAccounts(ns).CreateToken(ctx, sa, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](3600)}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := clientcmd.LoadFromFile(cluster.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	for _, auth := range cfg.AuthInfos {
		auth.ClientCertificateData, auth.ClientKeyData = nil, nil
		auth.Token = tok.Status.Token
	}
	path := filepath.Join(t.TempDir(), sa+".kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		t.Fatal(err)
	}
	return path
}

func (z *zzScheduler) startExtender(t *testing.T) {
	z.extender = cluster.Start(t, "zz-extender", z.extenderBin, append([]string{"--kubeconfig", z.kubeconfig}, z.extenderArgs...)...)
	cluster.WaitHTTP(t, z.extender, z.url("/readyz"), 30*time.Second)
}

func (z *zzScheduler) url(path string) string {
	return fmt.Sprintf("http://127.0.0.1:%d%s", z.extenderPort, path)
}

// allocatedMetric reads zz_gpu_memory_allocated_bytes per card UUID from
// /metrics, in MiB.
func (z *zzScheduler) allocatedMetric(t *testing.T) map[string]int64 {
	t.Helper()
	resp, err := http.Get(z.url("/metrics"))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out := map[string]int64{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "zz_gpu_memory_allocated_bytes{") {
			continue
		}
		uuid := line[strings.Index(line, `uuid="`)+6:]
		uuid = uuid[:strings.Index(uuid, `"`)]
		v, err := strconv.ParseFloat(line[strings.LastIndex(line, " ")+1:], 64)
		if err != nil {
			t.Fatal(err)
		}
		out[uuid] = int64(v) >> 20
	}
	return out
}

// newGPUPod is a pod for zz-scheduler asking for mem on one card, with the
// zz.io/gpu-mem-total the admission policy requires. Callers that change its
// cards call gpushare.SetMemTotal again.
func newGPUPod(ns, name, mem string) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: map[string]string{"app": "gpu"}},
		Spec: corev1.PodSpec{
			SchedulerName:                 contract.SchedulerName,
			TerminationGracePeriodSeconds: ptr.To[int64](0),
			Containers: []corev1.Container{{Name: "cuda", Image: "registry.local/cuda:12",
				Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{
					contract.ResourceGPUMem: resource.MustParse(mem),
					contract.ResourceGPU:    resource.MustParse("1"),
				}}}},
		},
	}
	gpushare.SetMemTotal(p)
	return p
}

// createPods creates pods concurrently, as a burst of users would.
func createPods(t *testing.T, pods []*corev1.Pod) {
	t.Helper()
	var wg sync.WaitGroup
	sem := make(chan struct{}, 32)
	for _, p := range pods {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if _, err := cluster.Client.CoreV1().Pods(p.Namespace).Create(t.Context(), p, metav1.CreateOptions{}); err != nil {
				t.Errorf("create %s: %v", p.Name, err)
			}
		}()
	}
	wg.Wait()
}

// cardUse sums, per card UUID, the MiB that live bound pods' annotations hold,
// checking every annotation against its node's inventory.
func cardUse(t *testing.T) (use map[string]int64, bound int) {
	t.Helper()
	ctx := t.Context()
	nodes, err := cluster.Client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cards := map[string]map[int]contract.GPU{}
	for _, n := range nodes.Items {
		if inv, err := contract.ParseInventory(n.Annotations[contract.AnnotationNodeGPUInventory]); err == nil {
			cards[n.Name] = map[int]contract.GPU{}
			for _, c := range inv.Cards {
				cards[n.Name][c.Index] = c
			}
		}
	}
	pods, err := cluster.Client.CoreV1().Pods("").List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	use = map[string]int64{}
	for _, p := range pods.Items {
		if p.Spec.SchedulerName != contract.SchedulerName || p.Spec.NodeName == "" || p.DeletionTimestamp != nil {
			continue
		}
		a, err := gpushare.PodAssignment(&p)
		if err != nil {
			t.Errorf("bound pod %s/%s: %v", p.Namespace, p.Name, err)
			continue
		}
		bound++
		for i, idx := range a.Indexes {
			c, ok := cards[p.Spec.NodeName][idx]
			if !ok || c.UUID != a.UUIDs[i] {
				t.Errorf("pod %s/%s on %s names card %d %s, which that node does not have", p.Namespace, p.Name, p.Spec.NodeName, idx, a.UUIDs[i])
				continue
			}
			use[c.UUID] += a.MemMiB
		}
	}
	for node, cs := range cards {
		for _, c := range cs {
			if use[c.UUID] > c.MemoryMiB {
				t.Errorf("card %d of %s holds %d MiB > its %d MiB", c.Index, node, use[c.UUID], c.MemoryMiB)
			}
		}
	}
	return use, bound
}

// capacityFor is how many pods of mib fit the cluster's GPU nodes, card by
// card, within each card's sharing slots.
func capacityFor(t *testing.T, mib int64) int {
	nodes, err := cluster.Client.CoreV1().Nodes().List(t.Context(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, n := range nodes.Items {
		inv, err := contract.ParseInventory(n.Annotations[contract.AnnotationNodeGPUInventory])
		if err != nil || len(inv.Cards) == 0 {
			continue
		}
		slots := int(n.Status.Capacity.Name(contract.ResourceGPU, resource.DecimalSI).Value()) / len(inv.Cards)
		for _, c := range inv.Cards {
			total += min(int(c.MemoryMiB/mib), slots)
		}
	}
	return total
}

func deleteAllPods(t *testing.T, ns string) {
	t.Helper()
	ctx := t.Context()
	if err := cluster.Client.CoreV1().Pods(ns).DeleteCollection(ctx, metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)}, metav1.ListOptions{}); err != nil {
		t.Fatal(err)
	}
	cluster.WaitFor(t, 60*time.Second, "pods of "+ns+" gone", func(ctx context.Context) (bool, string, error) {
		l, err := cluster.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, "", err
		}
		return len(l.Items) == 0, fmt.Sprintf("%d left", len(l.Items)), nil
	})
}

// boundCount counts the pods of ns (matching an optional label selector)
// that are bound to a node, and all of them.
func boundCount(ctx context.Context, ns string, selector ...string) (int, int, error) {
	l, err := cluster.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: strings.Join(selector, ",")})
	if err != nil {
		return 0, 0, err
	}
	bound := 0
	for _, p := range l.Items {
		if p.Spec.NodeName != "" {
			bound++
		}
	}
	return bound, len(l.Items), nil
}
