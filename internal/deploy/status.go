package deploy

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"

	"github.com/zzcloud/zz/internal/contract"
	"github.com/zzcloud/zz/internal/render"
)

// Health is an app's state in one word.
type Health string

const (
	// HealthReady: the rollout is complete and every pod is ready.
	HealthReady Health = "Ready"
	// HealthProgressing: a rollout is under way and no pod reports a problem.
	HealthProgressing Health = "Progressing"
	// HealthDegraded: some pod or the controller reports a problem.
	HealthDegraded Health = "Degraded"
	// HealthMissing: revisions are recorded but the app's Deployment is gone.
	HealthMissing Health = "Missing"
)

// Replicas is what one Deployment of an app runs.
type Replicas struct {
	Name string `json:"name"`
	// Version and Image are what its pod template asks for; while its
	// rollout is unfinished (RollingOut) Serving says what runs.
	Version string `json:"version"`
	Image   string `json:"image"`
	Ready   int32  `json:"ready"`
	Desired int32  `json:"desired"`
	// Updated is how many of its pods have its pod template
	// (status.updatedReplicas: kubectl get deploy's UP-TO-DATE).
	Updated int32 `json:"updated"`
	// Serving is the versions its ready pods run, each with how many run
	// it (their zz.io/version label), most first.
	Serving []VersionPods `json:"serving,omitempty"`
	// RollingOut says its rollout is unfinished: old pods are still
	// there, or its ready pods run another version (rollingOut).
	RollingOut bool `json:"rollingOut,omitempty"`
	// Unobserved says the Deployment controller has not seen its spec
	// yet: Updated counts the pods of the template before it.
	Unobserved bool `json:"-"`
}

// PodIssue is why one pod is not ready, in the words deploy uses (Problem).
type PodIssue struct {
	Pod    string `json:"pod,omitempty"`
	Reason string `json:"reason"`
	Detail string `json:"detail,omitempty"`
}

func (p PodIssue) String() string {
	s := Problem{Reason: p.Reason, Detail: p.Detail}.String()
	if p.Pod == "" {
		return s
	}
	return "pod " + p.Pod + ": " + s
}

