package render

import (
	"maps"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/zzcloud/zz/internal/appspec"
	"github.com/zzcloud/zz/internal/contract"
)

func (r *renderer) configMap() *corev1.ConfigMap {
	return &corev1.ConfigMap{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
		ObjectMeta: r.meta(ConfigMapName(r.app.Name, r.s.ConfigFiles)),
		Immutable:  ptr.To(true),
		Data:       r.s.ConfigFiles,
	}
}

func (r *renderer) pvc() *corev1.PersistentVolumeClaim {
	p := r.s.PVC
	pvc := &corev1.PersistentVolumeClaim{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "PersistentVolumeClaim"},
		ObjectMeta: r.meta(PVCName(r.app.Name)),
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes: []corev1.PersistentVolumeAccessMode{corev1.PersistentVolumeAccessMode(p.AccessMode)},
			Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{
				corev1.ResourceStorage: resource.MustParse(p.Size),
			}},
		},
	}
	if p.StorageClass != "" {
		pvc.Spec.StorageClassName = ptr.To(p.StorageClass)
	}
	return pvc
}

// portName is the container and Service port name for the app's protocol.
func (r *renderer) portName() string { return PortName(r.s.Type) }

// PortName is the name of the app's port (spec.port) on its container and
// its Service, for an app of type t.
func PortName(t appspec.Type) string {
	if t == appspec.TypeRPC {
		return "rpc"
	}
	return "http"
}

func (r *renderer) service() *corev1.Service {
	svc := &corev1.Service{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
		ObjectMeta: r.meta(r.app.Name),
		Spec: corev1.ServiceSpec{
			Type:     corev1.ServiceTypeClusterIP,
			Selector: r.selector(),
			Ports:    r.servicePorts(),
		},
	}
	if sv := r.s.Service; sv != nil {
		if sv.Type != "" {
			svc.Spec.Type = corev1.ServiceType(sv.Type)
		}
		svc.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicy(sv.ExternalTrafficPolicy)
		svc.Spec.LoadBalancerSourceRanges = sv.LoadBalancerSourceRanges
		if len(sv.Annotations) > 0 {
			if svc.Annotations == nil {
				svc.Annotations = map[string]string{}
			}
			maps.Copy(svc.Annotations, sv.Annotations)
		}
	}
	return svc
}

// servicePorts are the app's port (to the front sidecar port if one is)
// and its extra named ports.
func (r *renderer) servicePorts() []corev1.ServicePort {
	port := r.s.Port
	if sv := r.s.Service; sv != nil && sv.Port != 0 {
		port = sv.Port
	}
	target := r.portName()
	if _, p, ok := r.s.Front(); ok { // an auth proxy in front of the app
		target = p.Name
	}
	ports := []corev1.ServicePort{{
		Name: r.portName(), Protocol: corev1.ProtocolTCP, Port: port,
		TargetPort: intstr.FromString(target),
	}}
	for _, p := range r.s.Ports {
		ports = append(ports, corev1.ServicePort{Name: p.Name, Protocol: corev1.Protocol(p.Protocol), Port: p.Port, TargetPort: intstr.FromString(p.Name)})
	}
	return ports
}

func (r *renderer) ingress() *networkingv1.Ingress {
	in := r.s.Ingress
	ing := &networkingv1.Ingress{
		TypeMeta:   metav1.TypeMeta{APIVersion: "networking.k8s.io/v1", Kind: "Ingress"},
		ObjectMeta: r.meta(r.app.Name),
		Spec: networkingv1.IngressSpec{Rules: []networkingv1.IngressRule{{
			Host: in.Host,
			IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{
				Paths: []networkingv1.HTTPIngressPath{{
					Path: in.Path, PathType: ptr.To(networkingv1.PathTypePrefix),
					Backend: networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{
						Name: r.app.Name, Port: networkingv1.ServiceBackendPort{Name: r.portName()},
					}},
				}},
			}},
		}}},
	}
	if in.ClassName != "" {
		ing.Spec.IngressClassName = ptr.To(in.ClassName)
	}
	if in.TLSSecret != "" {
		ing.Spec.TLS = []networkingv1.IngressTLS{{Hosts: []string{in.Host}, SecretName: in.TLSSecret}}
	}
	if len(in.Annotations) > 0 {
		if ing.Annotations == nil {
			ing.Annotations = map[string]string{}
		}
		maps.Copy(ing.Annotations, in.Annotations)
	}
	return ing
}

