//go:build !zzmock

package deviceplugin

import (
	"net/http"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
)

// MockNVML is false in a production build: the mock machines (package
// mocknvml and go-nvml's mock DGX servers) are not linked in.
const MockNVML = false

// MockModels is empty without -tags zzmock.
func MockModels() []string { return nil }

func newMockNVML(string, string) (nvml.Interface, http.Handler, error) {
	return nil, nil, ErrNoMockNVML
}
