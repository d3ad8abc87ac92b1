package deploy

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/zzcloud/zz/internal/contract"
	"github.com/zzcloud/zz/internal/render"
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
// spec.gpuMem: ...") or the owner of a LimitRange refusal the zz webhook's
// overcommit caused (overcommitWords); "" when it is none of those.
// pod is the pod template the refused pods come from (nil if none): the
// containers it names are the app's (spec.sidecars, initCommand's), the
// others were added at admission.
func SpecWords(refusal string, pod *corev1.PodSpec) string {
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
	if strings.Contains(refusal, "violates PodSecurity ") {
		return podSecurityWords(refusal, pod)
	}
	if m := unknownPoolRe.FindStringSubmatch(refusal); m != nil {
		return fmt.Sprintf("; in the app spec: spec.pool: %s is none of this cluster's pools this namespace may use: %s", m[1], m[2])
	}
	return overcommitWords(refusal, pod)
}

// OvercommitConflict starts what SpecWords adds to a LimitRange refusal
// whose CPU request is not the app spec's but the zz webhook's pool
// overcommit (request = limit × cpuOvercommitRatio): the next step is an
// admin's, not a fix of the spec (an incident audit).
const OvercommitConflict = "; not the app spec: the zz webhook's pool "

// The LimitRanger admission plugin's CPU refusals of a container
// (plugin/pkg/admission/limitranger), which the webhook's overcommit can
// cause: it validates after the mutating webhooks.
var (
	cpuMinRe   = regexp.MustCompile(`minimum cpu usage per Container is (\S+), but request is (\S+)`)
	cpuRatioRe = regexp.MustCompile(`cpu max limit to request ratio per Container is (\S+), but provided ratio is (\S+)`)
)

// overcommitWords traces a LimitRange refusal of the CPU request to the zz
// webhook's pool overcommit when the pod template cannot have caused it:
// its containers ask for request = limit (or no request), yet the refused
// request is below every limit, or the refused ratio is above 1. The
// developer was told "request is 250m ... fix it" for a spec that says
// 500m (an incident audit); the owner of the fix is an admin.
func overcommitWords(refusal string, pod *corev1.PodSpec) string {
	if pod == nil {
		return ""
	}
	var limits []resource.Quantity // of the containers with request = limit
	unlimited := false             // a container without a CPU limit: the LimitRange's default gives one
	for _, c := range slices.Concat(pod.InitContainers, pod.Containers) {
		limit, ok := c.Resources.Limits[corev1.ResourceCPU]
		if !ok {
			unlimited = true
			continue
		}
		if req, ok := c.Resources.Requests[corev1.ResourceCPU]; ok && req.Cmp(limit) != 0 {
			return "" // the template itself overcommits: the spec's words stand
		}
		limits = append(limits, limit)
	}
	if len(limits) == 0 {
		return ""
	}
	pool := pod.NodeSelector[contract.LabelPool]
	if pool == "" {
		pool = "(the namespace's default)"
	}
	var ratio, bound string
	if m := cpuMinRe.FindStringSubmatch(refusal); m != nil {
		min, err1 := resource.ParseQuantity(m[1])
		req, err2 := resource.ParseQuantity(m[2])
		if err1 != nil || err2 != nil {
			return ""
		}
		for _, l := range limits {
			if l.Cmp(min) < 0 {
				return "" // that container's own request (= its limit) is below the minimum: the spec's fault (a review)
			}
		}
		// The app container's limit (the first) over the refused request.
		var lowered *resource.Quantity
		for i := range limits {
			if req.Cmp(limits[i]) < 0 {
				lowered = &limits[i]
				break
			}
		}
		if lowered == nil {
			return "" // the spec's own request is below the minimum
		}
		ratio = fmt.Sprintf("%.3g", float64(req.MilliValue())/float64(lowered.MilliValue()))
		bound = fmt.Sprintf("at least %s per container (min cpu), and the spec asks request = limit = %s, which the webhook lowers to %s", min.String(), lowered.String(), req.String())
	} else if m := cpuRatioRe.FindStringSubmatch(refusal); m != nil && !unlimited {
		// (With a container that sets no CPU limit, the LimitRange's
		// default limit and defaultRequest may make the ratio themselves.)
		var max, got float64
		if _, err := fmt.Sscan(m[1], &max); err != nil {
			return ""
		}
		if _, err := fmt.Sscan(m[2], &got); err != nil || got <= 1 {
			return ""
		}
		ratio = fmt.Sprintf("%.3g", 1/got)
		bound = fmt.Sprintf("a limit at most %s × the request (maxLimitRequestRatio cpu), and the spec asks request = limit (ratio 1), which the webhook makes %.3g", m[1], got)
	} else {
		return ""
	}
	return fmt.Sprintf("%s%s overcommits CPU (request = limit × %s, its cpuOvercommitRatio), and the namespace's LimitRange wants %s: "+
		"an admin changes one of the two (the pool's cpuOvercommitRatio in the webhook policy, or the LimitRange: kubectl get limitrange; kubectl zz check names them), "+
		"or spec.annotations: {%s: %s} gives this app requests = limits",
		OvercommitConflict, pool, ratio, bound, contract.AnnotationInjectDisable, contract.FeatureOvercommit)
}

