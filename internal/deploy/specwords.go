package deploy

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/zzcloud/zz/internal/contract"
)

// Pod-level GPU refusals of the zz webhook and the admission policy
// zz-gpu-mem-total whose cause is a field of the app spec: kubectl zz
// deploy's pods are rendered from it, so their owner is told the fix in
// the spec's words. The spec validator catches what it can alone; these
// need the cluster (a pool's gpuCardMemory, the largest card).
var (
	// "container app asks for zz.io/gpu 2 without zz.io/gpu-mem: ..." (the
	// webhook), "containers app ask for zz.io/gpu cards without ..." (the
	// admission policy).
	cardsWithoutMemRe = regexp.MustCompile(`asks? for ` + regexp.QuoteMeta(string(contract.ResourceGPU)) + ` (?:(\d+) |cards )without ` +
		regexp.QuoteMeta(string(contract.ResourceGPUMem)) + `(?:[^-\w]|$)`)
	// "zz.io/gpu-mem asks for 102400 MiB per card but the largest card of
	// this cluster has 81920 MiB; ask for at most 80Gi" (the webhook).
	largestCardRe = regexp.MustCompile(regexp.QuoteMeta(string(contract.ResourceGPUMem)) +
		` asks for \d+ MiB per card but the largest card of this cluster has \d+ MiB; ask for at most (\S+)`)
)

// SpecWords is what a refusal of an app's pods or Deployment adds in the
// app spec's words, after "; " ("; in the app spec: spec.gpus: 2 without
// spec.gpuMem: ..."), "" when it is none of the GPU refusals an app spec causes.
func SpecWords(refusal string) string {
	if m := cardsWithoutMemRe.FindStringSubmatch(refusal); m != nil {
		cards := "spec.gpus"
		if m[1] != "" {
			cards += ": " + m[1]
		}
		return fmt.Sprintf("; in the app spec: %s without spec.gpuMem: ask for the memory each card needs (spec.gpuMem: 16Gi), "+
			"or spec.gpuWhole: true with spec.gpuMem: the largest card (kubectl zz gpu, TOTAL)", cards)
	}
	if m := largestCardRe.FindStringSubmatch(refusal); m != nil {
		return fmt.Sprintf("; in the app spec: spec.gpuMem: at most %s, the largest card of this cluster (kubectl zz gpu, TOTAL)", m[1])
	}
	if strings.Contains(refusal, `violates PodSecurity "restricted`) {
		return "; in the app spec: securityContext: {restricted: true, runAsUser: 10001} meets the namespace's restricted Pod Security level (the image must run as that non-root user)"
	}
	return ""
}
