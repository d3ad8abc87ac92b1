// Package logs follows the logs of every pod and container an app runs, in one
// or several clusters, merged into one stream (kubectl zz logs). It never
// imports cobra: the command turns flags into a Config and calls Run.
//
// It is three parts, as stern's target.go, watch.go and tail.go:
//
//   - target.go: a pure filter, Selector.Targets, from a pod to the containers
//     whose logs to stream (table-tested);
//   - a thin loop per cluster and namespace: a pod informer whose events
//     start streams for containers that appear or restart and stop the
//     streams of pods that go away, under a cap on concurrent streams.
//     follow.go holds Run, the manager and what it tells the user (the
//     pods it waits for, a container filter that left nothing); watch.go
//     the initial lists and the informers (listed once or watched, their
//     errors, the slim pods they cache); reconcile.go what a pod event does
//     to its streams (start, restart, stop after a grace, a pod's problem
//     said once);
//   - stream.go: the consumer of one CRI-timestamped log stream (tested with
//     readers). Every request asks for timestamps, so a broken stream is
//     reopened with sinceTime at the last line seen, and the overlap is dropped:
//     lines older than the last one, and as many lines at its exact timestamp
//     as were already written. No line is lost or doubled.
//
// Lines pass the --include/--exclude filters and are formatted (format.go)
// before they reach the sink (sink.go): stdout through one buffered writer, or
// one file per cluster/namespace/pod/container under --output-dir.
package logs
