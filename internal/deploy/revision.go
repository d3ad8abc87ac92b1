package deploy

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"

	"github.com/zzcloud/zz/internal/appspec"
	"github.com/zzcloud/zz/internal/contract"
	"github.com/zzcloud/zz/internal/render"
)

// Revision is one recorded deploy of a whole app. It is stored as a Secret of
// type contract.SecretTypeRevision named RecordName(app, number), whose key
// objectsKey holds every rendered object as gzipped JSON.
type Revision struct {
	App         string    `json:"app"`
	Number      int64     `json:"revision"`
	Version     string    `json:"version"`
	Image       string    `json:"image"`
	User        string    `json:"user"`
	ChangeCause string    `json:"changeCause"`
	Time        time.Time `json:"time"`
	// Kinds lists the recorded objects as Kind/name.
	Kinds []string `json:"objects"`
	// Unreadable says why the record could not be decoded (edited or
	// corrupted by hand); such a revision is listed but cannot be restored.
	Unreadable string `json:"unreadable,omitempty"`
	// Canary is set on a revision that runs a canary next to the stable
	// Deployment; promote applies its promote objects.
	Canary bool `json:"canary,omitempty"`
	// Edited says the record's annotations disagree with its objects (a
	// namespace editor changed the Secret after kubectl zz wrote it);
	// Version and Image are then the objects'.
	Edited string `json:"edited,omitempty"`
	// Format is the record's format (contract.AnnotationRecordFormat; 1
	// when it has none) and RecordedBy the kubectl-zz that wrote it, ""
	// in records older than the stamp.
	Format     int    `json:"recordFormat,omitempty"`
	RecordedBy string `json:"recordedBy,omitempty"`
	// NotUnderstood are the fields of its recorded specs this kubectl-zz
	// does not know ("spec.futureAuth"), and of its recorded objects
	// ("Deployment shop's spec.template.spec.futurePodField"): a newer
	// kubectl-zz wrote them.
	// Spec leaves them out, and nothing records or applies from it (skew).
	NotUnderstood []string `json:"notUnderstood,omitempty"`

	objects []render.Object
	promote []render.Object // the app as it runs once the canary is promoted
	// ref is the record as status lists it (the Secret's name and
	// resourceVersion): what a verdict judged against it is kept under.
	ref recordRef
	// spec is the app spec the stable objects were rendered from, as the
	// user gave it (files merged, flags applied, no defaults filled), and
	// promoteSpec, on canary revisions, the canary's: what kubectl zz
	// history --spec prints back. nil in records older than them; specErr
	// says why a recorded spec could not be read.
	spec, promoteSpec *appspec.App
	specErr           string
	// specJSON and promoteSpecJSON are those specs as recorded, with the
	// fields this version does not know (NotUnderstood).
	specJSON, promoteSpecJSON []byte
	// applyID is the token of the command that applied the revision
	// (contract.AnnotationApplyID), "" in records older than it.
	applyID string
	// names are the objects it applied, "Kind/name" (AnnotationObjects);
	// nil in a record written before them.
	names []string
	// keepsTemplate: the revision changes no pod template (a scale), so
	// no change cause is stamped (cause).
	keepsTemplate bool
	// stableOf: the revision is a canary revision's stable part, as a way
	// back restores it (stablePart).
	stableOf bool
}

// objectsKey is the Secret data key holding the rendered objects;
// promoteKey, on canary revisions only, holds what promote applies;
// specKey and promoteSpecKey hold the app specs they were rendered from, as
// JSON.
const (
	objectsKey     = "objects.json.gz"
	promoteKey     = "promote.json.gz"
	specKey        = "spec.json"
	promoteSpecKey = "promote-spec.json"
)

// maxRecordSize keeps a record under the 1 MiB object limit of etcd.
const maxRecordSize = 900 * 1024

// ErrNoRevision means the requested revision is not recorded (never was, or
// trimmed from the history).
var ErrNoRevision = errors.New("revision not found")

// NotFound is an ErrNoRevision that reads as its message alone: what is
// missing, and where to look ("no app shop in namespace ns-a; ...").
func NotFound(format string, args ...any) error {
	return notFound(fmt.Sprintf(format, args...))
}

