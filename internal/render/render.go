// Package render turns an app spec into the Kubernetes objects zz runs it as:
// Deployment and Service, plus ConfigMap, PVC, Ingress, HPA and PDB when the
// spec asks. The output is a golden-file contract (testdata/); the package is
// pure: no clients, no I/O.
package render

import (
	"crypto/sha256"
	"encoding/hex"
	"sort"
	"strconv"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/zzcloud/zz/internal/appspec"
	"github.com/zzcloud/zz/internal/contract"
)

// Object is what Render returns: a typed API object with its TypeMeta set.
type Object interface {
	metav1.Object
	runtime.Object
}

// Options are the per-deploy inputs beyond the spec.
type Options struct {
	// Namespace of every object.
	Namespace string
	// Revision is the app revision the objects belong to (LabelRevision).
	Revision int64
	// Debug renders without probes, so a failing app stays up to be inspected.
	Debug bool
}

// Render returns the app's objects in apply order: what pods mount first, the
// HPA before the Deployment (so it owns the replicas from the start), the
// Deployment, then what points at it. app must be defaulted and valid
// (appspec.Load).
func Render(app *appspec.App, opts Options) []Object {
	r := &renderer{app: app, s: &app.Spec, opts: opts, track: contract.TrackStable}
	var objs []Object
	if len(r.s.ConfigFiles) > 0 {
		objs = append(objs, r.configMap())
	}
	if r.s.PVC != nil {
		objs = append(objs, r.pvc())
	}
	if r.s.Type != appspec.TypeWorker {
		objs = append(objs, r.service())
	}
	if r.s.HPA != nil {
		objs = append(objs, r.hpa())
	}
	objs = append(objs, r.deployment())
	if r.s.Ingress != nil {
		objs = append(objs, r.ingress())
	}
	if r.s.PDB {
		objs = append(objs, r.pdb())
	}
	return objs
}

// Canary returns what runs app as a canary next to its stable Deployment:
// its config ConfigMap (if any) and the Deployment CanaryName(app) of
// replicas pods, labelled zz.io/track=canary. Its pods carry the app's
// labels, so the app's Service sends them their share of the traffic.
func Canary(app *appspec.App, opts Options, replicas int32) []Object {
	r := &renderer{app: app, s: &app.Spec, opts: opts, track: contract.TrackCanary}
	var objs []Object
	if len(r.s.ConfigFiles) > 0 {
		objs = append(objs, r.configMap())
	}
	d := r.deployment()
	d.Name = CanaryName(app.Name)
	d.Spec.Selector.MatchLabels = map[string]string{contract.LabelApp: app.Name, contract.LabelTrack: contract.TrackCanary}
	d.Spec.Replicas = &replicas
	return append(objs, d)
}

// CanaryName is the name of app's canary Deployment.
func CanaryName(app string) string { return app + contract.CanarySuffix }

// ConfigMapName is the name of the ConfigMap holding files: named by their
// content and immutable, so a deploy that fails or is aborted never changes
// the files running pods see; a deploy deletes the old ones once it succeeds.
func ConfigMapName(app string, files map[string]string) string {
	return app + "-config-" + ConfigHash(files)[:configHashLen]
}

// configHashLen keeps ConfigMap names within 63 characters.
const configHashLen = 10

// PVCName is the name of the app's volume claim.
func PVCName(app string) string { return app + "-data" }

type renderer struct {
	app   *appspec.App
	s     *appspec.Spec
	opts  Options
	track string // contract.TrackStable or TrackCanary
}

// meta is the ObjectMeta of every top-level object: the pod labels and the
// spec's annotations, plus revision and manager. Only Deployments carry the
// track.
func (r *renderer) meta(name string) metav1.ObjectMeta {
	labels := r.podLabels()
	delete(labels, contract.LabelTrack)
	labels[contract.LabelRevision] = strconv.FormatInt(r.opts.Revision, 10)
	labels[contract.LabelK8sManagedBy] = contract.ManagedBy
	return metav1.ObjectMeta{Name: name, Namespace: r.opts.Namespace, Labels: labels, Annotations: copyMap(r.s.Annotations)}
}

func copyMap(m map[string]string) map[string]string {
	if len(m) == 0 {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// podLabels tie pods to app and version. They carry no revision on purpose:
// rolling back to an identical pod template lets the Deployment controller
// scale the old ReplicaSet back up instead of starting new pods.
func (r *renderer) podLabels() map[string]string {
	l := copyMap(r.s.Labels)
	if l == nil {
		l = map[string]string{}
	}
	for k, v := range map[string]string{
		contract.LabelApp:        r.app.Name,
		contract.LabelVersion:    r.s.Version,
		contract.LabelType:       string(r.s.Type),
		contract.LabelTrack:      r.track,
		contract.LabelK8sName:    r.app.Name,
		contract.LabelK8sVersion: r.s.Version,
	} {
		l[k] = v
	}
	if r.s.Group != "" {
		l[contract.LabelGroup] = r.s.Group
	}
	return l
}

// selector matches every pod of the app, whatever its version; it must never
// change since a Deployment's selector is immutable.
func (r *renderer) selector() map[string]string {
	return map[string]string{contract.LabelApp: r.app.Name}
}

// ConfigHash is a short hash of the config files, stable across map order.
func ConfigHash(files map[string]string) string {
	keys := make([]string, 0, len(files))
	for k := range files {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	h := sha256.New()
	for _, k := range keys {
		h.Write([]byte(k))
		h.Write([]byte{0})
		h.Write([]byte(files[k]))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}
