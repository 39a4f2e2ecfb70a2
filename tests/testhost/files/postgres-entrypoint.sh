#!/bin/sh
# Entrypoint of localhost/lgtm-test/postgres, standing in for the one of
# docker.io/library/postgres. Written here from what that image does, as seen from
# outside; the roles and tests depend on these facts:
#   root at start, the server as postgres (uid 999), or the user it is started as;
#   PGDATA mode 0700;
#   only an empty PGDATA is initialised, a used one is started as it is;
#   superuser POSTGRES_USER (default postgres), password POSTGRES_PASSWORD, database
#   POSTGRES_DB (default: the user's name); each may come from NAME_FILE instead,
#   never both; no password and no POSTGRES_HOST_AUTH_METHOD=trust: exit 1;
#   /docker-entrypoint-initdb.d/*.sql and *.sh run once, on the first start;
#   the server listens on every address; the socket and loopback connections are
#   trusted (initdb's default rules, which the official image keeps), every other
#   address needs POSTGRES_HOST_AUTH_METHOD (default scram-sha-256).
set -eu

fail() {
  echo "postgres-entrypoint: $*" >&2
  exit 1
}

# Sets $1 from $1 or from the file that ${1}_FILE names.
resolve() {
  direct=$(printenv "$1" || true)
  from_file=$(printenv "${1}_FILE" || true)
  if [ -n "$from_file" ]; then
    [ -z "$direct" ] || fail "$1 and ${1}_FILE are both set; give only one"
    direct=$(cat "$from_file") || fail "cannot read ${1}_FILE ($from_file)"
  fi
  export "$1=$direct"
  unset "${1}_FILE"
}

# Any first argument that is an option means "postgres with these options".
case "${1:-}" in
  -*) set -- postgres "$@" ;;
esac

if [ "${1:-}" != postgres ]; then
  exec "$@"
fi

# Started as root, the server's directories are given to postgres first; started as
# another user (--user, the image's documented alternative), they must be its already.
mkdir -p "$PGDATA"
chmod 0700 "$PGDATA" || :
mkdir -p /var/run/postgresql || :
chmod 03775 /var/run/postgresql || :
if [ "$(id -u)" = 0 ]; then
  chown -R postgres:postgres "$PGDATA" /var/run/postgresql
  exec setpriv --reuid=postgres --regid=postgres --init-groups "$0" "$@"
fi

if [ -s "$PGDATA/PG_VERSION" ]; then
  # A cluster is there already: the variables above no longer matter.
  exec "$@"
fi

resolve POSTGRES_PASSWORD
resolve POSTGRES_USER
resolve POSTGRES_DB
superuser=${POSTGRES_USER:-postgres}
database=${POSTGRES_DB:-$superuser}
remote_auth=${POSTGRES_HOST_AUTH_METHOD:-scram-sha-256}
if [ -z "$POSTGRES_PASSWORD" ] && [ "$remote_auth" != trust ]; then
  fail "PGDATA ($PGDATA) is empty and no superuser password was given:" \
    "set POSTGRES_PASSWORD or POSTGRES_PASSWORD_FILE (or POSTGRES_HOST_AUTH_METHOD=trust)"
fi

secret=$(mktemp)
trap 'rm -f "$secret"' EXIT
printf '%s\n' "$POSTGRES_PASSWORD" >"$secret"
initdb -D "$PGDATA" --username="$superuser" --pwfile="$secret" >/dev/null
rm -f "$secret"
printf '\nhost all all all %s\n' "$remote_auth" >>"$PGDATA/pg_hba.conf"
printf "\nlisten_addresses = '*'\n" >>"$PGDATA/postgresql.conf"

# First-start work happens on a server nobody else can reach (socket only).
pg_ctl -D "$PGDATA" -o "-c listen_addresses=''" -w start >/dev/null
sql() {
  psql --no-psqlrc --set=ON_ERROR_STOP=1 --username="$superuser" "$@"
}
if [ "$database" != postgres ]; then
  printf 'CREATE DATABASE "%s";\n' "$database" | sql --dbname=postgres --quiet
fi
for script in /docker-entrypoint-initdb.d/*; do
  case "$script" in
    *.sql) echo "running $script"; sql --dbname="$database" --file="$script" ;;
    *.sh) echo "running $script"; . "$script" ;;
    *) [ ! -e "$script" ] || echo "ignoring $script" ;;
  esac
done
pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null
echo "postgres-entrypoint: new cluster in $PGDATA ready, starting the server"

exec "$@"
