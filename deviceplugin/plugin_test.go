package deviceplugin

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	corev1 "k8s.io/api/core/v1"
	pluginapi "k8s.io/kubelet/pkg/apis/deviceplugin/v1beta1"

	"github.com/zzcloud/zz/internal/contract"
	"github.com/zzcloud/zz/internal/gpushare"
)

// fakeKubelet is the kubelet's registration service on dir/kubelet.sock.
type fakeKubelet struct {
	pluginapi.UnimplementedRegistrationServer
	registered chan *pluginapi.RegisterRequest
}

func (k *fakeKubelet) Register(_ context.Context, r *pluginapi.RegisterRequest) (*pluginapi.Empty, error) {
	k.registered <- r
	return &pluginapi.Empty{}, nil
}

func startFakeKubelet(t *testing.T, dir string) *fakeKubelet {
	lis, err := net.Listen("unix", filepath.Join(dir, "kubelet.sock"))
	if err != nil {
		t.Fatal(err)
	}
	k := &fakeKubelet{registered: make(chan *pluginapi.RegisterRequest, 4)}
	srv := grpc.NewServer()
	pluginapi.RegisterRegistrationServer(srv, k)
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	return k
}

// podStore stands for the informer: Mark writes the annotation back.
type podStore struct {
	mu   sync.Mutex
	pods []*corev1.Pod
}

func (s *podStore) list() ([]*corev1.Pod, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*corev1.Pod(nil), s.pods...), nil
}

func (s *podStore) mark(_ context.Context, pod *corev1.Pod) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, p := range s.pods {
		if p.UID == pod.UID {
			cp := p.DeepCopy()
			cp.Annotations[contract.AnnotationGPUAssigned] = "true"
			s.pods[i] = cp
		}
	}
	return nil
}

func recv(t *testing.T, k *fakeKubelet) *pluginapi.RegisterRequest {
	t.Helper()
	select {
	case r := <-k.registered:
		return r
	case <-time.After(10 * time.Second):
		t.Fatal("the plugin did not register")
		return nil
	}
}