func (r *renderer) hpa() *autoscalingv2.HorizontalPodAutoscaler {
	h := r.s.HPA
	return &autoscalingv2.HorizontalPodAutoscaler{
		TypeMeta:   metav1.TypeMeta{APIVersion: "autoscaling/v2", Kind: "HorizontalPodAutoscaler"},
		ObjectMeta: r.meta(r.app.Name),
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: r.app.Name},
			MinReplicas:    ptr.To(h.Min),
			MaxReplicas:    h.Max,
			// cpuPercent of the spec's cpu, as an average value of the app
			// container's use: a utilization would count against the
			// request, which the webhook's CPU overcommit lowers (to half
			// on a pool with ratio 0.5), and scale out at half the load
			// meant (an app-developer audit); a pod-wide metric would count
			// the sidecars a webhook policy adds against the app's share.
			Metrics: []autoscalingv2.MetricSpec{{
				Type: autoscalingv2.ContainerResourceMetricSourceType,
				ContainerResource: &autoscalingv2.ContainerResourceMetricSource{
					Name: corev1.ResourceCPU, Container: ContainerName,
					Target: autoscalingv2.MetricTarget{
						Type: autoscalingv2.AverageValueMetricType, AverageValue: cpuShare(r.s.CPU, h.CPUPercent),
					},
				},
			}},
		},
	}
}

// cpuShare is percent of cpu, in millicores (at least 1m; 1m for a cpu
// that does not parse, which validation refuses).
func cpuShare(cpu string, percent int32) *resource.Quantity {
	q, _ := resource.ParseQuantity(cpu)
	return resource.NewMilliQuantity(max(1, q.MilliValue()*int64(percent)/100), resource.DecimalSI)
}

func (r *renderer) pdb() *policyv1.PodDisruptionBudget {
	return &policyv1.PodDisruptionBudget{
		TypeMeta:   metav1.TypeMeta{APIVersion: "policy/v1", Kind: "PodDisruptionBudget"},
		ObjectMeta: r.meta(r.app.Name),
		Spec: policyv1.PodDisruptionBudgetSpec{
			MaxUnavailable: ptr.To(intstr.FromInt32(1)),
			Selector:       &metav1.LabelSelector{MatchLabels: r.selector()},
		},
	}
}

func (r *renderer) deployment() *appsv1.Deployment {
	meta := r.meta(r.app.Name)
	meta.Labels[contract.LabelTrack] = r.track
	d := &appsv1.Deployment{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
		ObjectMeta: meta,
		Spec: appsv1.DeploymentSpec{
			Selector:                &metav1.LabelSelector{MatchLabels: r.selector()},
			RevisionHistoryLimit:    ptr.To[int32](10),
			ProgressDeadlineSeconds: ptr.To(r.progressDeadline()),
			// A new pod counts as available, and the rollout goes on, only
			// once it has stayed ready this long: one that crashes soon
			// after its first readiness fails the rollout.
			MinReadySeconds: r.s.MinReadySeconds,
			// Surge, never take a ready pod down first: a bad version leaves
			// the running one serving.
			Strategy: appsv1.DeploymentStrategy{
				Type: appsv1.RollingUpdateDeploymentStrategyType,
				RollingUpdate: &appsv1.RollingUpdateDeployment{
					MaxSurge:       ptr.To(intstr.FromString("25%")),
					MaxUnavailable: ptr.To(intstr.FromInt32(0)),
				},
			},
			Template: r.podTemplate(),
		},
	}
	if r.s.Rollout == appspec.RolloutReplace {
		// An old pod goes first, a quarter of them at a time: its room (a
		// GPU app's card memory) goes to the new one. A share, not a count
		// of the replicas rendered, which a scale or an HPA changes (a
		// review: 10 of 40 became all 4 after a scale); where it rounds to
		// none, the Deployment controller takes one at a time.
		d.Spec.Strategy.RollingUpdate = &appsv1.RollingUpdateDeployment{
			MaxSurge:       ptr.To(intstr.FromInt32(0)),
			MaxUnavailable: ptr.To(intstr.FromString("25%")),
		}
	}
	if p := r.s.PVC; p != nil && p.AccessMode == appspec.AccessModeOnce {
		// One node mounts the volume: a surge pod placed on another would
		// wait on it for good (Multi-Attach), so the old pod goes first, as
		// charts of single-replica stateful apps do.
		d.Spec.Strategy = appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType}
	}
	// With an HPA the autoscaler owns the count; applying one would fight it.
	if r.s.HPA == nil {
		d.Spec.Replicas = ptr.To(*r.s.Replicas)
	}
	return d
}
