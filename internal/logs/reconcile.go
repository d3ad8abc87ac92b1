package logs

import (
	"context"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// reconcile makes the pod's streams match Selector.Targets: new containers and
// restarts (a new containerID) get a stream, containers no longer listed stop.
func (m *manager) reconcile(ctx context.Context, cl *Cluster, pod *corev1.Pod, initial bool) {
	matched := m.cfg.Selector.MatchPod(pod) && initial
	if matched {
		m.matchedPods.Add(1)
	}
	targets := m.cfg.Selector.Targets(pod)
	podKey := cl.Name + "/" + pod.Namespace + "/" + pod.Name
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cfg.Selector.MatchPod(pod) {
		m.live[podKey] = true
		if m.cfg.Follow || initial {
			m.sayProblem(cl, pod, podKey)
		}
	}
	if matched && m.cfg.Selector.filtersContainers() {
		if m.containers == nil {
			m.containers = map[string]bool{}
		}
		kept, known := m.cfg.Selector.containerNames(pod, m.containers)
		m.containerKept = m.containerKept || kept || !known
	}
	keep := make(map[string]bool, len(targets))
	keys := make([]string, 0, len(targets))
	for _, t := range targets {
		if m.deniedLocked(cl, t.Namespace) {
			// Its namespace's logs were refused (said once): asking again
			// for every pod would only repeat the refusal.
			if !m.cfg.Follow && initial {
				m.started.Add(1)
				m.unread.Add(1)
			}
			continue
		}
		key := cl.Name + "/" + t.Key()
		if initial && !m.cfg.Selector.startsWith(t.State) {
			// --container-state leaves this run out; its next one (a
			// new containerID) is streamed.
			m.leftOut[key] = t.ContainerID
			m.statesLeftOut++
			continue
		}
		if id, ok := m.leftOut[key]; ok {
			if id == t.ContainerID {
				continue
			}
			delete(m.leftOut, key)
		}
		keep[key] = true
		keys = append(keys, key)
		if s := m.streams[key]; s != nil {
			if s.target.ContainerID == t.ContainerID && string(pod.UID) == s.target.PodUID {
				s.running.Store(t.Running)
				continue
			}
			// An old run of the container (or an old pod of that name): let
			// it deliver its last lines, then end it.
			s.gone.Store(true)
			s.running.Store(false)
			time.AfterFunc(goneGrace, s.cancel)
		}
		m.startStream(ctx, cl, t, initial)
	}
	for _, key := range m.pods[podKey] {
		if s := m.streams[key]; s != nil && !keep[key] {
			s.running.Store(false)
		}
	}
	m.pods[podKey] = keys
}

// forget ends the streams of a pod that was deleted, after a grace period for
// their last lines.
func (m *manager) forget(cl *Cluster, pod *corev1.Pod) {
	podKey := cl.Name + "/" + pod.Namespace + "/" + pod.Name
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, key := range m.pods[podKey] {
		if s := m.streams[key]; s != nil && s.target.PodUID == string(pod.UID) {
			s.gone.Store(true)
			time.AfterFunc(goneGrace, s.cancel)
			delete(m.streams, key)
		}
	}
	delete(m.pods, podKey)
	delete(m.said, podKey)
	for key := range m.leftOut {
		if strings.HasPrefix(key, podKey+"/") {
			delete(m.leftOut, key)
		}
	}
	if m.live[podKey] {
		delete(m.live, podKey)
		if len(m.live) == 0 && m.cfg.Follow {
			m.note("no pod matches any more; waiting for %s (Ctrl-C to stop)\n", m.watching())
		}
	}
}

// sayProblem names, once per reason, a matched pod with a selected
// container that has no current run to follow (Selector.podProblem), so
// that a pod stuck in ImagePullBackOff or a crash loop is not simply absent
// from the output; m.mu is held.
func (m *manager) sayProblem(cl *Cluster, pod *corev1.Pod, podKey string) {
	p, transient, ok := m.cfg.Selector.podProblem(pod)
	if !ok || (transient && m.cfg.Follow) {
		return
	}
	key := p.Reason + "/" + p.Container
	if m.said[podKey] == key {
		return
	}
	m.said[podKey] = key
	words := cl.Name + "/" + pod.Namespace + "/" + p.String()
	if first, ok := m.saidOf[words]; ok && first != pod.Name {
		m.note("note: %v\n", clusterErr(cl, fmt.Errorf("pod %s/%s: %s, as said of pod %s", pod.Namespace, pod.Name, p.Reason, first)))
		return
	}
	m.saidOf[words] = pod.Name
	m.note("note: %v\n", clusterErr(cl, fmt.Errorf("pod %s/%s: %s", pod.Namespace, pod.Name, p)))
}

// startStream runs one container's stream; m.mu is held.
func (m *manager) startStream(ctx context.Context, cl *Cluster, t Target, initial bool) {
	ctx, cancel := context.WithCancel(ctx)
	s := &stream{cluster: cl, target: t, cancel: cancel}
	s.running.Store(t.Running)
	key := cl.Name + "/" + t.Key()
	m.streams[key] = s
	m.started.Add(1)
	if m.cfg.Follow && !m.cfg.Quiet {
		m.note("%s\n", m.cfg.Format.announce('+', m.cfg.Format.NewSource(cl.Name, t)))
	}
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		defer cancel()
		// The stream stays in m.streams after it ends, so later events of
		// the same container run (a completed pod's updates) do not print
		// its log again; forget drops it with its pod.
		m.follow(ctx, cl, s, initial)
	}()
}