type notFound string

func (e notFound) Error() string        { return string(e) }
func (e notFound) Is(target error) bool { return target == ErrNoRevision }

// ErrNoSpec means a revision was recorded without the app spec it was
// deployed from.
var ErrNoSpec = errors.New("no app spec recorded")

// Spec is the app spec revision r deployed, as the user gave it (files
// merged, flags applied, no defaults filled): for a canary revision the
// canary's, for a scale the latest spec with its replicas, for a rollback
// the spec of the revision restored. Deploying it again renders the same
// objects, but for a restart's annotation.
func (r *Revision) Spec() (*appspec.App, error) {
	spec := r.spec
	if r.Canary {
		spec = r.promoteSpec
	}
	switch {
	case spec != nil:
		return spec, nil
	case r.specErr != "":
		return nil, fmt.Errorf("the app spec recorded with revision %d of %s is unreadable (%s); kubectl zz history %s --revision %d prints its objects",
			r.Number, r.App, r.specErr, r.App, r.Number)
	}
	return nil, fmt.Errorf("%w: revision %d of %s was recorded without its app spec (by an older kubectl zz, or a scale, restart or rollback of such a revision); kubectl zz history %s --revision %d prints its objects",
		ErrNoSpec, r.Number, r.App, r.App, r.Number)
}

// RecordName is the name of the Secret recording revision n of app.
func RecordName(app string, n int64) string {
	return recordPrefix(app) + strconv.FormatInt(n, 10)
}

func recordPrefix(app string) string { return "zz." + app + ".r" }

// cause is what kubectl zz writes as a Deployment's kubernetes.io/change-cause
// when it applies r: "kubectl zz revision 4: scale to 3" (kubectl rollout
// history shows it per ReplicaSet, where it said <none>).
func (r *Revision) cause() string {
	if r.keepsTemplate {
		// The controller copies the Deployment's annotations onto the
		// ReplicaSet of the running template: a scale's cause would
		// replace the one of the revision that made it (a review).
		return ""
	}
	return fmt.Sprintf(causePrefix+"%d: %s", r.Number, r.ChangeCause)
}

// maxUnrecorded bounds how many numbers failed applies in a row may have
// used up: a stamped number further past the history is not believed.
const maxUnrecorded = 1000

// causePrefix heads a change cause kubectl zz stamps (Revision.cause).
const causePrefix = "kubectl zz revision "

// nextNumber is the number of the revision a command is about to apply:
// next(history), or past every number a command stamped on a ReplicaSet of
// the app's Deployments without recording it (its rollout failed or was
// stopped). The cause is stamped before the rollout is known to succeed,
// so a number used again named two ReplicaSets (an audit of CI use); the
// number of a failed apply is skipped instead, as Helm keeps a failed
// release's. Reading the ReplicaSets is best effort: without the right,
// numbers go on from the history.
func nextNumber(ctx context.Context, c kubernetes.Interface, ns, app string, history []*Revision) int64 {
	n := next(history)
	deps, err := c.AppsV1().Deployments(ns).List(ctx, metav1.ListOptions{LabelSelector: appSelector(app)})
	if err != nil || len(deps.Items) == 0 {
		return n
	}
	// Only the ReplicaSets of Deployments that are still there: those of a
	// deleted app (garbage collected after it) count no more, so an app
	// deployed again after a delete starts at revision 1.
	owners := map[types.UID]bool{}
	for _, d := range deps.Items {
		owners[d.UID] = true
	}
	sets, err := c.AppsV1().ReplicaSets(ns).List(ctx, metav1.ListOptions{LabelSelector: contract.LabelApp + "=" + app})
	if err != nil {
		return n
	}
	// Failed applies in a row stamp next(history), +1, ...; a number far
	// past it is none of ours (anyone who may edit the app's ReplicaSets
	// may write a cause; one of 2^63-1 wrapped the count negative). The
	// window is not len(sets): the Deployment collects old ReplicaSets.
	most := n + maxUnrecorded
	for _, rs := range sets.Items {
		owned := slices.ContainsFunc(rs.OwnerReferences, func(r metav1.OwnerReference) bool { return owners[r.UID] })
		if m, ok := stampedNumber(rs.Annotations[contract.AnnotationChangeCause]); owned && ok && m >= n && m < most {
			n = m + 1
		}
	}
	return n
}

