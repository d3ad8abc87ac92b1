package inject

import (
	"encoding/json"
	"reflect"
	"strconv"
	"strings"
	"sync"

	"gomodules.xyz/jsonpatch/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"
)

// Diff is the JSON patch that turns original into mutated. It is computed
// from the typed fields the mutators change (node selector, affinity, scheduler name,
// service links, volumes, containers' env, mounts, resources and probes),
// with no marshal of either pod: that second marshal, and the generic diff
// of two JSON trees, were most of a review's cost. If anything else differs
// (a mutator added later that this function does not know), it falls back
// to the generic diff of the two pods' JSON, so the patch is always right.
func Diff(original, mutated *corev1.Pod) ([]jsonpatch.Operation, error) {
	if ops, ok := typedDiff(original, mutated); ok {
		return ops, nil
	}
	return genericDiff(original, mutated)
}

// genericDiff marshals both pods and diffs the JSON trees. Both sides go
// through the same typed Pod, so fields this binary does not know are never
// touched by the patch.
func genericDiff(original, mutated *corev1.Pod) ([]jsonpatch.Operation, error) {
	a, err := json.Marshal(original)
	if err != nil {
		return nil, err
	}
	b, err := json.Marshal(mutated)
	if err != nil {
		return nil, err
	}
	return jsonpatch.CreatePatch(a, b)
}

// patcher collects operations; ok turns false on a change it cannot express.
type patcher struct {
	ops     []jsonpatch.Operation
	ok      bool
	scratch *diffScratch
}

// diffScratch holds the copies the guards compare. They escape to
// reflect.DeepEqual, so without reuse every review would allocate two pod
// specs and two containers per container (about 2 KiB) only to compare them.
type diffScratch struct {
	specs      [2]corev1.PodSpec
	containers [2]corev1.Container
}

var scratchPool = sync.Pool{New: func() any { return new(diffScratch) }}

func (p *patcher) add(path string, v any) {
	p.ops = append(p.ops, jsonpatch.Operation{Operation: "add", Path: path, Value: v})
}

func (p *patcher) replace(path string, v any) {
	p.ops = append(p.ops, jsonpatch.Operation{Operation: "replace", Path: path, Value: v})
}

func (p *patcher) remove(path string) {
	p.ops = append(p.ops, jsonpatch.Operation{Operation: "remove", Path: path})
}

// typedDiff returns ok false when the pods differ outside the fields it knows.
func typedDiff(a, b *corev1.Pod) ([]jsonpatch.Operation, bool) {
	// The guards use reflect.DeepEqual, several times cheaper than the
	// semantic one: where they differ (nil vs empty, a Quantity's cached
	// string) it says "different", and the generic diff, always right,
	// takes over.
	sc := scratchPool.Get().(*diffScratch)
	defer func() {
		*sc = diffScratch{} // keep no pod alive from the pool
		scratchPool.Put(sc)
	}()
	restOfSpec(&sc.specs[0], &a.Spec)
	restOfSpec(&sc.specs[1], &b.Spec)
	if !reflect.DeepEqual(&a.ObjectMeta, &b.ObjectMeta) || !reflect.DeepEqual(&a.Status, &b.Status) || !reflect.DeepEqual(&sc.specs[0], &sc.specs[1]) {
		return nil, false
	}
	// A review changes about eight fields: one allocation for the list.
	p := &patcher{ok: true, scratch: sc, ops: make([]jsonpatch.Operation, 0, 8)}
	mapPatch(p, "/spec/nodeSelector", a.Spec.NodeSelector, b.Spec.NodeSelector, func(x, y string) bool { return x == y })
	if a.Spec.SchedulerName != b.Spec.SchedulerName {
		scalar(p, "/spec/schedulerName", a.Spec.SchedulerName != "", b.Spec.SchedulerName != "", b.Spec.SchedulerName)
	}
	if !reflect.DeepEqual(a.Spec.Affinity, b.Spec.Affinity) {
		// The whole of it: only a pod in no pool gains terms here (avoidReserved).
		scalar(p, "/spec/affinity", a.Spec.Affinity != nil, b.Spec.Affinity != nil, b.Spec.Affinity)
	}
	if !equality.Semantic.DeepEqual(a.Spec.EnableServiceLinks, b.Spec.EnableServiceLinks) {
		scalar(p, "/spec/enableServiceLinks", a.Spec.EnableServiceLinks != nil, b.Spec.EnableServiceLinks != nil, b.Spec.EnableServiceLinks)
	}
	podResources(p, a.Spec.Resources, b.Spec.Resources)
	appended(p, "/spec/volumes", a.Spec.Volumes, b.Spec.Volumes)
	containers(p, "/spec/initContainers", a.Spec.InitContainers, b.Spec.InitContainers)
	containers(p, "/spec/containers", a.Spec.Containers, b.Spec.Containers)
	return p.ops, p.ok
}

// restOfSpec sets r to the spec without the fields typedDiff compares itself.
func restOfSpec(r, s *corev1.PodSpec) {
	*r = *s
	r.NodeSelector, r.SchedulerName, r.EnableServiceLinks, r.Volumes, r.Affinity = nil, "", nil, nil, nil
	r.InitContainers, r.Containers = nil, nil
	r.Resources = nil
}

