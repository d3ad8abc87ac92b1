// Package kubeconfig gives the zz servers their API client configuration:
// from --kubeconfig when given (tests, running outside the cluster), from
// the pod's ServiceAccount otherwise.
package kubeconfig

import (
	"fmt"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/zzcloud/zz/internal/version"
)

// Load returns the configuration for component (its user agent).
func Load(path, component string) (*rest.Config, error) {
	var cfg *rest.Config
	var err error
	if path == "" {
		if cfg, err = rest.InClusterConfig(); err != nil {
			return nil, fmt.Errorf("no --kubeconfig and not in a cluster: %w", err)
		}
	} else if cfg, err = clientcmd.BuildConfigFromFlags("", path); err != nil {
		return nil, fmt.Errorf("--kubeconfig %s: %w", path, err)
	}
	cfg.UserAgent = component + "/" + version.Get().GitVersion
	return cfg, nil
}
