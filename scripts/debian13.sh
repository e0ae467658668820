#!/usr/bin/env bash
# CI step `make test-debian13`: the same `make setup && make test` inside a Debian 13
# ("trixie": ecFlow 5.13.8, Python 3.13) chroot, from this Debian 12 machine, as root.
# The root is built once with debootstrap and cached outside the repository
# (DEBIAN13_ROOT, default /var/cache/ecfnb/debian13-root); the checkout is copied in fresh
# each run, its .venv is kept. Exit code: that of `make setup && make test` inside.
# PYTEST_ARGS is passed through (make test-debian13 PYTEST_ARGS='-k fuse').
# Facts this relies on: /work/shared/COMPAT.md.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD

[ "$(id -u)" = 0 ] || { echo "[debian13] needs root (debootstrap, mount, chroot)" >&2; exit 1; }

# realpath -m: every path below is compared with /proc/*/root and /proc/self/mountinfo,
# which show canonical paths.
ROOT=$(realpath -m "${DEBIAN13_ROOT:-/var/cache/ecfnb/debian13-root}")
case "$ROOT" in /|/usr|/usr/*|/etc|/etc/*|/dev|/dev/*|/proc|/proc/*|/sys|/sys/*)
  echo "[debian13] refusing DEBIAN13_ROOT=$ROOT" >&2; exit 1;; esac
# Everything the suite and setup.sh need, plus what the tests call as programs.
# Changing this list installs the difference into the cached root (no rebuild).
# dbus-x11: chromium -> gtk3 -> dconf-service needs "default-dbus-session-bus |
# dbus-session-bus", virtual packages debootstrap cannot resolve (it then fails with
# "dconf-service ... dependency problems"); dbus-x11 provides one without systemd.
PACKAGES="python3 python3-venv ecflow-server ecflow-client python3-ecflow fuse3 git make procps chromium faketime openssl ca-certificates dbus-x11"
STAMP=.ecfnb-debian13-packages   # in ROOT: written last, so a root without it is unfinished
WORK=/work/ecfnb                 # the checkout's path inside the root
CA=/etc/ssl/certs/ca-certificates.crt
say() { echo "[debian13] $*"; }

mkdir -p "$(dirname "$ROOT")"
# One run at a time per root: a second run would wipe the first one's checkout copy or
# take its half-built root for stale.
# Every child gets 9>&-: a process left in the chroot must not keep holding the lock.
exec 9>"$ROOT.lock"
flock -n 9 || { say "waiting for another run on $ROOT"; flock 9; }

# Mount points under a path, deepest first, from mountinfo (field 5; octal escapes decoded).
mounts_under() {
  local m
  while read -r _ _ _ _ m _; do
    m=$(printf '%b' "$m")
    case "$m" in "$1"|"$1"/*) echo "$m";; esac
  done </proc/self/mountinfo | sort -r
}

# Processes whose root directory is in the path: whatever the suite left running
# (ecflow_server ignores SIGTERM, hence KILL after a grace period). By pid, nothing else.
kill_inside() {
  local sig pid r pids
  for sig in TERM TERM TERM KILL KILL; do
    pids=""
    for pid in /proc/[0-9]*; do
      r=$(readlink "$pid/root" 2>/dev/null) || continue
      case "$r" in "$1"|"$1"/*) pids="$pids ${pid#/proc/}";; esac
    done
    [ -n "$pids" ] || return 0
    [ "${2:-}" = quiet ] || say "kill -$sig$pids (left running in the chroot)"
    kill -"$sig" $pids 2>/dev/null || true
    sleep 1
  done
}

# Lazy unmount: /dev and FUSE mounts the suite left may still be busy; each pass takes
# what is left (a parent's detach takes its children along).
unmount_under() {
  local m n=0
  while [ -n "$(mounts_under "$1")" ] && [ $n -lt 5 ]; do
    for m in $(mounts_under "$1"); do umount -l "$m" 2>/dev/null || true; done
    n=$((n + 1))
  done
  if [ -n "$(mounts_under "$1")" ]; then
    say "still mounted under $1:" >&2; mounts_under "$1" >&2; return 1
  fi
}

# rm -rf only with nothing mounted below: the binds of /dev and /opt/... are on the host's
# own files (and on the same device, so rm --one-file-system would not stop there).
safe_rm() {
  local p
  for p in "$@"; do
    [ -e "$p" ] || continue
    kill_inside "$p" quiet
    unmount_under "$p"
    rm -rf --one-file-system "$p"
  done
}

release() { kill_inside "$ROOT"; unmount_under "$ROOT"; }

BUILD="" DEBOOTSTRAP=""
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  set +e
  if [ -n "$BUILD" ]; then
    [ -n "$DEBOOTSTRAP" ] && kill "$DEBOOTSTRAP" 2>/dev/null && wait "$DEBOOTSTRAP" 2>/dev/null
    say "build interrupted: removing $BUILD"; safe_rm "$BUILD"; rm -f "$BUILD.log"
  fi
  release || rc=1
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# A killed earlier run (SIGKILL, reboot of nothing) may have left processes and mounts;
# an interrupted build leaves ROOT.tmp.*.
release
for old in "$ROOT".tmp.*; do
  if [ -d "$old" ]; then say "removing unfinished build $old"; safe_rm "$old"; else rm -f "$old"; fi
done

# The Debian archive the host's apt uses (a local mirror or proxy if so configured).
# Read only: the host's apt configuration is never changed for this.
host_mirror() {
  local f
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    sed -n -e 's/^[[:space:]]*URIs:[[:space:]]*//p' \
           -e 's/^[[:space:]]*deb[[:space:]]\+\(\[[^]]*\][[:space:]]\+\)\?\([^[:space:]]\+\).*/\2/p' "$f"
  done | tr ' ' '\n' | grep -E '^(https?|file)://.*/debian/?$' | head -n 1 || true
}
MIRROR=${DEBIAN13_MIRROR:-$(host_mirror)}
MIRROR=${MIRROR:-http://deb.debian.org/debian}

want_stamp=$(echo $PACKAGES | tr ' ' '\n')

if [ ! -f "$ROOT/$STAMP" ]; then
  if [ -e "$ROOT" ]; then say "$ROOT has no $STAMP: not a finished root, rebuilding"; safe_rm "$ROOT"; fi
  if ! command -v debootstrap >/dev/null; then
    say "apt-get install debootstrap (host)"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null ||
      { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null; }
  fi
  # Built beside ROOT and renamed when complete: an interrupted build is never taken as done.
  BUILD="$ROOT.tmp.$$"
  say "debootstrap trixie from $MIRROR into $BUILD (2-3 minutes, ~1 GB)"
  t0=$(date +%s)
  # In the background and waited for: a trapped INT/TERM interrupts `wait` at once,
  # while a foreground child would be waited for to its end first.
  debootstrap --variant=minbase --include="$(echo $PACKAGES | tr ' ' ,)" \
    trixie "$BUILD" "$MIRROR" >"$BUILD.log" 2>&1 9>&- &
  DEBOOTSTRAP=$!
  if ! wait $DEBOOTSTRAP; then
    # its own detailed log is inside the build, which goes: keep it beside
    cat "$BUILD/debootstrap/debootstrap.log" >>"$BUILD.log" 2>/dev/null
    mv "$BUILD.log" "$ROOT.debootstrap-failed.log"
    tail -n 30 "$ROOT.debootstrap-failed.log" >&2
    say "debootstrap failed (log: $ROOT.debootstrap-failed.log)" >&2; exit 1
  fi
  # debootstrap mounts proc/sys in the target itself; nothing may stay mounted in a
  # directory about to be renamed.
  unmount_under "$BUILD"
  rm -f "$BUILD"/var/cache/apt/archives/*.deb   # ~300 MB the root never needs again
  echo "$want_stamp" >"$BUILD/$STAMP"
  mv -T "$BUILD" "$ROOT"
  BUILD=""
  rm -f "$ROOT.tmp.$$.log" "$ROOT.debootstrap-failed.log"
  say "debootstrap took $(( $(date +%s) - t0 )) s"
fi

# A file from the host into the root at the same path. --remove-destination: a symlink in
# the root (e.g. resolv.conf) must be replaced, not followed to a host file.
put() { mkdir -p "$ROOT$(dirname "$2")"; cp -L --remove-destination "$1" "$ROOT$2"; }

# Bind src at the same path inside the root; rslave: mounts and unmounts under the bind
# must not propagate back to the host's tree.
bind() {
  local src=$1 dst=$ROOT$1 opts=${2:-}
  if [ -d "$src" ]; then mkdir -p "$dst"; else mkdir -p "$(dirname "$dst")"; [ -e "$dst" ] || : >"$dst"; fi
  # the target must really be inside the root (no symlink in it leading back to the host)
  case "$(realpath "$dst")" in "$ROOT"/*) ;; *) say "refusing to mount on $dst" >&2; exit 1;; esac
  mount --bind "$src" "$dst"
  mount --make-rslave "$dst"
  [ "$opts" = ro ] && mount -o remount,bind,ro "$dst"
  return 0
}

bind /proc
bind /sys
bind /dev            # /dev/fuse for the FUSE tests comes with it
bind /dev/pts
# chromium needs a writable /dev/shm; a fresh tmpfs keeps what it leaves off the host.
mkdir -p "$ROOT/dev/shm"
mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs "$ROOT/dev/shm" 2>/dev/null || bind /dev/shm

# ecflow_server gives jobs ECF_HOST=<hostname>: without the host's entry every job's
# ecflow_client --init fails with "Host not found".
put /etc/hosts /etc/hosts
put /etc/resolv.conf /etc/resolv.conf
# pip fails with CERTIFICATE_VERIFY_FAILED without the host's CA bundle (this machine's
# network may need its own CA). Copied each run: the root's ca-certificates may rewrite it.
[ -f "$CA" ] && put "$CA" "$CA"

# The host's pip configuration (files, and PIP_* variables: this machine keeps some of it
# in the environment) with the local folders it names bound read-only at the same paths.
rm -rf "$ROOT/etc/pip.conf" "$ROOT/etc/xdg/pip" "$ROOT/root/.config/pip" "$ROOT/root/.pip"
pip_files=""
for f in /etc/pip.conf /etc/xdg/pip/pip.conf "$HOME/.config/pip/pip.conf" "$HOME/.pip/pip.conf" ${PIP_CONFIG_FILE:-}; do
  [ -f "$f" ] && pip_files="$pip_files $f"
done
[ -f /etc/pip.conf ] && put /etc/pip.conf /etc/pip.conf
[ -d /etc/xdg/pip ] && { mkdir -p "$ROOT/etc/xdg"; cp -rL /etc/xdg/pip "$ROOT/etc/xdg/pip"; }
# the user's files go to the chroot's HOME=/root
[ -f "$HOME/.config/pip/pip.conf" ] && put "$HOME/.config/pip/pip.conf" /root/.config/pip/pip.conf
[ -f "$HOME/.pip/pip.conf" ] && put "$HOME/.pip/pip.conf" /root/.pip/pip.conf
[ -n "${PIP_CONFIG_FILE:-}" ] && [ -f "$PIP_CONFIG_FILE" ] && put "$PIP_CONFIG_FILE" "$PIP_CONFIG_FILE"
pip_env=()
while IFS= read -r -d '' kv; do
  case "$kv" in PIP_CERT=*) ;; PIP_*=*) pip_env+=("$kv");; esac
done < <(env -0)
# Values of path-like keys (continuation lines included), then the PIP_* values.
pip_paths() {
  [ -z "$pip_files" ] || awk '
    /^[ \t]*([#;]|$)/ { next }
    /^[ \t]*\[/ { k = 0; next }
    /^[^ \t]/ { i = index($0, "="); if (!i) { k = 0; next }
                key = $0; sub(/[ \t]*=.*/, "", key); gsub(/_/, "-", key)
                k = (key ~ /^(find-links|index-url|extra-index-url|constraint|requirement|cert|client-cert)$/)
                if (k) print substr($0, i + 1); next }
    k { print }' $pip_files
  local kv; for kv in "${pip_env[@]}"; do echo "${kv#*=}"; done
}
declare -A bound=()
for p in $(pip_paths); do
  p=${p#file://}
  case "$p" in /*) ;; *) continue;; esac
  # an index's pages link to ../../files/...: bind the folder above .../simple
  [ "$(basename "$p")" = simple ] && [ -d "$(dirname "$p")" ] && p=$(dirname "$p")
  if [ -d "$p" ]; then
    case "$p" in /|/etc|/etc/*|/usr|/usr/*|/proc*|/sys*|/dev*) continue;; esac
    [ -n "${bound[$p]:-}" ] || { bind "$p" ro; bound[$p]=1; }
  elif [ -f "$p" ]; then
    put "$p" "$p"
  fi
done

# Packages added to PACKAGES since the root was built: installed into it, no rebuild.
if [ "$(cat "$ROOT/$STAMP")" != "$want_stamp" ]; then
  missing=""
  for pkg in $PACKAGES; do
    chroot "$ROOT" dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" ||
      missing="$missing $pkg"
  done
  if [ -n "$missing" ]; then
    say "apt-get install$missing (inside the root)"
    chroot "$ROOT" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive \
      sh -c "apt-get update -qq && apt-get install -y -qq --no-install-recommends$missing >/dev/null && apt-get clean" 9>&-
  fi
  echo "$want_stamp" >"$ROOT/$STAMP"
fi

# The checkout: tracked files as they are in the working tree (deleted ones skipped) and
# untracked files that are not ignored. tar keeps mtimes, which setup.sh compares
# (pyproject.toml newer than its stamp means pip install again).
t0=$(date +%s)
dest=$ROOT$WORK
mkdir -p "$dest"
# Wipe the previous copy but keep its .venv: same path each run, so its editable install
# still points here; make setup re-installs when pyproject.toml changes.
find "$dest" -mindepth 1 -maxdepth 1 ! -name .venv -exec rm -rf --one-file-system {} +
git -C "$REPO" ls-files -z --cached --others --exclude-standard |
  while IFS= read -r -d '' f; do if [ -e "$f" ] || [ -L "$f" ]; then printf '%s\0' "$f"; fi; done |
  tar -C "$REPO" --null --no-recursion -T - -cf - | tar -C "$dest" -xf -
# A venv made by another Python (the root's python3 upgraded) is not reusable.
pyver=$(chroot "$ROOT" /usr/bin/python3 -c 'import sys; print(sys.version)' 9>&-)
if [ -d "$dest/.venv" ] && [ "$(cat "$dest/.venv/.debian13-python" 2>/dev/null)" != "$pyver" ]; then
  say "removing .venv made by another python"; rm -rf --one-file-system "$dest/.venv"
fi
# Changed dependencies with an old mtime (a checkout of an older commit) would escape
# setup.sh's mtime rule: compare contents, and make it newer when they differ.
sum=$(sha256sum <"$dest/pyproject.toml")
if [ "$(cat "$dest/.venv/.debian13-pyproject" 2>/dev/null)" != "$sum" ]; then touch "$dest/pyproject.toml"; fi
say "checkout copied to $dest in $(( $(date +%s) - t0 )) s"

# A clean environment: nothing from this shell (its venv, PYTHONPATH, ...) leaks in, except
# the CA bundle, pip's settings and PYTEST_ARGS.
say "make setup && make test in Debian 13${PYTEST_ARGS:+ (PYTEST_ARGS=$PYTEST_ARGS)}"
# Background + wait, as for debootstrap: Ctrl-C or a CI timeout's TERM goes straight to
# cleanup, which ends everything inside the chroot.
chroot "$ROOT" env -i \
  PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 TERM=dumb \
  PIP_CERT="$CA" SSL_CERT_FILE="$CA" REQUESTS_CA_BUNDLE="$CA" "${pip_env[@]}" \
  ${PYTEST_ARGS:+PYTEST_ARGS="$PYTEST_ARGS"} \
  PYVER="$pyver" PYSUM="$sum" \
  bash -c '
    cd '"$WORK"' || exit 1
    t0=$(date +%s)
    make setup || exit $?
    echo "$PYVER" >.venv/.debian13-python; echo "$PYSUM" >.venv/.debian13-pyproject
    echo "[debian13] make setup took $(( $(date +%s) - t0 )) s"
    unset PYVER PYSUM
    t0=$(date +%s)
    make test; rc=$?
    echo "[debian13] make test took $(( $(date +%s) - t0 )) s (exit $rc)"
    exit $rc' 9>&- &
rc=0; wait $! || rc=$?
exit $rc
