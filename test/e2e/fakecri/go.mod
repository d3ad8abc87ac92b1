module github.com/zzcloud/zz/test/e2e/fakecri

// The fake container runtime of the real-kubelet e2e test, in a module of its
// own so that k8s.io/cri-client and k8s.io/cri-api (test-only) stay out of the
// product's go.mod. The framework builds it here (framework.GoBuild).

go 1.26.0

require (
	github.com/zzcloud/zz v0.0.0
	google.golang.org/grpc v1.82.1
	k8s.io/cri-api v0.37.2
	k8s.io/cri-client v0.37.2
)

require (
	github.com/Microsoft/go-winio v0.6.2 // indirect
	github.com/stretchr/testify v1.12.1 // indirect
	go.yaml.in/yaml/v3 v3.0.5 // indirect
	golang.org/x/net v0.57.0 // indirect
	golang.org/x/sys v0.47.0 // indirect
	golang.org/x/text v0.40.0 // indirect
	google.golang.org/genproto/googleapis/rpc v0.0.0-20260526163538-3dc84a4a5aaa // indirect
	google.golang.org/protobuf v1.36.12-0.20260120151049-f2248ac996af // indirect
	k8s.io/utils v0.0.0-20260626114624-be93311217bd // indirect
)

replace github.com/zzcloud/zz => ../../..
