package clustercheck

import (
	"fmt"
	"slices"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/zzcloud/zz/internal/contract"
)

// podSecurity warns of the namespaces the webhook serves, or holding GPU
// pods, whose Pod Security enforce level is privileged or unset. zz's
// trust model holds a namespace's edit user (and zz-app-developer, through
// a Deployment) to what zz checks only where Pod Security "baseline" at
// least is enforced: without it a privileged container, or a hostPath
// mount of /dev, on a GPU node reaches every card and the node's pod
// tokens, which no zz check sees (a hostile-tenant audit ran one beside
// the ledger). An unset label means the apiserver's PodSecurity default,
// privileged unless its admission configuration sets another, which no API
// shows: check takes the webhook policy's podSecurityDefault for it, where
// the admin wrote one, else counts it as privileged and says so.
func podSecurity(s *State) []Result {
	if s.NamespacesErr != nil {
		return nil // namespaces says it could not read them
	}
	var asked []string // served or with GPU pods, each once
	for _, ns := range slices.Concat(s.OptedIn, s.GPUPodNamespaces) {
		// kube-system is never served, and runs what must be privileged.
		if _, known := s.PodSecurity[ns]; known && ns != metav1.NamespaceSystem && !slices.Contains(asked, ns) {
			asked = append(asked, ns)
		}
	}
	if len(asked) == 0 {
		return nil
	}
	slices.Sort(asked)
	r := Result{Group: GroupNamespaces, Name: "pod security"}
	var weak []string
	unset := false
	for _, ns := range asked {
		switch level := s.PodSecurity[ns]; {
		case level == "" && s.PodSecurityDefault == "":
			weak, unset = append(weak, ns+" (unset)"), true
		case level == "" && s.PodSecurityDefault == "privileged":
			weak = append(weak, ns+" (unset: the policy's podSecurityDefault privileged)")
		case level == "" && s.PodSecurityProbe != nil && s.PodSecurityProbe.Admitted:
			weak = append(weak, fmt.Sprintf("%s (unset: the policy's podSecurityDefault says %s, but the apiserver admitted a privileged pod in %s, a dry run: its default is privileged)",
				ns, s.PodSecurityDefault, s.PodSecurityProbe.Namespace))
		case level == "privileged":
			weak = append(weak, ns+" (privileged)")
		}
	}
	if len(weak) == 0 {
		r.Status, r.Detail = OK, fmt.Sprintf("%s served or holding GPU pods %s Pod Security baseline or restricted (%s)",
			count(len(asked), "namespace"), enforce(len(asked)), listSome(asked))
		switch p := s.PodSecurityProbe; {
		case p != nil && p.Refused:
			r.Detail += fmt.Sprintf("; the policy's podSecurityDefault %s for unlabelled ones confirmed: a privileged dry-run pod in %s was refused", s.PodSecurityDefault, p.Namespace)
		case p != nil && p.Err != nil:
			r.Detail += fmt.Sprintf("; the policy's podSecurityDefault %s for unlabelled ones is taken as stated: a privileged dry-run pod in %s could not test it (%v)", s.PodSecurityDefault, p.Namespace, p.Err)
		}
		return []Result{r}
	}
	r.Status = Warn
	r.Detail = fmt.Sprintf("%s served or holding GPU pods %s no Pod Security level above privileged: %s: their edit users may run privileged containers or mount hostPath /dev on a GPU node, reaching every card and the node's pod tokens past everything zz checks",
		count(len(weak), "namespace"), enforce(len(weak)), listSome(weak))
	if unset {
		r.Detail += "; unset is the apiserver's PodSecurity default, privileged unless its admission configuration sets another, which check cannot read (state it as the webhook policy's podSecurityDefault)"
	}
	r.Hint = "kubectl label namespace NS " + contract.LabelPodSecurityEnforce + "=baseline (the webhook then leaves lxcfs, whose hostPath volumes baseline refuses, out of its pods)"
	return []Result{r}
}

func enforce(n int) string {
	if n == 1 {
		return "enforces"
	}
	return "enforce"
}