// stampedNumber is the revision number of a change cause kubectl zz
// stamped ("kubectl zz revision 4: restart").
func stampedNumber(cause string) (int64, bool) {
	rest, ok := strings.CutPrefix(cause, causePrefix)
	if !ok {
		return 0, false
	}
	num, _, ok := strings.Cut(rest, ":")
	n, err := strconv.ParseInt(num, 10, 64)
	return n, ok && err == nil && n > 0
}

// newRecord builds the Secret for rev. It fails, before anything is applied,
// when the app is too large to record.
func newRecord(ns string, rev *Revision) (*corev1.Secret, error) {
	data := map[string][]byte{}
	size := 0
	for key, objs := range map[string][]render.Object{objectsKey: rev.objects, promoteKey: rev.promote} {
		if objs == nil {
			continue
		}
		b, err := encodeObjects(objs)
		if err != nil {
			return nil, err
		}
		data[key] = b
		size += len(b)
	}
	for key, spec := range map[string]*appspec.App{specKey: rev.spec, promoteSpecKey: rev.promoteSpec} {
		if spec == nil {
			continue
		}
		b, err := json.Marshal(spec)
		if err != nil {
			return nil, err
		}
		data[key] = b
		size += len(b)
	}
	if size > maxRecordSize {
		return nil, fmt.Errorf("app %s renders to %d compressed bytes, more than a revision record holds (%d); move large config files out of the spec",
			rev.App, size, maxRecordSize)
	}
	secret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{
			Name: RecordName(rev.App, rev.Number), Namespace: ns,
			Labels: map[string]string{
				contract.LabelApp:          rev.App,
				contract.LabelRevision:     strconv.FormatInt(rev.Number, 10),
				contract.LabelVersion:      rev.Version,
				contract.LabelK8sManagedBy: contract.ManagedBy,
			},
			Annotations: map[string]string{
				contract.AnnotationImage:       rev.Image,
				contract.AnnotationDeployedBy:  rev.User,
				contract.AnnotationDeployedAt:  rev.Time.UTC().Format(time.RFC3339),
				contract.AnnotationChangeCause: rev.ChangeCause,
				contract.AnnotationObjects:     objectNames(rev.objects),
			},
		},
		Type: corev1.SecretType(contract.SecretTypeRevision),
		Data: data,
	}
	stamp(secret)
	return secret, nil
}