// podResources patches the pod-level requests (scalePodRequest); the
// mutators never add spec.resources, so any other change falls back.
func podResources(p *patcher, a, b *corev1.ResourceRequirements) {
	if a == nil || b == nil {
		if a != b {
			p.ok = false
		}
		return
	}
	if !reflect.DeepEqual(a.Claims, b.Claims) {
		p.ok = false
		return
	}
	mapPatch(p, "/spec/resources/limits", a.Limits, b.Limits, sameQuantity)
	mapPatch(p, "/spec/resources/requests", a.Requests, b.Requests, sameQuantity)
}

// restOfContainer sets r to the container without the fields containers
// compares itself.
func restOfContainer(r, c *corev1.Container) {
	*r = *c
	r.Env, r.VolumeMounts = nil, nil
	r.Resources.Limits, r.Resources.Requests = nil, nil
	r.ReadinessProbe, r.LivenessProbe, r.StartupProbe = nil, nil, nil
}

// scalar patches an omitempty field at path.
func scalar(p *patcher, path string, had, has bool, v any) {
	switch {
	case !has:
		p.remove(path)
	case had:
		p.replace(path, v)
	default:
		p.add(path, v)
	}
}

// mapPatch patches an omitempty map key by key; same says whether two
// values show alike in JSON.
func mapPatch[K ~string, V any](p *patcher, path string, a, b map[K]V, same func(V, V) bool) {
	switch {
	case len(a) == 0 && len(b) == 0:
	case len(a) == 0:
		p.add(path, b)
	case len(b) == 0:
		p.remove(path)
	default:
		for _, k := range sortedKeys(a) {
			if _, ok := b[k]; !ok {
				p.remove(path + "/" + escape(string(k)))
			}
		}
		for _, k := range sortedKeys(b) {
			if old, ok := a[k]; !ok {
				p.add(path+"/"+escape(string(k)), b[k])
			} else if !same(old, b[k]) {
				p.replace(path+"/"+escape(string(k)), b[k])
			}
		}
	}
}

// appended patches an omitempty list the mutators only append to; any
// other change is not expressible here.
func appended[T any](p *patcher, path string, a, b []T) {
	if len(b) < len(a) {
		p.ok = false
		return
	}
	for i := range a {
		if !reflect.DeepEqual(&a[i], &b[i]) {
			p.ok = false
			return
		}
	}
	switch {
	case len(b) == len(a):
	case len(a) == 0:
		p.add(path, b)
	default:
		for i := len(a); i < len(b); i++ {
			p.add(path+"/"+strconv.Itoa(i), b[i])
		}
	}
}

func containers(p *patcher, path string, a, b []corev1.Container) {
	if len(b) < len(a) {
		p.ok = false
		return
	}
	for i := range a {
		container(p, path+"/"+strconv.Itoa(i), &a[i], &b[i])
	}
	switch {
	case len(b) == len(a):
	case len(a) == 0:
		p.add(path, b[len(a):])
	default:
		for i := len(a); i < len(b); i++ {
			p.add(path+"/"+strconv.Itoa(i), b[i])
		}
	}
}

func container(p *patcher, path string, a, b *corev1.Container) {
	ra, rb := &p.scratch.containers[0], &p.scratch.containers[1]
	restOfContainer(ra, a)
	restOfContainer(rb, b)
	if !reflect.DeepEqual(ra, rb) {
		p.ok = false
		return
	}
	appended(p, path+"/env", a.Env, b.Env)
	appended(p, path+"/volumeMounts", a.VolumeMounts, b.VolumeMounts)
	ar, br := &a.Resources, &b.Resources
	if len(ar.Limits) == 0 && len(ar.Requests) == 0 {
		if len(br.Limits) > 0 || len(br.Requests) > 0 {
			// "resources" may be absent from the original: add it whole.
			p.add(path+"/resources", br)
		}
	} else {
		mapPatch(p, path+"/resources/limits", ar.Limits, br.Limits, sameQuantity)
		mapPatch(p, path+"/resources/requests", ar.Requests, br.Requests, sameQuantity)
	}
	probe(p, path+"/readinessProbe", a.ReadinessProbe, b.ReadinessProbe)
	probe(p, path+"/livenessProbe", a.LivenessProbe, b.LivenessProbe)
	probe(p, path+"/startupProbe", a.StartupProbe, b.StartupProbe)
}

// sameQuantity compares quantities as JSON shows them.
func sameQuantity(a, b resource.Quantity) bool { return a.String() == b.String() }

func probe(p *patcher, path string, a, b *corev1.Probe) {
	if !equality.Semantic.DeepEqual(a, b) {
		scalar(p, path, a != nil, b != nil, b)
	}
}

// escape makes a map key a JSON pointer token (RFC 6901).
func escape(k string) string {
	if !strings.ContainsAny(k, "~/") {
		return k
	}
	return strings.ReplaceAll(strings.ReplaceAll(k, "~", "~0"), "/", "~1")
}
