#!/usr/bin/env bash
# One idempotent set-up for `make setup`, `make demo` and `make test` on Debian 12.
# Installs what is missing (apt packages, .venv, ecfnb in editable mode) and makes
# Debian's ecflow module importable in .venv without exposing all system site-packages.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES="ecflow-server ecflow-client python3-ecflow fuse3 python3-venv chromium faketime openssl"
SYSTEM_PYTHON=/usr/bin/python3
VENV=.venv

missing=""
for pkg in $APT_PACKAGES; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing="$missing $pkg"
done
if [ -n "$missing" ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "ecfnb set-up needs these Debian packages:$missing" >&2
    echo "Run:  sudo apt-get update && sudo apt-get install -y$missing" >&2
    echo "then run make again." >&2
    exit 1
  fi
  echo "[setup] apt-get install$missing"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends$missing >/dev/null
fi

if [ ! -x "$VENV/bin/python" ]; then
  echo "[setup] creating $VENV with $SYSTEM_PYTHON"
  "$SYSTEM_PYTHON" -m venv "$VENV"
fi

# Link only the ecflow package directory into the venv (not the whole dist-packages).
ecflow_dir=$("$SYSTEM_PYTHON" -c 'import ecflow, os; print(os.path.dirname(ecflow.__file__))')
site=$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
if [ "$(readlink "$site/ecflow" 2>/dev/null)" != "$ecflow_dir" ]; then
  ln -sfn "$ecflow_dir" "$site/ecflow"
fi

# Reinstall only when the project's declared dependencies changed.
stamp="$VENV/.ecfnb-installed"
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  echo "[setup] pip install -e .[all,dev] (a few minutes the first time)"
  "$VENV/bin/pip" install -q --upgrade pip
  "$VENV/bin/pip" install -q -e ".[all,dev]"
  touch "$stamp"
fi

"$VENV/bin/python" -c 'import ecflow, ecfnb' || { echo "[setup] ecfnb does not import in $VENV" >&2; exit 1; }
echo "[setup] ok: $("$VENV/bin/python" -c 'import ecflow; print("ecflow", ecflow.Client().version())'), venv $VENV"