// unknownPoolRe is the zz webhook's refusal of a pool it does not know.
var unknownPoolRe = regexp.MustCompile(regexp.QuoteMeta(contract.LabelPool) + `=(\S+) names no pool of this cluster; use one of \[([^\]]*)\]`)

// podSecurityContainer names the containers a Pod Security refusal blames.
var podSecurityContainer = regexp.MustCompile(`containers? ((?:"[^"]+"(?:, | and )?)+) must`)

// podSecurityWords says who can fix a Pod Security refusal: the app spec
// for the app container and the pod, the zz webhook's policy for what it
// added (lxcfs's hostPath volumes, sidecars): the same fix again sent a
// user who had it in circles (a review). The app's own sidecars are told
// from the policy's by the pod template, which the webhook's are not in.
func podSecurityWords(refusal string, pod *corev1.PodSpec) string {
	var out []string
	if strings.Contains(refusal, `"zz-lxcfs-`) {
		out = append(out, "the zz webhook's lxcfs volumes (hostPath) are refused at this level: spec.annotations: {"+contract.AnnotationInjectDisable+": lxcfs} leaves them out of the app's pods")
	}
	own := map[string]bool{render.ContainerName: true}
	if pod != nil {
		for _, c := range slices.Concat(pod.InitContainers, pod.Containers) {
			own[c.Name] = true
		}
	}
	others, mine, app := map[string]bool{}, map[string]bool{}, false
	for _, m := range podSecurityContainer.FindAllStringSubmatch(refusal, -1) {
		for _, name := range strings.FieldsFunc(m[1], func(r rune) bool { return r == '"' || r == ',' || r == ' ' }) {
			switch name {
			case "and":
			case render.ContainerName:
				app = true
			default:
				if own[name] {
					mine[name], app = true, true
					continue
				}
				others[name] = true
			}
		}
	}
	if len(others) > 0 {
		out = append(out, fmt.Sprintf("containers %s come from the zz webhook's sidecar policy: its admin gives them a securityContext this level admits, or spec.annotations: {%s: sidecars} leaves them out",
			strings.Join(slices.Sorted(maps.Keys(others)), ", "), contract.AnnotationInjectDisable))
	}
	if app || strings.Contains(refusal, "runAsNonRoot") || strings.Contains(refusal, "seccompProfile") {
		if strings.Contains(refusal, `PodSecurity "restricted`) {
			who := "the app container and the pod (the image must run as that non-root user)"
			if len(mine) > 0 { // zz gives them the app container's settings
				who = fmt.Sprintf("the app container, the pod and the app's containers %s, which get the app container's settings (the images must run as that non-root user)",
					strings.Join(slices.Sorted(maps.Keys(mine)), ", "))
			}
			out = append(out, "securityContext: {restricted: true, runAsUser: 10001} meets the restricted level for "+who)
		}
	}
	if len(out) == 0 {
		return ""
	}
	return "; in the app spec: " + strings.Join(out, "; ")
}
