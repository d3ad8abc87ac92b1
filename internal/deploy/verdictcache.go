package deploy

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"time"
)

// VerdictTTL is how long a drift verdict read back from disk (Load) is
// taken without asking the apiserver again. The verdict is keyed by all of
// the live object but its status and by the record's resourceVersion, so
// only what neither shows can change it meanwhile: a mutating webhook's or
// the apiserver's defaults for the apply's dry run.
const VerdictTTL = 10 * time.Minute

// maxStoredVerdicts bounds the file Save writes (the most recent kept).
const maxStoredVerdicts = 20000

// storedVerdict is one judgement as Save writes it.
type storedVerdict struct {
	Key    string   `json:"key"`
	On     string   `json:"on"`
	Record string   `json:"record"`
	Lines  []string `json:"lines,omitempty"`
	ByName string   `json:"byName,omitempty"`
	Cause  string   `json:"cause,omitempty"`
	At     int64    `json:"at"`
}

// verdictFile is what Save writes.
type verdictFile struct {
	Version  int             `json:"version"`
	Verdicts []storedVerdict `json:"verdicts"`
}

const verdictFileVersion = 1

// Load takes the verdicts Save wrote that are younger than VerdictTTL at
// now, so a kubectl zz list or status run again asks no dry run of an
// object that has not changed since (a scale audit: list -A asked five
// requests an app, 90 s at 1,000 apps, at every run). A file of another
// version, or unreadable, is ignored: it is a cache.
func (j *DriftJudge) Load(r io.Reader, now time.Time) {
	var f verdictFile
	if err := json.NewDecoder(io.LimitReader(r, 64<<20)).Decode(&f); err != nil || f.Version != verdictFileVersion {
		return
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	for _, s := range f.Verdicts {
		at := time.Unix(s.At, 0)
		if s.Key == "" || now.Sub(at) >= VerdictTTL || now.Before(at) {
			continue
		}
		if j.stored == nil {
			j.stored = map[string]judgedObject{}
		}
		j.stored[s.Key] = judgedObject{on: s.On, record: s.Record, at: at,
			v: verdict{lines: s.Lines, byName: s.ByName, cause: s.Cause}}
	}
}

// Save writes the judge's verdicts younger than VerdictTTL at now, each
// with the time it was judged (one read back is not judged anew), for Load.
func (j *DriftJudge) Save(w io.Writer, now time.Time) error {
	j.mu.Lock()
	all := maps.Clone(j.stored)
	if all == nil {
		all = map[string]judgedObject{}
	}
	maps.Copy(all, j.objects) // this run's win
	f := verdictFile{Version: verdictFileVersion, Verdicts: make([]storedVerdict, 0, len(all))}
	for key, o := range all {
		// A verdict by name says what this identity may not do (a dry
		// run refused): another's rights, or this one's tomorrow, may
		// judge by content, so it is not kept (a review).
		if o.at.IsZero() || now.Sub(o.at) >= VerdictTTL || o.v.byName != "" {
			continue
		}
		f.Verdicts = append(f.Verdicts, storedVerdict{Key: key, On: o.on, Record: o.record,
			Lines: o.v.lines, ByName: o.v.byName, Cause: o.v.cause, At: o.at.Unix()})
	}
	j.mu.Unlock()
	if len(f.Verdicts) > maxStoredVerdicts {
		// The most recent: sorted newest first, the rest dropped.
		sortNewest(f.Verdicts)
		f.Verdicts = f.Verdicts[:maxStoredVerdicts]
	}
	if err := json.NewEncoder(w).Encode(f); err != nil {
		return fmt.Errorf("write the drift verdicts: %w", err)
	}
	return nil
}

// sortNewest sorts vs by judgement time, newest first.
func sortNewest(vs []storedVerdict) {
	slices.SortFunc(vs, func(a, b storedVerdict) int { return cmp.Compare(b.At, a.At) })
}
