package appspec

import (
	"fmt"
	"math"
	"slices"
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

// specLabels are the zz.io/ labels a spec field sets, by the field.
var specLabels = map[string]string{
	contract.LabelPool: "pool", contract.LabelGroup: "group", contract.LabelType: "type", contract.LabelVersion: "version",
}

// Why spec.annotations may not hold a zz.io/ key: the message and its fix.
type reservedWhy struct{ msg, fix string }

var (
	byPlacement = reservedWhy{"is reserved to the zz extender and device plugin: they write it when they give the pod its cards",
		"leave it out; choose cards with spec.gpuModels, spec.avoidGpuModels or the annotations zz.io/gpu-card and zz.io/gpu-card-avoid"}
	byKubectlZZ = reservedWhy{"is reserved: kubectl zz sets it", "use a key of your own, e.g. team or example.com/owner"}
)

// reservedAnnotations are the zz.io/ pod annotations an app spec may not
// set, each with the true reason. The other zz.io/gpu-* keys that a pod
// may carry are the user's choice and pass (gpuChoices); zz.io/gpu-* keys
// zz does not read on a pod are refused as unknown (a typo would be
// ignored), and other zz.io/ keys pass (a webhook policy may add sidecars
// by them, and zz.io/inject-disable is the pod's switch).
var reservedAnnotations = map[string]reservedWhy{
	contract.AnnotationGPUIndexes:    byPlacement,
	contract.AnnotationGPUUUIDs:      byPlacement,
	contract.AnnotationGPUMemMiB:     byPlacement,
	contract.AnnotationGPUAssumeTime: byPlacement,
	contract.AnnotationGPUAssigned:   byPlacement,
	contract.AnnotationContainerGPU:  byPlacement,
	contract.AnnotationGPUMemUsed:    byPlacement,
	contract.AnnotationGPUNomination: byPlacement,
	contract.AnnotationGPUAssumeNode: byPlacement,
	contract.AnnotationNodeGPUInventory: {"is a node annotation (the device plugin's card inventory), not a pod's",
		"leave it out"},
	contract.AnnotationNodeGPUCordon: {"is a node annotation (kubectl zz gpu cordon), not a pod's",
		"leave it out; to keep the app off cards, use the annotation zz.io/gpu-card-avoid"},
	contract.AnnotationSchedulerFallback: {"is reserved: the zz webhook sets it", "leave it out"},
	contract.AnnotationDebug:             {"is reserved: kubectl zz sets it", "deploy with --debug instead"},
	contract.AnnotationApplyID:           byKubectlZZ,
	contract.AnnotationImage:             byKubectlZZ,
	contract.AnnotationDeployedBy:        byKubectlZZ,
	contract.AnnotationDeployedAt:        byKubectlZZ,
	contract.AnnotationGPUWhole:          {"is what spec.gpuWhole sets", "set spec.gpuWhole: true instead"},
	contract.AnnotationGPUModel:          {"is what spec.gpuModels sets", "set spec.gpuModels instead, e.g. [A100, H100]"},
	contract.AnnotationGPUModelAvoid:     {"is what spec.avoidGpuModels sets", "set spec.avoidGpuModels instead, e.g. [T4]"},
	contract.AnnotationGPUNUMABind:       {"is what spec.gpuNumaBind sets", "set spec.gpuNumaBind: true instead"},
}

// gpuChoices are the GPU pod annotations an app spec may set: the app's
// placement policy and the cards it must be on or off, each checked as the
// extender reads it.
var gpuChoices = map[string]func(string) error{
	contract.AnnotationGPUPolicy: func(v string) error {
		_, err := gpushare.ParsePolicy(v, gpushare.Binpack)
		if v == "" {
			err = fmt.Errorf("is empty; use %q, %q or %q", gpushare.Binpack, gpushare.BestFit, gpushare.Spread)
		}
		return err
	},
	contract.AnnotationGPUCard:      func(v string) error { _, err := gpushare.ParseUUIDs(v); return err },
	contract.AnnotationGPUCardAvoid: func(v string) error { _, err := gpushare.ParseUUIDs(v); return err },
}

// annotationKey checks a zz.io/ key of spec.annotations.
func (v *validator) annotationKey(s *Spec, field, key, value string) {
	if why, ok := reservedAnnotations[key]; ok {
		v.add(field, why.msg, why.fix)
		return
	}
	if check, ok := gpuChoices[key]; ok {
		switch {
		case !s.AsksGPU():
			v.add(field, "is set without spec.gpuMem or spec.gpus", "set gpuMem, the memory per card, e.g. 4Gi")
		default:
			if err := check(value); err != nil {
				v.add(field, err.Error(), "")
			}
		}
		return
	}
	if strings.HasPrefix(key, contract.Prefix+"gpu") {
		v.add(field, "is not a GPU annotation zz reads on a pod",
			"an app's GPU choices are spec.gpuMem, spec.gpus, spec.gpuWhole, spec.gpuNumaBind, spec.gpuModels, spec.avoidGpuModels and the annotations "+
				contract.AnnotationGPUPolicy+", "+contract.AnnotationGPUCard+" and "+contract.AnnotationGPUCardAvoid)
	}
}

// escapeHatches checks the fields that reach past the templates: command,
// labels, annotations, envFrom, secretEnv, imagePullSecrets, ports, gpus,
// the grace period and preStop.
func (v *validator) escapeHatches(s *Spec) {
	v.command("spec.command", s.Command)
	v.command("spec.preStop", s.PreStop)
	v.metaKeys(s, "spec.labels", s.Labels, true)
	v.metaKeys(s, "spec.annotations", s.Annotations, false)
	if p := s.PriorityClassName; p != "" && len(validation.IsDNS1123Subdomain(p)) > 0 {
		v.add("spec.priorityClassName", fmt.Sprintf("%q is not a PriorityClass name", p), "use the name kubectl get priorityclass shows, e.g. batch-low")
	}
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
	v.secretEnv("spec", s.SecretEnv, s.Env)
	for i, name := range s.ImagePullSecrets {
		v.objectName(fmt.Sprintf("spec.imagePullSecrets[%d]", i), name)
	}
	v.mounts(s)
	for i, arg := range s.InitCommand {
		if i == 0 && strings.TrimSpace(arg) == "" {
			v.add("spec.initCommand[0]", "is empty", "name the program to run, e.g. [/app/migrate, up]")
		}
	}
	v.ports(s)
	// gpus alone asks for whole cards: the webhook gives them on a pool whose
	// policy sets gpuCardMemory, and refuses the pods with the fix elsewhere.
	gpu := s.AsksGPU()
	switch {
	case s.GPUs != nil && *s.GPUs == 0:
		v.add("spec.gpus", "0 asks for no card, yet with spec.gpuMem it would mean one", "leave spec.gpus out for one card (or spec.gpuMem too for none)")
	case s.GPUs != nil && (*s.GPUs < 0 || *s.GPUs > maxGPUs):
		v.add("spec.gpus", fmt.Sprintf("%d is out of range", *s.GPUs), fmt.Sprintf("use 1 to %d cards per pod", maxGPUs))
	case s.GPUNUMABind && !gpu:
		v.add("spec.gpuNumaBind", "is set without spec.gpuMem or spec.gpus", "set gpuMem, the memory per card, e.g. 4Gi, and gpus, the cards to keep on one NUMA node")
	case s.GPUWhole && s.GPUMem == "":
		v.add("spec.gpuWhole", "is set without spec.gpuMem", "set gpuMem to the most memory a card may have, e.g. 80Gi: the pod gets whole cards of any size up to it, and a quota counts that much per card")
	}
	v.gpuModels("spec.gpuModels", s.GPUModels, gpu)
	v.gpuModels("spec.avoidGpuModels", s.AvoidGPUModels, gpu)
	v.startup(s)
	v.healthTimeout(s)
	v.rollout(s)
	v.minReady(s)
	v.identity(s)
	if g := s.TerminationGracePeriod; g != "" {
		d, err := time.ParseDuration(g)
		if err != nil || d < 0 || d%time.Second != 0 {
			v.add("spec.terminationGracePeriod", fmt.Sprintf("%q is not a duration in whole seconds", g), "use e.g. 45s or 2m")
		}
	}
}

// startup checks spec.startupTimeout: a duration in whole seconds, on an
// app that has a readiness check to start on.
func (v *validator) startup(s *Spec) {
	g := s.StartupTimeout
	if g == "" {
		return
	}
	d, err := time.ParseDuration(g)
	switch {
	case s.Type == TypeWorker && s.HealthCommand == nil && !slices.ContainsFunc(s.Sidecars, func(sc Sidecar) bool { return sc.Startup != nil }):
		v.add("spec.startupTimeout", "a worker has no probes to start on", "remove spec.startupTimeout, give the worker a spec.healthCommand to start on, or use type web, java or rpc (or give a sidecar a startup: it bounds that)")
	case err != nil || d <= 0 || d%time.Second != 0:
		v.add("spec.startupTimeout", fmt.Sprintf("%q is not a positive duration in whole seconds", g), "use e.g. 5m or 90s")
	case d > MaxStartupTimeout:
		v.add("spec.startupTimeout", fmt.Sprintf("%s is more than %s", g, MaxStartupTimeout), "use at most "+MaxStartupTimeout.String()+": a pod that takes longer is better restarted")
	}
}

// healthTimeout checks spec.healthTimeout: whole seconds (the kubelet's
// unit), within [1s, MaxHealthTimeout], on an app that has probes.
func (v *validator) healthTimeout(s *Spec) {
	g := s.HealthTimeout
	if g == "" {
		return
	}
	d, err := time.ParseDuration(g)
	switch {
	case s.Type == TypeWorker && s.HealthCommand == nil:
		v.add("spec.healthTimeout", "a worker has no probes", "remove spec.healthTimeout, give the worker a spec.healthCommand, or use type web, java or rpc")
	case err != nil || d < time.Second || d%time.Second != 0:
		v.add("spec.healthTimeout", fmt.Sprintf("%q is not a duration of whole seconds, at least 1s", g), "use e.g. 5s")
	case d > MaxHealthTimeout:
		v.add("spec.healthTimeout", fmt.Sprintf("%s is more than %s", g, MaxHealthTimeout), "use at most "+MaxHealthTimeout.String()+": a health check slower than that is a hung app")
	}
}

// MaxHealthTimeout bounds spec.healthTimeout.
const MaxHealthTimeout = time.Minute

// rollout checks spec.rollout.
func (v *validator) rollout(s *Spec) {
	switch s.Rollout {
	case "", RolloutSurge, RolloutReplace:
	default:
		v.add("spec.rollout", fmt.Sprintf("%q is not a rollout", s.Rollout), "use surge (new pods start beside the old ones) or replace (an old pod goes first: no extra room needed)")
	}
}

// minReady checks spec.minReadySeconds: 0 to MaxMinReadySeconds.
func (v *validator) minReady(s *Spec) {
	switch m := s.MinReadySeconds; {
	case m < 0:
		v.add("spec.minReadySeconds", fmt.Sprintf("%d is negative", m), "use 0 (a ready pod is available at once) up to "+fmt.Sprint(MaxMinReadySeconds)+", e.g. 10: how long a new pod must stay ready before the rollout counts it")
	case m > MaxMinReadySeconds:
		v.add("spec.minReadySeconds", fmt.Sprintf("%d is more than %d (1h)", m, MaxMinReadySeconds), fmt.Sprintf("use at most %d: every batch of a rollout waits it out, and a crash later than that is for monitoring to catch, not the deploy", MaxMinReadySeconds))
	}
}

// MaxMinReadySeconds bounds spec.minReadySeconds: an hour.
const MaxMinReadySeconds = 3600

// MaxStartupTimeout bounds spec.startupTimeout.
const MaxStartupTimeout = time.Hour

// identity checks spec.serviceAccount and spec.securityContext.
func (v *validator) identity(s *Spec) {
	if s.ServiceAccount != "" {
		v.objectName("spec.serviceAccount", s.ServiceAccount)
	}
	sc := s.SecurityContext
	if sc == nil {
		return
	}
	for _, f := range []struct {
		name string
		id   *int64
	}{{"runAsUser", sc.RunAsUser}, {"runAsGroup", sc.RunAsGroup}, {"fsGroup", sc.FSGroup}} {
		if f.id != nil && (*f.id < 0 || *f.id > math.MaxInt32) {
			v.add("spec.securityContext."+f.name, fmt.Sprintf("%d is out of range", *f.id), "use an id from 0 to 2147483647, e.g. 10001")
		}
	}
	if (sc.RunAsNonRoot || sc.Restricted) && sc.RunAsUser != nil && *sc.RunAsUser == 0 {
		v.add("spec.securityContext.runAsUser", "0 is root, which runAsNonRoot (and restricted) refuses", "use a non-zero id, e.g. 10001, or leave it to the image's USER")
	}
}

// secretEnv checks the Secret env of the container at field (spec, a
// sidecar's): valid names, none also in its plain env (one would shadow
// the other), each one key of a Secret.
func (v *validator) secretEnv(field string, secretEnv map[string]SecretKey, env map[string]string) {
	for _, name := range sortedKeys(secretEnv) {
		ref, f := secretEnv[name], field+".secretEnv."+name
		if len(validation.IsEnvVarName(name)) > 0 {
			v.add(f, "is not a valid environment variable name", "use letters, digits and '_', e.g. DB_PASSWORD")
		}
		if _, dup := env[name]; dup {
			v.add(f, "is also in "+field+".env", "keep one")
		}
		v.objectName(f+".secret", ref.Secret)
		if len(validation.IsConfigMapKey(ref.Key)) > 0 {
			v.add(f+".key", fmt.Sprintf("%q is not a Secret key", ref.Key), "use the key as kubectl get secret -o yaml shows it")
		}
	}
}

func (v *validator) command(field string, cmd []string) {
	if len(cmd) > 0 && strings.TrimSpace(cmd[0]) == "" {
		v.add(field, "starts with an empty program name", `write the program first, e.g. ["nginx", "-s", "quit"]`)
	}
}

func (v *validator) metaKeys(s *Spec, field string, m map[string]string, labels bool) {
	for _, k := range sortedKeys(m) {
		f := field + "." + k
		switch {
		case !labels && strings.HasPrefix(k, contract.Prefix):
			v.annotationKey(s, f, k, m[k])
		case labels && specLabels[k] != "":
			v.add(f, fmt.Sprintf("is what spec.%s sets", specLabels[k]), fmt.Sprintf("set spec.%s instead", specLabels[k]))
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

// GraceWithinDrain says, for a spec that validates, why its grace period is
// too short for the drain before SIGTERM ("" when it is not): the kubelet
// counts the preStop sleep in the grace period, then gives SIGTERM only a
// 2 s extension. A warning, not a refusal: specs deployed before it was
// judged keep deploying (a review).
func (s *Spec) GraceWithinDrain() string {
	d, err := time.ParseDuration(s.TerminationGracePeriod)
	if err != nil || s.Type == TypeWorker || len(s.PreStop) > 0 || d > DrainSeconds*time.Second {
		return ""
	}
	return fmt.Sprintf("spec.terminationGracePeriod %s ends within the %ds drain before SIGTERM (the preStop sleep that lets traffic stop first): the kubelet sends SIGTERM only when it ends, about 2 s before SIGKILL; use at least %ds, or set spec.preStop to replace the drain",
		s.TerminationGracePeriod, DrainSeconds, DrainSeconds+5)
}
