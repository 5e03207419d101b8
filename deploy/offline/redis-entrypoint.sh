#!/bin/bash
# What the official redis image's entrypoint does: run as `redis`, and without a
# config file listen on every address of the container (protected mode off).
set -euo pipefail
if [ "${1#-}" != "${1:-}" ]; then set -- redis-server "$@"; fi
if [ "${1:-}" = redis-server ] && [ "$(id -u)" = 0 ]; then
  chown -R redis:redis .
  exec setpriv --reuid=redis --regid=redis --init-groups "$0" "$@"
fi
if [ "${1:-}" = redis-server ] && [[ "${2:-}" != *.conf ]]; then
  set -- "$@" --protected-mode no
fi
exec "$@"
