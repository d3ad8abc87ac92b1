package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	k8sversion "k8s.io/apimachinery/pkg/version"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	fakediscovery "k8s.io/client-go/discovery/fake"
	clienttesting "k8s.io/client-go/testing"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"

	"github.com/zzcloud/zz/internal/contract"
	"github.com/zzcloud/zz/internal/version"
)

func TestVersion(t *testing.T) {
	tests := []struct {
		output  string
		check   func(t *testing.T, out string)
		wantErr string
	}{
		{output: "", check: func(t *testing.T, out string) {
			if !strings.HasPrefix(out, "kubectl-zz ") {
				t.Errorf("plain output = %q", out)
			}
		}},
		{output: "json", check: func(t *testing.T, out string) {
			var info version.Info
			if err := json.Unmarshal([]byte(out), &info); err != nil || info.GoVersion == "" {
				t.Errorf("json output %q: %v", out, err)
			}
		}},
		{output: "yaml", check: func(t *testing.T, out string) {
			var info version.Info
			if err := yaml.Unmarshal([]byte(out), &info); err != nil || info.Platform == "" {
				t.Errorf("yaml output %q: %v", out, err)
			}
		}},
		{output: "jsonpath={.gitVersion}", check: func(t *testing.T, out string) {
			if out != version.Get().GitVersion {
				t.Errorf("jsonpath output = %q", out)
			}
		}},
		{output: "table", wantErr: `--output "table" is not supported`},
	}
	for _, tt := range tests {
		t.Run("output="+tt.output, func(t *testing.T) {
			streams, _, out, errOut := genericiooptions.NewTestIOStreams()
			root := NewCmdZZ(streams)
			args := []string{"version", "--client"}
			if tt.output != "" {
				args = append(args, "-o", tt.output)
			}
			root.SetArgs(args)
			err := root.Execute()
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("err = %v, stderr %s", err, errOut)
			}
			tt.check(t, out.String())
		})
	}
}

func TestCompletionCommand(t *testing.T) {
	streams, _, out, _ := genericiooptions.NewTestIOStreams()
	root := NewCmdZZ(streams)
	root.SetArgs([]string{"completion", "bash"})
	if err := root.Execute(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "complete -o default -F __start_kubectl-zz kubectl-zz") {
		t.Fatalf("bash completion does not mention the command:\n%.300s", out.String())
	}
}

