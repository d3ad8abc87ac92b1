package deploy

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"

	"github.com/zzcloud/zz/internal/render"
)

// DriftJudge judges, for status, the parts kubectl zz renders whole (a pod
// template, a Service's spec) by content against the objects of the app's
// latest revision, as the next deploy does (partJudge, then a dry-run
// apply: sameApplied), so status says "drifted" where that deploy would
// take something back or apply again, whatever field manager name the
// writer chose. A judgement is kept per live object and what it read of
// it (judgedOn: all but its status), and per record: kubectl zz status
// --watch judges an object again only when its spec, metadata or
// managed fields changed, and asks the apiserver's dry runs only then. Safe for
// concurrent use: status judges a namespace's objects several at a time
// (judgeAll), each object's reads and dry runs outside the lock.
type DriftJudge struct {
	mu      sync.Mutex
	records map[string]*judgedRecord // "ns/secret"
	objects map[string]judgedObject  // "ns/Kind/name"
	// stored are the verdicts an earlier run saved (Load), taken where
	// objects has none; kept apart, so that a read of other namespaces
	// (forget) does not drop them from what Save writes.
	stored map[string]judgedObject
}

// NewDriftJudge is a judge with nothing kept yet.
func NewDriftJudge() *DriftJudge {
	return &DriftJudge{records: map[string]*judgedRecord{}, objects: map[string]judgedObject{}}
}

// judgedRecord is one record read whole: its objects, and a judge per
// object (which keeps its dry-run create: asked once per record).
type judgedRecord struct {
	rv     string
	number int64
	// read guards the Secret's get, once for every object of it: done
	// once it was read, or refused for good (lasting); a timeout or a
	// cancelled read is kept for the rest of judgeAll's read (retry), so
	// a slow apiserver is asked once an app, and read again at the next.
	read        sync.Mutex
	done, retry bool
	objs        map[string]render.Object // "Kind/name"
	err         error
	mu          sync.Mutex // judges
	// judges: one a live object, used by one goroutine at a time (each
	// live object maps to one "Kind/name" of one record, and a read
	// judges it once), so a partJudge needs no lock of its own.
	judges map[string]*partJudge
}

// judgedObject is the verdict on one live object as judgedOn saw it,
// against one record.
type judgedObject struct {
	on, record string
	v          verdict
	// at is when it was judged (Save, Load); zero for a verdict of held,
	// which no dry run of this judge's asked.
	at time.Time
}

// verdict is what status says of one object's whole part: drift lines, and
// why it was judged by field manager name only ("" when by content).
type verdict struct {
	lines  []string
	byName string
	// retry: judged by name for an answer that may differ at the next
	// read (a timeout, a webhook down, a cancelled read), so not kept.
	retry bool
	// cause is byName without the object's name and revision: the same
	// for every app where a webhook refuses dry runs or a right is
	// missing, so status says it once.
	cause string
}

// recordRef names an app's latest record as status listed it (metadata).
type recordRef struct {
	name, rv string
	number   int64
}

// wholeLive is one live object whose whole part status judges: of app key,
// kind k; byContent is false where another line already says it is not
// the record's (the token of a command that recorded nothing).
type wholeLive struct {
	key       string
	k         kindOps
	obj       runtime.Object
	byContent bool
}

// judge is the verdict on w against ref (zero: no readable record); by
// name for a nil judge (a caller that reads no drift).
func (j *DriftJudge) judge(ctx context.Context, c kubernetes.Interface, ref recordRef, w wholeLive) verdict {
	m, err := meta.Accessor(w.obj)
	if err != nil {
		return verdict{}
	}
	if j == nil || !w.byContent || ref.name == "" {
		return nameVerdict(w.k, m, "")
	}
	key, recKey := objectKey(w.k, m), ref.key()
	on, err := judgedOn(w.obj)
	if err != nil {
		return nameVerdict(w.k, m, err.Error())
	}
	j.mu.Lock()
	got, ok := j.objects[key]
	if !ok || got.on != on || got.record != recKey {
		if got, ok = j.stored[key]; ok && got.on == on && got.record == recKey {
			j.objects[key] = got
		}
	}
	j.mu.Unlock()
	if ok && got.on == on && got.record == recKey {
		return got.v
	}
	v := j.byContent(ctx, c, m.GetNamespace(), ref, w.k, w.obj, m)
	if v.retry {
		return v
	}
	j.mu.Lock()
	j.objects[key] = judgedObject{on: on, record: recKey, v: v, at: time.Now()}
	j.mu.Unlock()
	return v
}