// AppStatus is kubectl zz status of one app.
type AppStatus struct {
	App       string `json:"app"`
	Namespace string `json:"namespace"`
	// Revision is the latest recorded revision, 0 if none.
	Revision    int64     `json:"revision"`
	DeployedAt  time.Time `json:"deployedAt,omitzero"`
	DeployedBy  string    `json:"deployedBy,omitempty"`
	ChangeCause string    `json:"changeCause,omitempty"`
	// Stable is the app's Deployment (named as the app), Canary the canary's
	// next to it when one runs.
	Stable *Replicas `json:"stable,omitempty"`
	Canary *Replicas `json:"canary,omitempty"`
	Health Health    `json:"health"`
	// Issues are why pods are not ready (and why the controller cannot
	// create them), when the app is not healthy.
	Issues []PodIssue `json:"issues,omitempty"`
	// Drift says how the app's Deployments differ from what its latest
	// revision recorded: applied by a kubectl zz command that recorded no
	// revision (one under way, failed or stopped), or a pod template
	// changed outside kubectl zz (kubectl edit, set image, rollout restart).
	Drift []string `json:"drift,omitempty"`
	// Rollout says, of each Deployment whose rollout is unfinished
	// (Replicas.RollingOut) and no Drift line names, what its template
	// asks for and what its ready pods run.
	Rollout []string `json:"rollout,omitempty"`
	// Restarts sums the container restarts of the app's pods (init
	// containers too, as kubectl get pods counts them); LastRestart is when
	// the latest restarted container last ended.
	Restarts    int32     `json:"restarts"`
	LastRestart time.Time `json:"lastRestart,omitzero"`
	// Sidecars are the sidecars of the app's pods (stable and canary), each
	// with how many pods run it and how many of those it is ready in.
	Sidecars Sidecars `json:"sidecars,omitempty"`
	// Unbalanced are the app's pods the zz webhook left to the default
	// scheduler while the one its policy names could not schedule.
	Unbalanced *UnbalancedPods `json:"unbalanced,omitempty"`
	// ZoneGap says its ready pods sit in fewer zones than its
	// spec.zoneSpread would put them in now (after a zone outage); nil
	// when they do not, or the nodes may not be read.
	ZoneGap *ZoneGap `json:"zoneGap,omitempty"`
	// NoProbes says the app's pods run without probes (kubectl zz deploy
	// --debug): Ready then says only that their containers started.
	NoProbes bool `json:"noProbes,omitempty"`
	// Endpoints are where the app answers: its Ingress's URLs, then its
	// Service's in-cluster address (host:port).
	Endpoints []string `json:"endpoints,omitempty"`
	// ChangingBy names the kubectl zz command that holds the app's lock
	// now ("alice (kubectl zz deploy) since 15:27:38"), "" when none does.
	ChangingBy string `json:"changingBy,omitempty"`
	// Unrecorded is how many of Drift's lines say that ChangingBy's
	// command applied what no revision records yet: its own apply, by the
	// token its lock carries; other lines (a pause, a hand edit, kubectl
	// rollout undo, an earlier command that failed) are no command's to
	// record.
	Unrecorded int `json:"-"`
	// LockExpires is when the app's lock lapses, set only when its holder
	// has not renewed it for longer than a running command does: a command
	// that ended without releasing it (an apiserver error), or stopped.
	LockExpires *metav1.Time `json:"lockExpires,omitempty"`
	// DriftByName says why the drift of a part kubectl zz renders whole (a
	// pod template, a Service's spec) was judged by field manager name, not
	// by content against the latest revision as a deploy judges it (a right
	// the user lacks: a dry run needs create and patch); "" when by content.
	// A write under kubectl zz's own manager name is then not seen.
	DriftByName string `json:"driftByName,omitempty"`
	// DriftByNameCause is DriftByName without the object's name and
	// revision: apps with the same one (a webhook that refuses every dry
	// run, a right missing) are said once, in one line.
	DriftByNameCause string `json:"-"`
	// RecordsUnreadable says the user may not list the revision records
	// (Secrets, which the view role does not read): revision, who deployed
	// and drift are unknown, the rest is shown.
	RecordsUnreadable bool `json:"recordsUnreadable,omitempty"`
	// NewerRecord says the latest revision was recorded in a newer record
	// format than this kubectl-zz reads, by whom: the commands that record
	// or apply from it refuse it. "" when it is not.
	NewerRecord string `json:"newerRecord,omitempty"`
	// BlockingBudgets are the PodDisruptionBudgets over the app's pods that
	// allow no disruption now while they are not all ready: every node
	// drain and kubectl zz rebalance waits for the app.
	BlockingBudgets []BlockingBudget `json:"blockingBudgets,omitempty"`
}

// AppStatusOf reads app: its latest revision, Deployments and pods.
func AppStatusOf(ctx context.Context, c kubernetes.Interface, ns, app string) (*AppStatus, error) {
	return appStatus(ctx, c, Live(c), ns, app)
}

// AppStatusWith is AppStatusOf judged with j, which a command kept its
// verdicts in (Options.Judge): what it judged already is not asked again.
// A nil j is a new one.
func AppStatusWith(ctx context.Context, c kubernetes.Interface, j *DriftJudge, ns, app string) (*AppStatus, error) {
	if j == nil {
		j = NewDriftJudge()
	}
	return appStatus(ctx, c, live{c, j}, ns, app)
}

// appStatus is AppStatusOf read with r.
func appStatus(ctx context.Context, c kubernetes.Interface, r Reader, ns, app string) (*AppStatus, error) {
	all, err := Statuses(ctx, c, r, ns, app)
	if err != nil {
		return nil, err
	}
	if len(all) == 0 {
		return nil, NoApp(ns, app)
	}
	return all[0], nil
}

// NoApp is the error for app not found in ns.
func NoApp(ns, app string) error {
	return NotFound("no app %s in namespace %s (no Deployment or revision of it); kubectl zz list shows the apps there", app, ns)
}