// TestVersionClusters: without --client, each cluster's Kubernetes version
// and the zz components installed there (found by their part-of label,
// cluster-wide), a release skew called out; an unreachable cluster fails
// the command after the rest is printed.
func TestVersionClusters(t *testing.T) {
	part := map[string]string{contract.LabelK8sPartOf: contract.PartOf}
	pod := func(images ...string) corev1.PodTemplateSpec {
		var cs []corev1.Container
		for i, img := range images {
			cs = append(cs, corev1.Container{Name: fmt.Sprint("c", i), Image: img})
		}
		return corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: cs}}
	}
	a := fakeClient(
		&appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "zz-scheduler", Namespace: "zz-system", Labels: part},
			Spec:   appsv1.DeploymentSpec{Replicas: ptr.To[int32](2), Template: pod("registry.k8s.io/kube-scheduler:v1.37.2", "zzcloud/zz-extender:v0.9.0@sha256:ab")},
			Status: appsv1.DeploymentStatus{ReadyReplicas: 2}},
		&appsv1.DaemonSet{ObjectMeta: metav1.ObjectMeta{Name: "zz-device-plugin", Namespace: "zz-device-plugin", Labels: part},
			Spec: appsv1.DaemonSetSpec{Template: pod("zzcloud/zz-device-plugin:v1.0.0")}, Status: appsv1.DaemonSetStatus{DesiredNumberScheduled: 3, NumberReady: 1}},
		// An app's Deployment is no component.
		fakeDeployment("zz-system", "shop", "shop", "1", 1, 1),
		// Nor a tenant's labelled as zz's in its own namespace (a
		// hostile-tenant audit).
		&appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "zz-webhook", Namespace: "team-a", Labels: part},
			Spec: appsv1.DeploymentSpec{Template: pod("evil.example/zz-webhook:v9")}},
	)
	a.Discovery().(*fakediscovery.FakeDiscovery).FakedServerVersion = &k8sversion.Info{GitVersion: "v1.37.2"}
	b := fakeClient()
	b.Discovery().(*fakediscovery.FakeDiscovery).FakedServerVersion = &k8sversion.Info{GitVersion: "v1.36.0"}
	zz := withFakeClusters(t, a, b)

	out, _, err := zz("version", "--context", "a,b")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Cluster a: Kubernetes v1.37.2", "zz-device-plugin zz-device-plugin DaemonSet 1/3 zzcloud/zz-device-plugin:v1.0.0",
		"zz-system zz-scheduler Deployment 2/2 zzcloud/zz-extender:v0.9.0@sha256:ab", "Cluster b: Kubernetes v1.36.0", "no zz components installed"} {
		if !strings.Contains(squashSpaces(out), want) {
			t.Errorf("version lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "shop") || strings.Contains(out, "team-a") {
		t.Errorf("an app's or a tenant's Deployment listed as a component:\n%s", out)
	}
	out, _, err = zz("version", "--context", "a", "-o", "jsonpath={.clusters[0].components[*].name} {.clusters[0].kubernetesVersion}")
	if err != nil || out != "zz-device-plugin zz-scheduler v1.37.2" {
		t.Errorf("-o jsonpath: %v, %q", err, out)
	}

	comps := []component{{Images: []string{"registry.k8s.io/kube-scheduler:v1.37.2", "zzcloud/zz-extender:v0.9.0@sha256:ab"}}, {Images: []string{"zzcloud/zz-webhook:v1.0.0"}}}
	if got := skew("v1.0.0", comps); !slices.Equal(got, []string{"zzcloud/zz-extender:v0.9.0@sha256:ab"}) {
		t.Errorf("skew = %q", got)
	}
	if got := skew("v1.0.0-3-gabcdef", comps); got != nil {
		t.Errorf("a development build judged skew: %q", got)
	}

	// Without the right to list cluster-wide: both namespaces manifests/
	// installs into, each as far as the user may list it; one not readable
	// is said once on stderr, as what it is (review 15).
	forbidden := map[string]bool{}
	a.PrependReactor("list", "*", func(act clienttesting.Action) (bool, runtime.Object, error) {
		ns := act.GetNamespace()
		if !forbidden[ns] {
			return false, nil, nil
		}
		return true, nil, apierrors.NewForbidden(schema.GroupResource{Group: "apps", Resource: act.GetResource().Resource}, "", fmt.Errorf(`User "dev" cannot list resource %q in API group "apps" in the namespace %q`, act.GetResource().Resource, ns))
	})
	for _, tt := range []struct {
		name      string
		forbidden []string // besides the cluster-wide list
		listed    []string // rows of the table
		unlisted  string   // a row not shown
		warning   string   // stderr's one line's start; "" for none
	}{
		{name: "both namespaces readable", listed: []string{"zz-device-plugin zz-device-plugin DaemonSet 1/3", "zz-system zz-scheduler Deployment 2/2"}},
		{name: "the device plugin's namespace not readable", forbidden: []string{"zz-device-plugin"},
			listed: []string{"zz-system zz-scheduler Deployment 2/2"}, unlisted: "DaemonSet",
			warning: `warning: cluster: the device plugin's namespace zz-device-plugin is not readable: deployments.apps is forbidden: User "dev" cannot list resource "deployments" in API group "apps" in the namespace "zz-device-plugin"`},
		{name: "zz's namespace not readable", forbidden: []string{"zz-system"},
			listed: []string{"zz-device-plugin zz-device-plugin DaemonSet 1/3"}, unlisted: "Deployment",
			warning: `warning: cluster: zz's namespace zz-system is not readable: deployments.apps is forbidden`},
		{name: "neither readable", forbidden: []string{"zz-system", "zz-device-plugin"}, unlisted: "zz-scheduler",
			warning: `warning: cluster: cannot list the zz components: zz's namespace zz-system is not readable: deployments.apps is forbidden`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			clear(forbidden)
			forbidden[metav1.NamespaceAll] = true
			for _, ns := range tt.forbidden {
				forbidden[ns] = true
			}
			out, errOut, err := zz("version", "--context", "a")
			if err != nil {
				t.Fatal(err)
			}
			for _, row := range tt.listed {
				if !strings.Contains(squashSpaces(out), row) {
					t.Errorf("stdout lacks %q:\n%s", row, out)
				}
			}
			if tt.unlisted != "" && strings.Contains(out, tt.unlisted) {
				t.Errorf("stdout shows %q:\n%s", tt.unlisted, out)
			}
			if tt.warning == "" && errOut != "" || tt.warning != "" && (!strings.HasPrefix(errOut, tt.warning) || strings.Count(errOut, "warning:") != 1) {
				t.Errorf("stderr:\n%s\nwant one line starting %q", errOut, tt.warning)
			}
		})
	}
	clear(forbidden)

	a.Discovery().(*fakediscovery.FakeDiscovery).PrependReactor("get", "version", func(clienttesting.Action) (bool, runtime.Object, error) {
		return true, nil, errors.New("connection refused")
	})
	if out, _, err := zz("version", "--context", "a,b"); err == nil || !strings.HasPrefix(out, "kubectl-zz ") || !strings.Contains(out, "Cluster b: Kubernetes v1.36.0") {
		t.Errorf("an unreachable cluster: %v\n%s", err, out)
	}
}

// squashSpaces collapses runs of spaces, as a table pads its columns.
func squashSpaces(s string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = strings.Join(strings.Fields(l), " ")
	}
	return strings.Join(lines, "\n")
}
