package manifests

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/zzcloud/zz/internal/contract"
	"github.com/zzcloud/zz/internal/inject"
)

// TestShippedWebhookPolicy: the starting policy an admin installs is valid
// (the webhook would otherwise run on its built-in fallback) and does what its
// comments promise for the pods kubectl zz deploy renders: a java app gets
// the JVM's processor count, and every pool's pods go to zz-scheduler.
func TestShippedWebhookPolicy(t *testing.T) {
	var cm corev1.ConfigMap
	object(t, "webhook/policy.yaml", "ConfigMap", "zz-webhook-policy", &cm)
	p, err := inject.FromConfigMapData(cm.Data)
	if err != nil {
		t.Fatalf("the shipped policy does not load: %v", err)
	}
	for _, tc := range []struct {
		typ      string
		wantJava bool
	}{{"java", true}, {"web", false}} {
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "app", Labels: map[string]string{contract.LabelType: tc.typ}},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{
				Name: "app", Image: "app:1",
				Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2")}},
			}}},
		}
		if _, err := p.Mutate(pod, "shop"); err != nil {
			t.Fatalf("%s pod: %v", tc.typ, err)
		}
		var javaOpts string
		for _, e := range pod.Spec.Containers[0].Env {
			if e.Name == contract.EnvJavaOptions {
				javaOpts = e.Value
			}
		}
		if got := strings.Contains(javaOpts, "-XX:ActiveProcessorCount=2"); got != tc.wantJava {
			t.Errorf("%s pod: %s=%q, want the JVM flag: %v", tc.typ, contract.EnvJavaOptions, javaOpts, tc.wantJava)
		}
		if pod.Spec.SchedulerName != contract.SchedulerName {
			t.Errorf("%s pod: schedulerName %q, want %q", tc.typ, pod.Spec.SchedulerName, contract.SchedulerName)
		}
		if pool := pod.Spec.NodeSelector[contract.LabelPool]; pool != "general" {
			t.Errorf("%s pod: pool %q, want the default pool general", tc.typ, pool)
		}
	}
	// A GPU app that names no pool runs on the GPU nodes, not the general
	// pool's, where it would wait for good.
	gpu := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "infer"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name: "app", Image: "infer:1",
			Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{contract.ResourceGPUMem: resource.MustParse("10Gi")}},
		}}},
	}
	if _, err := p.Mutate(gpu, "ml"); err != nil {
		t.Fatalf("GPU pod: %v", err)
	}
	if pool := gpu.Spec.NodeSelector[contract.LabelPool]; pool != "gpu" {
		t.Errorf("GPU pod naming no pool: pool %q, want gpu (defaultGPUPool)", pool)
	}
}
