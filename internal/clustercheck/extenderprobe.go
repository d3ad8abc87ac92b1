package clustercheck

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/yaml"

	"github.com/zzcloud/zz/internal/contract"
	"github.com/zzcloud/zz/internal/prose"
)

// ProbeExtender asks the extender at urlPrefix (a KubeSchedulerConfiguration
// extender's urlPrefix) whether it is ready; nil when it answers 200.
type ProbeExtender func(ctx context.Context, urlPrefix string) error

// ExtenderProbeTimeout bounds each extender probe: the extender answers
// /readyz at once, and the balance entry's own httpTimeout is 500ms.
const ExtenderProbeTimeout = 2 * time.Second

// HTTPExtenderProbe is the ProbeExtender kubectl zz check uses: GET
// urlPrefix/readyz within timeout, no redirect followed and no credentials
// sent; the certificate of an https extender is not verified (nothing is
// sent, and only the answer's status is read).
func HTTPExtenderProbe(timeout time.Duration) ProbeExtender {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	// The extender is the scheduler's neighbour, never behind this
	// machine's proxy.
	tr.Proxy = nil
	tr.TLSClientConfig = &tls.Config{InsecureSkipVerify: true} //nolint:gosec // a readiness probe: nothing is sent, only the status read
	client := &http.Client{Timeout: timeout, Transport: tr,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return func(ctx context.Context, urlPrefix string) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(urlPrefix, "/")+"/readyz", nil)
		if err != nil {
			return err
		}
		resp, err := client.Do(req)
		if err != nil {
			var nerr net.Error
			if errors.As(err, &nerr) && nerr.Timeout() {
				return fmt.Errorf("no answer in %s: the extender is hung or stopped", timeout)
			}
			var uerr *url.Error
			if errors.As(err, &uerr) {
				return uerr.Err // the URL is said beside it
			}
			return err
		}
		defer resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			return nil
		}
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		line, _, _ := bytes.Cut(bytes.TrimSpace(body), []byte("\n"))
		if len(line) == 0 {
			return fmt.Errorf("it answered %s", resp.Status)
		}
		return fmt.Errorf("it answered %s: %s", resp.Status, line)
	}
}

// errElsewhere is a loopback extender URL that did not answer a check run
// on another machine than the cluster's: the loopback is this machine's.
type errElsewhere struct{ apiserver string }

func (e errElsewhere) Error() string {
	return "its urlPrefix is a loopback address, zz-scheduler's own machine, and check reaches the apiserver at " + e.apiserver + ", another machine: this machine's loopback says nothing of it"
}

// FromHere is probe for a check whose apiserver is at server (a kubeconfig's
// URL): a loopback extender URL is zz-scheduler's own machine, so where the
// apiserver is not on this machine too, an extender there that does not
// answer is not probed rather than failed (a review: check failed a healthy
// extender from an admin's laptop, as hack/ and the shipped configuration
// publish http://127.0.0.1:8890). This machine is the apiserver's where the
// server's host is a loopback or one of this machine's own addresses
// (kubeadm's admin.conf names the node's: review 36 #5).
func FromHere(probe ProbeExtender, server string) ProbeExtender {
	u, err := url.Parse(server)
	if err != nil || loopback(u.Hostname()) || ownAddress(u.Hostname()) {
		return probe
	}
	return func(ctx context.Context, urlPrefix string) error {
		err := probe(ctx, urlPrefix)
		if ext, perr := url.Parse(urlPrefix); err != nil && perr == nil && loopback(ext.Hostname()) {
			return errElsewhere{apiserver: u.Host}
		}
		return err
	}
}

// ownAddress says host is one of this machine's interface addresses, or a
// name that resolves to one (asked for 2 s at most).
func ownAddress(host string) bool {
	addrs, err := interfaceAddrs()
	if err != nil {
		return false
	}
	ips := []net.IP{net.ParseIP(host)}
	if ips[0] == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		found, err := net.DefaultResolver.LookupIPAddr(ctx, host)
		if err != nil {
			return false
		}
		ips = ips[:0]
		for _, a := range found {
			ips = append(ips, a.IP)
		}
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && slices.ContainsFunc(ips, n.IP.Equal) {
			return true
		}
	}
	return false
}

