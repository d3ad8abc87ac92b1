package deploy

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/zzcloud/zz/internal/appspec"
	"github.com/zzcloud/zz/internal/contract"
	"github.com/zzcloud/zz/internal/prose"
	"github.com/zzcloud/zz/internal/version"
)

// RecordFormat is the format of the revision records this kubectl-zz
// writes (contract.AnnotationRecordFormat) and the newest it records or
// applies from. Format 1 is every record written before the stamp; 2 is
// the first stamped one, whose Service may target a front sidecar port and
// must move only once the pods have it (servesLate: an older reader moved
// it first and nothing served). Bump it when a record an older reader
// decodes would be applied wrongly all the same: a new apply order or
// behaviour, a new key of the record's data. A new appspec field needs no
// bump: readers refuse the spec fields they do not know (NotUnderstood);
// nor does an object field a newer renderer or k8s.io/api writes (a new
// pod field after a client-go upgrade): readers decode the recorded
// objects strictly and refuse those too (decodeObjectsStrictly).
const RecordFormat = 2

// ErrNewerRecord means a revision record holds what this kubectl-zz does
// not understand (a newer record format, a spec field it does not know):
// recording or applying from it would drop or misapply that.
var ErrNewerRecord = errors.New("revision recorded by a newer kubectl-zz")

// ErrUnreadableLatest means the newest record of an app cannot be read, so
// a command that starts from the latest revision has nothing to start
// from: the readable one before it is not what runs.
var ErrUnreadableLatest = errors.New("latest revision unreadable")

// upgradeHint is how a user gets a newer kubectl-zz.
const upgradeHint = "upgrade kubectl-zz (kubectl krew upgrade zz)"

// writer is this kubectl-zz as a record names its writer, as kubectl zz
// version prints it.
func writer() string { return "kubectl-zz " + version.Get().GitVersion }

// stamp marks s as written by this kubectl-zz in RecordFormat.
func stamp(s *corev1.Secret) {
	s.Annotations[contract.AnnotationRecordFormat] = strconv.Itoa(RecordFormat)
	s.Annotations[contract.AnnotationRecordedBy] = writer()
}

// recordFormat reads s's format: 1 without the annotation (records written
// before it), an error for a value no kubectl-zz writes (an edit).
func recordFormat(s *corev1.Secret) (int, error) {
	v, ok := s.Annotations[contract.AnnotationRecordFormat]
	if !ok {
		return 1, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		return 0, fmt.Errorf("annotation %s: %q is no record format (an integer from 1); the record was edited: delete Secret %s, or restore the annotation", contract.AnnotationRecordFormat, v, s.Name)
	}
	return n, nil
}

// writtenBy names r's writer for a message.
func (r *Revision) writtenBy() string {
	return cmp.Or(r.RecordedBy, "a kubectl-zz that stamps no version")
}

// skew says why this kubectl-zz must not record or apply from r: it was
// written in a newer format, or its spec holds fields this version does
// not know, which a re-record would drop (a version-skew audit: an older
// scale dropped a front auth proxy from the recorded spec). nil when r is
// understood whole. The refusal names the way back that needs no upgrade
// (wayBack over history, which may be nil): naming the upgrade alone left
// a user who cannot upgrade with no way on (review 17a, S1).
func (r *Revision) skew(history []*Revision) error {
	what := r.skewText()
	if what == "" {
		return nil
	}
	msg := what + ": " + upgradeHint + ", or without upgrading: "
	if way := wayBack(history, r); way != "" {
		msg += way + ", or "
	}
	msg += fmt.Sprintf("kubectl zz deploy %s -f FILE records a new revision", r.App)
	return skewRefusal{msg, ErrNewerRecord}
}

// understood says whether this version may record or apply from r.
func (r *Revision) understood() bool { return r.Unreadable == "" && r.skewText() == "" }

// wayBack is the rollback to the newest revision of history other than not
// that this version understands whole ("kubectl zz rollback shop
// --to-revision 1 returns to revision 1 (1.0)"), the way back a refusal of
// not names; "" when there is none.
func wayBack(history []*Revision, not *Revision) string {
	for i := len(history) - 1; i >= 0; i-- {
		if p := history[i]; p != not && p.understood() {
			return fmt.Sprintf("kubectl zz rollback %s --to-revision %d returns to revision %d (%s)", p.App, p.Number, p.Number, backVersion(p))
		}
	}
	return ""
}

