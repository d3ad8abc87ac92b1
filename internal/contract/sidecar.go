package contract

import corev1 "k8s.io/api/core/v1"

// IsNativeSidecar says whether init container c runs beside the app for the
// pod's life (restartPolicy Always: kubectl zz's spec.sidecars), not to
// completion before it. The one test of it, for the webhook (lxcfs),
// kubectl zz's diagnosis and init --from.
func IsNativeSidecar(c corev1.Container) bool {
	return c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways
}
