#!/bin/bash
# ecfnb demo head: report to the server, and abort with the failing exit code and line.
set -e          # stop at the first failing command
set -u          # fail on undefined variables
export ECF_PORT=%ECF_PORT%
export ECF_HOST=%ECFNB_JOB_HOST%  # the server by an address that resolves here
export ECF_NAME=%ECF_NAME%
export ECF_PASS=%ECF_PASS%
export ECF_TRYNO=%ECF_TRYNO%
export ECF_RID=$$
# Give up quickly if the server is gone, so no orphan job retries for a day.
export ECF_TIMEOUT=20
export ECF_DENIED=1

ERROR() {
  reason="exit $1${ecfnb_line:+ at line $ecfnb_line}"
  set +e
  trap - 0 1 2 3 15
  echo "ecfnb demo: job failed: $reason"
  ecflow_client --abort="$reason"
  exit 0
}
trap 'ecfnb_line=$LINENO' ERR
trap 'ERROR $?' 0
trap 'ERROR 143' 1 2 3 15
ecflow_client --init=$$
echo "job %ECF_NAME% try %ECF_TRYNO% on $(hostname) at $(date -u +%%Y-%%m-%%dT%%H:%%M:%%SZ)"