// held keeps the verdict "no drift" on live (of kind k), whose whole part
// a command found held against ref's record (wholeHeld, the same
// judgement by content: strays, orphans, then the dry-run apply), so a
// status read with j after it (kubectl zz deploy -o) asks no dry run of
// it again. Kept as judge keeps a verdict: while what judgedOn reads of
// the object and the record's resourceVersion stay the same. Nothing for a
// nil judge.
func (j *DriftJudge) held(k kindOps, live runtime.Object, ref recordRef) {
	if j == nil || ref.name == "" {
		return
	}
	m, err := meta.Accessor(live)
	if err != nil {
		return
	}
	on, err := judgedOn(live)
	if err != nil {
		return
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	j.objects[objectKey(k, m)] = judgedObject{on: on, record: ref.key()}
}

// objectKey is what a verdict on m, of kind k, is kept under.
func objectKey(k kindOps, m metav1.Object) string {
	return m.GetNamespace() + "/" + k.kind + "/" + m.GetName()
}

// key is what a verdict judged against r is kept with: the record as it
// was (a record rewritten is judged against again).
func (r recordRef) key() string { return r.name + "@" + r.rv }

// judgedOn is what a verdict on obj reads of it: the object less its status
// and resourceVersion, and less the managed-fields entries of status alone
// (statusEntry), as a hash. A status write
// (an HPA's metrics at each sync, a PDB's healthy count, a rollout's
// progress, a LoadBalancer's ingress) moves the resourceVersion alone, and
// asked each such object's dry runs again under status --watch.
func judgedOn(obj runtime.Object) (string, error) {
	u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		return "", fmt.Errorf("read %T: %w", obj, err)
	}
	delete(u, "status")
	if md, ok := u["metadata"].(map[string]any); ok {
		delete(md, "resourceVersion")
		if mf, ok := md["managedFields"].([]any); ok {
			md["managedFields"] = slices.DeleteFunc(mf, statusEntry)
		}
	}
	b, err := json.Marshal(u)
	if err != nil {
		return "", fmt.Errorf("read %T: %w", obj, err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:]), nil
}

// statusEntry says whether e, a managed-fields entry as unstructured,
// owns status fields alone: the status subresource's, or an update that
// wrote only status (a client without the subresource). No judgement reads
// it, and each status write moves its time.
func statusEntry(e any) bool {
	f, _ := e.(map[string]any)
	if f["subresource"] == "status" {
		return true
	}
	owned, _ := f["fieldsV1"].(map[string]any)
	_, status := owned["f:status"]
	return status && len(owned) == 1
}

// judgeParallel bounds the objects judged at once: each is a few requests
// (a record's get, dry runs), so a namespace of 20 apps took 5 to 8 times
// as long as status by name when they were asked one after another.
const judgeParallel = 8

// judgeAll is the verdict on each of wholes against its app's latest
// record, in wholes' order, judgeParallel at a time.
func (j *DriftJudge) judgeAll(ctx context.Context, c kubernetes.Interface, latest map[string]recordRef, wholes []wholeLive) []verdict {
	out := make([]verdict, len(wholes))
	var wg sync.WaitGroup
	sem := make(chan struct{}, judgeParallel)
	for i, w := range wholes {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			out[i] = j.judge(ctx, c, latest[w.key], w)
		}()
	}
	wg.Wait()
	j.forget(latest, wholes)
	return out
}

