package spelling

import "testing"

func TestDistance(t *testing.T) {
	for _, tt := range []struct {
		a, b string
		want int
	}{
		{"port", "port", 0}, {"prot", "port", 1}, {"memroy", "memory", 1}, {"gpu_model", "gpu-model", 1},
		{"", "abc", 3}, {"gpumem", "gpu-mem", 1}, {"gpu-memory", "gpu-mem", 3},
	} {
		if got := Distance(tt.a, tt.b); got != tt.want {
			t.Errorf("Distance(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
	}
}

func TestNearest(t *testing.T) {
	known := []string{"zz.io/gpu-model", "zz.io/gpu-model-avoid", "zz.io/gpu-policy"}
	for s, want := range map[string]string{"zz.io/gpu-modle": "zz.io/gpu-model", "zz.io/gpu-polcy": "zz.io/gpu-policy", "zz.io/gpu-favourite": ""} {
		if got := Nearest(s, known, 4); got != want {
			t.Errorf("Nearest(%q) = %q, want %q", s, got, want)
		}
	}
}