// skewText says what of r this version does not understand, "" when it
// understands it whole.
func (r *Revision) skewText() string {
	if r.Format <= RecordFormat && len(r.NotUnderstood) == 0 {
		return ""
	}
	msg := fmt.Sprintf("revision %d of %s was recorded by %s (record format %d; this %s reads up to %d)",
		r.Number, r.App, r.writtenBy(), r.Format, writer(), RecordFormat)
	if len(r.NotUnderstood) > 0 {
		return msg + fmt.Sprintf(" and holds %s, which this version does not know", prose.Some(r.NotUnderstood, 3))
	}
	return msg + ", which this version would apply wrongly"
}

// Notes are the lines read-only commands (history, diff) print about the
// records of revs this version does not understand whole: they show what
// it can read of them, and the commands that record or apply refuse them.
func Notes(revs []*Revision) []string {
	var out []string
	for _, r := range revs {
		if what := r.skewText(); what != "" && r.Unreadable == "" {
			out = append(out, fmt.Sprintf("note: %s: scale, restart, rollback, canary, promote and abort refuse it; %s", what, upgradeHint))
		}
	}
	return out
}

// skewNote is what deploy says when the newest record r holds what this
// version does not understand: the deploy goes on, because it renders from
// the spec file alone, which this version read strictly; but the revision
// it records has none of what r held beyond the file. "" when r is
// understood whole.
func skewNote(r *Revision) string {
	what := r.skewText()
	if what == "" {
		return ""
	}
	lost := "holds only what this version renders from it"
	if len(r.NotUnderstood) > 0 {
		lost = "has no " + prose.Some(r.NotUnderstood, 3)
	}
	return fmt.Sprintf("warning: %s; this deploy renders from your file alone, so the revision it records %s: %s to keep it", what, lost, upgradeHint)
}

// newest is the newest record of history by number (nil when none) and
// why verb (the command, "kubectl zz scale") must not
// start from it. An unreadable newest record is refused, never skipped:
// the readable one before it is not what runs, and a scale that acted on
// it rolled the running image back while it printed "scaled to 3".
func newest(history []*Revision, app, verb string) (*Revision, error) {
	if len(history) == 0 {
		return nil, nil
	}
	r := history[len(history)-1]
	if r.Unreadable == "" {
		return r, r.skew(history)
	}
	why := fmt.Sprintf("cannot be read (%s)", r.Unreadable)
	if r.Format > RecordFormat {
		why = fmt.Sprintf("was recorded by %s in record format %d, which this %s cannot read (it reads up to %d): %s",
			r.writtenBy(), r.Format, writer(), RecordFormat, upgradeHint)
	}
	way := fmt.Sprintf("kubectl zz deploy %s -f FILE records a new revision", app)
	if back := wayBack(history, r); back != "" {
		way = back + " explicitly, or " + way
	}
	return nil, skewRefusal{fmt.Sprintf("revision %d of %s, the latest, %s; %s refuses to act on the revision before it, which is not what runs: %s",
		r.Number, app, why, verb, way), ErrUnreadableLatest}
}

// skewRefusal is an error that reads as its message alone and is its kind.
type skewRefusal struct {
	msg  string
	kind error
}

func (e skewRefusal) Error() string        { return e.msg }
func (e skewRefusal) Is(target error) bool { return target == e.kind }

// SpecAsRecorded is Spec as a map, as the record holds it: with the fields
// this version does not know (NotUnderstood), which Spec leaves out. What
// history --spec prints, so that the spec deployed again from it keeps
// them, or, by a kubectl-zz that does not know them either, is refused
// naming them (a version-skew audit: the stripped spec took a front auth
// proxy out).
func (r *Revision) SpecAsRecorded() (map[string]any, error) {
	spec, err := r.Spec()
	if err != nil {
		return nil, err
	}
	raw := r.specJSON
	if r.Canary {
		raw = r.promoteSpecJSON
	}
	if len(r.NotUnderstood) == 0 || raw == nil {
		return runtime.DefaultUnstructuredConverter.ToUnstructured(spec)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("the app spec recorded with revision %d of %s: %w", r.Number, r.App, err)
	}
	// Headed as a spec file, as Spec is (Config.given).
	for k, v := range map[string]string{"apiVersion": cmp.Or(spec.APIVersion, appspec.APIVersion), "kind": cmp.Or(spec.Kind, appspec.Kind)} {
		if _, ok := m[k]; !ok {
			m[k] = v
		}
	}
	return m, nil
}