// AbsentNamespace says why a command found nothing in namespace ns where ns
// does not exist (a typo in -n, or another cluster's namespace): "namespace
// nosuch does not exist ...", said after its "not found". It is "" where ns
// exists or cannot be read: a developer may not get a namespace it holds no
// role in, and there absent and forbidden look alike, so nothing is claimed.
func AbsentNamespace(ctx context.Context, c kubernetes.Interface, ns string) string {
	if ns == metav1.NamespaceAll {
		return ""
	}
	if _, err := c.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		return ""
	}
	return "namespace " + ns + " does not exist (kubectl get namespaces lists them)"
}

// InAbsentNamespace is err with AbsentNamespace's sentence where err says
// that nothing was found in ns (ErrNoRevision) and ns does not exist.
func InAbsentNamespace(ctx context.Context, c kubernetes.Interface, ns string, err error) error {
	if !errors.Is(err, ErrNoRevision) {
		return err
	}
	if why := AbsentNamespace(ctx, c, ns); why != "" {
		return fmt.Errorf("%w; %s", err, why)
	}
	return err
}

// A Reader gives status what it reads most of: the apps' Deployments,
// their revision records (metadata only: labels and annotations) and pods,
// each selected by a label selector in ns (every namespace for
// metav1.NamespaceAll). Live reads them from the apiserver at each call;
// kubectl zz status --watch reads them from informers, so a change costs
// no new list of a busy namespace (a scale audit: 9 MB a read). Judge is
// the DriftJudge that keeps its judgements between reads.
type Reader interface {
	Deployments(ctx context.Context, ns, sel string) ([]appsv1.Deployment, error)
	Records(ctx context.Context, ns, sel string) ([]corev1.Secret, error)
	Pods(ctx context.Context, ns, sel string) ([]corev1.Pod, error)
	Judge() *DriftJudge
}

// Live is the Reader that lists from c at each call, with a judge of its
// own (kept as long as the Reader).
func Live(c kubernetes.Interface) Reader { return live{c, NewDriftJudge()} }

type live struct {
	c kubernetes.Interface
	j *DriftJudge
}

func (l live) Judge() *DriftJudge { return l.j }

// LiveUnjudged is Live without a DriftJudge: drift judged by managed-fields
// entry alone, asking no dry run, for a caller that reads no drift (whether
// an app is there).
func LiveUnjudged(c kubernetes.Interface) Reader { return live{c: c} }

func (l live) Deployments(ctx context.Context, ns, sel string) ([]appsv1.Deployment, error) {
	list, err := l.c.AppsV1().Deployments(ns).List(ctx, metav1.ListOptions{LabelSelector: sel})
	if err != nil {
		return nil, err
	}
	return list.Items, nil
}

func (l live) Records(ctx context.Context, ns, sel string) ([]corev1.Secret, error) {
	list, err := recordMetas(ctx, l.c, ns, sel)
	if err != nil {
		return nil, err
	}
	return list.Items, nil
}

func (l live) Pods(ctx context.Context, ns, sel string) ([]corev1.Pod, error) {
	list, err := l.c.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: sel})
	if err != nil {
		return nil, err
	}
	return list.Items, nil
}

// StatusSelectors are the label selectors status reads with: of the app's
// (every app's, when "") Deployments and revision records, and of its pods.
// kubectl zz status --watch watches the same objects.
func StatusSelectors(app string) (objects, pods string) {
	if app == "" {
		return StatusSelectorsOf(nil)
	}
	return StatusSelectorsOf([]string{app})
}

// StatusSelectorsOf are StatusSelectors of the apps named (every app's for
// none): `zz.io/app in (a,b)` for several, so status a b, or -l SEL, lists
// those apps' objects, not the namespace's (or cluster's) every one.
func StatusSelectorsOf(apps []string) (objects, pods string) {
	switch len(apps) {
	case 0:
		return contract.LabelK8sManagedBy + "=" + contract.ManagedBy, contract.LabelApp
	case 1:
		return appSelector(apps[0]), contract.LabelApp + "=" + apps[0]
	}
	pods = contract.LabelApp + " in (" + strings.Join(apps, ",") + ")"
	return pods + "," + contract.LabelK8sManagedBy + "=" + contract.ManagedBy, pods
}

