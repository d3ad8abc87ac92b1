package logs

import (
	"context"
	"errors"
	"io"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"
)

// ErrNoMatch is returned without Follow when no pod in any cluster matched
// the selection (a follower waits for pods instead).
var ErrNoMatch = errors.New("no pod matched; check the app name, -l, --pod, the namespace (-n, -A) and the context")

// noMatch is ErrNoMatch where why is known (an app scaled to 0), said
// instead of sending the user to check the name and namespace.
type noMatch struct{ why string }

func (e noMatch) Error() string { return "no pod matched: " + e.why }
func (e noMatch) Unwrap() error { return ErrNoMatch }

// ErrNoContainer is returned without Follow when pods matched but the
// container filter (Selector.Container, ExcludeContainer) left none of their
// containers, as kubectl logs -c fails for a container the pod lacks; the
// error names the filter and the containers the pods have.
var ErrNoContainer = errors.New("the container filter matched no container of the pods")

// ErrNoPrevious is returned for --previous when pods matched but none of
// their selected containers has restarted: there is no previous run to read.
var ErrNoPrevious = errors.New("no selected container has restarted, so none has a previous run to read; drop --previous for the current runs")

// Cluster is one cluster (kubeconfig context) to follow.
type Cluster struct {
	// Name is the context name, shown in prefixes and --output-dir paths.
	Name   string
	Client kubernetes.Interface
	// Namespaces to watch; "" (metav1.NamespaceAll) is every namespace.
	Namespaces []string
}

// Config is what kubectl zz logs asks for.
type Config struct {
	Clusters []Cluster
	// LabelSelector and FieldSelector are applied by the API server (an app
	// is LabelApp=<name>; a node is spec.nodeName=<node>).
	LabelSelector string
	FieldSelector string
	Selector      Selector
	Format        Format

	// Follow keeps streaming and follows pods that come and go; without it
	// Run prints the logs of the containers found at start and returns. A
	// log that cannot be read then is a warning, and Run fails at the end.
	// With Selector.Previous it must be false: a previous run's log is
	// complete.
	Follow bool
	// Since (when > 0), SinceTime (when set) and Tail (when >= 0) limit the
	// lines of the containers found at start; containers that start later
	// are streamed from their first line.
	Since     time.Duration
	SinceTime time.Time
	Tail      int64
	// MaxStreams caps concurrent log requests over all clusters; containers
	// beyond it wait for a free slot (a message says so once).
	MaxStreams int
	// OutputDir, when set, receives one file per cluster/namespace/pod/container
	// instead of Out; Gzip compresses them.
	OutputDir string
	Gzip      bool

	// App is the app named on the command line as a bare NAME (its pods are
	// LabelApp=App, part of LabelSelector): when no pod carries that label
	// and a pod named App exists, that pod is followed instead, as kubectl
	// logs POD and stern POD read the name, and ErrOut says so.
	App string
	// Quiet leaves out the "+ pod/container" and "- pod/container" lines a
	// follower writes on ErrOut when a stream starts and ends.
	Quiet bool

	Out, ErrOut io.Writer

	// OpenStream opens one log stream; nil means the pod's log subresource
	// through Cluster.Client. Tests replace it.
	OpenStream func(ctx context.Context, c *Cluster, t Target, opts *corev1.PodLogOptions) (io.ReadCloser, error)
}

// Defaults.
const (
	DefaultMaxStreams = 1000
	// Reconnect back-off after a stream error: doubled per failure in a row.
	backoffMin = 250 * time.Millisecond
	backoffMax = 10 * time.Second
	// goneGrace lets a deleted pod's streams deliver their last lines.
	goneGrace = 2 * time.Second
)

func openPodLogs(ctx context.Context, c *Cluster, t Target, opts *corev1.PodLogOptions) (io.ReadCloser, error) {
	return c.Client.CoreV1().Pods(t.Namespace).GetLogs(t.Pod, opts).Stream(ctx)
}
