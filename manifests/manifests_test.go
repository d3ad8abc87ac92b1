// Package manifests holds no Go code: its tests keep the install files
// consistent with each other and with the contract where a server dry-run
// cannot (hack/verify-manifests.sh checks them against a real apiserver, the
// e2e suite installs them).
package manifests

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"github.com/zzcloud/zz/internal/contract"
	"github.com/zzcloud/zz/webhook/certgen"
)

// docs reads a multi-document YAML file.
func docs(t *testing.T, path string) [][]byte {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	for _, d := range strings.Split("\n"+string(raw), "\n---\n") {
		if strings.TrimSpace(d) != "" {
			out = append(out, []byte(d))
		}
	}
	return out
}

// object decodes the document of that kind and name in path into out.
func object(t *testing.T, path, kind, name string, out any) {
	t.Helper()
	for _, d := range docs(t, path) {
		var meta struct {
			Kind     string `json:"kind"`
			Metadata struct {
				Name string `json:"name"`
			} `json:"metadata"`
		}
		if err := yaml.Unmarshal(d, &meta); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if meta.Kind == kind && (name == "" || meta.Metadata.Name == name) {
			if err := yaml.Unmarshal(d, out); err != nil {
				t.Fatalf("%s: %s %s: %v", path, kind, name, err)
			}
			return
		}
	}
	t.Fatalf("%s has no %s %s", path, kind, name)
}

// TestDefaultSchedulerExtenders keeps the documented entry for the default
// scheduler equal to the zz-scheduler's, but for where the extender is, and
// its zz-scheduler profile's plugins equal to the Deployment's.
func TestDefaultSchedulerExtenders(t *testing.T) {
	type config struct {
		Profiles []struct {
			SchedulerName string         `json:"schedulerName"`
			Plugins       map[string]any `json:"plugins"`
		} `json:"profiles"`
		Extenders []map[string]any `json:"extenders"`
	}
	var zz, def config
	object(t, "scheduler/zz-scheduler-config.yaml", "KubeSchedulerConfiguration", "", &zz)
	object(t, "scheduler/default-scheduler-extender.yaml", "KubeSchedulerConfiguration", "", &def)
	if len(zz.Extenders) == 0 || len(def.Extenders) != len(zz.Extenders) {
		t.Fatalf("%d extenders for the default scheduler, %d for zz-scheduler", len(def.Extenders), len(zz.Extenders))
	}
	for i := range zz.Extenders {
		a, b := zz.Extenders[i], def.Extenders[i]
		if u, _ := b["urlPrefix"].(string); !strings.HasPrefix(u, "http://127.0.0.1:") {
			t.Errorf("default scheduler extender %d calls %q; the verbs must stay on loopback", i, u)
		}
		delete(a, "urlPrefix")
		delete(b, "urlPrefix")
		if !reflect.DeepEqual(a, b) {
			t.Errorf("extender %d differs:\n zz-scheduler:      %v\n default scheduler: %v", i, a, b)
		}
	}
	var names []string
	for _, p := range def.Profiles {
		names = append(names, p.SchedulerName)
		if p.SchedulerName == contract.SchedulerName && (len(zz.Profiles) != 1 || !reflect.DeepEqual(p.Plugins, zz.Profiles[0].Plugins)) {
			t.Errorf("the default scheduler's %s profile plugins %v differ from zz-scheduler-config.yaml's", p.SchedulerName, p.Plugins)
		}
	}
	if !slices.Contains(names, contract.SchedulerName) || !slices.Contains(names, "default-scheduler") {
		t.Errorf("default scheduler profiles %v: want default-scheduler and %s (the webhook routes GPU pods to it)", names, contract.SchedulerName)
	}
}