// Statuses reads the apps of ns (every namespace for NamespaceAll; only
// app, when set), sorted by namespace and name: their Deployments, pods and
// revision records from r, the rest (HPAs, the app's other objects, why
// pods wait) from c.
func Statuses(ctx context.Context, c kubernetes.Interface, r Reader, ns, app string) ([]*AppStatus, error) {
	var apps []string
	if app != "" {
		apps = []string{app}
	}
	return StatusesOf(ctx, c, r, ns, apps, nil)
}

// StatusesOf is Statuses of the apps named (every app for none; read with
// StatusSelectorsOf them) that keep says yes to (every one when nil): only
// theirs are judged by content, so kubectl zz status a b, or -l SEL, in a
// namespace of 200 apps asks the dry runs of the apps it shows, not of 200,
// and lists their objects only.
func StatusesOf(ctx context.Context, c kubernetes.Interface, r Reader, ns string, apps []string, keep func(namespace, app string) bool) ([]*AppStatus, error) {
	kept := func(key string) bool {
		namespace, name, _ := strings.Cut(key, "/")
		return keep == nil || keep(namespace, name)
	}
	where := inNamespace(ns)
	sel, podSel := StatusSelectorsOf(apps)
	deps, err := r.Deployments(ctx, ns, sel)
	if err != nil {
		return nil, fmt.Errorf("list deployments %s: %w", where, err)
	}
	secrets, err := r.Records(ctx, ns, sel)
	unreadable := apierrors.IsForbidden(err)
	if unreadable {
		// A read-only user (the view role reads no Secrets) still sees how
		// the apps run, as kubectl get deployments shows them.
		secrets, err = nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list revision records %s: %w", where, err)
	}
	pods, err := r.Pods(ctx, ns, podSel)
	if err != nil {
		return nil, fmt.Errorf("list pods %s: %w", where, err)
	}
	// The Deployments an HPA scales (any HPA: kubectl zz leaves the
	// replicas to one it did not make), whose replicas are no drift; nil
	// when HPAs may not be listed: replicas are then not judged.
	var scaled map[string]bool
	hpas, hpaErr := c.AutoscalingV2().HorizontalPodAutoscalers(ns).List(ctx, metav1.ListOptions{})
	if hpaErr != nil {
		hpas = &autoscalingv2.HorizontalPodAutoscalerList{}
	} else {
		scaled = map[string]bool{}
		for _, h := range hpas.Items {
			if ref := h.Spec.ScaleTargetRef; ref.Kind == "Deployment" {
				scaled[h.Namespace+"/"+ref.Name] = true
			}
		}
	}
	// Every budget of the namespace: one need not be the app's to hold
	// its pods (BlockingBudgets); the app's own are its objects too.
	pdbs, pdbErr := c.PolicyV1().PodDisruptionBudgets(ns).List(ctx, metav1.ListOptions{})
	if pdbErr != nil {
		pdbs = &policyv1.PodDisruptionBudgetList{}
	}
	b := newBook(unreadable, scaled)
	b.records(secrets)
	b.podsByApp(pods)
	b.deployments(deps)
	// The app's other objects: a spec field another manager owns there is
	// drift too, which the next deploy takes back (takeBack). Without the
	// right to list a kind, its drift goes unreported.
	for _, k := range kinds {
		if k.kind == deploymentOps.kind {
			continue
		}
		var objs []metav1.Object
		var err error
		switch {
		case k.kind == hpaOps.kind:
			objs, err = selectedFrom(hpas.Items, hpaErr, sel) // listed once, above
		case k.kind == pdbOps.kind:
			objs, err = selectedFrom(pdbs.Items, pdbErr, sel)
		case k.whole == nil:
			// ConfigMaps and claims: only whether they are there (a
			// ConfigMap's data is the app's config files).
			objs, err = metaList(ctx, c, k, ns, sel)
		default:
			objs, err = k.list(ctx, c, ns, sel)
		}
		if apierrors.IsForbidden(err) {
			continue
		} else if err != nil {
			return nil, fmt.Errorf("list %ss %s: %w", strings.ToLower(k.kind), where, err)
		}
		b.objects(k, objs)
	}
	// The parts kubectl zz renders whole, judged by content as the next
	// deploy judges them (DriftJudge): reads and dry runs, so after the
	// book has said which objects are whose.
	b.wholes = slices.DeleteFunc(b.wholes, func(w wholeLive) bool { return !kept(w.key) })
	for i, v := range r.Judge().judgeAll(ctx, c, b.latest, b.wholes) {
		b.whole(b.wholes[i], v)
	}
	b.missing()
	// The apps a kubectl zz command is changing now (their locks), found
	// by name as the lock finds them, labelled or not: one app's read, a
	// namespace's listed whole (a few Leases); every namespace's by label
	// (kube-node-lease holds one a node). None said where Leases may not
	// be read.
	switch lopts := (metav1.ListOptions{}); {
	case len(apps) == 1 && ns != metav1.NamespaceAll:
		if l, err := c.CoordinationV1().Leases(ns).Get(ctx, LockName(apps[0]), metav1.GetOptions{}); err == nil {
			b.locks([]coordinationv1.Lease{*l}, time.Now())
		}
	default:
		if ns == metav1.NamespaceAll {
			lopts.LabelSelector = sel
		}
		if leases, err := c.CoordinationV1().Leases(ns).List(ctx, lopts); err == nil {
			b.locks(leases.Items, time.Now())
		}
	}
	problems, owners := b.pods(pods)
	b.zoneGaps(pods, zoneNodes(ctx, c, pods))
	b.budgets(pdbs.Items)
	// Why pods are not ready, from their events where their status says
	// too little.
	for ns, prs := range problems {
		ExplainStarting(ctx, c, ns, prs)
		for i, pr := range prs {
			owners[ns][i].Issues = append(owners[ns][i].Issues, PodIssue{Pod: pr.Pod, Reason: pr.Reason, Detail: pr.Detail})
		}
	}
	return slices.DeleteFunc(b.statuses(), func(st *AppStatus) bool { return !kept(st.Namespace + "/" + st.App) }), nil
}