// encodeObjects is objs as gzipped JSON.
func encodeObjects(objs []render.Object) ([]byte, error) {
	raw := make([]json.RawMessage, 0, len(objs))
	for _, o := range objs {
		b, err := json.Marshal(o)
		if err != nil {
			return nil, err
		}
		raw = append(raw, b)
	}
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if err := json.NewEncoder(zw).Encode(raw); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// listRecords lists app's revision records.
func listRecords(ctx context.Context, c kubernetes.Interface, ns, app string) ([]*corev1.Secret, error) {
	list, err := c.CoreV1().Secrets(ns).List(ctx, metav1.ListOptions{LabelSelector: appSelector(app)})
	if err != nil {
		return nil, fmt.Errorf("list revisions of %s: %w", app, err)
	}
	var out []*corev1.Secret
	for i := range list.Items {
		if string(list.Items[i].Type) == contract.SecretTypeRevision {
			out = append(out, &list.Items[i])
		}
	}
	return out, nil
}

// History returns app's recorded revisions, oldest first, with their objects.
func History(ctx context.Context, c kubernetes.Interface, ns, app string) ([]*Revision, error) {
	records, err := listRecords(ctx, c, ns, app)
	if err != nil {
		return nil, err
	}
	var revs []*Revision
	for _, s := range records {
		rev, err := parseRecord(s)
		if err != nil {
			// One bad record must not block deploy, history and rollback
			// of the app: it is listed as unreadable and skipped.
			rev = &Revision{App: app, Number: recordNumber(s, app), Unreadable: err.Error(), RecordedBy: s.Annotations[contract.AnnotationRecordedBy]}
			// A newer format is the likely cause: the refusal says so.
			rev.Format, _ = recordFormat(s)
		}
		revs = append(revs, rev)
	}
	sort.Slice(revs, func(i, j int) bool { return revs[i].Number < revs[j].Number })
	return revs, nil
}

// Revisions lists app's recorded revisions, newest first, from the
// records' labels and annotations alone (no objects decoded): what shell
// completion offers for --revision.
func Revisions(ctx context.Context, c kubernetes.Interface, ns, app string) ([]*Revision, error) {
	records, err := listRecords(ctx, c, ns, app)
	if err != nil {
		return nil, err
	}
	var revs []*Revision
	for _, s := range records {
		if rev, err := parseRecordMeta(s); err == nil {
			revs = append(revs, rev)
		}
	}
	sort.Slice(revs, func(i, j int) bool { return revs[i].Number > revs[j].Number })
	return revs, nil
}

// recordNumber is a record's revision number from its label, else from its
// name, so the next deploy does not reuse the number of an unreadable record.
func recordNumber(s *corev1.Secret, app string) int64 {
	if n, err := strconv.ParseInt(s.Labels[contract.LabelRevision], 10, 64); err == nil && validRevision(n) {
		return n
	}
	if n, err := strconv.ParseInt(strings.TrimPrefix(s.Name, recordPrefix(app)), 10, 64); err == nil && validRevision(n) {
		return n
	}
	return 0 // out of range: not counted when the next number is chosen
}

// maxRevision bounds a record's revision number: a record forged with one
// near the int64 limit (an edit user can write the namespace's Secrets)
// made the next revision overflow, and every later command of the app fail
// on an invalid label that named no record (a hostile-tenant audit).
const maxRevision = 1 << 40

func validRevision(n int64) bool { return n >= 1 && n <= maxRevision }

// Warnings are the lines that say which records of revs are unreadable,
// and which were edited after kubectl zz wrote them.
func Warnings(revs []*Revision) []string {
	var w []string
	for _, r := range revs {
		switch {
		case r.Unreadable != "" && r.Format > RecordFormat:
			w = append(w, fmt.Sprintf("warning: revision %d of %s is unreadable and skipped (%s): it was recorded by %s in record format %d, newer than this %s reads (%d); %s",
				r.Number, r.App, r.Unreadable, r.writtenBy(), r.Format, writer(), RecordFormat, upgradeHint))
		case r.Unreadable != "":
			w = append(w, fmt.Sprintf("warning: revision %d of %s is unreadable and skipped (%s); kubectl zz history %s lists the others",
				r.Number, r.App, r.Unreadable, r.App))
		case r.Edited != "":
			w = append(w, fmt.Sprintf("warning: revision %d of %s was changed after kubectl zz recorded it: %s, which is what a rollback to it deploys (kubectl zz history %s --revision %d shows them)",
				r.Number, r.App, r.Edited, r.App, r.Number))
		}
	}
	return w
}

// readable is revs without the unreadable ones.
func readable(revs []*Revision) []*Revision {
	out := make([]*Revision, 0, len(revs))
	for _, r := range revs {
		if r.Unreadable == "" {
			out = append(out, r)
		}
	}
	return out
}

func parseRecord(s *corev1.Secret) (*Revision, error) {
	rev, err := parseRecordMeta(s)
	if err != nil {
		return nil, err
	}
	var unknown []string
	if rev.objects, unknown, err = decodeObjectsStrictly(s.Data[objectsKey]); err != nil {
		return nil, fmt.Errorf("%s: %w", objectsKey, err)
	}
	rev.NotUnderstood = append(rev.NotUnderstood, unknown...)
	for _, o := range rev.objects {
		rev.Kinds = append(rev.Kinds, o.GetObjectKind().GroupVersionKind().Kind+"/"+o.GetName())
	}
	if b, ok := s.Data[promoteKey]; ok {
		if rev.promote, unknown, err = decodeObjectsStrictly(b); err != nil {
			return nil, fmt.Errorf("%s: %w", promoteKey, err)
		}
		for _, f := range unknown {
			if !slices.Contains(rev.NotUnderstood, f) {
				rev.NotUnderstood = append(rev.NotUnderstood, f)
			}
		}
		rev.Canary = true
	}
	// What the objects run is what rollback restores, whatever the
	// annotations (anyone who may edit the namespace may edit them) say.
	deployment := rev.App
	if rev.Canary {
		deployment = render.CanaryName(rev.App)
	}
	if version, image := versionOf(rev.objects, deployment); image != "" && (image != rev.Image || version != rev.Version) {
		// Quoted: both sides are a namespace editor's to write, escape
		// sequences included, and the warning goes to a terminal.
		rev.Edited = fmt.Sprintf("its record says image %q, but its objects run %q", rev.Image, image)
		if version != rev.Version {
			rev.Edited = fmt.Sprintf("its record says version %q (image %q), but its objects run version %q (image %q)", rev.Version, rev.Image, version, image)
		}
		rev.Version, rev.Image = version, image
	}
	// A spec that cannot be read leaves the revision usable: its objects
	// are what rollback restores.
	for key, spec := range map[string]**appspec.App{specKey: &rev.spec, promoteSpecKey: &rev.promoteSpec} {
		b, ok := s.Data[key]
		if !ok {
			continue
		}
		// Strictly: what a newer kubectl-zz wrote and this one does not
		// know is named, not dropped by a re-record (a version-skew audit).
		if unknown, err := appspec.NotUnderstood(b); err == nil {
			for _, f := range unknown {
				if !slices.Contains(rev.NotUnderstood, f) {
					rev.NotUnderstood = append(rev.NotUnderstood, f)
				}
			}
		}
		var app appspec.App
		if err := json.Unmarshal(b, &app); err != nil {
			rev.specErr = fmt.Sprintf("%s: %v", key, err)
			continue
		}
		*spec = &app
		if key == specKey {
			rev.specJSON = b
		} else {
			rev.promoteSpecJSON = b
		}
	}
	slices.Sort(rev.NotUnderstood)
	return rev, nil
}

// decodeObjects reads what encodeObjects wrote.
func decodeObjects(b []byte) ([]render.Object, error) {
	objs, _, err := decodeObjectsStrictly(b)
	return objs, err
}

// strictObjects decodes recorded objects as the lenient deserializer does,
// and also names the fields this version's k8s.io/api does not know.
var strictObjects = serializer.NewCodecFactory(scheme.Scheme, serializer.EnableStrict).UniversalDeserializer()

// decodeObjectsStrictly is decodeObjects, and the fields of the objects
// this version does not know ("Deployment shop's
// spec.template.spec.futurePodField"): a newer renderer or k8s.io/api
// wrote them, and a rollback applying the objects decoded would drop them
// (review 17a, S2). Like an unknown spec field, they make the record one
// this version does not understand whole (NotUnderstood), with no format
// bump to remember.
func decodeObjectsStrictly(b []byte) ([]render.Object, []string, error) {
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		return nil, nil, err
	}
	data, err := io.ReadAll(io.LimitReader(zr, 16*maxRecordSize))
	if err != nil {
		return nil, nil, err
	}
	var raw []json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, nil, err
	}
	var objs []render.Object
	var unknown []string
	for _, r := range raw {
		obj, gvk, err := strictObjects.Decode(r, nil, nil)
		var fields []string
		if strict, ok := runtime.AsStrictDecodingError(err); ok && obj != nil {
			// Decoded all the same, as the lenient deserializer does.
			for _, e := range strict.Errors() {
				f := e.Error()
				if q, ok := strings.CutPrefix(f, "unknown field "); ok {
					if uq, err := strconv.Unquote(q); err == nil {
						f = uq
					}
				}
				fields = append(fields, f)
			}
			err = nil
		}
		if err != nil {
			return nil, nil, err
		}
		o, ok := obj.(render.Object)
		if !ok {
			return nil, nil, fmt.Errorf("%T is not an object", obj)
		}
		for _, f := range fields {
			kind := ""
			if gvk != nil {
				kind = gvk.Kind
			}
			unknown = append(unknown, fmt.Sprintf("%s %s's %s", kind, o.GetName(), f))
		}
		// The deserializer drops TypeMeta of typed objects; apply needs it.
		gvks, _, err := scheme.Scheme.ObjectKinds(obj)
		if err != nil {
			return nil, nil, err
		}
		o.GetObjectKind().SetGroupVersionKind(gvks[0])
		objs = append(objs, o)
	}
	return objs, unknown, nil
}

