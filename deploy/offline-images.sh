#!/usr/bin/env bash
# Local stand-ins, built from Debian packages only, for the images that the
# Dockerfile and compose.yaml name: python:3.11-slim-bookworm, postgres:15 and
# redis:7. For machines that reach Debian's archive and PyPI but no image
# registry (CI here). With registry access you do not need this script.
#
#   deploy/offline-images.sh                  build the images that are missing
#   deploy/offline-images.sh --rebuild        build them all again
#   deploy/offline-images.sh python redis     only these (python, postgres, redis)
#
# debootstrap makes a bookworm root file system, `docker import` turns it into
# a base image, and small Dockerfiles in deploy/offline/ add what the official
# images do that we rely on. pip inside a container needs this machine's
# certificate bundle (`pip config list` names it as `cert`); it is copied into
# the stand-in base (with a pip config) only, never into the project's image.
set -euo pipefail
cd "$(dirname "$0")/offline"

rebuild=0
if [ "${1:-}" = "--rebuild" ]; then rebuild=1; shift; fi
wanted="${*:-python postgres redis}"
mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
base="campus-offline/bookworm:latest"

have() { [ "$rebuild" = 0 ] && docker image inspect "$1" >/dev/null 2>&1; }

# The bundle pip is configured with on this machine, if any.
ca_bundle() {
  local cert="${PIP_CERT:-}"
  if [ -z "$cert" ] && command -v python3 >/dev/null; then
    cert="$(python3 -m pip config list 2>/dev/null | sed -n "s/^[^=]*\.cert='\(.*\)'$/\1/p" | head -1 || true)"
  fi
  [ -n "$cert" ] && [ -f "$cert" ] || cert=/etc/ssl/certs/ca-certificates.crt
  echo "$cert"
}

if ! have "$base"; then
  start=$SECONDS
  rootfs="$(mktemp -d /var/tmp/campus-bookworm.XXXXXX)"
  trap 'rm -rf "$rootfs"' EXIT
  echo "offline-images: debootstrap bookworm ($mirror)"
  # As in Debian's official images, dpkg does not fsync every file (a failed build
  # is thrown away anyway); set between the two stages, it speeds up the second.
  debootstrap --variant=minbase --foreign bookworm "$rootfs" "$mirror" >/dev/null
  mkdir -p "$rootfs/etc/dpkg/dpkg.cfg.d"
  echo force-unsafe-io > "$rootfs/etc/dpkg/dpkg.cfg.d/docker-apt-speedup"
  chroot "$rootfs" /debootstrap/debootstrap --second-stage >/dev/null
  # No services start during `apt-get install`, no recommended packages.
  printf '#!/bin/sh\nexit 101\n' > "$rootfs/usr/sbin/policy-rc.d"
  chmod 755 "$rootfs/usr/sbin/policy-rc.d"
  printf 'APT::Install-Recommends "false";\n' > "$rootfs/etc/apt/apt.conf.d/90campus-offline"
  rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin
  # A path of its own, so a later update-ca-certificates in an image cannot replace it.
  install -D -m 644 "$(ca_bundle)" "$rootfs/usr/local/share/campus-offline/ca-bundle.crt"
  printf '[global]\ncert = /usr/local/share/campus-offline/ca-bundle.crt\n' > "$rootfs/etc/pip.conf"
  tar -C "$rootfs" -c . | docker import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8' \
    --change 'CMD ["bash"]' - "$base" >/dev/null
  rm -rf "$rootfs"
  trap - EXIT
  echo "offline-images: $base in $((SECONDS - start)) s"
fi

build() {  # image tag, Dockerfile in deploy/offline/
  if have "$1"; then echo "offline-images: $1 exists"; return; fi
  local start=$SECONDS
  local log
  log="$(mktemp)"
  docker build --build-arg "BASE=$base" -t "$1" -f "$2" . >"$log" 2>&1 || { cat "$log"; rm -f "$log"; exit 1; }
  rm -f "$log"
  echo "offline-images: $1 in $((SECONDS - start)) s"
}
for name in $wanted; do
  case "$name" in
    python) build python:3.11-slim-bookworm python.Dockerfile ;;
    postgres) build postgres:15 postgres.Dockerfile ;;
    redis) build redis:7 redis.Dockerfile ;;
    *) echo "offline-images: unknown image $name (python, postgres, redis)" >&2; exit 2 ;;
  esac
done
