package contract

import corev1 "k8s.io/api/core/v1"

// IsNativeSidecar says whether init container c runs beside the app for the
// pod's life (restartPolicy Always: kubectl zz's spec.sidecars), not to
// completion before it. The one test of it, for the webhook (lxcfs),
// kubectl zz's diagnosis and init --from.
func IsNativeSidecar(c corev1.Container) bool {
	return c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways
}

// EnvAppPort is set by kubectl zz on every sidecar of an app with a port, to
// spec.port: a proxy in front of the app names its upstream by it
// (--upstream=http://127.0.0.1:$(ZZ_APP_PORT), which the kubelet expands
// from the container's env), so a change of spec.port moves both, where a
// port copied by hand into the proxy's args stayed behind and every request
// failed with every pod Ready (an audit). A sidecar's env may not set it.
const EnvAppPort = "ZZ_APP_PORT"