// interfaceAddrs are this machine's addresses; tests swap it.
var interfaceAddrs = net.InterfaceAddrs

// loopback says host is this machine's own: localhost, or a loopback IP.
func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// ExtenderProbe is one extender of zz-scheduler's configuration, probed.
type ExtenderProbe struct {
	URL string
	// Impact is what kube-scheduler does to pods while it does not answer
	// (extenderImpact).
	Impact string
	// Err is why it is not ready; NotProbed why it was not asked.
	Err       error
	NotProbed string
}

// errNoPublishedConfig: no ConfigMap contract.SchedulerConfigMap.
var errNoPublishedConfig = errors.New("not published")

// badConfig is a published configuration that cannot be read (not an API
// error: the ConfigMap was read).
type badConfig struct{ error }

// probeExtenders reads the configuration a zz-scheduler outside the cluster
// publishes in zz-system (contract.SchedulerConfigMap: only an admin writes
// there, so a tenant cannot have check fetch a URL of its choosing) and
// probes each extender URL it names, once.
func probeExtenders(ctx context.Context, c kubernetes.Interface, probe ProbeExtender) ([]ExtenderProbe, error) {
	cm, err := c.CoreV1().ConfigMaps(contract.SystemNamespace).Get(ctx, contract.SchedulerConfigMap, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, errNoPublishedConfig
	} else if err != nil {
		return nil, err
	}
	raw := cm.Data[contract.SchedulerConfigKey]
	if raw == "" {
		return nil, badConfig{fmt.Errorf("ConfigMap %s/%s has no %s", contract.SystemNamespace, contract.SchedulerConfigMap, contract.SchedulerConfigKey)}
	}
	var cfg schedulerConfig
	if err := yaml.Unmarshal([]byte(raw), &cfg); err != nil {
		return nil, badConfig{fmt.Errorf("ConfigMap %s/%s: %w", contract.SystemNamespace, contract.SchedulerConfigMap, err)}
	}
	out := extenderTargets(cfg)
	for i := range out {
		if u, err := url.Parse(out[i].URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			out[i].NotProbed = "its urlPrefix is not an http or https URL"
			continue
		}
		if err := probe(ctx, out[i].URL); errors.As(err, new(errElsewhere)) {
			out[i].NotProbed = err.Error()
		} else {
			out[i].Err = err
		}
	}
	return out, nil
}

// extenderTargets are the distinct urlPrefixes of cfg's extenders, in
// order, each with what its entries' silence costs.
func extenderTargets(cfg schedulerConfig) []ExtenderProbe {
	var urls []string
	for _, e := range cfg.Extenders {
		if !slices.Contains(urls, e.URLPrefix) {
			urls = append(urls, e.URLPrefix)
		}
	}
	out := make([]ExtenderProbe, 0, len(urls))
	for _, u := range urls {
		var entries []schedulerExtender
		for _, e := range cfg.Extenders {
			if e.URLPrefix == u {
				entries = append(entries, e)
			}
		}
		out = append(out, ExtenderProbe{URL: u, Impact: extenderImpact(entries)})
	}
	return out
}

