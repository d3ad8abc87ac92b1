// fakecri is the container runtime of the device-plugin e2e test: it serves
// k8s.io/cri-client's fake runtime (which "pulls" any image, "runs" any
// container and reports the network ready, so the real kubelet needs no
// images and no CNI) on a unix socket, and appends every CreateContainer
// request to a JSON-lines file, so the test sees exactly what the kubelet
// handed each container: the device plugin's env, devices, mounts,
// annotations and CDI devices.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"google.golang.org/grpc"
	kubeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	"k8s.io/cri-client/pkg/fake"

	"github.com/zzcloud/zz/test/e2e/crirecord"
)

type runtime struct {
	*fake.RemoteRuntime
	mu  sync.Mutex
	out *os.File
}

func (r *runtime) CreateContainer(ctx context.Context, req *kubeapi.CreateContainerRequest) (*kubeapi.CreateContainerResponse, error) {
	resp, err := r.RemoteRuntime.CreateContainer(ctx, req)
	if err != nil {
		return nil, err
	}
	// The fake leaves LogPath empty; the kubelet then treats its own working
	// directory as the container's log and deletes it with the container.
	logPath := filepath.Join(req.GetSandboxConfig().GetLogDirectory(), req.GetConfig().GetLogPath())
	if req.GetConfig().GetLogPath() != "" {
		if err := os.MkdirAll(filepath.Dir(logPath), 0o755); err == nil {
			if f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY, 0o644); err == nil {
				f.Close()
			}
		}
		r.RuntimeService.Lock()
		if c := r.RuntimeService.Containers[resp.ContainerId]; c != nil {
			c.LogPath = logPath
		}
		r.RuntimeService.Unlock()
	}
	cfg, meta := req.GetConfig(), req.GetSandboxConfig().GetMetadata()
	rec := crirecord.Container{Time: time.Now(), ContainerID: resp.ContainerId, Namespace: meta.GetNamespace(), Pod: meta.GetName(), PodUID: meta.GetUid(),
		Container: cfg.GetMetadata().GetName(), Attempt: cfg.GetMetadata().GetAttempt(), Env: map[string]string{}, Annotations: cfg.GetAnnotations()}
	for _, e := range cfg.GetEnvs() {
		rec.Env[e.Key] = string(e.Value)
	}
	for _, d := range cfg.GetDevices() {
		rec.Devices = append(rec.Devices, d.HostPath+":"+d.ContainerPath)
	}
	for _, m := range cfg.GetMounts() {
		rec.Mounts = append(rec.Mounts, m.HostPath+":"+m.ContainerPath)
	}
	for _, d := range cfg.GetCDIDevices() {
		rec.CDIDevices = append(rec.CDIDevices, d.GetName())
	}
	b, err := json.Marshal(rec)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, err := r.out.Write(append(b, '\n')); err != nil {
		return nil, fmt.Errorf("record the container: %w", err)
	}
	return resp, nil
}

func main() {
	socket := flag.String("socket", "", "unix socket to serve the CRI on")
	record := flag.String("record", "", "file to append one JSON line per CreateContainer request to")
	flag.Parse()
	if err := run(*socket, *record); err != nil {
		fmt.Fprintln(os.Stderr, "fakecri:", err)
		os.Exit(1)
	}
}

func run(socket, record string) error {
	if socket == "" || record == "" {
		return fmt.Errorf("--socket and --record are required")
	}
	out, err := os.OpenFile(record, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer out.Close()
	r := &runtime{RemoteRuntime: fake.NewFakeRemoteRuntime(), out: out}
	// The kubelet refuses an image whose size is 0 (ImageInspectError).
	r.ImageService.SetFakeImageSize(1 << 20)
	r.RuntimeService.FakeStatus = &kubeapi.RuntimeStatus{Conditions: []*kubeapi.RuntimeCondition{
		{Type: kubeapi.RuntimeReady, Status: true}, {Type: kubeapi.NetworkReady, Status: true}}}
	_ = os.Remove(socket)
	lis, err := net.Listen("unix", socket)
	if err != nil {
		return err
	}
	srv := grpc.NewServer()
	kubeapi.RegisterRuntimeServiceServer(srv, r)
	kubeapi.RegisterImageServiceServer(srv, r)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	go func() {
		<-ctx.Done()
		srv.Stop()
	}()
	return srv.Serve(lis)
}
