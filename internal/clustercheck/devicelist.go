package clustercheck

import (
	"strings"
)

// deviceListStrategy warns while a zz device plugin DaemonSet hands cards
// over by env (--device-list-strategy envvar, its default): the NVIDIA
// runtime then reads the cards from NVIDIA_VISIBLE_DEVICES and cannot tell
// the plugin's value from a tenant's. zz refuses the variable where it
// can (the webhook, policy zz-gpu-mem-total), but a pod asking for no GPU
// in a namespace the webhook does not serve (a CUDA image's own ENV
// NVIDIA_VISIBLE_DEVICES=all included) still sees every card of its node,
// and the toolkit's setting that ignores the variable in unprivileged
// containers would cut off zz's own GPU pods too. Only CDI closes it.
func deviceListStrategy(s *State) []Result {
	var out []Result
	for _, ds := range s.DaemonSets {
		for _, c := range ds.Spec.Template.Spec.Containers {
			argv := append(append([]string(nil), c.Command...), c.Args...)
			flag, set := flagValue(argv, "--device-list-strategy")
			if !set && !strings.Contains(ds.Name, "device-plugin") {
				continue
			}
			if !set {
				flag = "envvar" // the plugin's default
			}
			r := Result{Group: GroupGPUNodes, Name: "cards handed over by (" + ds.Namespace + "/" + ds.Name + ")"}
			envvar := false
			for _, f := range strings.Split(flag, ",") {
				envvar = envvar || strings.TrimSpace(f) == "envvar"
			}
			if envvar {
				r.Status = Warn
				r.Detail = "--device-list-strategy=" + flag + ": the NVIDIA runtime takes the cards from NVIDIA_VISIBLE_DEVICES and cannot tell the plugin's value from a pod's own; " +
					"zz refuses it in env and envFrom of GPU pods, gives void to the rest where the webhook serves and requires void of every ephemeral container (kubectl debug; policy zz-ephemeral-containers), but a pod asking for no GPU in a namespace it does not serve " +
					"(a CUDA image's own ENV NVIDIA_VISIBLE_DEVICES=all too) sees every card of its node, and the toolkit's accept-nvidia-visible-devices-envvar-when-unprivileged=false would cut off zz's GPU pods as well"
				r.Hint = "put the nodes' container runtime in CDI mode (nvidia-ctk cdi generate; containerd enable_cdi, or CRI-O), run the device plugin with --device-list-strategy=cdi-cri (Helm: devicePlugin.deviceListStrategy=cdi-cri), then set that toolkit option to false"
			} else {
				r.Status = OK
				r.Detail = "--device-list-strategy=" + flag + ": cards go by CDI, not by env (the runtime must be in CDI mode, or no card is handed over)"
			}
			out = append(out, r)
		}
	}
	return out
}
