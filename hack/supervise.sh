#!/usr/bin/env bash
# Runs one zz server of a hack/ cluster (started by start_addon in lib.sh) and
# starts it again whenever it exits, as a kubelet restarts a container: an
# apiserver outage over ~10 s ends zz-scheduler (leader election lost,
# kube-scheduler's own behaviour), and unsupervised it stayed down for good
# (an incident audit). Backoff 1 s, doubled up to 10 s, back to 1 s once a
# run lasted 30 s; each restart is a line in the server's log.
#
#   hack/supervise.sh NAME STATE BINARY ARGS...
#
# STATE/pids/NAME.pid holds the server's "PID BINARY", rewritten at each
# start (cluster-down and the e2e tests read it); the supervisor's own is
# STATE/pids/NAME-supervisor.pid ("PID BASH SCRIPT"), written by start_addon.
# The server logs to STATE/logs/NAME.log (appended).
#
# To keep the server down (an incident drill, a test), create
# STATE/pids/NAME.hold, then stop it: while that file exists it is not
# started again; remove it and it starts within a second. SIGTERM to the
# supervisor (cluster-down sends it) stops the server and the supervisor.
set -uo pipefail
[[ $# -ge 3 ]] || { echo "usage: $0 NAME STATE BINARY ARGS..." >&2; exit 2; }
name=$1 state=$2 bin=$3
shift 3
pidfile="${state}/pids/${name}.pid" hold="${state}/pids/${name}.hold" logfile="${state}/logs/${name}.log"
exe="$(readlink -f "${bin}")"

say() { printf '%s hack/supervise.sh: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*" >> "${logfile}"; }

stopping=0 child="" sleeper=""
on_term() {
  stopping=1
  [[ -n "${child}" ]] && kill -TERM "${child}" 2>/dev/null
  [[ -n "${sleeper}" ]] && kill -TERM "${sleeper}" 2>/dev/null
}
trap on_term TERM INT

# pause SECONDS sleeps, cut short by SIGTERM.
pause() {
  sleep "$1" &
  sleeper=$!
  wait "${sleeper}" 2>/dev/null
  sleeper=""
}

backoff=1
while ((!stopping)); do
  if [[ -e "${hold}" ]]; then
    say "${name} is held (${hold} exists): not starting it until that file is removed"
    while [[ -e "${hold}" ]] && ((!stopping)); do pause 0.5; done
    ((stopping)) && break
    say "${hold} removed: starting ${name}"
  fi
  "${bin}" "$@" >> "${logfile}" 2>&1 < /dev/null &
  child=$!
  # Written aside then renamed: a reader never sees the file empty.
  echo "${child} ${exe}" > "${pidfile}.new" && mv -f "${pidfile}.new" "${pidfile}"
  started=${SECONDS}
  # wait returns early when a trapped signal arrives: wait again until
  # the server itself has exited, then take its status.
  while :; do
    wait "${child}" 2>/dev/null # no "Killed" notice in the log: the line below says it
    rc=$?
    kill -0 "${child}" 2>/dev/null || break
  done
  child=""
  ((stopping)) && break
  ran=$((SECONDS - started))
  ((ran >= 30)) && backoff=1
  if [[ -e "${hold}" ]]; then
    say "${name} exited with status ${rc} after ${ran}s"
    continue
  fi
  say "${name} exited with status ${rc} after ${ran}s; starting it again in ${backoff}s (keep it down: touch ${hold})"
  pause "${backoff}"
  backoff=$((backoff * 2 > 10 ? 10 : backoff * 2))
done
say "stopped by SIGTERM: ${name} is not started again"
