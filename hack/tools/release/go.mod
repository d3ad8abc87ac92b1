module github.com/zzcloud/zz/hack/tools/release

// make release: kubectl-zz archives and the krew manifest. Its own module, like
// the other tools under hack/tools, so nothing here reaches the product's go.mod.

go 1.26.0

require sigs.k8s.io/yaml v1.6.0

require go.yaml.in/yaml/v2 v2.4.2 // indirect
