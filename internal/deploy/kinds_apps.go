package deploy

import (
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/client-go/kubernetes"
)

var (
	deploymentOps = withWhole(ops("Deployment", true, func(c kubernetes.Interface, ns string) kindClient[*appsv1.Deployment, *appsv1.DeploymentList] {
		return c.AppsV1().Deployments(ns)
	}), wholePart{path: []string{"spec", "template"}, name: "pod template", resource: "deployments",
		put: putSpec(func(l, w *appsv1.Deployment) *appsv1.Deployment {
			l.Spec.Template = *w.Spec.Template.DeepCopy()
			return l
		})})
	ingressOps = withWhole(ops("Ingress", true, func(c kubernetes.Interface, ns string) kindClient[*networkingv1.Ingress, *networkingv1.IngressList] {
		return c.NetworkingV1().Ingresses(ns)
	}), wholePart{path: []string{"spec"}, name: "spec", resource: "ingresses",
		put: putSpec(func(l, w *networkingv1.Ingress) *networkingv1.Ingress { l.Spec = *w.Spec.DeepCopy(); return l })})
	hpaOps = withWhole(ops("HorizontalPodAutoscaler", true, func(c kubernetes.Interface, ns string) kindClient[*autoscalingv2.HorizontalPodAutoscaler, *autoscalingv2.HorizontalPodAutoscalerList] {
		return c.AutoscalingV2().HorizontalPodAutoscalers(ns)
	}), wholePart{path: []string{"spec"}, name: "spec", resource: "horizontalpodautoscalers",
		put: putSpec(func(l, w *autoscalingv2.HorizontalPodAutoscaler) *autoscalingv2.HorizontalPodAutoscaler {
			l.Spec = *w.Spec.DeepCopy()
			return l
		})})
	pdbOps = withWhole(ops("PodDisruptionBudget", true, func(c kubernetes.Interface, ns string) kindClient[*policyv1.PodDisruptionBudget, *policyv1.PodDisruptionBudgetList] {
		return c.PolicyV1().PodDisruptionBudgets(ns)
	}), wholePart{path: []string{"spec"}, name: "spec", resource: "poddisruptionbudgets",
		put: putSpec(func(l, w *policyv1.PodDisruptionBudget) *policyv1.PodDisruptionBudget {
			l.Spec = *w.Spec.DeepCopy()
			return l
		})})
)