// TestGPUExtenderEntries: the GPU extender is two entries. The one that
// filters, scores and preempts manages exactly the contract's scheduler-only
// resources, each ignored by the scheduler's own fit check, which would
// otherwise leave every GPU pod Pending (no node advertises them). The one
// that binds does nothing else (so its long timeout holds no scheduling
// loop), is the only binder, manages only zz.io/gpu (kube-scheduler sends it
// the pods asking for that; the device plugin advertises it, so the fit
// check counts it) and is not ignorable (a failed bind would fall through
// to the default binder, which chooses no cards). The default scheduler's
// entries equal these (TestDefaultSchedulerExtenders).
func TestGPUExtenderEntries(t *testing.T) {
	type managed struct {
		Name               string `json:"name"`
		IgnoredByScheduler bool   `json:"ignoredByScheduler"`
	}
	var cfg struct {
		Extenders []struct {
			FilterVerb       string    `json:"filterVerb"`
			PrioritizeVerb   string    `json:"prioritizeVerb"`
			PreemptVerb      string    `json:"preemptVerb"`
			BindVerb         string    `json:"bindVerb"`
			Ignorable        bool      `json:"ignorable"`
			ManagedResources []managed `json:"managedResources"`
		} `json:"extenders"`
	}
	object(t, "scheduler/zz-scheduler-config.yaml", "KubeSchedulerConfiguration", "", &cfg)
	filters, binders := 0, 0
	for _, e := range cfg.Extenders {
		switch {
		case e.FilterVerb == "gpu/filter":
			filters++
			want := []managed{{string(contract.ResourceGPUMem), true}, {string(contract.ResourceGPUMemTotal), true}}
			if got := slices.SortedFunc(slices.Values(e.ManagedResources), func(a, b managed) int { return strings.Compare(a.Name, b.Name) }); !slices.Equal(got, want) {
				t.Errorf("the GPU filter entry manages %+v; want the scheduler-only resources, ignored by the scheduler: %+v", got, want)
			}
			if e.BindVerb != "" || e.Ignorable || e.PreemptVerb != "gpu/preempt" || e.PrioritizeVerb != "gpu/prioritize" {
				t.Errorf("the GPU filter entry: %+v; want prioritize and preempt, no bind, not ignorable", e)
			}
		case e.BindVerb != "":
			binders++
			if want := []managed{{Name: string(contract.ResourceGPU)}}; e.BindVerb != "gpu/bind" || !slices.Equal(e.ManagedResources, want) {
				t.Errorf("the binding entry binds with %q and manages %+v; want gpu/bind and %+v", e.BindVerb, e.ManagedResources, want)
			}
			if e.FilterVerb != "" || e.PrioritizeVerb != "" || e.PreemptVerb != "" || e.Ignorable {
				t.Errorf("the GPU bind entry: %+v; want the bind verb alone, not ignorable", e)
			}
		}
	}
	if filters != 1 || binders != 1 {
		t.Fatalf("%d GPU filter entries and %d binding entries; want one of each", filters, binders)
	}
}

// TestCertgenJobAndCronJob keeps the install-time Job and the renewing
// CronJob running the same pod.
func TestCertgenJobAndCronJob(t *testing.T) {
	const f = "overlays/self-signed/certgen.yaml"
	var job batchv1.Job
	object(t, f, "Job", "zz-webhook-certgen", &job)
	var cron batchv1.CronJob
	object(t, f, "CronJob", "zz-webhook-certgen", &cron)
	if !reflect.DeepEqual(job.Spec, cron.Spec.JobTemplate.Spec) {
		t.Fatalf("the Job and the CronJob's job template differ:\n%+v\n%+v", job.Spec, cron.Spec.JobTemplate.Spec)
	}
	args := job.Spec.Template.Spec.Containers[0].Args
	if len(args) == 0 || args[0] != "certgen" {
		t.Fatalf("args %v do not run zz-webhook certgen", args)
	}
}

// TestWebhookCertificateNames keeps both overlays' certificates for the
// names the apiserver dials, in the Secret the webhook mounts.
func TestWebhookCertificateNames(t *testing.T) {
	var svc corev1.Service
	object(t, "webhook/webhook.yaml", "Service", "zz-webhook", &svc)
	var dep appsv1.Deployment
	object(t, "webhook/webhook.yaml", "Deployment", "zz-webhook", &dep)
	secret := dep.Spec.Template.Spec.Volumes[0].Secret.SecretName
	want := certgen.DNSNames(svc.Name, svc.Namespace, "cluster.local")

	var cert struct {
		Metadata struct{ Name, Namespace string }
		Spec     struct {
			SecretName string   `json:"secretName"`
			DNSNames   []string `json:"dnsNames"`
		}
	}
	object(t, "overlays/cert-manager/certificate.yaml", "Certificate", "zz-webhook", &cert)
	if !slices.Equal(cert.Spec.DNSNames, want) || cert.Spec.SecretName != secret {
		t.Errorf("cert-manager Certificate for %v in %s; want %v in %s", cert.Spec.DNSNames, cert.Spec.SecretName, want, secret)
	}
	kust, err := os.ReadFile("overlays/cert-manager/kustomization.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if inject := "cert-manager.io/inject-ca-from: " + cert.Metadata.Namespace + "/" + cert.Metadata.Name; !strings.Contains(string(kust), inject) {
		t.Errorf("overlays/cert-manager does not annotate the webhook configuration with %q", inject)
	}

	var job batchv1.Job
	object(t, "overlays/self-signed/certgen.yaml", "Job", "zz-webhook-certgen", &job)
	var mwc admissionregistrationv1.MutatingWebhookConfiguration
	object(t, "webhook/webhook.yaml", "MutatingWebhookConfiguration", "", &mwc)
	args := strings.Join(job.Spec.Template.Spec.Containers[0].Args, " ")
	for _, a := range []string{"--secret=" + secret, "--service=" + svc.Name, "--mutating-webhook-configuration=" + mwc.Name} {
		if !strings.Contains(args, a) {
			t.Errorf("certgen args %q lack %s", args, a)
		}
	}
	if job.Namespace != svc.Namespace || mwc.Webhooks[0].ClientConfig.Service.Name != svc.Name {
		t.Errorf("certgen runs in %s for Service %s/%s called as %s", job.Namespace, svc.Namespace, svc.Name, mwc.Webhooks[0].ClientConfig.Service.Name)
	}
}

