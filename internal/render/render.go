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
// Deployment, then what points at it. app must be defaulted and valid
// (appspec.Load).
func Render(app *appspec.App, opts Options) []Object {
	r := &renderer{app: app, s: &app.Spec, opts: opts}
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
	objs = append(objs, r.deployment())
	if r.s.Ingress != nil {
		objs = append(objs, r.ingress())
	}
	if r.s.HPA != nil {
		objs = append(objs, r.hpa())
	}
	if r.s.PDB {
		objs = append(objs, r.pdb())
	}
	return objs
}

// Names of the objects besides the Deployment and Service, which take the
// app's name.
func ConfigMapName(app string) string { return app + "-config" }

// PVCName is the name of the app's volume claim.
func PVCName(app string) string { return app + "-data" }

type renderer struct {
	app  *appspec.App
	s    *appspec.Spec
	opts Options
}

// meta is the ObjectMeta of every top-level object.
func (r *renderer) meta(name string) metav1.ObjectMeta {
	labels := r.podLabels()
	labels[contract.LabelRevision] = strconv.FormatInt(r.opts.Revision, 10)
	labels[contract.LabelK8sManagedBy] = contract.ManagedBy
	return metav1.ObjectMeta{Name: name, Namespace: r.opts.Namespace, Labels: labels}
}

// podLabels tie pods to app and version. They carry no revision on purpose:
// rolling back to an identical pod template lets the Deployment controller
// scale the old ReplicaSet back up instead of starting new pods.
func (r *renderer) podLabels() map[string]string {
	l := map[string]string{
		contract.LabelApp:        r.app.Name,
		contract.LabelVersion:    r.s.Version,
		contract.LabelK8sName:    r.app.Name,
		contract.LabelK8sVersion: r.s.Version,
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
