package cli

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"time"

	"k8s.io/klog/v2"

	"github.com/zzcloud/zz/internal/deploy"
)

// verdictPath is the file that keeps t's drift verdicts between runs of
// list and status (deploy.DriftJudge.Load): under kubectl's cache
// directory (--cache-dir, KUBECACHEDIR, ~/.kube/cache), one a cluster and
// credential, so a verdict judged with one user's rights is never another's
// (a hash names it: no server or token in a file name). "" where neither
// can be told.
func verdictPath(t target) string {
	if t.flags == nil || t.flags.CacheDir == nil || *t.flags.CacheDir == "" {
		return ""
	}
	cfg, err := t.flags.ToRESTConfig()
	if err != nil {
		return ""
	}
	id := []string{cfg.Host, cfg.Username, cfg.BearerToken, cfg.BearerTokenFile, cfg.CertFile, string(cfg.CertData)}
	if cfg.ExecProvider != nil {
		id = append(id, cfg.ExecProvider.Command)
		id = append(id, cfg.ExecProvider.Args...)
	}
	sum := sha256.Sum256([]byte(strings.Join(id, "\x00")))
	return filepath.Join(*t.flags.CacheDir, "zz", "drift", hex.EncodeToString(sum[:12])+".json")
}

// loadVerdicts gives j the verdicts kept at path, if any.
func loadVerdicts(j *deploy.DriftJudge, path string) {
	f, err := os.Open(path)
	if err != nil {
		return
	}
	defer f.Close()
	j.Load(f, time.Now())
}

// saveVerdicts keeps j's verdicts at path for the next run, readable by
// this user alone (they say what other objects hold), written aside then
// renamed so a run beside it never reads half a file. A cache: what fails
// is logged at -v=4 and nothing else.
func saveVerdicts(j *deploy.DriftJudge, path string) {

	if err := writeVerdicts(j, path); err != nil {

		klog.V(4).InfoS("drift verdicts not kept", "path", path, "err", err)
	}
}

func writeVerdicts(j *deploy.DriftJudge, path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(path), ".verdicts-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name()) // gone once renamed
	if err := j.Save(f, time.Now()); err != nil {
		_ = f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}
