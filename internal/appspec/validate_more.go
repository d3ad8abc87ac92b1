package appspec

import (
	"fmt"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/zzcloud/zz/internal/contract"
	"github.com/zzcloud/zz/internal/gpushare"
)

// maxGPUs bounds the cards one pod may share.
const maxGPUs = 16

// gpuModels checks a list of card models with the extender's own limits.
func (v *validator) gpuModels(field string, models []string, gpu bool) {
	if models == nil {
		return
	}
	if !gpu {
		v.add(field, "is set without spec.gpuMem or spec.gpus", "set gpuMem, the memory per card, e.g. 4Gi")
		return
	}
	for i, m := range models {
		if strings.Contains(m, ",") || strings.TrimSpace(m) == "" {
			v.add(fmt.Sprintf("%s[%d]", field, i), fmt.Sprintf("%q is not one card model", m), "write one model, or a part of it, per entry: [A100, H100]")
			return
		}
	}
	if _, err := gpushare.ParseModels(strings.Join(models, ",")); err != nil {
		v.add(field, err.Error(), "list at most 16 models, each as nvidia-smi names it or a part of it such as A100")
	}
}

// reservedKeys are the labels zz sets itself besides the zz.io/ ones.
var reservedKeys = map[string]bool{
	contract.LabelK8sName: true, contract.LabelK8sVersion: true, contract.LabelK8sManagedBy: true,
}

// escapeHatches checks the fields that reach past the templates: command,
// labels, annotations, envFrom, secretEnv, imagePullSecrets, ports, gpus,
// the grace period and preStop.
func (v *validator) escapeHatches(s *Spec) {
	v.command("spec.command", s.Command)
	v.command("spec.preStop", s.PreStop)
	v.metaKeys("spec.labels", s.Labels, true)
	v.metaKeys("spec.annotations", s.Annotations, false)
	for i, e := range s.EnvFrom {
		field := fmt.Sprintf("spec.envFrom[%d]", i)
		switch {
		case (e.Secret == "") == (e.ConfigMap == ""):
			v.add(field, "needs exactly one of secret and configMap", "write {secret: NAME} or {configMap: NAME}")
		case e.Secret != "":
			v.objectName(field+".secret", e.Secret)
		default:
			v.objectName(field+".configMap", e.ConfigMap)
		}
		if e.Prefix != "" && len(validation.IsCIdentifier(e.Prefix)) > 0 {
			v.add(field+".prefix", fmt.Sprintf("%q is not a valid env name prefix", e.Prefix), "use letters, digits and '_', e.g. DB_")
		}
	}
	for _, name := range sortedKeys(s.SecretEnv) {
		ref, field := s.SecretEnv[name], "spec.secretEnv."+name
		if len(validation.IsEnvVarName(name)) > 0 {
			v.add(field, "is not a valid environment variable name", "use letters, digits and '_', e.g. DB_PASSWORD")
		}
		if _, dup := s.Env[name]; dup {
			v.add(field, "is also in spec.env", "keep one")
		}
		v.objectName(field+".secret", ref.Secret)
		if len(validation.IsConfigMapKey(ref.Key)) > 0 {
			v.add(field+".key", fmt.Sprintf("%q is not a Secret key", ref.Key), "use the key as kubectl get secret -o yaml shows it")
		}
	}
	for i, name := range s.ImagePullSecrets {
		v.objectName(fmt.Sprintf("spec.imagePullSecrets[%d]", i), name)
	}
	v.ports(s)
	// gpus alone asks for whole cards: the webhook gives them on a pool whose
	// policy sets gpuCardMemory, and refuses the pods with the fix elsewhere.
	gpu := s.GPUMem != "" || s.GPUs > 0
	switch {
	case s.GPUNUMABind && !gpu:
		v.add("spec.gpuNumaBind", "is set without spec.gpuMem or spec.gpus", "set gpuMem, the memory per card, e.g. 4Gi, and gpus, the cards to keep on one NUMA node")
	case s.GPUWhole && s.GPUMem == "":
		v.add("spec.gpuWhole", "is set without spec.gpuMem", "set gpuMem to the most memory a card may have, e.g. 80Gi: the pod gets whole cards of any size up to it, and a quota counts that much per card")
	case s.GPUs < 0 || s.GPUs > maxGPUs:
		v.add("spec.gpus", fmt.Sprintf("%d is out of range", s.GPUs), fmt.Sprintf("use 1 to %d cards per pod", maxGPUs))
	}
	v.gpuModels("spec.gpuModels", s.GPUModels, gpu)
	v.gpuModels("spec.avoidGpuModels", s.AvoidGPUModels, gpu)
	if g := s.TerminationGracePeriod; g != "" {
		d, err := time.ParseDuration(g)
		if err != nil || d < 0 || d%time.Second != 0 {
			v.add("spec.terminationGracePeriod", fmt.Sprintf("%q is not a duration in whole seconds", g), "use e.g. 45s or 2m")
		}
	}
}

func (v *validator) command(field string, cmd []string) {
	if len(cmd) > 0 && strings.TrimSpace(cmd[0]) == "" {
		v.add(field, "starts with an empty program name", `write the program first, e.g. ["nginx", "-s", "quit"]`)
	}
}

func (v *validator) metaKeys(field string, m map[string]string, labels bool) {
	for _, k := range sortedKeys(m) {
		f := field + "." + k
		switch {
		case strings.HasPrefix(k, contract.Prefix) || reservedKeys[k]:
			v.add(f, "is reserved: kubectl zz sets it", "use a key of your own, e.g. team or example.com/owner")
		case len(validation.IsQualifiedName(k)) > 0:
			v.add(f, "is not a valid key", "use [prefix/]name, letters, digits, '-', '_' and '.'")
		case labels && len(validation.IsValidLabelValue(m[k])) > 0:
			v.add(f, fmt.Sprintf("%q is not a valid label value", m[k]), "use at most 63 letters, digits, '-', '_' or '.'")
		}
	}
}

func (v *validator) objectName(field, name string) {
	if len(validation.IsDNS1123Subdomain(name)) > 0 {
		v.add(field, fmt.Sprintf("%q is not an object name", name), "use the name kubectl get shows, e.g. db-credentials")
	}
}

func (v *validator) ports(s *Spec) {
	names := map[string]bool{"http": true, "rpc": true}
	numbers := map[int32]bool{s.Port: s.Port != 0}
	for i, p := range s.Ports {
		field := fmt.Sprintf("spec.ports[%d]", i)
		switch {
		case len(validation.IsValidPortName(p.Name)) > 0:
			v.add(field+".name", fmt.Sprintf("%q is not a port name", p.Name), "use at most 15 lower-case letters, digits and '-', e.g. metrics")
		case names[p.Name]:
			v.add(field+".name", fmt.Sprintf("%q is taken", p.Name), "http and rpc name spec.port; use another name, e.g. metrics")
		}
		names[p.Name] = true
		switch {
		case p.Port < 1 || p.Port > 65535:
			v.add(field+".port", fmt.Sprintf("%d is out of range", p.Port), "use a port from 1 to 65535, e.g. 7070")
		case numbers[p.Port]:
			v.add(field+".port", fmt.Sprintf("%d is used twice", p.Port), "give each port its own number")
		}
		numbers[p.Port] = true
		if p.Protocol != "TCP" && p.Protocol != "UDP" {
			v.add(field+".protocol", fmt.Sprintf("%q is not a protocol", p.Protocol), "use TCP or UDP")
		}
	}
}