// TestDevicePluginDaemonSet checks what the DaemonSet must keep: the
// contract's node label, the kubelet's folder where the plugin looks for it,
// the health port it serves, and the security settings README explains.
func TestDevicePluginDaemonSet(t *testing.T) {
	var ds appsv1.DaemonSet
	object(t, "deviceplugin/daemonset.yaml", "DaemonSet", "zz-device-plugin", &ds)
	spec := ds.Spec.Template.Spec
	if spec.NodeSelector[contract.LabelGPUNode] != "true" || len(spec.NodeSelector) != 1 {
		t.Errorf("node selector %v; want %s=true", spec.NodeSelector, contract.LabelGPUNode)
	}
	if !spec.HostPID || spec.HostNetwork || spec.PriorityClassName != "system-node-critical" {
		t.Errorf("hostPID %v hostNetwork %v priority %q", spec.HostPID, spec.HostNetwork, spec.PriorityClassName)
	}
	if !slices.ContainsFunc(spec.Tolerations, func(tl corev1.Toleration) bool {
		return tl.Key == "nvidia.com/gpu" && tl.Operator == corev1.TolerationOpExists && tl.Effect == corev1.TaintEffectNoSchedule
	}) {
		t.Errorf("no toleration for nvidia.com/gpu:NoSchedule: %v", spec.Tolerations)
	}
	c := spec.Containers[0]
	sc := c.SecurityContext
	if sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation ||
		sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) ||
		// KILL alone, for --over-request=kill on non-root pods' processes.
		!slices.Equal(sc.Capabilities.Add, []corev1.Capability{"KILL"}) ||
		(sc.Privileged != nil && *sc.Privileged) {
		t.Errorf("container security context %+v", sc)
	}
	args := map[string]string{}
	for _, a := range c.Args {
		k, v, _ := strings.Cut(a, "=")
		args[k] = v
	}
	if v := spec.Volumes[0].HostPath; v == nil || v.Path != args["--device-plugin-dir"] || c.VolumeMounts[0].MountPath != args["--device-plugin-dir"] {
		t.Errorf("--device-plugin-dir=%s, hostPath %+v mounted at %s", args["--device-plugin-dir"], v, c.VolumeMounts[0].MountPath)
	}
	if args["--health-address"] != ":8892" || c.Ports[0].ContainerPort != 8892 ||
		c.LivenessProbe.HTTPGet.Path != "/healthz" || c.ReadinessProbe.HTTPGet.Path != "/readyz" {
		t.Errorf("health on %s, port %d, probes %+v %+v", args["--health-address"], c.Ports[0].ContainerPort, c.LivenessProbe, c.ReadinessProbe)
	}
	var ns corev1.Namespace
	object(t, "deviceplugin/namespace.yaml", "Namespace", ds.Namespace, &ns)
	if ns.Labels["pod-security.kubernetes.io/enforce"] != "privileged" {
		t.Errorf("namespace %s enforces %q; hostPID and hostPath need privileged", ns.Name, ns.Labels["pod-security.kubernetes.io/enforce"])
	}
}