func TestPluginAgainstFakeKubelet(t *testing.T) {
	dir, err := os.MkdirTemp("", "zzdp") // short: unix socket paths are limited
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	kubelet := startFakeKubelet(t, dir)
	store := &podStore{pods: []*corev1.Pod{
		assigned("older", time.Second, false, "GPU-1"),
		assigned("newer", 2*time.Second, false, "GPU-0"),
	}}
	cards := []Card{
		{GPU: contract.GPU{Index: 0, UUID: "GPU-0", MemoryMiB: 40960, Healthy: true}},
		{GPU: contract.GPU{Index: 1, UUID: "GPU-1", MemoryMiB: 15360, Healthy: true}},
		{GPU: contract.GPU{Index: 2, UUID: "GPU-2", MemoryMiB: 40960, Healthy: true}, MIG: true},
	}
	p := NewPlugin("n1", cards, 4, store.list, store.mark)
	srv := NewServer(p, dir)
	srv.Poll = 50 * time.Millisecond
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { _ = srv.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })

	r := recv(t, kubelet)
	if r.ResourceName != string(contract.ResourceGPU) || r.Endpoint != "zz-gpu.sock" || r.Version != pluginapi.Version || !r.Options.GetPreferredAllocationAvailable {
		t.Fatalf("registration: %+v", r)
	}
	conn, err := grpc.NewClient("unix://"+filepath.Join(dir, "zz-gpu.sock"), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	client := pluginapi.NewDevicePluginClient(conn)

	// ListAndWatch: 4 slots per shared card (the MIG card is left out), and
	// an update when a card turns unhealthy.
	stream, err := client.ListAndWatch(ctx, &pluginapi.Empty{})
	if err != nil {
		t.Fatal(err)
	}
	first, err := stream.Recv()
	if err != nil || len(first.Devices) != 8 {
		t.Fatalf("first list: %v %v", first, err)
	}
	p.SetHealth("GPU-1", false, "XID 48: down until the card is reset")
	second, err := stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	unhealthy := 0
	for _, d := range second.Devices {
		if d.Health == pluginapi.Unhealthy {
			unhealthy++
			if !strings.HasPrefix(d.ID, "GPU-1::") {
				t.Errorf("slot %s marked unhealthy", d.ID)
			}
		}
	}
	if unhealthy != 4 {
		t.Fatalf("%d unhealthy slots, want 4", unhealthy)
	}
	p.SetHealth("GPU-1", true, "")

	// The kubelet is steered to a slot of the card the extender chose for
	// the oldest waiting pod.
	var all []string
	for _, d := range first.Devices {
		all = append(all, d.ID)
	}
	pref, err := client.GetPreferredAllocation(ctx, &pluginapi.PreferredAllocationRequest{ContainerRequests: []*pluginapi.ContainerPreferredAllocationRequest{
		{AvailableDeviceIDs: all, AllocationSize: 1}}})
	if err != nil {
		t.Fatal(err)
	}
	if ids := pref.ContainerResponses[0].DeviceIDs; len(ids) != 1 || !strings.HasPrefix(ids[0], "GPU-1::") {
		t.Fatalf("preferred %v, want a GPU-1 slot", ids)
	}

	// Allocate hands out the extender's cards, pod by pod, and marks them.
	alloc := func(slot string) (*pluginapi.AllocateResponse, error) {
		return client.Allocate(ctx, &pluginapi.AllocateRequest{ContainerRequests: []*pluginapi.ContainerAllocateRequest{{DevicesIds: []string{slot}}}})
	}
	resp, err := alloc(SlotID("GPU-1", 2))
	if err != nil {
		t.Fatal(err)
	}
	env := resp.ContainerResponses[0].Envs
	if env[contract.EnvVisibleDevices] != "GPU-1" || env[contract.EnvGPUMemLimitMiB] != "4096" ||
		resp.ContainerResponses[0].Annotations[contract.AnnotationContainerGPU] != "ns/older/4096" {
		t.Fatalf("first allocation: %+v", resp.ContainerResponses[0])
	}
	if resp, err = alloc(SlotID("GPU-1", 3)); err != nil || resp.ContainerResponses[0].Envs[contract.EnvVisibleDevices] != "GPU-0" {
		t.Fatalf("second allocation must serve the other waiting pod its own card: %v %v", resp, err)
	}
	// The informer may lag the kubelet: a pod bound a moment ago is waited for.
	go func() {
		time.Sleep(200 * time.Millisecond)
		store.mu.Lock()
		store.pods = append(store.pods, assigned("late", 3*time.Second, false, "GPU-0"))
		store.mu.Unlock()
	}()
	if resp, err = alloc(SlotID("GPU-0", 1)); err != nil || resp.ContainerResponses[0].Annotations[contract.AnnotationContainerGPU] != "ns/late/4096" {
		t.Fatalf("a pod that reached the informer late: %v %v", resp, err)
	}
	p.InformerLag = 100 * time.Millisecond
	if _, err := alloc(SlotID("GPU-0", 0)); err == nil || !strings.Contains(err.Error(), "no pod on this node waits") {
		t.Fatalf("allocation with no pod waiting: err = %v", err)
	}
	for _, pod := range must(store.list()) {
		if a, _ := gpushare.PodAssignment(pod); !a.Assigned {
			t.Errorf("pod %s not marked allocated", pod.Name)
		}
	}

	// The kubelet restarts: it deletes the socket; the plugin registers again.
	if err := os.Remove(filepath.Join(dir, "zz-gpu.sock")); err != nil {
		t.Fatal(err)
	}
	if r := recv(t, kubelet); r.ResourceName != string(contract.ResourceGPU) {
		t.Fatalf("re-registration: %+v", r)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// A kubelet may ask for a preference before the plugin's informer shows the
// pod it admits: the plugin waits for it instead of naming no card.
func TestPreferredWaitsForInformer(t *testing.T) {
	store := &podStore{}
	cards := []Card{{GPU: contract.GPU{Index: 0, UUID: "GPU-0", MemoryMiB: 40960, Healthy: true}},
		{GPU: contract.GPU{Index: 1, UUID: "GPU-1", MemoryMiB: 40960, Healthy: true}}}
	p := NewPlugin("n1", cards, 2, store.list, store.mark)
	go func() {
		time.Sleep(200 * time.Millisecond)
		store.mu.Lock()
		store.pods = append(store.pods, assigned("late", 0, false, "GPU-1"))
		store.mu.Unlock()
	}()
	all := []string{SlotID("GPU-0", 0), SlotID("GPU-0", 1), SlotID("GPU-1", 0), SlotID("GPU-1", 1)}
	resp, err := p.GetPreferredAllocation(t.Context(), &pluginapi.PreferredAllocationRequest{ContainerRequests: []*pluginapi.ContainerPreferredAllocationRequest{
		{AvailableDeviceIDs: all, AllocationSize: 1}}})
	if err != nil {
		t.Fatal(err)
	}
	if ids := resp.ContainerResponses[0].DeviceIDs; len(ids) != 1 || !strings.HasPrefix(ids[0], "GPU-1::") {
		t.Fatalf("preferred %v, want a slot of GPU-1", ids)
	}
	// Nobody comes: an empty preference after InformerLag, no error.
	p.InformerLag = 100 * time.Millisecond
	resp, err = p.GetPreferredAllocation(t.Context(), &pluginapi.PreferredAllocationRequest{ContainerRequests: []*pluginapi.ContainerPreferredAllocationRequest{
		{AvailableDeviceIDs: all, AllocationSize: 2}}})
	if err != nil || len(resp.ContainerResponses[0].DeviceIDs) != 0 {
		t.Fatalf("no pod with 2 cards: %v %v", resp, err)
	}
}

// Allocate refuses a pod pinned to a card that is down, naming the card and
// why, and serves it again once the card is back.
func TestAllocateRefusesUnhealthyCard(t *testing.T) {
	store := &podStore{pods: []*corev1.Pod{assigned("pinned", time.Second, false, "GPU-1")}}
	cards := []Card{
		{GPU: contract.GPU{Index: 0, UUID: "GPU-0", MemoryMiB: 40960, Healthy: true}},
		{GPU: contract.GPU{Index: 1, UUID: "GPU-1", MemoryMiB: 40960, Healthy: true}},
	}
	p := NewPlugin("n1", cards, 4, store.list, store.mark)
	p.InformerLag = 0
	p.SetHealth("GPU-1", false, "XID 48: down until the card is reset")
	req := &pluginapi.AllocateRequest{ContainerRequests: []*pluginapi.ContainerAllocateRequest{{DevicesIds: []string{SlotID("GPU-1", 0)}}}}
	if _, err := p.Allocate(t.Context(), req); err == nil || !strings.Contains(err.Error(), "GPU-1, which is unhealthy (XID 48") {
		t.Fatalf("Allocate on a card down for XID 48: %v", err)
	}
	p.SetHealth("GPU-1", true, "")
	if resp, err := p.Allocate(t.Context(), req); err != nil || resp.ContainerResponses[0].Envs[contract.EnvVisibleDevices] != "GPU-1" {
		t.Fatalf("Allocate after recovery: %v %v", resp, err)
	}
}

// TestServerSaysWhetherRegistered: the component is ready only while the
// kubelet has the plugin registered: not before a kubelet listens, and not
// after its socket went (a kubelet restart) until it registers again.
func TestServerSaysWhetherRegistered(t *testing.T) {
	dir, err := os.MkdirTemp("", "zzdp")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	srv := NewServer(NewPlugin("n1", nil, 4, (&podStore{}).list, (&podStore{}).mark), dir)
	srv.Poll = 20 * time.Millisecond
	states := make(chan error, 16)
	srv.Registered = func(ok bool, why error) {
		if ok {
			why = nil
		}
		states <- why
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { _ = srv.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	next := func() error {
		t.Helper()
		select {
		case why := <-states:
			return why
		case <-time.After(10 * time.Second):
			t.Fatal("the server said nothing")
			return nil
		}
	}
	if why := next(); why == nil || !strings.Contains(why.Error(), "kubelet.sock") {
		t.Fatalf("with no kubelet: %v", why)
	}
	kubelet := startFakeKubelet(t, dir)
	for why := next(); why != nil; {
		why = next() // retried with back-off until the kubelet answers
	}
	recv(t, kubelet)
	if err := os.Remove(filepath.Join(dir, "zz-gpu.sock")); err != nil {
		t.Fatal(err)
	}
	if why := next(); why == nil || !strings.Contains(why.Error(), "socket was removed") {
		t.Fatalf("after the socket went: %v", why)
	}
	if why := next(); why != nil {
		t.Fatalf("registered again: %v", why)
	}
}
