// Package extender is the zz scheduler extender: kube-scheduler calls it over
// HTTP (types of k8s.io/kube-scheduler/extender/v1) to filter and score nodes
// for pods asking for GPU memory, to bind them after writing their card
// choice on the pod, and to score every pod's nodes for an even cluster.
//
// Decisions (Decider) are pure reads of two informer-fed books, the GPU ledger
// (internal/gpushare) and the request book (internal/balance); the HTTP layer
// (Handler) only decodes, calls them and encodes; Binder does the API writes,
// after the ledger recorded the choice under its lock, so no card is ever
// given more memory than it has, however many binds run at once.
//
// A GPU pod that fits no node may preempt (Preemptor): the ledger plans the
// victims (pure), the Preemptor evicts them through the Eviction API in the
// background, and the ledger keeps what they free for the preemptor until
// its cards are chosen; kube-scheduler's own preemption cannot see GPU
// memory.
//
// Endpoints, relative to the urlPrefix of the scheduler's extender entries:
//
//	POST /gpu/filter          ExtenderArgs -> ExtenderFilterResult
//	POST /gpu/prioritize      ExtenderArgs -> HostPriorityList (card fit by policy)
//	POST /gpu/bind            ExtenderBindingArgs -> ExtenderBindingResult
//	POST /gpu/preempt         ExtenderPreemptionArgs -> ExtenderPreemptionResult (kube-scheduler's own preemption, made to see GPU memory)
//	POST /balance/prioritize  ExtenderArgs -> HostPriorityList (even cluster)
//	GET  /healthz /readyz /metrics
package extender
