#!/bin/sh
# Test image entrypoint honouring the official valkey image's contract: runs
# valkey-server as the valkey user (uid 999) in /data, and without a config
# file it turns protected mode off (Debian's build starts in protected mode,
# the official image does not).
set -eu
if [ "${1#-}" != "${1:-}" ] || [ "${1%.conf}" != "${1:-}" ]; then
  set -- valkey-server "$@"
fi
if [ "${1:-}" = valkey-server ] && [ "$(id -u)" = 0 ]; then
  chown -R valkey:valkey /data 2>/dev/null || true
  exec setpriv --reuid=valkey --regid=valkey --init-groups "$0" "$@"
fi
if [ "${1:-}" = valkey-server ]; then
  case "${2:-}" in
    *.conf) ;;
    *) shift; set -- valkey-server --protected-mode no "$@" ;;
  esac
fi
exec "$@"
