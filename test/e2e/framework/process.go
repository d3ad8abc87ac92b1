package framework

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Process is a component a test runs (an extender, a second scheduler),
// logging to the cluster's logs folder so a failure dump shows it.
type Process struct {
	Name    string
	LogPath string
	cmd     *exec.Cmd
	done    chan struct{}
}

// Start runs bin with args until the test ends (or Stop/Kill).
func (c *Cluster) Start(t testing.TB, name, bin string, args ...string) *Process {
	t.Helper()
	logDir := filepath.Join(c.StateDir, "logs")
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		t.Fatal(err)
	}
	p := &Process{Name: name, LogPath: filepath.Join(logDir, name+".log"), done: make(chan struct{})}
	logFile, err := os.OpenFile(p.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Stdout, p.cmd.Stderr = logFile, logFile
	// Die with the test binary, even when it is killed: a stray second
	// scheduler would race the next run's for the same pods.
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		logFile.Close()
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		_ = p.cmd.Wait()
		logFile.Close()
		close(p.done)
	}()
	t.Cleanup(func() { p.Stop(t) })
	return p
}

// Stop sends SIGTERM and waits for the process to exit (SIGKILL after 10 s).
func (p *Process) Stop(t testing.TB) {
	p.signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		t.Errorf("%s ignored SIGTERM for 10s; killing it", p.Name)
		p.Kill()
	}
}

// Kill ends the process at once, as a crash would.
func (p *Process) Kill() {
	p.signal(syscall.SIGKILL)
	<-p.done
}

func (p *Process) signal(sig syscall.Signal) {
	select {
	case <-p.done:
	default:
		_ = p.cmd.Process.Signal(sig)
	}
}

// Exited reports whether the process has ended.
func (p *Process) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// WaitHTTP waits until url answers 200 (TLS not verified: local components
// serve self-signed certificates).
func (c *Cluster) WaitHTTP(t testing.TB, p *Process, url string, timeout time.Duration) {
	t.Helper()
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} //nolint:gosec // loopback test component
	c.WaitFor(t, timeout, fmt.Sprintf("%s at %s", p.Name, url), func(ctx context.Context) (bool, string, error) {
		if p.Exited() {
			return false, "", fmt.Errorf("%s exited; its log: %s", p.Name, p.LogPath)
		}
		resp, err := client.Get(url)
		if err != nil {
			return false, err.Error(), nil
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, resp.Status, nil
	})
}

// FreePort returns a loopback port nobody listens on right now.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// TestBuildTags are the build tags of every binary GoBuild builds: zzmock
// links the device plugin's mock NVML machines (--nvml mock:dgxa100).
const TestBuildTags = "zzmock"

var (
	buildMu sync.Mutex
	built   = map[string]string{}
)

// GoBuild builds a main package of this repository into _output/bin (once
// per test binary; the Go build cache makes it quick) and returns its path,
// with the build tag zzmock: the device plugin's --nvml mock:<machine> exists
// only so (the release builds leave the mock NVML out). A folder with a go.mod
// of its own (a test tool module, e.g. test/e2e/fakecri) is built in its
// module.
func (c *Cluster) GoBuild(t testing.TB, pkg string) string {
	t.Helper()
	buildMu.Lock()
	defer buildMu.Unlock()
	if out, ok := built[pkg]; ok {
		return out
	}
	out := c.Bin(filepath.Base(pkg))
	cmd := exec.Command("go", "build", "-tags", TestBuildTags, "-o", out, pkg)
	cmd.Dir = c.Root
	if _, err := os.Stat(filepath.Join(c.Root, pkg, "go.mod")); err == nil {
		cmd = exec.Command("go", "build", "-tags", TestBuildTags, "-o", out, ".")
		cmd.Dir = filepath.Join(c.Root, pkg)
	}
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, strings.TrimSpace(string(b)))
	}
	built[pkg] = out
	return out
}

// Pid is the process's ID, for reading its /proc entries.
func (p *Process) Pid() int { return p.cmd.Process.Pid }
