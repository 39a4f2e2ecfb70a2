#!/bin/sh
# Test image entrypoint honouring the official postgres image's contract
# (docker-library/postgres docker-entrypoint.sh, read for its behaviour, not copied):
# - runs as root, drops to the postgres user (uid 999) for the server;
# - on an empty PGDATA: initdb with POSTGRES_USER (default postgres), a password
#   from POSTGRES_PASSWORD or POSTGRES_PASSWORD_FILE (required unless
#   POSTGRES_HOST_AUTH_METHOD=trust), creates POSTGRES_DB (default: the user),
#   runs /docker-entrypoint-initdb.d/*.sql and *.sh, listens on all addresses
#   and accepts password logins from the network;
# - a non-empty PGDATA is used as it is: the password variables change nothing.
set -eu

file_env() {
  name=$1
  eval "value=\${$name:-}"
  eval "file=\${${name}_FILE:-}"
  if [ -n "$value" ] && [ -n "$file" ]; then
    echo "error: both $name and ${name}_FILE are set" >&2; exit 1
  fi
  if [ -n "$file" ]; then value=$(cat "$file"); fi
  export "$name=$value"
}

if [ "${1:-}" = "postgres" ] || [ "${1#-}" != "${1:-}" ]; then
  [ "${1:-}" = "postgres" ] || set -- postgres "$@"
  if [ "$(id -u)" = 0 ]; then
    mkdir -p "$PGDATA" /var/run/postgresql
    chmod 00700 "$PGDATA"
    chown -R postgres:postgres "$PGDATA" /var/run/postgresql
    exec setpriv --reuid=postgres --regid=postgres --init-groups "$0" "$@"
  fi
  if [ ! -s "$PGDATA/PG_VERSION" ]; then
    file_env POSTGRES_PASSWORD
    file_env POSTGRES_USER
    file_env POSTGRES_DB
    user=${POSTGRES_USER:-postgres}
    db=${POSTGRES_DB:-$user}
    method=${POSTGRES_HOST_AUTH_METHOD:-scram-sha-256}
    if [ -z "$POSTGRES_PASSWORD" ] && [ "$method" != trust ]; then
      echo "error: database is uninitialized and superuser password is not specified." >&2
      echo "       Set POSTGRES_PASSWORD (or POSTGRES_PASSWORD_FILE)." >&2
      exit 1
    fi
    pwfile=$(mktemp)
    printf '%s\n' "$POSTGRES_PASSWORD" > "$pwfile"
    initdb --username="$user" --pwfile="$pwfile" --auth-local=trust \
      --auth-host="$method" -D "$PGDATA" >/dev/null
    rm -f "$pwfile"
    printf "host all all all %s\n" "$method" >> "$PGDATA/pg_hba.conf"
    printf "listen_addresses = '*'\n" >> "$PGDATA/postgresql.conf"
    pg_ctl -D "$PGDATA" -o "-c listen_addresses=''" -w start >/dev/null
    if [ "$db" != postgres ]; then
      psql -v ON_ERROR_STOP=1 --username "$user" --dbname postgres \
        -c "CREATE DATABASE \"$db\"" >/dev/null
    fi
    for script in /docker-entrypoint-initdb.d/*; do
      case "$script" in
        *.sql) psql -v ON_ERROR_STOP=1 --username "$user" --dbname "$db" -f "$script" ;;
        *.sh) . "$script" ;;
      esac
    done
    pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null
    echo "PostgreSQL init process complete; ready for start up."
  fi
fi
exec "$@"
