package deviceplugin

import (
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	pluginapi "k8s.io/kubelet/pkg/apis/deviceplugin/v1beta1"

	"github.com/zzcloud/zz/internal/contract"
)

func TestParseDeviceListStrategies(t *testing.T) {
	tests := []struct {
		flag    string
		want    string // String() of the set
		wantErr string
	}{
		{flag: "envvar", want: "envvar"},
		{flag: "cdi-cri", want: "cdi-cri"},
		{flag: "cdi-annotations", want: "cdi-annotations"},
		{flag: "cdi-cri,envvar", want: "envvar,cdi-cri"},
		{flag: " envvar , cdi-annotations,cdi-cri ", want: "envvar,cdi-annotations,cdi-cri"},
		{flag: "envvar,envvar", want: "envvar"},
		{flag: "", wantErr: `unknown strategy ""; use envvar, cdi-annotations, cdi-cri, or several comma-separated`},
		{flag: "cdi", wantErr: `unknown strategy "cdi"`},
		{flag: "envvar,", wantErr: `unknown strategy ""`},
		{flag: "volume-mounts", wantErr: `unknown strategy "volume-mounts"`},
		{flag: "CDI-CRI", wantErr: `unknown strategy "CDI-CRI"`},
	}
	for _, tt := range tests {
		t.Run(tt.flag, func(t *testing.T) {
			got, err := ParseDeviceListStrategies(tt.flag)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || got.String() != tt.want {
				t.Fatalf("got %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

// The config check at start-up names the allowed values.
func TestConfigValidateDeviceListStrategy(t *testing.T) {
	c := Config{Node: "n1", UsageEvery: time.Second, UsageAnnotateEvery: time.Second, XIDRecover: time.Minute, SlotsPerCard: 4, DeviceListStrategy: "cdi-cri", OverRequest: "kill"}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	c.DeviceListStrategy = "cdi"
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "envvar, cdi-annotations, cdi-cri") {
		t.Fatalf("Validate with an unknown strategy: %v", err)
	}
	c.DeviceListStrategy, c.OverRequest = "envvar", "evict"
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), `--over-request "evict": use event or kill`) {
		t.Fatalf("Validate with an unknown over-request action: %v", err)
	}
}

// TestAllocateByStrategy checks the whole container response per strategy:
// the zz env is in every mode, only the card hand-off changes.
func TestAllocateByStrategy(t *testing.T) {
	const uid = "3f1e0c9a-5b7d-4c2e-9a1f-6d8b2e4c7a90"
	annotation := contract.CDIAnnotationPrefix + "zz-device-plugin_" + uid
	container := map[string]string{contract.AnnotationContainerGPU: "ns/two/4096"}
	withCDI := maps.Clone(container)
	withCDI[annotation] = "nvidia.com/gpu=GPU-1,nvidia.com/gpu=GPU-0"
	devices := []string{"GPU-1", "GPU-0"}
	tests := []struct {
		strategy    string
		mps         bool
		visible     string
		annotations map[string]string
		cdi         []string
	}{
		{strategy: "envvar", visible: "GPU-1,GPU-0", annotations: container},
		{strategy: "cdi-cri", visible: "void", annotations: container, cdi: []string{"nvidia.com/gpu=GPU-1", "nvidia.com/gpu=GPU-0"}},
		{strategy: "cdi-annotations", visible: "void", annotations: withCDI},
		{strategy: "cdi-annotations,cdi-cri", visible: "void", annotations: withCDI, cdi: []string{"nvidia.com/gpu=GPU-1", "nvidia.com/gpu=GPU-0"}},
		{strategy: "envvar,cdi-cri", visible: "GPU-1,GPU-0", annotations: container, cdi: []string{"nvidia.com/gpu=GPU-1", "nvidia.com/gpu=GPU-0"}},
		{strategy: "cdi-cri", mps: true, visible: "void", annotations: container, cdi: []string{"nvidia.com/gpu=GPU-1", "nvidia.com/gpu=GPU-0"}},
	}
	for _, tt := range tests {
		t.Run(tt.strategy+map[bool]string{true: ",mps"}[tt.mps], func(t *testing.T) {
			pod := assigned("two", time.Second, false, devices...)
			pod.UID = types.UID(uid)
			store := &podStore{pods: []*corev1.Pod{pod}}
			cards := []Card{
				{GPU: contract.GPU{Index: 0, UUID: "GPU-0", MemoryMiB: 40960, Healthy: true}},
				{GPU: contract.GPU{Index: 1, UUID: "GPU-1", MemoryMiB: 40960, Healthy: true}},
			}
			p := NewPlugin("n1", cards, 4, store.list, store.mark)
			p.InformerLag, p.MPS = 0, tt.mps
			p.Strategies = must(ParseDeviceListStrategies(tt.strategy))
			resp, err := p.Allocate(t.Context(), &pluginapi.AllocateRequest{ContainerRequests: []*pluginapi.ContainerAllocateRequest{
				{DevicesIds: []string{SlotID("GPU-1", 0), SlotID("GPU-0", 3)}}}})
			if err != nil {
				t.Fatal(err)
			}
			c := resp.ContainerResponses[0]
			wantEnv := map[string]string{contract.EnvVisibleDevices: tt.visible, contract.EnvGPUMemLimitMiB: "4096",
				contract.EnvXLAMemFraction: "0.085", contract.EnvTFAllowGrowth: "true"}
			if tt.mps {
				wantEnv[contract.EnvMPSPinnedMemLimit], wantEnv[contract.EnvMPSThreadPercentage] = "0=4096M,1=4096M", "10"
			}
			if !maps.Equal(c.Envs, wantEnv) {
				t.Errorf("env %v, want %v", c.Envs, wantEnv)
			}
			if !maps.Equal(c.Annotations, tt.annotations) {
				t.Errorf("annotations %v, want %v", c.Annotations, tt.annotations)
			}
			var cdi []string
			for _, d := range c.CdiDevices {
				cdi = append(cdi, d.Name)
			}
			if !slices.Equal(cdi, tt.cdi) {
				t.Errorf("CDI devices %v, want %v", cdi, tt.cdi)
			}
			if len(c.Devices) != 0 || len(c.Mounts) != 0 {
				t.Errorf("devices %v, mounts %v: the runtime makes those", c.Devices, c.Mounts)
			}
		})
	}
}

func TestCDIAnnotationKey(t *testing.T) {
	tests := []struct {
		id, want, wantErr string
	}{
		{id: "3f1e0c9a-5b7d-4c2e-9a1f-6d8b2e4c7a90", want: "cdi.k8s.io/zz-device-plugin_3f1e0c9a-5b7d-4c2e-9a1f-6d8b2e4c7a90"},
		{id: "a.b_c", want: "cdi.k8s.io/zz-device-plugin_a.b_c"},
		{id: "x-", wantErr: `character '-' not allowed`},
		{id: "a/b", wantErr: `character '/' not allowed`},
		{id: strings.Repeat("a", 47), wantErr: "over 63 characters"},
		{id: strings.Repeat("a", 46), want: "cdi.k8s.io/zz-device-plugin_" + strings.Repeat("a", 46)},
	}
	for _, tt := range tests {
		got, err := cdiAnnotationKey(tt.id)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("%q: err = %v, want %q", tt.id, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("%q: %q, %v; want %q", tt.id, got, err, tt.want)
		}
	}
}

// A pod whose UID cannot key a CDI annotation is refused before it is
// marked allocated.
func TestAllocateCDIKeyErrorMarksNothing(t *testing.T) {
	pod := assigned("odd", time.Second, false, "GPU-0")
	pod.UID = "not/a-uid"
	store := &podStore{pods: []*corev1.Pod{pod}}
	p := NewPlugin("n1", []Card{{GPU: contract.GPU{UUID: "GPU-0", MemoryMiB: 40960, Healthy: true}}}, 4, store.list, store.mark)
	p.InformerLag = 0
	p.Strategies = DeviceListStrategies{StrategyCDIAnnotations: true}
	_, err := p.Allocate(t.Context(), &pluginapi.AllocateRequest{ContainerRequests: []*pluginapi.ContainerAllocateRequest{{DevicesIds: []string{SlotID("GPU-0", 0)}}}})
	if err == nil || !strings.Contains(err.Error(), "pod ns/odd") {
		t.Fatalf("err = %v", err)
	}
	if got := must(store.list())[0].Annotations[contract.AnnotationGPUAssigned]; got != "false" {
		t.Fatalf("pod marked %q after a refused allocation", got)
	}
}
