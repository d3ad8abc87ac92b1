package clustercheck

import (
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/utils/ptr"

	"github.com/zzcloud/zz/internal/contract"
)

// TestTenantWorkloadsAreNotZz: a namespace's edit user labels its own
// Deployments and DaemonSet app.kubernetes.io/part-of=zz, names them as zz's
// and points them at ConfigMaps of its own. Check judges zz where zz
// installs it (zz-system, zz-device-plugin) and nothing of theirs: before,
// a hostile-tenant audit failed an admin's check at will, had it judge the
// webhook policy from the tenant's ConfigMap (and tell the admin to edit
// it), and added a scheduler configuration and device-plugin rows of the
// tenant's (shop sorts before zz-system, so its "webhook" was the one read).
func TestTenantWorkloadsAreNotZz(t *testing.T) {
	cfgVolume := []corev1.Volume{{Name: "c", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
		LocalObjectReference: corev1.LocalObjectReference{Name: "fake-scheduler"}}}}}
	objs := append(healthy(t),
		&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "fake-policy", Namespace: "shop"}, Data: map[string]string{contract.PolicyKey: "pools: {}\n"}},
		&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "fake-scheduler", Namespace: "shop"}, Data: map[string]string{"cfg.yaml": "extenders: []\n"}},
		&appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "zz-webhook", Namespace: "shop", Labels: part},
			Spec: appsv1.DeploymentSpec{Replicas: ptr.To[int32](1), Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
				Containers: []corev1.Container{{Name: "zz-webhook", Args: []string{"--policy-configmap=shop/fake-policy", "--config=/cfg/cfg.yaml"},
					VolumeMounts: []corev1.VolumeMount{{Name: "c", MountPath: "/cfg"}}}},
				Volumes: cfgVolume}}}},
		&appsv1.DaemonSet{ObjectMeta: metav1.ObjectMeta{Name: "gpu-device-plugin", Namespace: "shop", Labels: part},
			Spec: appsv1.DaemonSetSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "p",
				Args: []string{"--over-request=off", "--device-list-strategy=envvar"}}}}}},
			Status: appsv1.DaemonSetStatus{DesiredNumberScheduled: 1}},
	)
	s := Gather(t.Context(), fake.NewClientset(objs...), Probes{AsNode: asNode(true)})
	rs := Evaluate(s, now)
	if s.PolicySource != "zz-system/zz-webhook-policy" {
		t.Errorf("the webhook policy read from %s; want zz-system/zz-webhook-policy", s.PolicySource)
	}
	if Worst(rs) != OK || strings.Contains(lines(rs), "shop/") {
		t.Errorf("a tenant's look-alikes judged as zz's:\n%s", lines(rs))
	}
}
