package clustercheck

import (
	"fmt"
	"regexp"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
)

// webhookPolicy judges an invalid policy ConfigMap by what the webhook
// itself reports: a replica that loaded a valid policy keeps it and stays
// ready; one started since the ConfigMap became invalid has none, fails
// /readyz and leaves the Service, so with every replica unready the
// apiserver refuses every pod of opted-in namespaces. check used to say
// "the webhook keeps the last valid one it loaded" in that state too, under
// GPU nodes (a chaos audit).
func webhookPolicy(s *State) []Result {
	if s.PolicyInvalid == nil {
		return nil
	}
	r := Result{Group: GroupWebhook, Name: "the webhook policy " + s.PolicySource,
		Hint: policyFix(s.PolicySource)}
	bad := s.PolicyInvalid.Error()
	ready, replicas, known := webhookReadiness(s.Deployments)
	switch {
	case known && ready == 0 || !known && webhookCallFailed(s):
		r.Status, r.Detail = Fail, "invalid, and no webhook replica is ready: each started since it became invalid has no policy, so the apiserver refuses every pod of opted-in namespaces now: fix the policy: "+bad
	case known && ready < replicas:
		r.Status, r.Detail = Warn, fmt.Sprintf("invalid: %d of %d webhook replicas are ready and keep the last valid policy until they restart; the others started since and have none; once none is ready, every pod of opted-in namespaces is refused: %s", ready, replicas, bad)
	case known:
		r.Status, r.Detail = Warn, "invalid: the webhook keeps the last valid policy until it restarts; the next restart (a drain, an OOM, an upgrade) refuses every pod of opted-in namespaces: "+bad
	default:
		r.Status, r.Detail = Warn, "invalid: the webhook keeps the last valid policy it loaded, if it loaded one since it started; one started since refuses every pod of opted-in namespaces: "+bad
	}
	return []Result{r}
}

// policyFix is the hint for an invalid policy in ConfigMap source (ns/name).
func policyFix(source string) string {
	ns, name, _ := strings.Cut(source, "/")
	return fmt.Sprintf("kubectl -n %s edit configmap %s (the error above names the field); kubectl -n %s get events --field-selector reason=PolicyInvalid", ns, name, ns)
}

// webhookReadiness is the ready and desired replicas of the zz webhook's
// Deployment (the one policySource reads); known is false where there is
// none with replicas (a webhook run outside the cluster).
func webhookReadiness(deps []appsv1.Deployment) (ready, replicas int32, known bool) {
	for _, d := range deps {
		if !isWebhook(d) {
			continue
		}
		replicas = 1
		if d.Spec.Replicas != nil {
			replicas = *d.Spec.Replicas
		}
		return d.Status.ReadyReplicas, replicas, replicas > 0
	}
	return 0, 0, false
}

// isWebhook says whether d runs the zz webhook, as policySource finds it.
func isWebhook(d appsv1.Deployment) bool {
	ns, name, ok := policySource([]appsv1.Deployment{d})
	return ok && ns != "" && name != ""
}

// webhookCallFailed says whether the dry-run probe found the apiserver
// unable to call a zz webhook.
func webhookCallFailed(s *State) bool {
	return s.WebhookProbe != nil && s.WebhookProbe.Err != nil && s.WebhookProbe.Answer == "" && callFailed(s.WebhookProbe.Err.Error(), s.Webhooks)
}

// tlsFailure matches the apiserver's words for a webhook whose serving
// certificate its caBundle does not verify.
var tlsFailure = regexp.MustCompile(`x509: |tls: |certificate`)

// callFailedHint is what to look at when the apiserver cannot call the
// webhook: the policy when it is invalid and no replica is ready, the
// caBundle only for a TLS failure, else the Service or URL and the
// webhook's pods.
func callFailedHint(s *State, msg string) string {
	if ready, _, known := webhookReadiness(s.Deployments); s.PolicyInvalid != nil && (!known || ready == 0) {
		return "the webhook has no valid policy (the webhook policy " + s.PolicySource + ", below): " + policyFix(s.PolicySource)
	}
	if tlsFailure.MatchString(msg) {
		return getWebhookConfigs(s.Webhooks) + " (clientConfig: its caBundle must verify the webhook's serving certificate), then the webhook's logs"
	}
	return getWebhookConfigs(s.Webhooks) + " (clientConfig: the Service or URL), then the webhook's pods, their /readyz and logs"
}
