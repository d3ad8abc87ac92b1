package appspec

import (
	"maps"
	"slices"
)

// Clone returns a deep copy of a, so that a spec recorded with a revision is
// never changed by the defaults or a later edit of the one it came from.
func (a *App) Clone() *App {
	if a == nil {
		return nil
	}
	c := *a
	s := &c.Spec
	if s.Replicas != nil {
		r := *s.Replicas
		s.Replicas = &r
	}
	if s.GPUs != nil {
		n := *s.GPUs
		s.GPUs = &n
	}
	s.Env = maps.Clone(s.Env)
	s.ConfigFiles = maps.Clone(s.ConfigFiles)
	s.Labels = maps.Clone(s.Labels)
	s.Annotations = maps.Clone(s.Annotations)
	s.SecretEnv = maps.Clone(s.SecretEnv)
	s.Command = slices.Clone(s.Command)
	s.Args = slices.Clone(s.Args)
	s.InitCommand = slices.Clone(s.InitCommand)
	s.HealthCommand = slices.Clone(s.HealthCommand)
	s.EnvFrom = slices.Clone(s.EnvFrom)
	s.ImagePullSecrets = slices.Clone(s.ImagePullSecrets)
	if s.SecretFiles != nil {
		s.SecretFiles = slices.Clone(s.SecretFiles)
		for i := range s.SecretFiles {
			s.SecretFiles[i].Keys = slices.Clone(s.SecretFiles[i].Keys)
		}
	}
	s.Scratch = slices.Clone(s.Scratch)
	if s.Sidecars != nil {
		s.Sidecars = slices.Clone(s.Sidecars)
		for i := range s.Sidecars {
			sc := &s.Sidecars[i]
			sc.Command, sc.Args, sc.Ports, sc.Mounts = slices.Clone(sc.Command), slices.Clone(sc.Args), slices.Clone(sc.Ports), slices.Clone(sc.Mounts)
			sc.Env, sc.SecretEnv = maps.Clone(sc.Env), maps.Clone(sc.SecretEnv)
			if sc.SecretFiles != nil {
				sc.SecretFiles = slices.Clone(sc.SecretFiles)
				for j := range sc.SecretFiles {
					sc.SecretFiles[j].Keys = slices.Clone(sc.SecretFiles[j].Keys)
				}
			}
			if sc.Startup != nil {
				st := *sc.Startup
				sc.Startup = &st
			}
		}
	}
	s.Ports = slices.Clone(s.Ports)
	s.GPUModels = slices.Clone(s.GPUModels)
	s.AvoidGPUModels = slices.Clone(s.AvoidGPUModels)
	s.PreStop = slices.Clone(s.PreStop)
	if s.Ingress != nil {
		in := *s.Ingress
		in.Annotations = maps.Clone(in.Annotations)
		s.Ingress = &in
	}
	if s.Service != nil {
		sv := *s.Service
		sv.Annotations = maps.Clone(sv.Annotations)
		sv.LoadBalancerSourceRanges = slices.Clone(sv.LoadBalancerSourceRanges)
		s.Service = &sv
	}
	if s.HPA != nil {
		h := *s.HPA
		s.HPA = &h
	}
	if s.PVC != nil {
		p := *s.PVC
		s.PVC = &p
	}
	if sc := s.SecurityContext; sc != nil {
		cp := *sc
		for _, id := range []**int64{&cp.RunAsUser, &cp.RunAsGroup, &cp.FSGroup} {
			if *id != nil {
				v := **id
				*id = &v
			}
		}
		s.SecurityContext = &cp
	}
	return &c
}
