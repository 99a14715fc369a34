package main

import (
	"errors"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
)

// required checks what the typed decoding cannot: fields the API server requires (the
// OpenAPI schema's required lists and the workload validation a render most often breaks),
// for the kinds a chart renders. Other built-in kinds pass on decoding alone.
func required(obj runtime.Object) error {
	switch o := obj.(type) {
	case *appsv1.Deployment:
		return workload(o.Spec.Selector, &o.Spec.Template)
	case *appsv1.StatefulSet:
		return workload(o.Spec.Selector, &o.Spec.Template)
	case *appsv1.DaemonSet:
		return workload(o.Spec.Selector, &o.Spec.Template)
	case *batchv1.Job:
		if p := o.Spec.Template.Spec.RestartPolicy; p != corev1.RestartPolicyNever && p != corev1.RestartPolicyOnFailure {
			return fmt.Errorf("spec.template.spec.restartPolicy: a Job's must be Never or OnFailure, got %q", p)
		}
		return podSpec("spec.template.spec", &o.Spec.Template.Spec)
	case *corev1.Service:
		for i, port := range o.Spec.Ports {
			if port.Port < 1 || port.Port > 65535 {
				return fmt.Errorf("spec.ports[%d].port: required, 1-65535", i)
			}
		}
	case *policyv1.PodDisruptionBudget:
		if o.Spec.Selector == nil {
			return errors.New("spec.selector: required")
		}
		if (o.Spec.MinAvailable == nil) == (o.Spec.MaxUnavailable == nil) {
			return errors.New("spec: exactly one of minAvailable and maxUnavailable")
		}
	}
	return nil
}

func workload(selector *metav1.LabelSelector, template *corev1.PodTemplateSpec) error {
	if selector == nil {
		return errors.New("spec.selector: required")
	}
	s, err := metav1.LabelSelectorAsSelector(selector)
	if err != nil {
		return fmt.Errorf("spec.selector: %w", err)
	}
	if s.Empty() || !s.Matches(labels.Set(template.Labels)) {
		return errors.New("spec.selector: must match spec.template.metadata.labels")
	}
	return podSpec("spec.template.spec", &template.Spec)
}

func podSpec(path string, spec *corev1.PodSpec) error {
	if len(spec.Containers) == 0 {
		return fmt.Errorf("%s.containers: required", path)
	}
	names := map[string]bool{}
	for i, c := range append(append([]corev1.Container{}, spec.InitContainers...), spec.Containers...) {
		if c.Name == "" || c.Image == "" {
			return fmt.Errorf("%s: container %d needs a name and an image", path, i)
		}
		if names[c.Name] {
			return fmt.Errorf("%s: container name %q used twice", path, c.Name)
		}
		names[c.Name] = true
	}
	return nil
}
