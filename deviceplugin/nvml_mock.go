//go:build zzmock

package deviceplugin

import (
	"net/http"

	"github.com/NVIDIA/go-nvml/pkg/nvml"

	"github.com/zzcloud/zz/deviceplugin/mocknvml"
)

// MockNVML is true in a binary built with -tags zzmock: --nvml mock:<machine>
// then runs the plugin on a mock machine (tests, e2e and demos build so; the
// release images do not).
const MockNVML = true

// MockModels lists the machines --nvml mock:<machine> accepts.
func MockModels() []string { return mocknvml.ModelNames() }

// newMockNVML returns the mock machine and its control endpoints
// (/debug/mocknvml/ on the health port).
func newMockNVML(model, node string) (nvml.Interface, http.Handler, error) {
	s, err := mocknvml.New(model, node)
	if err != nil {
		return nil, nil, err
	}
	return s, s.Handler(), nil
}
