package gpushare

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/zzcloud/zz/internal/contract"
	"github.com/zzcloud/zz/internal/spelling"
)

// Choices are the GPU pod annotations a user sets: how and where the pod's
// cards are chosen.
var Choices = []string{
	contract.AnnotationGPUPolicy, contract.AnnotationGPUNUMABind, contract.AnnotationGPUModel, contract.AnnotationGPUModelAvoid,
	contract.AnnotationGPUCard, contract.AnnotationGPUCardAvoid, contract.AnnotationGPUWhole,
}

// written are the GPU pod annotations zz writes itself.
var written = []string{
	contract.AnnotationGPUIndexes, contract.AnnotationGPUUUIDs, contract.AnnotationGPUMemMiB, contract.AnnotationGPUAssumeTime,
	contract.AnnotationGPUAssigned, contract.AnnotationGPUMemUsed, contract.AnnotationGPUNomination, contract.AnnotationGPUAssumeNode,
}

// resources are zz's container resources.
var resources = []corev1.ResourceName{contract.ResourceGPUMem, contract.ResourceGPU, contract.ResourceGPUMemTotal}

// CheckNames refuses the GPU names of a pod zz does not read, each with
// its fix: a container resource under zz.io/ other than zz's (zz.io/gpumem,
// as a HAMi user writes it, waited for good on "Insufficient"), GPU memory
// in total without the memory per card (the pod ran with no card and
// charged the quota), and a zz.io/gpu* annotation zz does not read (a
// typo'd gpu-model placed the pod on any model; an ML-engineer audit).
//
// Of several bad names the least is said, so the refusal is the same each
// time; found without sorting, which would allocate on every admission.
func CheckNames(pod *corev1.Pod) error {
	for _, c := range Containers(pod) {
		var bad corev1.ResourceName
		for _, rl := range []corev1.ResourceList{c.Resources.Limits, c.Resources.Requests} {
			for name := range rl {
				if strings.HasPrefix(string(name), contract.Prefix) && !slices.Contains(resources, name) && (bad == "" || name < bad) {
					bad = name
				}
			}
		}
		if bad != "" {
			return fmt.Errorf("container %s: %s is not a zz resource%s; GPU memory is %s (per card, e.g. 4096Mi) and cards %s (default 1)",
				c.Name, bad, didYouMean(string(bad), []string{string(contract.ResourceGPUMem), string(contract.ResourceGPU), string(contract.ResourceGPUMemTotal)}),
				contract.ResourceGPUMem, contract.ResourceGPU)
		}
		if _, total := Quantity(c, contract.ResourceGPUMemTotal); total {
			if _, mem := Quantity(c, contract.ResourceGPUMem); !mem {
				return fmt.Errorf("container %s: %s is set without %s: it is %s times %s, what a quota counts (the zz webhook sets it); ask for %s, the memory per card",
					c.Name, contract.ResourceGPUMemTotal, contract.ResourceGPUMem, contract.ResourceGPUMem, contract.ResourceGPU, contract.ResourceGPUMem)
			}
		}
	}
	bad := ""
	for key := range pod.Annotations {
		// Case-blind: the apiserver takes zz.io/GPU-model, which zz does
		// not read either (a tenant audit).
		if strings.HasPrefix(strings.ToLower(key), contract.Prefix+"gpu") && !slices.Contains(Choices, key) && !slices.Contains(written, key) && (bad == "" || key < bad) {
			bad = key
		}
	}
	if bad != "" {
		return fmt.Errorf("annotation %s is not one zz reads%s; a pod's GPU choices are %s", bad, didYouMean(strings.ToLower(bad), Choices), strings.Join(Choices, ", "))
	}
	return nil
}

// hamiMemory is HAMi's resource of GPU memory per card, in MiB.
const hamiMemory corev1.ResourceName = "nvidia.com/gpumem"

// ForeignAsk is a warning for a pod that asks for GPU memory as HAMi
// does (nvidia.com/gpumem, in MiB) and not as zz does: it waits on
// "Insufficient nvidia.com/gpumem" where no HAMi runs (a team moving its
// charts from HAMi); "" otherwise. A warning, not a refusal: a cluster
// may run both.
func ForeignAsk(pod *corev1.Pod) string {
	for _, c := range Containers(pod) {
		q, hami := Quantity(c, hamiMemory)
		if _, zz := Quantity(c, contract.ResourceGPUMem); hami && !zz {
			return fmt.Sprintf("container %s asks for %s %s, HAMi's GPU memory: zz schedules %s (per card, e.g. %sMi) and %s (cards); without a HAMi scheduler the pod waits on Insufficient %s",
				c.Name, hamiMemory, q.String(), contract.ResourceGPUMem, q.String(), contract.ResourceGPU, hamiMemory)
		}
	}
	return ""
}

// didYouMean is " (did you mean K?)" for the key of known nearest to s,
// when it is a few edits away; "" otherwise.
func didYouMean(s string, known []string) string {
	if best := spelling.Nearest(s, known, 4); best != "" {
		return fmt.Sprintf(" (did you mean %s?)", best)
	}
	return ""
}

// NVIDIAAsk is the first nvidia.com/ resource (NVIDIA's device plugins',
// HAMi's) a container of pod asks for, "" for none.
func NVIDIAAsk(pod *corev1.Pod) corev1.ResourceName {
	for _, c := range slices.Concat(pod.Spec.InitContainers, pod.Spec.Containers) {
		for _, r := range slices.Sorted(maps.Keys(c.Resources.Limits)) {
			if strings.HasPrefix(string(r), contract.NVIDIAResourcePrefix) {
				return r
			}
		}
	}
	return ""
}

// BesideNVIDIA says ("asks for ...", after the pod's name or "it") why a
// pod that asks for zz.io/gpu-mem must not also ask for nvidia (an
// nvidia.com/ resource): the webhook warns of it at creation, status and
// deploy say it of such a pod that waits.
func BesideNVIDIA(nvidia corev1.ResourceName) string {
	return fmt.Sprintf("asks for %s beside %s: zz chooses the pod's cards by %s and %s alone, and %s is NVIDIA's device plugin's: where no node offers it the pod waits for good, and where one does it gets cards zz does not account: remove %s",
		nvidia, contract.ResourceGPUMem, contract.ResourceGPUMem, contract.ResourceGPU, nvidia, nvidia)
}