// zoneNodes are the nodes with a zone the spread of pods is judged against
// (ZoneGapOf): read only when one of pods' apps has a spread to judge, nil
// when the user may not list nodes (a namespace's edit user may not):
// nothing is said then, rather than status failing.
func zoneNodes(ctx context.Context, c kubernetes.Interface, pods []corev1.Pod) []corev1.Node {
	if !NeedsNodes(pods) {
		return nil
	}
	list, err := c.CoreV1().Nodes().List(ctx, metav1.ListOptions{LabelSelector: render.ZoneTopologyKey})
	if err != nil {
		return nil
	}
	return list.Items
}

// endpoints are the addresses o (the app's Service or Ingress) serves it
// at: an Ingress's URLs (https with TLS), a Service's in-cluster host:port
// per port; none for other objects or another app's.
func endpoints(o metav1.Object, app string) []string {
	var out []string
	switch o := o.(type) {
	case *networkingv1.Ingress:
		tls := map[string]bool{}
		for _, t := range o.Spec.TLS {
			for _, h := range t.Hosts {
				tls[h] = true
			}
		}
		for _, r := range o.Spec.Rules {
			scheme := "http://"
			if tls[r.Host] {
				scheme = "https://"
			}
			if r.HTTP == nil {
				continue
			}
			for _, p := range r.HTTP.Paths {
				out = append(out, scheme+r.Host+p.Path)
			}
		}
	case *corev1.Service:
		if o.Name != app {
			return nil // a canary's Service: the app's own says where it answers
		}
		// From outside first, as kubectl get service shows EXTERNAL-IP
		// and PORT(S): a load balancer's addresses (<pending> until its
		// controller assigns one), a NodePort's port on any node.
		switch o.Spec.Type {
		case corev1.ServiceTypeLoadBalancer:
			addrs := []string{}
			for _, in := range o.Status.LoadBalancer.Ingress {
				addrs = append(addrs, cmp.Or(in.Hostname, in.IP))
			}
			if len(addrs) == 0 {
				addrs = append(addrs, "<pending>")
			}
			for _, a := range addrs {
				for _, p := range o.Spec.Ports {
					out = append(out, fmt.Sprintf("%s:%d", a, p.Port))
				}
			}
		case corev1.ServiceTypeNodePort:
			for _, p := range o.Spec.Ports {
				if p.NodePort != 0 {
					out = append(out, fmt.Sprintf("<node>:%d", p.NodePort))
				}
			}
		}
		for _, p := range o.Spec.Ports {
			out = append(out, fmt.Sprintf("%s.%s.svc:%d", o.Name, o.Namespace, p.Port))
		}
	}
	return out
}

