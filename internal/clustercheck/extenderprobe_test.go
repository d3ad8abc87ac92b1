package clustercheck

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"

	"github.com/zzcloud/zz/internal/contract"
)

// outside is a cluster whose zz-scheduler runs outside it (make demo, the
// e2e suite): its Lease, and the configuration it runs with published in
// zz-system with the extender at url.
func outside(t *testing.T, url string) []runtime.Object {
	return []runtime.Object{
		&coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: contract.SchedulerName, Namespace: contract.SystemNamespace},
			Spec: coordinationv1.LeaseSpec{HolderIdentity: ptr.To("laptop_1"), LeaseDurationSeconds: ptr.To[int32](15),
				RenewTime: ptr.To(metav1.NewMicroTime(now.Add(-3 * time.Second)))}},
		publishedConfig(contract.SystemNamespace, strings.ReplaceAll(shippedSchedulerConfig(t), "http://127.0.0.1:8890", url)),
	}
}

func publishedConfig(ns, cfg string) *corev1.ConfigMap {
	return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: contract.SchedulerConfigMap, Namespace: ns},
		Data: map[string]string{contract.SchedulerConfigKey: cfg}}
}

// TestExtenderProbe: with zz-scheduler outside the cluster, check asks each
// extender its configuration names for /readyz: one that answers passes; one
// refusing connections, hung (SIGSTOPped, as an incident drill left it) or
// not ready fails, naming the URL, the error and what its silence costs,
// the balance extender's among it (ignorable: pods schedule unbalanced and
// nothing else said so).
func TestExtenderProbe(t *testing.T) {
	ok := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/readyz" {
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(ok.Close)
	notReady := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "zz-extender is not ready: its caches have not synced", http.StatusServiceUnavailable)
	}))
	t.Cleanup(notReady.Close)
	stop := make(chan struct{})
	hung := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { <-stop }))
	t.Cleanup(hung.Close)
	t.Cleanup(func() { close(stop) })
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := "http://" + l.Addr().String()
	l.Close()

	const cost = ": pods asking for zz.io/gpu-mem, zz.io/gpu-mem-total, zz.io/gpu fail to schedule (SchedulerError); " +
		"kube-scheduler skips it (ignorable) for the other pods: they schedule, unbalanced, and nothing else says so"
	probe := HTTPExtenderProbe(300 * time.Millisecond)
	for _, tc := range []struct {
		name, url, want string
	}{
		{"answers", ok.URL, "ok scheduler configuration | extender " + ok.URL + ": answers at /readyz (named in ConfigMap zz-system/zz-scheduler-config; probed from this machine)"},
		{"refused", refused, "fail scheduler configuration | extender " + refused + ": " + refused + "/readyz: dial tcp " + strings.TrimPrefix(refused, "http://") + ": connect: connection refused" + cost},
		{"hung", hung.URL, "fail scheduler configuration | extender " + hung.URL + ": " + hung.URL + "/readyz: no answer in 300ms: the extender is hung or stopped" + cost},
		{"not ready", notReady.URL, "fail scheduler configuration | extender " + notReady.URL + ": " + notReady.URL + "/readyz: it answered 503 Service Unavailable: zz-extender is not ready: its caches have not synced" + cost},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			rs := Evaluate(Gather(t.Context(), fake.NewClientset(outside(t, tc.url)...), Probes{Extender: probe}), now)
			if got := lines(rs); !strings.Contains(got, tc.want+"\n") {
				t.Errorf("want the line\n%s\ngot:\n%s", tc.want, got)
			}
			if strings.Count(lines(rs), "| extender ") != 1 {
				t.Errorf("the three entries share one URL, probed once:\n%s", lines(rs))
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("check took %s", d)
			}
			if tc.name != "answers" {
				r := rs[slicesIndex(rs, "extender "+tc.url)]
				if !strings.Contains(r.Hint, "start the zz-extender listening at "+strings.TrimPrefix(tc.url, "http://")+" again") {
					t.Errorf("hint %q", r.Hint)
				}
			}
		})
	}
}

func slicesIndex(rs []Result, name string) int {
	for i, r := range rs {
		if r.Name == name {
			return i
		}
	}
	return -1
}