// TestWebhookFollowsSchedulerLease: the webhook's --scheduler-lease default
// (contract.SystemNamespace/contract.SchedulerName) is the Lease zz-scheduler
// elects its leader on, and its Role may watch Leases there; otherwise the
// webhook would see zz-scheduler down for good (or never) and send every pod
// the policy routes there to the default scheduler.
func TestWebhookFollowsSchedulerLease(t *testing.T) {
	var cfg struct {
		LeaderElection struct {
			LeaderElect       bool   `json:"leaderElect"`
			ResourceNamespace string `json:"resourceNamespace"`
			ResourceName      string `json:"resourceName"`
		} `json:"leaderElection"`
	}
	object(t, "scheduler/zz-scheduler-config.yaml", "KubeSchedulerConfiguration", "", &cfg)
	le := cfg.LeaderElection
	if !le.LeaderElect || le.ResourceNamespace != contract.SystemNamespace || le.ResourceName != contract.SchedulerName {
		t.Errorf("zz-scheduler elects its leader on %+v; the webhook follows the Lease %s/%s", le, contract.SystemNamespace, contract.SchedulerName)
	}
	// (The chart renders the same Role: hack/tools/helm's TestChartEqualsKustomize.)
	for _, path := range []string{"webhook/rbac.yaml"} {
		var role struct {
			Metadata struct{ Namespace string } `json:"metadata"`
			Rules    []struct {
				APIGroups []string `json:"apiGroups"`
				Resources []string `json:"resources"`
				Verbs     []string `json:"verbs"`
			} `json:"rules"`
		}
		object(t, path, "Role", "zz-webhook", &role)
		ok := false
		for _, r := range role.Rules {
			ok = ok || (slices.Contains(r.APIGroups, "coordination.k8s.io") && slices.Contains(r.Resources, "leases") &&
				slices.Contains(r.Verbs, "list") && slices.Contains(r.Verbs, "watch"))
		}
		if role.Metadata.Namespace != contract.SystemNamespace || !ok {
			t.Errorf("%s: Role zz-webhook in %q may not list and watch leases in %s", path, role.Metadata.Namespace, contract.SystemNamespace)
		}
	}
}

// TestRecommendedLabels keeps the kustomize sources labelled the one safe
// way: a leaf kustomization (its resources are files) labels its own objects
// with a labels transformer that reaches neither selectors nor pod templates
// (a Deployment's or DaemonSet's spec.selector is immutable: a new label
// there breaks every upgrade); an overlay or a Component, whose transformer
// would also relabel everything it includes, labels its own files' objects
// inline. Either way every object gets app.kubernetes.io/part-of=zz and a
// component. (hack/tools/helm's TestRecommendedLabels checks the rendered
// overlays and the Helm chart.)
func TestRecommendedLabels(t *testing.T) {
	type labelsEntry struct {
		Pairs            map[string]string `json:"pairs"`
		IncludeSelectors *bool             `json:"includeSelectors"`
		IncludeTemplates *bool             `json:"includeTemplates"`
	}
	type kustomization struct {
		Kind      string        `json:"kind"`
		Resources []string      `json:"resources"`
		Labels    []labelsEntry `json:"labels"`
		// commonLabels reaches selectors: never.
		CommonLabels       map[string]string `json:"commonLabels"`
		ConfigMapGenerator []struct {
			Name    string `json:"name"`
			Options struct {
				Labels map[string]string `json:"labels"`
			} `json:"options"`
		} `json:"configMapGenerator"`
	}
	labelled := func(l map[string]string) bool {
		return l["app.kubernetes.io/part-of"] == "zz" && l["app.kubernetes.io/component"] != ""
	}
	var dirs []string
	for _, pattern := range []string{"*/kustomization.yaml", "*/*/kustomization.yaml"} {
		m, err := filepath.Glob(pattern)
		if err != nil {
			t.Fatal(err)
		}
		dirs = append(dirs, m...)
	}
	if len(dirs) < 10 {
		t.Fatalf("only %d kustomizations found: %v", len(dirs), dirs)
	}
	for _, kf := range dirs {
		dir := strings.TrimSuffix(kf, "/kustomization.yaml")
		raw, err := os.ReadFile(kf)
		if err != nil {
			t.Fatal(err)
		}
		var k kustomization
		if err := yaml.Unmarshal(raw, &k); err != nil {
			t.Fatalf("%s: %v", kf, err)
		}
		if k.CommonLabels != nil {
			t.Errorf("%s: commonLabels change selectors; use labels with includeSelectors: false", kf)
		}
		var files []string
		includes := false
		for _, r := range k.Resources {
			if st, err := os.Stat(dir + "/" + r); err == nil && st.IsDir() {
				includes = true
			} else {
				files = append(files, dir+"/"+r)
			}
		}
		transformer := false
		for _, l := range k.Labels {
			if l.IncludeSelectors == nil || *l.IncludeSelectors || l.IncludeTemplates == nil || *l.IncludeTemplates {
				t.Errorf("%s: labels %v without includeSelectors: false and includeTemplates: false", kf, l.Pairs)
			}
			if includes || k.Kind == "Component" {
				t.Errorf("%s: a labels transformer here also relabels what it includes; label its own objects inline", kf)
			}
			transformer = transformer || labelled(l.Pairs)
		}
		if transformer {
			continue
		}
		for _, g := range k.ConfigMapGenerator {
			if !labelled(g.Options.Labels) {
				t.Errorf("%s: ConfigMap %s: options.labels %v lack part-of=zz and a component", kf, g.Name, g.Options.Labels)
			}
		}
		for _, f := range files {
			for _, d := range docs(t, f) {
				var o struct {
					Kind     string `json:"kind"`
					Metadata struct {
						Name   string            `json:"name"`
						Labels map[string]string `json:"labels"`
					} `json:"metadata"`
				}
				if err := yaml.Unmarshal(d, &o); err != nil {
					t.Fatalf("%s: %v", f, err)
				}
				if o.Kind != "" && !labelled(o.Metadata.Labels) {
					t.Errorf("%s: %s %s: labels %v lack part-of=zz and a component", f, o.Kind, o.Metadata.Name, o.Metadata.Labels)
				}
			}
		}
	}
}