// selectedFrom is what items (listed with err) holds matching sel.
func selectedFrom[T any, P interface {
	*T
	metav1.Object
}](items []T, err error, sel string) ([]metav1.Object, error) {
	if err != nil {
		return nil, err
	}
	s, err := labels.Parse(sel)
	if err != nil {
		return nil, err
	}
	var out []metav1.Object
	for i := range items {
		if o := P(&items[i]); s.Matches(labels.Set(o.GetLabels())) {
			out = append(out, o)
		}
	}
	return out, nil
}

// drift says how Deployment d (running r) differs from the latest
// revision (number rev, apply token): another token is an apply no record
// describes (records older than the token have none, and are not judged);
// a pod template field another manager owns was written outside kubectl
// zz. Its pod template is judged apart (DriftJudge). said tells whether a
// line says what r runs (runs), which an unfinished rollout says once;
// unrecorded, how many lines say an apply of kubectl zz no revision records.
func drift(d *appsv1.Deployment, r *Replicas, rev int64, token string, recorded bool, olderRev int64, judgeReplicas bool) (out []string, said bool, unrecorded int) {
	live := d.Annotations[contract.AnnotationApplyID]
	switch {
	case rev > 0 && token != "" && live != token && olderRev > 0 && r.RollingOut:
		out = append(out, fmt.Sprintf("deployment %s has the pod template of revision %d again, not revision %d's: kubectl rollout undo, or another writer, put it back; %s",
			d.Name, olderRev, rev, runs(r, "")))
		said = true
	case rev > 0 && token != "" && live != token && olderRev > 0:
		// kubectl rollout undo puts an older ReplicaSet's template back,
		// with that ReplicaSet's annotations, the token among them.
		out = append(out, fmt.Sprintf("deployment %s runs the pod template of revision %d (%s), not revision %d: kubectl rollout undo, or another writer, put it back",
			d.Name, olderRev, running(d), rev))
		said = true
	case rev > 0 && token != "" && live != token:
		out = append(out, fmt.Sprintf("deployment %s was applied by a kubectl zz command that recorded no revision (one under way, or one that failed or stopped); %s",
			d.Name, runs(r, fmt.Sprintf(", not revision %d", rev))))
		said, unrecorded = true, 1
	case !recorded && live != "":
		// The app's first deploy applied it and never recorded: its
		// rollout failed, or it was stopped, or it is still under way.
		out = append(out, fmt.Sprintf("deployment %s was applied by a kubectl zz command that recorded no revision (one under way, or one that failed or stopped), and no revision of the app is recorded: kubectl zz deploy records one once its rollout completes", d.Name))
		unrecorded = 1
	}
	// A hand kubectl scale, where no HPA scales the Deployment (kubectl zz
	// leaves the replicas to one: its writes, or a hand scale beside it,
	// are nothing a deploy would take back).
	if e := leafEntry(d.ManagedFields, "spec", "replicas"); judgeReplicas && e != nil {
		out = append(out, fmt.Sprintf("deployment %s: its replicas (%d) were set%s, outside kubectl zz (kubectl zz scale sets and records them)",
			d.Name, ptr.Deref(d.Spec.Replicas, 1), writtenBy(e)))
	}
	if d.Spec.Paused {
		out = append(out, fmt.Sprintf("deployment %s is paused%s: no new pod template rolls out (kubectl rollout resume deployment/%s -n %s)",
			d.Name, leafWriter(d.ManagedFields, "spec", "paused"), d.Name, d.Namespace))
	}
	return out, said, unrecorded
}

