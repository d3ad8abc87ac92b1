package certgen

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/retry"
	"k8s.io/klog/v2"
)

// Options name the objects Run keeps.
type Options struct {
	Config
	// Namespace and Secret name the kubernetes.io/tls Secret the webhook mounts.
	Namespace, Secret string
	// WebhookConfiguration is the MutatingWebhookConfiguration whose every
	// webhook gets the CA as caBundle.
	WebhookConfiguration string
	// Now is the clock (time.Now when nil).
	Now func() time.Time
	// Poll is how often Run looks again for a MutatingWebhookConfiguration
	// that does not exist yet (kubectl apply creates it after the Job).
	Poll time.Duration
}

// Result is what Run did.
type Result struct {
	Decision
	// SecretWritten and BundlePatched say what changed; both false on a
	// second run.
	SecretWritten, BundlePatched bool
}

// Run makes the Secret hold a usable certificate and every webhook of the
// configuration trust its CA, changing nothing that is already right. It
// waits (until ctx ends) for the MutatingWebhookConfiguration to exist. The
// rights it needs: secrets get, update (the one Secret) and create in the
// namespace; mutatingwebhookconfigurations get, patch (the one configuration).
func Run(ctx context.Context, client kubernetes.Interface, o Options) (Result, error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Poll == 0 {
		o.Poll = 2 * time.Second
	}
	if err := o.Validate(); err != nil {
		return Result{}, err
	}
	if err := waitForConfiguration(ctx, client, o); err != nil {
		return Result{}, err
	}
	var res Result
	// A conflict means another run wrote the Secret meanwhile: decide again
	// on what it wrote.
	err := retry.OnError(retry.DefaultBackoff, func(err error) bool {
		return apierrors.IsConflict(err) || apierrors.IsAlreadyExists(err)
	}, func() error {
		var err error
		res, err = reconcile(ctx, client, o)
		return err
	})
	return res, err
}

func reconcile(ctx context.Context, client kubernetes.Interface, o Options) (Result, error) {
	secrets := client.CoreV1().Secrets(o.Namespace)
	cur, err := secrets.Get(ctx, o.Secret, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		cur = nil
	case err != nil:
		return Result{}, fmt.Errorf("read Secret %s/%s: %w", o.Namespace, o.Secret, err)
	}
	d, err := Plan(cur, o.Config, o.Now())
	if err != nil {
		return Result{}, err
	}
	res := Result{Decision: d}
	// The CA first: the bundle keeps the previous CA, so the certificate the
	// webhook serves now stays trusted until it loads the new one.
	if res.BundlePatched, err = patchCABundle(ctx, client, o.WebhookConfiguration, d.CABundle()); err != nil {
		return res, err
	}
	if !d.Issue {
		return res, nil
	}
	if cur == nil {
		s := &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: o.Secret, Namespace: o.Namespace,
				Labels: map[string]string{LabelManagedBy: ManagedBy}},
			Type: corev1.SecretTypeTLS, Data: d.Data,
		}
		if _, err := secrets.Create(ctx, s, metav1.CreateOptions{FieldManager: ManagedBy}); err != nil {
			return res, fmt.Errorf("create Secret %s/%s: %w", o.Namespace, o.Secret, err)
		}
	} else {
		s := cur.DeepCopy()
		s.Data = d.Data
		if _, err := secrets.Update(ctx, s, metav1.UpdateOptions{FieldManager: ManagedBy}); err != nil {
			return res, fmt.Errorf("update Secret %s/%s: %w", o.Namespace, o.Secret, err)
		}
	}
	res.SecretWritten = true
	return res, nil
}

func waitForConfiguration(ctx context.Context, client kubernetes.Interface, o Options) error {
	api := client.AdmissionregistrationV1().MutatingWebhookConfigurations()
	for {
		_, err := api.Get(ctx, o.WebhookConfiguration, metav1.GetOptions{})
		if !apierrors.IsNotFound(err) {
			if err != nil {
				return fmt.Errorf("read MutatingWebhookConfiguration %s: %w", o.WebhookConfiguration, err)
			}
			return nil
		}
		klog.FromContext(ctx).Info("Waiting for the MutatingWebhookConfiguration", "name", o.WebhookConfiguration)
		select {
		case <-ctx.Done():
			return fmt.Errorf("MutatingWebhookConfiguration %s does not exist (%w); apply the whole overlay", o.WebhookConfiguration, ctx.Err())
		case <-time.After(o.Poll):
		}
	}
}

type jsonPatchOp struct {
	Op    string `json:"op"`
	Path  string `json:"path"`
	Value any    `json:"value"`
}

// patchCABundle sets bundle as the caBundle of every webhook in the
// configuration that lacks it, with one JSON patch that also tests each
// webhook's name, so a concurrent edit of the list fails instead of landing
// on the wrong webhook.
func patchCABundle(ctx context.Context, client kubernetes.Interface, name string, bundle []byte) (bool, error) {
	if len(bundle) == 0 {
		return false, errors.New("no CA to put in the caBundle")
	}
	api := client.AdmissionregistrationV1().MutatingWebhookConfigurations()
	cfg, err := api.Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return false, fmt.Errorf("read MutatingWebhookConfiguration %s: %w", name, err)
	}
	var ops []jsonPatchOp
	for i, w := range cfg.Webhooks {
		if bytes.Equal(w.ClientConfig.CABundle, bundle) {
			continue
		}
		ops = append(ops,
			jsonPatchOp{Op: "test", Path: fmt.Sprintf("/webhooks/%d/name", i), Value: w.Name},
			jsonPatchOp{Op: "add", Path: fmt.Sprintf("/webhooks/%d/clientConfig/caBundle", i), Value: bundle})
	}
	if len(ops) == 0 {
		return false, nil
	}
	patch, err := json.Marshal(ops)
	if err != nil {
		return false, err
	}
	if _, err := api.Patch(ctx, name, types.JSONPatchType, patch, metav1.PatchOptions{FieldManager: ManagedBy}); err != nil {
		return false, fmt.Errorf("set the caBundle of MutatingWebhookConfiguration %s: %w", name, err)
	}
	return true, nil
}