// extenderImpact says what kube-scheduler does while the extender of these
// entries does not answer: an entry not ignorable fails the pods it is sent
// (those asking for a resource it manages, or every pod), an ignorable one
// is skipped, which for the balance extender means pods placed unbalanced
// with nothing saying so (an incident audit saw check green then).
func extenderImpact(entries []schedulerExtender) string {
	var managed, parts []string
	every, skipped := false, false
	for _, e := range entries {
		switch {
		case e.Ignorable:
			skipped = true
		case len(e.ManagedResources) == 0:
			every = true
		default:
			for _, m := range e.ManagedResources {
				if !slices.Contains(managed, m.Name) {
					managed = append(managed, m.Name)
				}
			}
		}
	}
	switch {
	case every:
		parts = append(parts, "every pod of "+contract.SchedulerName+" fails to schedule (SchedulerError)")
	case len(managed) > 0:
		parts = append(parts, "pods asking for "+strings.Join(managed, ", ")+" fail to schedule (SchedulerError)")
	}
	if skipped && !every {
		parts = append(parts, "kube-scheduler skips it (ignorable) for the other pods: they schedule, unbalanced, and nothing else says so")
	}
	return strings.Join(parts, "; ")
}

// extenders judges the extenders of a zz-scheduler running outside the
// cluster (no zz-scheduler Deployment: no pod readiness says whether its
// extender is up).
func extenders(s *State) []Result {
	const name = "extenders of " + contract.SchedulerName
	src := contract.SystemNamespace + "/" + contract.SchedulerConfigMap
	switch {
	case errors.Is(s.ExtendersErr, errNoPublishedConfig):
		if s.SchedulerLease == nil {
			return nil // no zz-scheduler anywhere
		}
		return []Result{{Group: GroupScheduler, Name: name, Status: Warn,
			Detail: fmt.Sprintf("%s runs outside the cluster and no ConfigMap %s says which extenders it calls: whether they answer is not checked (a dead balance extender leaves pods unbalanced, and nothing else says so)", contract.SchedulerName, src),
			Hint: fmt.Sprintf("kubectl -n %s create configmap %s --from-file=%s=FILE, FILE being what %s runs with --config (hack/demo.sh publishes it)",
				contract.SystemNamespace, contract.SchedulerConfigMap, contract.SchedulerConfigKey, contract.SchedulerName)}}
	case errors.As(s.ExtendersErr, new(badConfig)):
		return []Result{{Group: GroupScheduler, Name: name, Status: Warn, Detail: "cannot read which extenders it calls: " + s.ExtendersErr.Error(),
			Hint: fmt.Sprintf("kubectl -n %s edit configmap %s: key %s holds the KubeSchedulerConfiguration %s runs with", contract.SystemNamespace, contract.SchedulerConfigMap, contract.SchedulerConfigKey, contract.SchedulerName)}}
	case s.ExtendersErr != nil:
		return []Result{unreadable(GroupScheduler, "ConfigMap "+src, s.ExtendersErr)}
	}
	var out []Result
	for _, p := range s.Extenders {
		r := Result{Group: GroupScheduler, Name: "extender " + p.URL, Status: OK,
			Detail: fmt.Sprintf("answers at /readyz (named in ConfigMap %s; probed from this machine)", src)}
		switch {
		case p.NotProbed != "":
			r.Status, r.Detail = Warn, "not probed: "+p.NotProbed
			r.Hint = fmt.Sprintf("kubectl -n %s get configmap %s -o yaml", contract.SystemNamespace, contract.SchedulerConfigMap)
			if strings.Contains(p.NotProbed, "loopback") {
				r.Hint = "run kubectl zz check on the machine zz-scheduler runs on to probe it"
			}
		case p.Err != nil:
			r.Status = Fail
			r.Detail = fmt.Sprintf("%s/readyz: %s", strings.TrimSuffix(p.URL, "/"), prose.Terminal(p.Err.Error()))
			if p.Impact != "" {
				r.Detail += ": " + p.Impact
			}
			host := p.URL
			if u, err := url.Parse(p.URL); err == nil {
				host = u.Host
			}
			r.Hint = fmt.Sprintf("start the zz-extender listening at %s again, or read its log for why it stopped (a hack/ cluster: _output/cluster/NAME/logs/zz-extender.log); check probes from this machine, so run it where %s runs",
				host, contract.SchedulerName)
		}
		out = append(out, r)
	}
	return out
}
