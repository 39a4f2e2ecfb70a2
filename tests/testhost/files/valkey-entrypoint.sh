#!/bin/sh
# Entrypoint of localhost/lgtm-test/valkey, standing in for the one of
# docker.io/valkey/valkey. Written here from what that image does, as seen from
# outside: options alone (or a .conf path first) mean valkey-server with them; the
# server runs as valkey (uid 999) and owns /data; protected mode is off unless a
# config file given first sets protected-mode itself. Debian's valkey-server starts
# with protected mode on, so without this step other containers could not connect.
set -eu

case "${1:-}" in
  -* | *.conf) set -- valkey-server "$@" ;;
esac

if [ "${1:-}" != valkey-server ]; then
  exec "$@"
fi

if [ "$(id -u)" = 0 ]; then
  find /data ! -user valkey -exec chown valkey:valkey {} + 2>/dev/null || true
  exec setpriv --reuid=valkey --regid=valkey --init-groups "$0" "$@"
fi

shift
config=
if [ -f "${1:-}" ]; then
  config=$1
  shift
  if grep -q '^[[:space:]]*protected-mode' "$config"; then
    exec valkey-server "$config" "$@"
  fi
fi
# Options given later win over earlier ones, so the caller's own --protected-mode
# (placed after ours) still decides.
exec valkey-server ${config:+"$config"} --protected-mode no "$@"
