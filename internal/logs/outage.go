package logs

import (
	"errors"
	"fmt"
	"net/url"
)

// outage is one context's apiserver not answering log requests. It breaks
// every stream of the context at once, so it is said once for the context
// (not once per stream: 200 pods would be 200 warnings for one cause), and
// once more when every stream it broke has reopened, so that the silence
// after it reads as real silence.
type outage struct {
	failing map[*stream]bool // streams whose last open found the apiserver gone
	warned  bool
}

// lost records that s could not be opened because cl's apiserver does not
// answer; failed is how many of its opens failed in a row. The first stream
// to fail warnAfterFailures times in a row (a container just starting can
// fail once or twice) warns for all of them.
func (m *manager) lost(cl *Cluster, s *stream, failed int, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	o := m.outages[cl]
	if o == nil {
		o = &outage{failing: map[*stream]bool{}}
		m.outages[cl] = o
	}
	o.failing[s] = true
	if o.warned || failed < warnAfterFailures {
		return
	}
	o.warned = true
	n := 0
	for _, other := range m.streams {
		if other.cluster == cl && other.running.Load() && !other.gone.Load() {
			n++
		}
	}
	m.note("warning: %v; retrying its %s\n", clusterErr(cl, fmt.Errorf("lost the apiserver (%w)", Cause(err))), plural(n, "log stream"))
}

// reached records that s was opened (reopened) or ended for good: once no
// stream of a warned outage is failing, it says the streams are back. The
// last failing stream may be one that ended (its pod was deleted during the
// outage): the others are back and follow quietly, so nothing else would say
// it. If no stream of the context is followed any more, there is nothing to
// say resumed, and the outage is only forgotten.
func (m *manager) reached(cl *Cluster, s *stream, ended bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	o := m.outages[cl]
	if o == nil {
		return
	}
	delete(o.failing, s)
	if len(o.failing) > 0 {
		return
	}
	delete(m.outages, cl)
	if o.warned && (!ended || m.followed(cl, s)) {
		m.note("note: %v\n", clusterErr(cl, errors.New("the apiserver answers again; log streams resumed")))
	}
}

// followed reports whether a stream of cl other than ended is still
// followed. The caller holds m.mu.
func (m *manager) followed(cl *Cluster, ended *stream) bool {
	for _, other := range m.streams {
		if other != ended && other.cluster == cl && other.running.Load() && !other.gone.Load() {
			return true
		}
	}
	return false
}

// Cause is what broke the connection, without the request's URL (the same
// cause for every stream).
func Cause(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}
