package cmd

import (
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/client-go/kubernetes"
)

// appTarget is what the commands about one deployed app share: its name, the
// namespace kubectl's flags select, and a client.
type appTarget struct {
	App         string
	namespace   string
	client      kubernetes.Interface
	configFlags genericclioptions.RESTClientGetter
}

// complete takes the app name from args[0] (cobra checked there is one).
func (a *appTarget) complete(args []string) error {
	a.App = args[0]
	var err error
	if a.namespace, _, err = a.configFlags.ToRawKubeConfigLoader().Namespace(); err != nil {
		return err
	}
	a.client, err = newClient(a.configFlags)
	return err
}
