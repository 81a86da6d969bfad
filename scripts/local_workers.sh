#!/usr/bin/env bash
# Starts N fedexec workers on loopback for local use, prints the --workers
# value that reaches them, and stops them all on Ctrl-C or SIGTERM.
#
#   scripts/local_workers.sh 3                 # ports 5001-5003
#   scripts/local_workers.sh 2 --port 6000 -- --threads 1 --capacity 2
#
#   then, in another shell:
#   build/fedexec demo fedavg --workers 127.0.0.1:5001,127.0.0.1:5002,...
#
# Everything after `--` is passed to every `fedexec worker`. Each worker's
# output goes to $LOG_DIR/worker-PORT.log (default: a temporary directory).
set -euo pipefail

usage() {
  echo "usage: $0 N [--port FIRST_PORT] [--fedexec PATH] [-- worker flags...]" >&2
  exit 2
}

[[ $# -ge 1 ]] || usage
count=$1
shift
[[ $count =~ ^[1-9][0-9]*$ ]] || { echo "$0: N must be a positive number, got '$count'" >&2; exit 2; }
first_port=5001
fedexec="$(cd "$(dirname "$0")/.." && pwd)/build/fedexec"
extra=()
while [[ $# -gt 0 ]]; do
  case $1 in
    --port) [[ $# -ge 2 ]] || usage; first_port=$2; shift 2 ;;
    --fedexec) [[ $# -ge 2 ]] || usage; fedexec=$2; shift 2 ;;
    --) shift; extra=("$@"); break ;;
    *) usage ;;
  esac
done
[[ $first_port =~ ^[0-9]+$ ]] && (( first_port >= 1 && first_port + count - 1 <= 65535 )) ||
  { echo "$0: --port $first_port leaves no room for $count workers" >&2; exit 2; }
[[ -x $fedexec ]] || { echo "$0: $fedexec not found: build first (scripts/setup.sh)" >&2; exit 2; }

log_dir=${LOG_DIR:-$(mktemp -d -t fedexec-workers.XXXXXX)}
mkdir -p "$log_dir"
pids=()
addresses=()
stop() {
  trap - INT TERM EXIT
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap stop INT TERM EXIT

for ((i = 0; i < count; i++)); do
  port=$((first_port + i))
  "$fedexec" worker --port "$port" "${extra[@]}" >"$log_dir/worker-$port.log" 2>&1 &
  pids+=($!)
  addresses+=("127.0.0.1:$port")
done
# Each worker prints one line once it serves.
for ((i = 0; i < count; i++)); do
  port=$((first_port + i))
  serving=false
  for _ in $(seq 200); do
    if grep -q "listening on" "$log_dir/worker-$port.log" 2>/dev/null; then
      serving=true
      break
    fi
    if ! kill -0 "${pids[$i]}" 2>/dev/null; then
      echo "$0: the worker on port $port exited:" >&2
      cat "$log_dir/worker-$port.log" >&2
      exit 1
    fi
    sleep 0.1
  done
  if ! $serving; then
    echo "$0: the worker on port $port does not serve after 20 s (log: $log_dir/worker-$port.log)" >&2
    exit 1
  fi
done
workers=$(IFS=,; echo "${addresses[*]}")
echo "$count workers serving; logs in $log_dir"
echo "--workers $workers"
# Until interrupted, or until a worker exits.
wait -n "${pids[@]}" || true
