package framework

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"maps"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/zzcloud/zz/test/e2e/crirecord"
)

// DevicePluginPath is the kubelet's device-plugin folder; the kubelet does
// not let it be configured, so StartKubelet bind-mounts a test folder on it
// in the kubelet's own mount namespace.
const DevicePluginPath = "/var/lib/kubelet/device-plugins"

// kubeletSysctls are the sysctls the kubelet sets at start, with the values
// it wants. In its mount namespace each is covered by a read-only file that
// already holds that value, so it has nothing to write (it fails to start if
// a write fails) and the machine keeps its own settings.
var kubeletSysctls = map[string]string{"vm/overcommit_memory": "1", "kernel/panic": "10", "kernel/panic_on_oops": "1"}

// Kubelet is a real kubelet run as a node of the test cluster, with the
// fake container runtime of test/e2e/fakecri.
type Kubelet struct {
	Node string
	// PluginDir is the folder the kubelet sees as DevicePluginPath: a device
	// plugin under test serves its socket here.
	PluginDir string
	// Taint is on the node from its registration; pods must tolerate it.
	Taint corev1.Taint

	c       *Cluster
	t       testing.TB // the test that owns the processes (not a subtest that restarts them)
	dir     string
	args    []string
	cri     *Process
	kubelet *Process
	record  string
}

// KubeletOptions shape the node.
type KubeletOptions struct {
	Node   string
	Labels map[string]string
}

