package cli

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"time"

	"k8s.io/client-go/rest"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
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
	// Everything that says who asks: the credential, an exec plugin's
	// command, arguments and environment (EKS's AWS_PROFILE switches
	// roles), an auth provider's configuration, and --as (a review: those
	// shared one file, and an identity's verdicts were another's).
	who, err := json.Marshal(struct {
		Host, Username, Password, Token, TokenFile, CertFile, KeyFile string
		CertData, KeyData                                             []byte
		Exec                                                          *clientcmdapi.ExecConfig
		AuthProvider                                                  *clientcmdapi.AuthProviderConfig
		Impersonate                                                   rest.ImpersonationConfig
	}{cfg.Host, cfg.Username, cfg.Password, cfg.BearerToken, cfg.BearerTokenFile, cfg.CertFile, cfg.KeyFile,
		cfg.CertData, cfg.KeyData, cfg.ExecProvider, cfg.AuthProvider, cfg.Impersonate})
	if err != nil {
		return ""
	}
	sum := sha256.Sum256(who)
	return filepath.Join(*t.flags.CacheDir, "zz", "drift", hex.EncodeToString(sum[:12])+".json")
}

// loadVerdicts gives j the verdicts kept at path, if any: only from a file
// this user owns that no other may write (a shared --cache-dir would let
// another user plant "no drift" for objects it can read: a review).
// It reports whether it read the file.
func loadVerdicts(j *deploy.DriftJudge, path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() || fi.Mode().Perm()&0o022 != 0 || !ownedByMe(fi) {
		return false
	}
	j.Load(f, time.Now())
	return true
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