// metaList lists the app's objects of kind k (a core kind) with their
// metadata only; a client with no REST client (unit tests' fakes) lists
// them whole.
func metaList(ctx context.Context, c kubernetes.Interface, k kindOps, ns, sel string) ([]metav1.Object, error) {
	metas, ok, err := partialList(ctx, c, strings.ToLower(k.kind)+"s", ns, metav1.ListOptions{LabelSelector: sel})
	if !ok {
		return k.list(ctx, c, ns, sel)
	}
	if err != nil {
		return nil, err
	}
	out := make([]metav1.Object, len(metas.Items))
	for i := range metas.Items {
		out[i] = &metas.Items[i]
	}
	return out, nil
}

// recordMetas lists the revision records sel selects with their metadata
// only (a PartialObjectMetadataList, as kubectl get -o name asks for):
// status reads their labels and annotations, and a record's data (every
// rendered object, gzip) is most of its bytes (a scale audit: 19 × less on
// big records). A client with no REST client (unit tests' fakes) lists
// them whole.
func recordMetas(ctx context.Context, c kubernetes.Interface, ns, sel string) (*corev1.SecretList, error) {
	opts := metav1.ListOptions{LabelSelector: sel, FieldSelector: "type=" + contract.SecretTypeRevision}
	metas, ok, err := partialList(ctx, c, "secrets", ns, opts)
	if !ok {
		return c.CoreV1().Secrets(ns).List(ctx, opts)
	}
	if err != nil {
		return nil, err
	}
	list := &corev1.SecretList{Items: make([]corev1.Secret, len(metas.Items))}
	for i := range metas.Items {
		list.Items[i] = corev1.Secret{ObjectMeta: metas.Items[i].ObjectMeta, Type: contract.SecretTypeRevision}
	}
	return list, nil
}

// partialList lists a core resource's objects as metadata only; ok is
// false for a client with no REST client (unit tests' fakes).
func partialList(ctx context.Context, c kubernetes.Interface, resource, ns string, opts metav1.ListOptions) (_ *metav1.PartialObjectMetadataList, ok bool, _ error) {
	rc, ok := c.CoreV1().RESTClient().(*rest.RESTClient)
	if !ok || rc == nil {
		return nil, false, nil
	}
	raw, err := rc.Get().NamespaceIfScoped(ns, ns != "").Resource(resource).
		VersionedParams(&opts, scheme.ParameterCodec).
		SetHeader("Accept", "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1").
		DoRaw(ctx)
	if err != nil {
		return nil, true, err
	}
	var metas metav1.PartialObjectMetadataList
	if err := json.Unmarshal(raw, &metas); err != nil {
		return nil, true, fmt.Errorf("decode the %s' metadata: %w", resource, err)
	}
	return &metas, true, nil
}

// deploymentReplicas is what Deployment d runs, with rs its rollout
// status and pods the app's (servingVersions).
func deploymentReplicas(d *appsv1.Deployment, rs Status, pods []*corev1.Pod) *Replicas {
	r := &Replicas{Name: d.Name, Version: runningVersion(d), Ready: d.Status.ReadyReplicas, Desired: rs.Want, Image: appImage(d),
		Updated: d.Status.UpdatedReplicas, Serving: servingVersions(d, pods), Unobserved: !rs.Observed}
	r.RollingOut = rollingOut(rs, r)
	return r
}

// appImage is the image of d's app container (render.ContainerName), or of
// its first container when none has that name.
func appImage(d *appsv1.Deployment) string {
	img := ""
	for _, c := range d.Spec.Template.Spec.Containers {
		if c.Name == render.ContainerName || img == "" {
			img = c.Image
		}
	}
	return img
}
