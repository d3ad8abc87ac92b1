package deviceplugin

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestProgress: zz_device_plugin_registered exists at 0 from the start,
// whatever stage the plugin is stuck in before the kubelet registers it
// (an SRE audit found no series, so no alert, while the inventory patch
// was refused for ever); it is withdrawn on a node without a driver (idle
// by design); /readyz says the stage.
func TestProgress(t *testing.T) {
	reg := prometheus.NewRegistry()
	p := newProgress(reg)
	readyz := func() (int, string) {
		rec := httptest.NewRecorder()
		healthHandler(&p.notReady, reg, nil).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
		return rec.Code, rec.Body.String()
	}
	gauge := func() (int, float64) {
		t.Helper()
		n, err := testutil.GatherAndCount(reg, "zz_device_plugin_registered")
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			return 0, 0
		}
		return n, testutil.ToFloat64(p.registered)
	}
	if n, v := gauge(); n != 1 || v != 0 {
		t.Fatalf("at start: %d series, value %v; want one at 0", n, v)
	}
	p.stage("publishing the GPU inventory on the node (the log says why it fails)")
	if code, body := readyz(); code != http.StatusServiceUnavailable || !strings.Contains(body, "not ready: starting: publishing the GPU inventory") {
		t.Errorf("/readyz while publishing: %d %q", code, body)
	}
	p.registeredWith(true, nil)
	if code, _ := readyz(); code != http.StatusOK {
		t.Errorf("/readyz registered: %d", code)
	}
	if n, v := gauge(); n != 1 || v != 1 {
		t.Errorf("registered: %d series, value %v; want one at 1", n, v)
	}
	p.registeredWith(false, errors.New("kubelet gone"))
	if n, v := gauge(); n != 1 || v != 0 {
		t.Errorf("unregistered: %d series, value %v; want one at 0", n, v)
	}

	idle := prometheus.NewRegistry()
	p = newProgress(idle)
	p.noDriver("no NVIDIA driver: ERROR_LIBRARY_NOT_FOUND")
	if n, err := testutil.GatherAndCount(idle, "zz_device_plugin_registered"); err != nil || n != 0 {
		t.Errorf("no driver: %d series (%v); want none", n, err)
	}
	reg = idle
	if code, body := readyz(); code != http.StatusServiceUnavailable || !strings.Contains(body, "no NVIDIA driver") {
		t.Errorf("/readyz without a driver: %d %q", code, body)
	}
}
