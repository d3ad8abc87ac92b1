package cmd

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"

	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/client-go/kubernetes"
)

// target is one cluster (kubeconfig context) and namespace a command acts on.
type target struct {
	context   string // "" = the current context
	namespace string
	client    kubernetes.Interface
}

// contexts splits --context a,b; one empty name means the current context.
func contexts(f *genericclioptions.ConfigFlags) []string {
	if f.Context == nil || *f.Context == "" {
		return []string{""}
	}
	var names []string
	for _, n := range strings.Split(*f.Context, ",") {
		if n = strings.TrimSpace(n); n != "" {
			names = append(names, n)
		}
	}
	if len(names) == 0 {
		return []string{""}
	}
	return names
}

// forContext returns flags like f for one context of a --context list; the
// other connection flags carry over.
func forContext(f *genericclioptions.ConfigFlags, name string) *genericclioptions.ConfigFlags {
	nf := genericclioptions.NewConfigFlags(true)
	nf.KubeConfig, nf.Namespace, nf.Context = f.KubeConfig, f.Namespace, &name
	nf.Impersonate, nf.ImpersonateUID, nf.ImpersonateGroup = f.Impersonate, f.ImpersonateUID, f.ImpersonateGroup
	nf.Timeout, nf.CacheDir = f.Timeout, f.CacheDir
	return nf
}

// resolveTargets finds each context's namespace (its default, or -n) and,
// when withClient, builds its client.
func resolveTargets(f *genericclioptions.ConfigFlags, withClient bool) ([]target, error) {
	names := contexts(f)
	targets := make([]target, 0, len(names))
	for _, name := range names {
		cf := f
		if len(names) > 1 {
			cf = forContext(f, name)
		}
		ns, _, err := cf.ToRawKubeConfigLoader().Namespace()
		if err != nil {
			return nil, contextErr(name, err)
		}
		t := target{context: name, namespace: ns}
		if withClient {
			if t.client, err = newClient(cf); err != nil {
				return nil, contextErr(name, err)
			}
		}
		targets = append(targets, t)
	}
	return targets, nil
}

func contextErr(name string, err error) error {
	if name == "" {
		return err
	}
	return fmt.Errorf("context %s: %w", name, err)
}

// prefixWriter prefixes every write (one line each, as the progress printer
// writes) with the target's name, serialising concurrent targets.
type prefixWriter struct {
	mu     *sync.Mutex
	w      io.Writer
	prefix string
}

func (p *prefixWriter) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, err := io.WriteString(p.w, p.prefix); err != nil {
		return 0, err
	}
	return p.w.Write(b)
}

// forEach runs fn for every target, concurrently when there are several, and
// joins the failures into one error naming each failed context.
func forEach(targets []target, errOut io.Writer, fn func(t target, progress io.Writer, live bool) error) error {
	if len(targets) == 1 {
		return fn(targets[0], errOut, isTerminal(errOut))
	}
	var mu sync.Mutex
	errs := make([]error, len(targets))
	var wg sync.WaitGroup
	for i, t := range targets {
		wg.Go(func() {
			if err := fn(t, &prefixWriter{mu: &mu, w: errOut, prefix: "[" + t.context + "] "}, false); err != nil {
				errs[i] = fmt.Errorf("context %s: %w", t.context, err)
			}
		})
	}
	wg.Wait()
	failed := 0
	for _, err := range errs {
		if err != nil {
			failed++
		}
	}
	if failed == 0 {
		return nil
	}
	return fmt.Errorf("failed in %d of %d contexts:\n%w", failed, len(targets), errors.Join(errs...))
}