// forget drops what this read did not judge (an object deleted, a record
// no longer the latest: status --watch kept them for good), and a record
// whose read failed for now, read again at the next.
func (j *DriftJudge) forget(latest map[string]recordRef, wholes []wholeLive) {
	if j == nil {
		return
	}
	objects, records := map[string]bool{}, map[string]bool{}
	for _, w := range wholes {
		if m, err := meta.Accessor(w.obj); err == nil {
			objects[objectKey(w.k, m)] = true
			records[m.GetNamespace()+"/"+latest[w.key].name] = true
		}
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	maps.DeleteFunc(j.objects, func(key string, _ judgedObject) bool { return !objects[key] })
	maps.DeleteFunc(j.records, func(key string, r *judgedRecord) bool { return r.retry || !records[key] })
}

// byContent judges live (m its metadata) against the record's object of
// its kind and name: strays and orphans (partJudge), then, where there are
// none, what kubectl zz's apply of it would store (a dry-run apply, as
// wholeHeld). Without the right to read the record or to ask a dry run
// (a role that reads but may not create or patch), by name, with why.
func (j *DriftJudge) byContent(ctx context.Context, c kubernetes.Interface, ns string, ref recordRef, k kindOps, live runtime.Object, m metav1.Object) verdict {
	kind, part := strings.ToLower(k.kind), k.whole.name
	// byName is the name judgement, for err: why says it of this object,
	// cause the same for every app (status prints a shared one once).
	byName := func(why, cause string, err error) verdict {
		v := nameVerdict(k, m, fmt.Sprintf("%s%v", why, err))
		v.cause, v.retry = cause+err.Error(), !Lasting(err)
		return v
	}
	rec := j.record(ctx, c, ns, ref)
	if rec.err != nil {
		return byName(fmt.Sprintf("revision %d's record could not be read: ", ref.number), "the latest revision's record could not be read: ", rec.err)
	}
	pj, err := rec.judgeFor(k, ns, m.GetName())
	if err != nil || pj == nil {
		return nameVerdict(k, m, errText(err)) // nil: not the revision's, missing and extra objects are said apart
	}
	d, err := pj.drift(ctx, c, live)
	if err != nil {
		return nameVerdict(k, m, err.Error())
	}
	var v verdict
	if d.found() {
		v.lines = append(v.lines, fmt.Sprintf("%s %s: its %s was changed%s, outside kubectl zz: %s, which revision %d lacks (the next kubectl zz deploy takes it out)",
			kind, m.GetName(), part, d.writer(), fieldNames(k.whole.path, d.fields), ref.number))
	}
	// What the apply would change is asked even beside strays: a
	// server-side apply under kubectl zz's name adds fields of its own
	// entry (externalIPs) where the apiserver defaults others unowned
	// (externalTrafficPolicy), and only this names the former.
	diff, err := j.applied(ctx, c, k, pj, live)
	if err != nil {
		// The strays found stay: they need no dry run.
		nv := byName(fmt.Sprintf("%s %s: what kubectl zz's apply of revision %d would store was not asked (a dry run): ", kind, m.GetName(), ref.number),
			fmt.Sprintf("what kubectl zz's apply of a %s would store was not asked (a dry run): ", kind), err)
		if len(v.lines) > 0 {
			nv.lines = v.lines
		}
		return nv
	}
	if !diff.Empty() {
		by := wholeDrift{by: lastOwner(m.GetManagedFields(), k.whole.path, diff)}
		v.lines = append(v.lines, fmt.Sprintf("%s %s: its %s was changed%s, outside kubectl zz: %s, which kubectl zz's apply of revision %d sets otherwise (the next kubectl zz deploy applies it again)",
			kind, m.GetName(), part, by.writer(), fieldNames(k.whole.path, diff), ref.number))
	}
	if pj.unjudged != nil {
		nv := byName(fmt.Sprintf("%s %s: fields of its %s no field manager owns were not judged: ", kind, m.GetName(), part),
			fmt.Sprintf("fields of a %s's %s no field manager owns were not judged: ", kind, part), denied(pj.unjudged, "create", k.whole.resource))
		if len(v.lines) > 0 {
			nv.lines = v.lines
		}
		return nv
	}
	return v
}

// judgeFor is the partJudge of r's object of kind k named name (in ns),
// made at its first use and kept with the record (its dry-run create,
// asked once); nil when the record holds no such object.
func (r *judgedRecord) judgeFor(k kindOps, ns, name string) (*partJudge, error) {
	want := r.objs[k.kind+"/"+name]
	if want == nil {
		return nil, nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	pj := r.judges[k.kind+"/"+name]
	if pj == nil {
		var err error
		if pj, err = newPartJudge(k, ns, want); err != nil {
			return nil, err
		}
		r.judges[k.kind+"/"+name] = pj
	}
	return pj, nil
}

// errText is err's text, "" for nil.
func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// applied is where live's whole part differs from what kubectl zz's apply
// of the record's object would store (pj.dryApply), as wholeHeld asks.
func (j *DriftJudge) applied(ctx context.Context, c kubernetes.Interface, k kindOps, pj *partJudge, live runtime.Object) (*fieldpath.Set, error) {
	applied, err := pj.dryApply(ctx, c)
	if err != nil {
		return nil, denied(err, "patch", k.whole.resource) // keeps err's kind: lasting
	}
	return pj.r.appliedDiff(k.whole.path, applied, live)
}

// record is ref read whole (one get of the Secret), kept while its
// resourceVersion is the same.
func (j *DriftJudge) record(ctx context.Context, c kubernetes.Interface, ns string, ref recordRef) *judgedRecord {
	key := ns + "/" + ref.name
	j.mu.Lock()
	r := j.records[key]
	if r == nil || r.rv != ref.rv {
		r = &judgedRecord{rv: ref.rv, number: ref.number, judges: map[string]*partJudge{}}
		j.records[key] = r
	}
	j.mu.Unlock()
	r.read.Lock()
	defer r.read.Unlock()
	if r.done {
		return r
	}
	r.done = true
	s, err := c.CoreV1().Secrets(ns).Get(ctx, ref.name, metav1.GetOptions{})
	if err != nil {
		r.err, r.retry = denied(err, "get", "secrets"), !Lasting(err)
		return r
	}
	rev, err := parseRecord(s)
	if err != nil {
		r.err = err // this resourceVersion's content: read again, the same
		return r
	}
	r.objs = map[string]render.Object{}
	for _, o := range rev.objects {
		r.objs[o.GetObjectKind().GroupVersionKind().Kind+"/"+o.GetName()] = o
	}
	return r
}

// denied is err, saying which right is missing when RBAC refused it; it
// unwraps to err, so lasting still tells its kind. A 403 is also a full
// ResourceQuota (the dry-run create counts as one object more: a quota of
// one LoadBalancer Service, held by the app's own) or an admission
// webhook's denial: said as what it is, not as a right to ask for.
func denied(err error, verb, resource string) error {
	if !apierrors.IsForbidden(err) {
		return err
	}
	switch msg := err.Error(); {
	case strings.Contains(msg, "exceeded quota"):
		return refusal{fmt.Sprintf("the namespace's ResourceQuota refuses the dry-run %s of %s: %s", verb, resource, msg), err}
	case strings.Contains(msg, "cannot "+verb+" resource"):
		return refusal{fmt.Sprintf("it needs the right to %s %s (%s)", verb, resource, apierrors.ReasonForError(err)), err}
	}
	return refusal{fmt.Sprintf("the dry-run %s of %s is refused: %s", verb, resource, err), err}
}

// refusal is a Forbidden said as the right it needs.
type refusal struct {
	msg   string
	cause error
}

func (r refusal) Error() string { return r.msg }
func (r refusal) Unwrap() error { return r.cause }

// Lasting says whether err, an apiserver's answer, would be the same at
// the next read of the same objects by the same user: a refusal (a right
// missing, a webhook or the kind refusing a dry run: BadRequest "does not
// support dry run", Invalid) or a NotFound. A timeout, throttling, a 5xx
// (a webhook down), a connection refused or a cancelled context is not:
// a judgement by name made for one of those is never kept, or one slow
// moment of a status --watch would hide a spoof until the object changed.
func Lasting(err error) bool {
	return apierrors.IsForbidden(err) || apierrors.IsBadRequest(err) || apierrors.IsInvalid(err) ||
		apierrors.IsMethodNotSupported(err) || apierrors.IsNotFound(err)
}

// nameVerdict judges m's whole part by field manager name (fieldWriter):
// what status did before it judged by content, and does where it cannot
// (why, when not ""). A server-side apply under kubectl zz's name is not
// told from kubectl zz's own here: only the judgement by content sees it.
func nameVerdict(k kindOps, m metav1.Object, why string) verdict {
	v := verdict{byName: why}
	if w := fieldWriter(m.GetManagedFields(), k.whole.path...); w != "" {
		v.lines = []string{fmt.Sprintf("%s %s: its %s was changed%s, outside kubectl zz (kubectl zz deploy or rollback applies a recorded revision again)",
			strings.ToLower(k.kind), m.GetName(), k.whole.name, w)}
	}
	return v
}

// maxFieldNames bounds the fields a drift line names.
const maxFieldNames = 4

// fieldNames says the fields of s (relative to the part at path, or to
// the object when path is nil) as paths of the object, outermost only (an
// env var, not also its value).
func fieldNames(path []string, s *fieldpath.Set) string {
	var names []string
	s.Iterate(func(p fieldpath.Path) {
		for i := 1; i < len(p); i++ {
			if s.Has(p[:i]) {
				return
			}
		}
		names = append(names, strings.TrimPrefix(strings.Join(path, ".")+p.String(), ".")) // path nil: from the object's top
	})
	if len(names) > maxFieldNames {
		names = append(names[:maxFieldNames], fmt.Sprintf("%d more", len(names)-maxFieldNames))
	}
	return strings.Join(names, ", ")
}

// lastOwner is the entry written last that owns a field of s under path:
// one other than kubectl zz's apply first, else that apply's (a
// server-side apply under its name); nil when none does.
func lastOwner(entries []metav1.ManagedFieldsEntry, path []string, s *fieldpath.Set) *metav1.ManagedFieldsEntry {
	var other, zz *metav1.ManagedFieldsEntry
	for i := range entries {
		e := &entries[i]
		if fieldsUnder(e, path).Intersection(s).Empty() {
			continue
		}
		if roleOf(e) == zzApply {
			zz = later(zz, e)
		} else {
			other = later(other, e)
		}
	}
	if other != nil {
		return other
	}
	return zz
}