// parseRecordMeta reads a record's labels and annotations, not its objects.
func parseRecordMeta(s *corev1.Secret) (*Revision, error) {
	n, err := strconv.ParseInt(s.Labels[contract.LabelRevision], 10, 64)
	switch {
	case err != nil:
		return nil, fmt.Errorf("label %s: %w", contract.LabelRevision, err)
	case !validRevision(n):
		return nil, fmt.Errorf("label %s: %d is not a revision kubectl zz writes (1 to %d); delete Secret %s", contract.LabelRevision, n, int64(maxRevision), s.Name)
	case s.Name != recordPrefix(s.Labels[contract.LabelApp])+strconv.FormatInt(n, 10):
		return nil, fmt.Errorf("Secret %s is named for another revision than its label %s=%d; delete it", s.Name, contract.LabelRevision, n)
	}
	format, err := recordFormat(s)
	if err != nil {
		return nil, err
	}
	t, _ := time.Parse(time.RFC3339, s.Annotations[contract.AnnotationDeployedAt])
	return &Revision{
		Format: format, RecordedBy: s.Annotations[contract.AnnotationRecordedBy],
		App: s.Labels[contract.LabelApp], Number: n, Version: s.Labels[contract.LabelVersion],
		Image: s.Annotations[contract.AnnotationImage], User: s.Annotations[contract.AnnotationDeployedBy],
		ChangeCause: s.Annotations[contract.AnnotationChangeCause], Time: t,
		applyID: s.Annotations[contract.AnnotationApplyID],
		ref:     recordRef{name: s.Name, rv: s.ResourceVersion, number: n},
		names:   splitNames(s.Annotations[contract.AnnotationObjects]),
	}, nil
}

