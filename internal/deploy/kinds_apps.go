package deploy

import (
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/client-go/kubernetes"
)

var (
	deploymentOps = ops("Deployment", true, func(c kubernetes.Interface, ns string) kindClient[*appsv1.Deployment, *appsv1.DeploymentList] {
		return c.AppsV1().Deployments(ns)
	})
	ingressOps = ops("Ingress", true, func(c kubernetes.Interface, ns string) kindClient[*networkingv1.Ingress, *networkingv1.IngressList] {
		return c.NetworkingV1().Ingresses(ns)
	})
	hpaOps = ops("HorizontalPodAutoscaler", true, func(c kubernetes.Interface, ns string) kindClient[*autoscalingv2.HorizontalPodAutoscaler, *autoscalingv2.HorizontalPodAutoscalerList] {
		return c.AutoscalingV2().HorizontalPodAutoscalers(ns)
	})
	pdbOps = ops("PodDisruptionBudget", true, func(c kubernetes.Interface, ns string) kindClient[*policyv1.PodDisruptionBudget, *policyv1.PodDisruptionBudgetList] {
		return c.PolicyV1().PodDisruptionBudgets(ns)
	})
)
