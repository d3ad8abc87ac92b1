package deploy

import (
	"errors"
	"slices"
	"strings"

	"github.com/zzcloud/zz/internal/contract"
	"github.com/zzcloud/zz/internal/prose"
)

// OutageError is the ErrRolloutFailed (same words) of a rollout that only a
// zz component's outage held up: the zz webhook, which the apiserver calls
// for every pod of an opted-in namespace; zz-scheduler; its extender. Its
// failure named the cause, as the progress line did; what comes next is no
// fix of the app: the Deployment's controller and the scheduler retry, so
// what was applied rolls out by itself once the component is back (an
// incident audit was told "fix it and deploy again" of a spec that was
// right).
type OutageError struct {
	// Down names the components, "zz-webhook and zz-scheduler".
	Down string
}

func (e *OutageError) Error() string { return ErrRolloutFailed.Error() }

func (e *OutageError) Unwrap() error { return ErrRolloutFailed }

// rolloutFailed is the error a failure's message wraps: an OutageError when
// outage names a component, else ErrRolloutFailed.
func rolloutFailed(down string) error {
	if down == "" {
		return ErrRolloutFailed
	}
	return &OutageError{Down: down}
}

// outage names the zz components whose outage alone holds the rollout up,
// from the Deployment's ReplicaFailure (the apiserver could not call the zz
// webhook: WebhookDown) and the pods' problems (Problem.Down); "" when none
// did, or when a pod waits for something else too (a crash loop, a probe,
// room), or when the ReplicaFailure is another refusal (Pod Security, a
// quota, another webhook: a review had it told "what was applied rolls out
// by itself"): the app then has its own part to fix. A pod only not
// scheduled yet says nothing either way.
func outage(replicaFailure string, problems []Problem) string {
	var down []string
	switch {
	case WebhookDown(replicaFailure) != "":
		down = append(down, contract.ComponentWebhook)
	case replicaFailure != "":
		return ""
	}
	for _, p := range problems {
		switch {
		case p.Down != "":
			if !slices.Contains(down, p.Down) {
				down = append(down, p.Down)
			}
		case p.Reason == "Pending" && p.Detail == notScheduledYet:
		default:
			return ""
		}
	}
	if len(down) == 0 {
		return ""
	}
	slices.Sort(down)
	return prose.And(down)
}

// downOf is the components an OutageError in err names, "" for none.
func downOf(err error) string {
	var o *OutageError
	if errors.As(err, &o) {
		return o.Down
	}
	return ""
}

// againOnceBack is the next step after a rollout only the outage of down
// held up: the same command, which records the revision, once kubectl zz
// check says the component answers.
func againOnceBack(down string) string {
	return "run the same command again once " + down + " is back (kubectl zz check)"
}

// fixNext is the next step after a failed rollout whose objects stay
// applied: the developer's fix; an admin's where the cause is the pool
// overcommit against the namespace's LimitRange, which no spec fixes; the
// same command again where a zz component's outage was the cause (both
// incident audits).
func fixNext(err error) string {
	if down := downOf(err); down != "" {
		return againOnceBack(down) + "; what was applied rolls out by itself then"
	}
	if strings.Contains(err.Error(), OvercommitConflict) {
		return "deploy again once an admin has changed the pool's cpuOvercommitRatio or the LimitRange, or with the overcommit opt-out above (the spec is not at fault)"
	}
	return "fix it and deploy again"
}
