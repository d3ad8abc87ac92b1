package clustercheck

import (
	"context"
	"errors"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/utils/ptr"
)

// TestInvalidPolicyByWebhookReadiness: an invalid policy ConfigMap is
// judged by what the webhook reports. Ready replicas keep the last valid
// policy until they restart (warn); with none ready, each started since
// has no policy and every pod of opted-in namespaces is refused now
// (fail), and the probe's failure points at the policy, not the caBundle.
// check said "keeps the last valid one it loaded" after a restart, under
// GPU nodes, and sent the admin to the caBundle (a chaos audit).
func TestInvalidPolicyByWebhookReadiness(t *testing.T) {
	const invalid = "largestGPUCard: 80Gi\npools: {general: {nodeSelector: {zz.io/pool: general}, cpuOvercommitRatio: 7}}\n"
	unavailable := apierrors.NewInternalError(errors.New(`failed calling webhook "pods.zz.io": failed to call webhook: the server is currently unable to handle the request`))
	badCert := apierrors.NewInternalError(errors.New(`failed calling webhook "pods.zz.io": failed to call webhook: Post "https://zz-webhook.zz-system.svc:443/mutate-pods?timeout=5s": tls: failed to verify certificate: x509: certificate signed by unknown authority`))
	// policy "" keeps the fixture's valid one.
	webhookReady := func(ready int32, policy string) func([]runtime.Object) []runtime.Object {
		return func(objs []runtime.Object) []runtime.Object {
			if policy != "" {
				objs = policyEdit(policy)(objs)
			}
			objs[1].(*appsv1.Deployment).Status.ReadyReplicas = ready
			return objs
		}
	}
	noReplicas := func(objs []runtime.Object) []runtime.Object {
		objs = policyEdit(invalid)(objs)
		objs[1].(*appsv1.Deployment).Spec.Replicas = ptr.To[int32](0)
		return objs
	}
	for _, tt := range []struct {
		name      string
		edit      func([]runtime.Object) []runtime.Object
		probeErr  error
		want      []string
		wantHints []string
		avoid     string
	}{
		{name: "ready webhook", edit: webhookReady(2, invalid),
			want:      []string{"warn webhook | the webhook policy zz-system/zz-webhook-policy: invalid: the webhook keeps the last valid policy until it restarts; the next restart (a drain, an OOM, an upgrade) refuses every pod of opted-in namespaces: invalid policy: pools.general.cpuOvercommitRatio: 7 must be in (0, 1]"},
			wantHints: []string{"kubectl -n zz-system edit configmap zz-webhook-policy"}},
		{name: "one of two replicas restarted", edit: webhookReady(1, invalid),
			want: []string{"warn webhook | the webhook policy zz-system/zz-webhook-policy: invalid: 1 of 2 webhook replicas are ready and keep the last valid policy until they restart"}},
		{name: "no replica ready", edit: webhookReady(0, invalid), probeErr: unavailable,
			want: []string{"fail webhook | the webhook policy zz-system/zz-webhook-policy: invalid, and no webhook replica is ready: each started since it became invalid has no policy, so the apiserver refuses every pod of opted-in namespaces now: fix the policy: invalid policy: pools.general.cpuOvercommitRatio: 7",
				"fail webhook | answers through the apiserver: the apiserver cannot call the webhook"},
			wantHints: []string{"the webhook has no valid policy (the webhook policy zz-system/zz-webhook-policy, below): kubectl -n zz-system edit configmap zz-webhook-policy"},
			avoid:     "caBundle"},
		{name: "webhook run outside the cluster, refusing", edit: noReplicas, probeErr: unavailable,
			want: []string{"fail webhook | the webhook policy zz-system/zz-webhook-policy: invalid, and no webhook replica is ready"}, avoid: "caBundle"},
		{name: "webhook run outside the cluster, answering", edit: noReplicas,
			want: []string{"warn webhook | the webhook policy zz-system/zz-webhook-policy: invalid: the webhook keeps the last valid policy it loaded, if it loaded one since it started"}},
		{name: "valid policy, unready webhook", edit: webhookReady(0, ""), probeErr: unavailable,
			wantHints: []string{"(clientConfig: the Service or URL), then the webhook's pods, their /readyz and logs"}, avoid: "caBundle"},
		{name: "a TLS failure", edit: webhookReady(2, ""), probeErr: badCert,
			wantHints: []string{"(clientConfig: its caBundle must verify the webhook's serving certificate)"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			probe := func(context.Context, string, *corev1.Pod) ([]string, error) {
				if tt.probeErr != nil {
					return nil, tt.probeErr
				}
				return []string{"zz-webhook: probe answered"}, nil
			}
			rs := Evaluate(Gather(t.Context(), fake.NewClientset(tt.edit(healthy(t))...), Probes{AsNode: asNode(true), Webhook: probe}), now)
			var hints strings.Builder
			for _, r := range rs {
				hints.WriteString(r.Hint + "\n")
			}
			all := lines(rs) + hints.String()
			for _, w := range tt.want {
				if !strings.Contains(lines(rs), w) {
					t.Errorf("lacks %q:\n%s", w, lines(rs))
				}
			}
			for _, w := range tt.wantHints {
				if !strings.Contains(hints.String(), w) {
					t.Errorf("no hint %q:\n%s", w, hints.String())
				}
			}
			if tt.avoid != "" && strings.Contains(all, tt.avoid) {
				t.Errorf("says %q:\n%s", tt.avoid, all)
			}
			if strings.Contains(lines(rs), "GPU nodes | the webhook policy") {
				t.Errorf("the policy judged under GPU nodes:\n%s", lines(rs))
			}
		})
	}
}
