package deviceplugin

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"k8s.io/klog/v2"
	pluginapi "k8s.io/kubelet/pkg/apis/deviceplugin/v1beta1"

	"github.com/zzcloud/zz/internal/contract"
)

// Server runs a Plugin on a unix socket in the kubelet's device-plugin
// folder and registers it. The kubelet deletes every plugin socket when it
// restarts; the server notices its socket is gone and starts and registers
// again, so allocatable never stays at 0.
type Server struct {
	Plugin   *Plugin
	Dir      string // the kubelet's device-plugin folder
	Endpoint string // socket name in Dir
	// Poll is how often the socket's presence is checked.
	Poll time.Duration
	// Registered, when set, hears whether the kubelet knows the plugin:
	// true once it registered, false with why when registering failed or
	// the socket went (a kubelet restart). Until registered the node
	// advertises no zz.io/gpu, so the component is not ready.
	Registered func(ok bool, why error)
}

func (s *Server) registered(ok bool, why error) {
	if s.Registered != nil {
		s.Registered(ok, why)
	}
}

// NewServer serves p in dir (pluginapi.DevicePluginPath in a cluster).
func NewServer(p *Plugin, dir string) *Server {
	return &Server{Plugin: p, Dir: dir, Endpoint: "zz-gpu.sock", Poll: 500 * time.Millisecond}
}

// Run serves until ctx ends, re-registering after every kubelet restart.
func (s *Server) Run(ctx context.Context) error {
	logger := klog.FromContext(ctx)
	backoff := time.Second
	for ctx.Err() == nil {
		srv, err := s.start(ctx)
		if err != nil {
			s.registered(false, err)
			logger.Error(err, "Could not serve and register; retrying", "in", backoff)
			select {
			case <-ctx.Done():
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, 30*time.Second)
			continue
		}
		backoff = time.Second
		logger.Info("Registered with the kubelet", "resource", contract.ResourceGPU, "socket", s.socket())
		s.registered(true, nil)
		s.waitSocketGone(ctx)
		srv.Stop()
		if ctx.Err() == nil {
			s.registered(false, errors.New("the plugin socket was removed (a kubelet restart); registering again"))
			logger.Info("Plugin socket removed (kubelet restart?); serving and registering again")
		}
	}
	return nil
}

func (s *Server) socket() string { return filepath.Join(s.Dir, s.Endpoint) }

// start listens on the socket, serves the plugin, and registers it.
func (s *Server) start(ctx context.Context) (*grpc.Server, error) {
	if err := os.Remove(s.socket()); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("remove stale socket: %w", err)
	}
	lis, err := net.Listen("unix", s.socket())
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", s.socket(), err)
	}
	srv := grpc.NewServer()
	pluginapi.RegisterDevicePluginServer(srv, s.Plugin)
	go func() { _ = srv.Serve(lis) }()
	if err := s.register(ctx); err != nil {
		srv.Stop()
		return nil, err
	}
	return srv, nil
}

func (s *Server) register(ctx context.Context) error {
	conn, err := grpc.NewClient("unix://"+filepath.Join(s.Dir, filepath.Base(pluginapi.KubeletSocket)),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return fmt.Errorf("dial the kubelet: %w", err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	_, err = pluginapi.NewRegistrationClient(conn).Register(ctx, &pluginapi.RegisterRequest{
		Version:      pluginapi.Version,
		Endpoint:     s.Endpoint,
		ResourceName: string(contract.ResourceGPU),
		Options:      &pluginapi.DevicePluginOptions{GetPreferredAllocationAvailable: true},
	})
	if err != nil {
		return fmt.Errorf("register with the kubelet at %s: %w", filepath.Join(s.Dir, filepath.Base(pluginapi.KubeletSocket)), err)
	}
	return nil
}

func (s *Server) waitSocketGone(ctx context.Context) {
	tick := time.NewTicker(s.Poll)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			if _, err := os.Stat(s.socket()); errors.Is(err, os.ErrNotExist) {
				return
			}
		}
	}
}