// TestSchedulerProfileWeighsPreferencesAboveBalance keeps what a
// kube-scheduler audit found missing: the balance extender (up to weight x
// 10 x MaxExtenderPriority points a node) never outweighs a preference the
// pod states at full strength (NodeAffinity, InterPodAffinity,
// PodTopologySpread: 100 x their weight), a load-aware score spreads pods
// while the extender does not answer (it is ignorable), and a hung extender
// costs every pod at most a second.
func TestSchedulerProfileWeighsPreferencesAboveBalance(t *testing.T) {
	type plugin struct {
		Name   string `json:"name"`
		Weight int    `json:"weight"`
	}
	var cfg struct {
		Profiles []struct {
			Plugins struct {
				Score struct {
					Enabled  []plugin `json:"enabled"`
					Disabled []plugin `json:"disabled"`
				} `json:"score"`
			} `json:"plugins"`
		} `json:"profiles"`
		Extenders []struct {
			PrioritizeVerb string `json:"prioritizeVerb"`
			BindVerb       string `json:"bindVerb"`
			Weight         int    `json:"weight"`
			HTTPTimeout    string `json:"httpTimeout"`
		} `json:"extenders"`
	}
	object(t, "scheduler/zz-scheduler-config.yaml", "KubeSchedulerConfiguration", "", &cfg)
	const maxNodeScore, maxExtenderPriority = 100, 10
	balance := -1
	for _, e := range cfg.Extenders {
		d, err := time.ParseDuration(e.HTTPTimeout)
		if e.PrioritizeVerb == "gpu/prioritize" && (err != nil || d > 3*time.Second || d < time.Second) {
			t.Errorf("GPU extender httpTimeout %q: want 1s to 3s (a hung extender holds the scheduling loop that long for every GPU pod; a call takes milliseconds)", e.HTTPTimeout)
		}
		if e.BindVerb != "" && (err != nil || d < 10*time.Second) {
			t.Errorf("GPU bind httpTimeout %q: want at least 10s (a bind cut off while its Binding lands leaves the pod's cards in doubt; it holds no scheduling loop)", e.HTTPTimeout)
		}
		if e.PrioritizeVerb == "balance/prioritize" {
			balance = e.Weight * maxExtenderPriority * (maxNodeScore / maxExtenderPriority)
			if d, err := time.ParseDuration(e.HTTPTimeout); err != nil || d > time.Second {
				t.Errorf("balance extender httpTimeout %q: want at most 1s (a hung extender holds the scheduling loop that long for every pod)", e.HTTPTimeout)
			}
		}
	}
	if balance < 0 || len(cfg.Profiles) != 1 {
		t.Fatalf("no balance extender or not one profile: %+v", cfg)
	}
	weights := map[string]int{}
	for _, p := range cfg.Profiles[0].Plugins.Score.Enabled {
		weights[p.Name] = p.Weight
	}
	for _, name := range []string{"NodeAffinity", "InterPodAffinity", "PodTopologySpread"} {
		if w := weights[name]; w*maxNodeScore <= balance {
			t.Errorf("%s weight %d (%d points) does not outweigh the balance extender's %d", name, w, w*maxNodeScore, balance)
		}
	}
	if weights["NodeResourcesFit"] < 1 || slices.ContainsFunc(cfg.Profiles[0].Plugins.Score.Disabled, func(p plugin) bool { return p.Name == "NodeResourcesFit" }) {
		t.Errorf("NodeResourcesFit's score is off: with the balance extender down every pod goes to the same node")
	}
}