// TestExtenderProbeScope: check probes only what an admin published in
// zz-system, never a URL a tenant's ConfigMap names nor one that is not
// http(s); with a zz-scheduler Deployment its pods' readiness says it, and
// nothing is probed.
func TestExtenderProbeScope(t *testing.T) {
	var asked []string
	probe := func(_ context.Context, url string) error { asked = append(asked, url); return nil }
	lease := outside(t, "")[0]
	for _, tc := range []struct {
		name string
		objs []runtime.Object
		want string // a line, "" for no extender line
	}{
		{"in the cluster", healthy(t), ""},
		{"nothing installed", nil, ""},
		{"not published", []runtime.Object{lease},
			"warn scheduler configuration | extenders of zz-scheduler: zz-scheduler runs outside the cluster and no ConfigMap zz-system/zz-scheduler-config says which extenders it calls"},
		{"a tenant's ConfigMap", []runtime.Object{lease, publishedConfig("shop", "extenders: [{urlPrefix: 'http://169.254.169.254/latest'}]")},
			"warn scheduler configuration | extenders of zz-scheduler: zz-scheduler runs outside the cluster and no ConfigMap"},
		{"not http", []runtime.Object{lease, publishedConfig(contract.SystemNamespace, "extenders: [{urlPrefix: 'file:///etc/passwd', prioritizeVerb: p, ignorable: true}]")},
			"warn scheduler configuration | extender file:///etc/passwd: not probed: its urlPrefix is not an http or https URL"},
		{"unreadable", []runtime.Object{lease, publishedConfig(contract.SystemNamespace, "extenders: {")},
			"warn scheduler configuration | extenders of zz-scheduler: cannot read which extenders it calls: ConfigMap zz-system/zz-scheduler-config: "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			asked = nil
			rs := Evaluate(Gather(t.Context(), fake.NewClientset(tc.objs...), Probes{Extender: probe}), now)
			if len(asked) > 0 {
				t.Errorf("probed %v", asked)
			}
			got := lines(rs)
			if tc.want == "" && strings.Contains(got, "| extender") || !strings.Contains(got, tc.want) {
				t.Errorf("want %q:\n%s", tc.want, got)
			}
		})
	}
}

// TestExtenderProbeFromElsewhere: a loopback urlPrefix is zz-scheduler's own
// machine; check run where the apiserver is not on its loopback cannot
// reach it there, so one that does not answer is not probed (a warning
// saying where to run check), not failed (a review: a healthy extender
// failed check from an admin's laptop). On the cluster's machine (its
// kubeconfig naming a loopback or one of its own addresses), and for an
// address of the network, it is probed as before.
func TestExtenderProbeFromElsewhere(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := "http://" + l.Addr().String()
	l.Close()
	probe := HTTPExtenderProbe(300 * time.Millisecond)
	// This machine's address as kubeadm's admin.conf names it (review 36
	// #5: "not probed" where the apiserver is this machine, by its address).
	old := interfaceAddrs
	t.Cleanup(func() { interfaceAddrs = old })
	interfaceAddrs = func() ([]net.Addr, error) {
		return []net.Addr{&net.IPNet{IP: net.ParseIP("127.0.0.1"), Mask: net.CIDRMask(8, 32)}, &net.IPNet{IP: net.ParseIP("10.9.8.7"), Mask: net.CIDRMask(24, 32)}}, nil
	}
	for _, tc := range []struct {
		name, apiserver, url, want string
	}{
		{"elsewhere, loopback", "https://api.prod.example:6443", refused, "warn scheduler configuration | extender " + refused + ": not probed: its urlPrefix is a loopback address, zz-scheduler's own machine, and check reaches the apiserver at api.prod.example:6443"},
		{"elsewhere, localhost", "https://10.0.0.1:6443", "http://localhost:1", "warn scheduler configuration | extender http://localhost:1: not probed: its urlPrefix is a loopback address"},
		{"on the cluster's machine", "https://127.0.0.1:26443", refused, "fail scheduler configuration | extender " + refused + ": " + refused + "/readyz: dial tcp"},
		{"on the cluster's machine, by its address", "https://10.9.8.7:6443", refused, "fail scheduler configuration | extender " + refused + ": " + refused + "/readyz: dial tcp"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rs := Evaluate(Gather(t.Context(), fake.NewClientset(outside(t, tc.url)...), Probes{Extender: FromHere(probe, tc.apiserver)}), now)
			if got := lines(rs); !strings.Contains(got, tc.want) {
				t.Errorf("want the line\n%s\ngot:\n%s", tc.want, got)
			}
		})
	}
	// An answer from the loopback is an answer wherever check runs.
	ok := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	t.Cleanup(ok.Close)
	if err := FromHere(probe, "https://api.prod.example:6443")(t.Context(), ok.URL); err != nil {
		t.Errorf("a loopback extender that answers: %v", err)
	}
}

func TestExtenderImpact(t *testing.T) {
	for _, tc := range []struct {
		cfg, want string
	}{
		{"{urlPrefix: u, prioritizeVerb: balance/prioritize, ignorable: true}",
			"kube-scheduler skips it (ignorable) for the other pods: they schedule, unbalanced, and nothing else says so"},
		{"{urlPrefix: u, filterVerb: f}", "every pod of zz-scheduler fails to schedule (SchedulerError)"},
		{"{urlPrefix: u, filterVerb: f, managedResources: [{name: zz.io/gpu-mem}]}", "pods asking for zz.io/gpu-mem fail to schedule (SchedulerError)"},
	} {
		var cfg schedulerConfig
		if err := yaml.Unmarshal([]byte("extenders: ["+tc.cfg+"]"), &cfg); err != nil {
			t.Fatal(err)
		}
		if got := extenderTargets(cfg); len(got) != 1 || got[0].Impact != tc.want {
			t.Errorf("%s: %+v, want impact %q", tc.cfg, got, tc.want)
		}
	}
}