// objectNames is "Kind/name,..." of objs, as AnnotationObjects holds them.
func objectNames(objs []render.Object) string {
	names := make([]string, len(objs))
	for i, o := range objs {
		names[i] = o.GetObjectKind().GroupVersionKind().Kind + "/" + o.GetName()
	}
	return strings.Join(names, ",")
}

// splitNames reads AnnotationObjects; nil for a record written before it.
func splitNames(v string) []string {
	if v == "" {
		return nil
	}
	return strings.Split(v, ",")
}

// record stores rev and trims the history to limit records (oldest first).
func record(ctx context.Context, c kubernetes.Interface, ns string, secret *corev1.Secret, history []*Revision, limit int) error {
	if _, err := c.CoreV1().Secrets(ns).Create(ctx, secret, metav1.CreateOptions{}); err != nil {
		if apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("record %s: another deploy recorded this revision meanwhile; run kubectl zz history and deploy again: %w", secret.Name, err)
		}
		return fmt.Errorf("record %s: %w", secret.Name, err)
	}
	if limit < 1 {
		return nil
	}
	for excess := len(history) + 1 - limit; excess > 0 && len(history) > 0; excess-- {
		old := history[0]
		history = history[1:]
		err := c.CoreV1().Secrets(ns).Delete(ctx, RecordName(old.App, old.Number), metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("trim history of %s: %w", old.App, err)
		}
	}
	return nil
}

// withRevision returns copies of objs labelled as revision n.
func withRevision(objs []render.Object, n int64) []render.Object {
	out := make([]render.Object, len(objs))
	for i, o := range objs {
		cp := o.DeepCopyObject().(render.Object)
		labels := map[string]string{}
		for k, v := range cp.GetLabels() {
			labels[k] = v
		}
		labels[contract.LabelRevision] = strconv.FormatInt(n, 10)
		cp.SetLabels(labels)
		out[i] = cp
	}
	return out
}
