// Package framework runs e2e tests against the real local control plane that
// hack/cluster-up.sh starts: it starts or reuses the cluster, gives each test a
// namespace, waits for conditions, and dumps state when a test fails.
package framework

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// Env names that steer the framework.
const (
	// EnvKubeconfig points the tests at an existing cluster; the framework then
	// neither starts nor stops one.
	EnvKubeconfig = "ZZ_E2E_KUBECONFIG"
	// EnvKeep=1 leaves a cluster the framework started running after the tests.
	EnvKeep = "ZZ_E2E_KEEP_CLUSTER"
	// EnvCluster names the hack/ cluster to use (default "zz").
	EnvCluster = "ZZ_CLUSTER"
)

// Cluster is one running test cluster.
type Cluster struct {
	Name       string
	Root       string // repository root
	StateDir   string // hack/ state of this cluster: logs, pod.log, kubeconfig
	Kubeconfig string
	Config     *rest.Config
	Client     kubernetes.Interface

	started bool // by us, so Teardown stops it
}

// Setup starts the cluster with hack/cluster-up.sh unless it already runs (or
// EnvKubeconfig names one), and connects to it. Call it from TestMain.
func Setup(ctx context.Context) (*Cluster, error) {
	root, err := RepoRoot()
	if err != nil {
		return nil, err
	}
	name := os.Getenv(EnvCluster)
	if name == "" {
		name = "zz"
	}
	c := &Cluster{Name: name, Root: root, StateDir: filepath.Join(root, "_output", "cluster", name)}
	c.Kubeconfig = os.Getenv(EnvKubeconfig)
	if c.Kubeconfig == "" {
		c.Kubeconfig = filepath.Join(c.StateDir, "kubeconfig")
		if err := c.connect(); err != nil || c.ready(ctx) != nil {
			if err := c.runHack(ctx, "cluster-up.sh"); err != nil {
				return nil, fmt.Errorf("start the test cluster: %w", err)
			}
			c.started = true
		}
	}
	if err := c.connect(); err != nil {
		return nil, err
	}
	if err := c.ready(ctx); err != nil {
		return nil, fmt.Errorf("test cluster at %s is not ready: %w", c.Kubeconfig, err)
	}
	return c, nil
}

// Teardown stops the cluster if Setup started it and EnvKeep is not set.
func (c *Cluster) Teardown(ctx context.Context) error {
	if !c.started || os.Getenv(EnvKeep) == "1" {
		return nil
	}
	return c.runHack(ctx, "cluster-down.sh")
}

func (c *Cluster) connect() error {
	cfg, err := clientcmd.BuildConfigFromFlags("", c.Kubeconfig)
	if err != nil {
		return fmt.Errorf("load kubeconfig %s: %w", c.Kubeconfig, err)
	}
	// Tests create and watch many objects; client-go's default 5 QPS would
	// make them slow and flaky.
	cfg.QPS, cfg.Burst = 200, 400
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	c.Config, c.Client = cfg, client
	return nil
}

func (c *Cluster) ready(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	body, err := c.Client.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
	if err != nil {
		return fmt.Errorf("readyz: %w (%s)", err, bytes.TrimSpace(body))
	}
	return nil
}

// runHack runs a hack/ script for this cluster, its output on ours.
func (c *Cluster) runHack(ctx context.Context, script string, args ...string) error {
	cmd := exec.CommandContext(ctx, filepath.Join(c.Root, "hack", script), args...)
	cmd.Env = append(os.Environ(), EnvCluster+"="+c.Name)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	return cmd.Run()
}

// Bin is the path of a binary hack/build-tools.sh built (kubectl, kwok, ...).
func (c *Cluster) Bin(name string) string {
	return filepath.Join(c.Root, "_output", "bin", name)
}

// PodLogFile is the CRI-format file kwok serves as every fake container's log.
// Appending to it makes new lines appear in followed streams.
func (c *Cluster) PodLogFile() string {
	return filepath.Join(c.StateDir, "pod.log")
}

// PodPreviousLogFile is the file kwok serves as every fake container's
// previous run (logs?previous=true).
func (c *Cluster) PodPreviousLogFile() string {
	return filepath.Join(c.StateDir, "pod-previous.log")
}

// Kubectl runs the cluster-version kubectl against the cluster and returns
// its stdout; stderr is in the error.
func (c *Cluster) Kubectl(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, c.Bin("kubectl"), append([]string{"--kubeconfig", c.Kubeconfig}, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("kubectl %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}

// RepoRoot finds the directory holding the product's go.mod.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && bytes.HasPrefix(b, []byte("module github.com/zzcloud/zz\n")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("repository root not found: run the tests inside the zz checkout")
		}
		dir = parent
	}
}
