#!/usr/bin/env bash
# Stops the processes cluster-up started (by PID file, checking each PID still
# runs the binary it started) and removes the cluster's state.
#
#   ZZ_CLUSTER=name hack/cluster-down.sh     # default cluster: zz
set -euo pipefail
# Set but empty is a mistake (lib.sh would fall back to the default cluster "zz").
if [[ -v ZZ_CLUSTER && -z "${ZZ_CLUSTER}" ]]; then
  echo "error: ZZ_CLUSTER is set but empty; name the cluster to stop, or unset it for the default \"zz\"" >&2
  exit 1
fi
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# stop_component NAME sends SIGTERM, waits up to 10 s, then SIGKILL.
stop_component() {
  local pidfile="${ZZ_STATE}/pids/$1.pid" pid exe script
  [[ -f "${pidfile}" ]] || return 0
  read -r pid exe script < "${pidfile}"
  # A PID can be reused after a reboot: only signal the binary we started
  # (rebuilt since or not: a go build while it ran leaves it running).
  if [[ -n "${pid}" ]] && runs_binary "${pid}" "${exe}" "${script}"; then
    kill -TERM "${pid}" 2>/dev/null || true
    local i
    for ((i = 0; i < 100; i++)); do
      runs_binary "${pid}" "${exe}" "${script}" || break
      sleep 0.1
    done
    if runs_binary "${pid}" "${exe}" "${script}"; then
      log "$1 (pid ${pid}) ignored SIGTERM for 10s; killing it"
      kill -KILL "${pid}" 2>/dev/null || true
    fi
  fi
  rm -f "${pidfile}"
}

check_cluster_name
# The folder removed below is ZZ_OUTPUT/cluster/NAME and nothing else.
[[ "$(basename "${ZZ_STATE}")" == "${ZZ_CLUSTER}" && "$(dirname "${ZZ_STATE}")" == "${ZZ_OUTPUT}/cluster" ]] ||
  die "refusing to remove ${ZZ_STATE}: not a cluster folder under ${ZZ_OUTPUT}/cluster"
if [[ ! -d "${ZZ_STATE}" ]]; then
  log "cluster ${ZZ_CLUSTER} is not running"
  exit 0
fi
# Each zz server's supervisor first (it stops its server on SIGTERM and
# starts nothing more), then the server, should it still run.
for c in "${ZZ_ADDONS[@]}"; do
  stop_component "${c}-supervisor"
  stop_component "${c}"
done
for ((i = ${#ZZ_COMPONENTS[@]} - 1; i >= 0; i--)); do
  stop_component "${ZZ_COMPONENTS[i]}"
done
if [[ "${ZZ_KEEP_STATE:-}" == "1" ]]; then
  log "cluster ${ZZ_CLUSTER} stopped; state kept in ${ZZ_STATE}"
else
  rm -rf "${ZZ_STATE}"
  log "cluster ${ZZ_CLUSTER} stopped and its state removed"
fi
