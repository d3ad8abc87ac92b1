package gpushare

import (
	"errors"
	"maps"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/zzcloud/zz/internal/contract"
)

func TestMemUsedEncode(t *testing.T) {
	for _, tt := range []struct {
		used MemUsed
		want string
	}{
		{MemUsed{}, ""},
		{MemUsed{"GPU-b": 9000, "GPU-a": 0}, "GPU-a=0,GPU-b=9000"},
		{MemUsed{"MIG-1": 1024}, "MIG-1=1024"},
	} {
		if got := tt.used.Encode(); got != tt.want {
			t.Errorf("%v.Encode() = %q, want %q", tt.used, got, tt.want)
		}
	}
}

func TestParseMemUsed(t *testing.T) {
	for _, tt := range []struct {
		value   string
		want    MemUsed
		wantErr string
	}{
		{value: "", want: MemUsed{}},
		{value: "GPU-a=0,GPU-b=9000", want: MemUsed{"GPU-a": 0, "GPU-b": 9000}},
		{value: "GPU-a", wantErr: "not <uuid>=<MiB>"},
		{value: "=12", wantErr: "not <uuid>=<MiB>"},
		{value: "GPU a=12", wantErr: "not <uuid>=<MiB>"},
		{value: "GPU-a=1=2", wantErr: "not a number of MiB"},
		{value: "GPU-a=1,GPU-a=2", wantErr: "appears twice"},
		{value: "GPU-a=-1", wantErr: "not a number of MiB"},
		{value: "GPU-a=1048577", wantErr: "not a number of MiB"},
		{value: "GPU-a=1,", wantErr: "not <uuid>=<MiB>"},
		{value: strings.Repeat("G=1,", MaxCards) + "G=1", wantErr: "more than 64"},
	} {
		got, err := ParseMemUsed(tt.value)
		switch {
		case tt.wantErr != "":
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ParseMemUsed(%q) = %v, %v; want error %q", tt.value, got, err, tt.wantErr)
			}
		case err != nil || !maps.Equal(got, tt.want):
			t.Errorf("ParseMemUsed(%q) = %v, %v; want %v", tt.value, got, err, tt.want)
		}
	}
}

func TestPodMemUsed(t *testing.T) {
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{}}}
	if _, err := PodMemUsed(pod); !errors.Is(err, ErrNoMemUsed) {
		t.Fatalf("no annotation: %v, want ErrNoMemUsed", err)
	}
	pod.Annotations[contract.AnnotationGPUMemUsed] = "GPU-a=5"
	if u, err := PodMemUsed(pod); err != nil || u["GPU-a"] != 5 {
		t.Fatalf("PodMemUsed = %v, %v", u, err)
	}
}

// FuzzParseMemUsed: any value a pod may carry decodes or is refused, never
// panics, and what decodes encodes back to a value that decodes the same.
func FuzzParseMemUsed(f *testing.F) {
	for _, s := range []string{"", "GPU-a=0,GPU-b=9000", "a=1,a=2", "x=-1", "=", ",,", "GPU-a=99999999999999999999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, value string) {
		u, err := ParseMemUsed(value)
		if err != nil {
			return
		}
		back, err := ParseMemUsed(u.Encode())
		if err != nil || !maps.Equal(back, u) {
			t.Fatalf("%q decodes to %v, encodes to %q, decodes to %v, %v", value, u, u.Encode(), back, err)
		}
	})
}