// StartKubelet builds the kubelet (hack/build-tools.sh kubelet) and the fake
// runtime, and runs them until the test ends. It needs root (mount
// namespaces); it skips the test otherwise. Everything it changes is undone
// when the test ends: the processes stop, the mounts die with the kubelet's
// namespace, the Node object is deleted.
func (c *Cluster) StartKubelet(t testing.TB, o KubeletOptions) *Kubelet {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("a real kubelet needs root (mount namespace, bind mounts)")
	}
	if _, err := exec.LookPath("unshare"); err != nil {
		t.Skip("unshare (util-linux) is not installed")
	}
	bin := c.Bin("kubelet")
	if _, err := os.Stat(bin); err != nil {
		if err := c.runHack(t.Context(), "build-tools.sh", "kubelet"); err != nil {
			t.Fatalf("build the kubelet: %v", err)
		}
	}
	// Short: unix socket paths are limited to 108 bytes.
	dir, err := os.MkdirTemp("", "zzkl")
	if err != nil {
		t.Fatal(err)
	}
	k := &Kubelet{Node: o.Node, c: c, t: t, dir: dir, PluginDir: filepath.Join(dir, "dp"), record: filepath.Join(dir, "containers.jsonl"),
		Taint: corev1.Taint{Key: "zz.io/e2e-kubelet", Value: "true", Effect: corev1.TaintEffectNoSchedule}}
	t.Cleanup(func() { k.cleanup(t) })
	for _, d := range []string{k.PluginDir, "root", "certs", "podlogs", "work", "sysctl"} {
		if err := os.MkdirAll(filepath.Join(dir, strings.TrimPrefix(d, dir)), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for name, value := range kubeletSysctls {
		if err := os.WriteFile(filepath.Join(dir, "sysctl", strings.ReplaceAll(name, "/", "_")), []byte(value+"\n"), 0o444); err != nil {
			t.Fatal(err)
		}
	}
	if err := ensureDir(t, DevicePluginPath); err != nil {
		t.Fatal(err)
	}
	kubeconfig, err := k.writeClientConfig()
	if err != nil {
		t.Fatalf("kubelet credentials: %v", err)
	}
	ip, err := hostIP()
	if err != nil {
		t.Fatal(err)
	}
	config := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(config, []byte(k.config(FreePort(t), FreePort(t))), 0o644); err != nil {
		t.Fatal(err)
	}
	labels := []string{"kubernetes.io/hostname=" + o.Node}
	for key, v := range o.Labels {
		labels = append(labels, key+"="+v)
	}
	k.args = []string{"--config", config, "--kubeconfig", kubeconfig, "--root-dir", filepath.Join(dir, "root"),
		"--cert-dir", filepath.Join(dir, "certs"), "--hostname-override", o.Node, "--node-ip", ip,
		"--register-with-taints", fmt.Sprintf("%s=%s:%s", k.Taint.Key, k.Taint.Value, k.Taint.Effect),
		"--node-labels", strings.Join(labels, ","), "--v", "2"}

	k.cri = c.Start(t, "fakecri-"+o.Node, c.GoBuild(t, "./test/e2e/fakecri"),
		"--socket", filepath.Join(dir, "cri.sock"), "--record", k.record)
	c.WaitFor(t, 30*time.Second, "the fake runtime's socket", func(context.Context) (bool, string, error) {
		_, err := os.Stat(filepath.Join(dir, "cri.sock"))
		return err == nil, fmt.Sprint(err), nil
	})
	k.Start(t)
	return k
}

// Start runs the kubelet and waits until its node is Ready.
func (k *Kubelet) Start(t testing.TB) {
	t.Helper()
	// In a private mount namespace: the device-plugin folder, and read-only
	// copies over the sysctls the kubelet would otherwise rewrite.
	script := `set -e
mount --make-rprivate /
mount --bind ` + shellQuote(k.PluginDir) + ` ` + DevicePluginPath + `
for s in ` + strings.Join(slices.Sorted(maps.Keys(kubeletSysctls)), " ") + `; do
  f=` + shellQuote(filepath.Join(k.dir, "sysctl")) + `/$(echo "$s" | tr / _)
  mount --bind "$f" "/proc/sys/$s"
  mount -o remount,bind,ro "/proc/sys/$s"
done
cd ` + shellQuote(filepath.Join(k.dir, "work")) + `
exec ` + shellQuote(k.c.Bin("kubelet")) + ` "$@"`
	args := append([]string{"-m", "--", "sh", "-c", script, "kubelet"}, k.args...)
	k.kubelet = k.c.Start(k.t, "kubelet-"+k.Node, "unshare", args...)
	k.WaitReady(t, 60*time.Second)
}

// Stop stops the kubelet (the fake runtime and its containers stay, as
// containerd does when a kubelet restarts).
func (k *Kubelet) Stop(t testing.TB) {
	if k.kubelet != nil {
		k.kubelet.Stop(t)
	}
}

// Restart stops and starts the kubelet; it deletes every plugin socket on
// the way up, as a real one does.
func (k *Kubelet) Restart(t testing.TB) {
	t.Helper()
	k.Stop(t)
	k.Start(t)
}

// WaitReady waits for the node's Ready condition.
func (k *Kubelet) WaitReady(t testing.TB, timeout time.Duration) {
	t.Helper()
	k.c.WaitFor(t, timeout, "node "+k.Node+" Ready", func(ctx context.Context) (bool, string, error) {
		if k.kubelet.Exited() {
			return false, "", fmt.Errorf("the kubelet exited; its log: %s", k.kubelet.LogPath)
		}
		n, err := k.c.Client.CoreV1().Nodes().Get(ctx, k.Node, metav1.GetOptions{})
		if err != nil {
			return false, err.Error(), nil
		}
		for _, cond := range n.Status.Conditions {
			if cond.Type == corev1.NodeReady {
				return cond.Status == corev1.ConditionTrue, cond.Reason + ": " + cond.Message, nil
			}
		}
		return false, "no Ready condition yet", nil
	})
}

// PodResourcesSocket is the kubelet's pod-resources API (under its root
// folder): which devices it has, on which NUMA node, and which pod has them.
func (k *Kubelet) PodResourcesSocket() string {
	return filepath.Join(k.dir, "root", "pod-resources", "kubelet.sock")
}

// Containers returns every container the kubelet has created so far.
func (k *Kubelet) Containers(t testing.TB) []crirecord.Container {
	t.Helper()
	out, err := crirecord.ReadFile(k.record)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// Container returns the latest container created for a pod's container, or nil.
func (k *Kubelet) Container(t testing.TB, podUID, container string) *crirecord.Container {
	t.Helper()
	var got *crirecord.Container
	for _, c := range k.Containers(t) {
		if c.PodUID == podUID && c.Container == container {
			got = &c
		}
	}
	return got
}

func (k *Kubelet) cleanup(t testing.TB) {
	k.Stop(t)
	if k.cri != nil {
		k.cri.Stop(t)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// Pods bound to the node would wait forever for a kubelet: delete them
	// with the node.
	pods, err := k.c.Client.CoreV1().Pods("").List(ctx, metav1.ListOptions{FieldSelector: "spec.nodeName=" + k.Node})
	if err == nil {
		for _, p := range pods.Items {
			_ = k.c.Client.CoreV1().Pods(p.Namespace).Delete(ctx, p.Name, *metav1.NewDeleteOptions(0))
		}
	}
	_ = k.c.Client.CoreV1().Nodes().Delete(ctx, k.Node, metav1.DeleteOptions{})
	// The kubelet's log is in the cluster's logs folder; the rest goes.
	_ = os.RemoveAll(k.dir)
}

// ensureDir creates path if missing, and removes what it created when the
// test ends, so the host keeps no /var/lib/kubelet it did not have.
func ensureDir(t testing.TB, path string) error {
	var created []string
	for p := path; ; p = filepath.Dir(p) {
		if _, err := os.Stat(p); err == nil {
			break
		} else if !errors.Is(err, os.ErrNotExist) {
			return err
		}
		created = append(created, p)
	}
	if err := os.MkdirAll(path, 0o755); err != nil {
		return err
	}
	t.Cleanup(func() {
		for _, p := range created { // deepest first
			_ = os.Remove(p) // only if empty
		}
	})
	return nil
}

func (k *Kubelet) config(port, healthzPort int) string {
	sock := "unix://" + filepath.Join(k.dir, "cri.sock")
	return fmt.Sprintf(`apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
failCgroupV1: false
cgroupsPerQOS: false
enforceNodeAllocatable: ["none"]
cgroupDriver: cgroupfs
failSwapOn: false
containerRuntimeEndpoint: %[1]s
imageServiceEndpoint: %[1]s
address: 127.0.0.1
port: %[2]d
healthzBindAddress: 127.0.0.1
healthzPort: %[3]d
readOnlyPort: 0
podLogsDir: %[4]s
evictionHard: {}
nodeStatusUpdateFrequency: 1s
nodeStatusReportFrequency: 1s
syncFrequency: 5s
resolvConf: ""
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: false}
  x509: {clientCAFile: %[5]s}
authorization:
  mode: AlwaysAllow
`, sock, port, healthzPort, filepath.Join(k.dir, "podlogs"), filepath.Join(k.c.StateDir, "pki", "ca.crt"))
}

// writeClientConfig signs a client certificate for system:node:<node> with
// the cluster's CA (the Node authorizer then lets the kubelet manage its own
// node and pods) and writes the kubelet's kubeconfig.
func (k *Kubelet) writeClientConfig() (string, error) {
	pki := filepath.Join(k.c.StateDir, "pki")
	caPEM, err := os.ReadFile(filepath.Join(pki, "ca.crt"))
	if err != nil {
		return "", err
	}
	keyPEM, err := os.ReadFile(filepath.Join(pki, "ca.key"))
	if err != nil {
		return "", err
	}
	caBlock, _ := pem.Decode(caPEM)
	keyBlock, _ := pem.Decode(keyPEM)
	if caBlock == nil || keyBlock == nil {
		return "", fmt.Errorf("cannot read the cluster CA in %s", pki)
	}
	ca, err := x509.ParseCertificate(caBlock.Bytes)
	if err != nil {
		return "", err
	}
	var caKey any
	if caKey, err = x509.ParsePKCS8PrivateKey(keyBlock.Bytes); err != nil {
		if caKey, err = x509.ParseECPrivateKey(keyBlock.Bytes); err != nil {
			return "", fmt.Errorf("the cluster CA key: %w", err)
		}
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", err
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:   pkix.Name{CommonName: "system:node:" + k.Node, Organization: []string{"system:nodes"}},
		NotBefore: time.Now().Add(-time.Minute), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return "", err
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return "", err
	}
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["local"] = &clientcmdapi.Cluster{Server: k.c.Config.Host, CertificateAuthorityData: caPEM}
	cfg.AuthInfos["kubelet"] = &clientcmdapi.AuthInfo{
		ClientCertificateData: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		ClientKeyData:         pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})}
	cfg.Contexts["local"] = &clientcmdapi.Context{Cluster: "local", AuthInfo: "kubelet"}
	cfg.CurrentContext = "local"
	path := filepath.Join(k.dir, "kubelet.kubeconfig")
	return path, clientcmd.WriteToFile(*cfg, path)
}

// hostIP is the machine's first non-loopback IPv4 address: the kubelet
// refuses 127.0.0.1 as its node IP.
func hostIP() (string, error) {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return "", err
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && !n.IP.IsLoopback() && n.IP.To4() != nil {
			return n.IP.String(), nil
		}
	}
	return "", errors.New("no non-loopback IPv4 address for the kubelet's node IP")
}

// shellQuote quotes s for sh.
func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }
