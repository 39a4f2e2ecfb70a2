"""GlitchTip: a contract stand-in for docker.io/glitchtip/glitchtip (6.x by default, 5.x too).

Not GlitchTip: a small program written here that honours the image's contract, so the
role's wiring is tested against the things that break it. Its tables are its own (named
after upstream's where a test or a backup names them), kept in the real PostgreSQL from
DATABASE_URL; events are queued through the real Valkey (VALKEY_URL, else REDIS_URL) and
stored by the worker, so an event shows up only while a worker runs.

Facts it relies on (public GitHub mirror creator-signal/fork-glitchtip-glitchtip-backend of
GitLab's glitchtip/glitchtip-backend, 6.x line, read 2026-12-06; the files at commits
Dockerfile 0e31041e, bin/start.sh bda3f278, bin/run-granian.sh 0ce5573c, bin/run-web.sh
9423dd67, bin/run-worker.sh 2a9fd0d5, bin/run-migrate.sh 6e1aaab3):
- Image: WORKDIR /code, `useradd -u 5000 app`, /code and /code/uploads owned by app,
  `USER app:app`, no ENTRYPOINT, `CMD ["./bin/start.sh"]`, 6.x `EXPOSE 8000` and no PORT
  (the 5.x image sets `ENV PORT=8080`; its uWSGI listens there). ENV GLITCHTIP_VERSION.
- bin/start.sh: SERVER_ROLE (default web; web with GLITCHTIP_EMBED_WORKER=true becomes
  all_in_one): web -> bin/run-web.sh, worker and worker_with_beat -> bin/run-worker.sh,
  all_in_one -> bin/run-all-in-one.sh, anything else prints "Unknown server role provided:
  X. Should be web|worker|all_in_one." and exits 1. 6.x has no beat role (5.x: beat,
  Celery's scheduler, a role of its own).
- 6.x web: bin/run-granian.sh, host GRANIAN_HOST (default 0.0.0.0), port GRANIAN_PORT
  (default 8000). It assigns the shell variable PORT from GRANIAN_PORT, so a PORT in the
  environment is overwritten and never read: a role that sets only PORT gets 8000.
- bin/run-worker.sh: `manage.py runworker --scheduler` (one worker with its scheduler).
- bin/run-migrate.sh: echoes "Run Django migrations", `manage.py migrate --skip-checks`,
  "Create Django cache table, if needed", `manage.py createcachetable`, "Create and delete
  Postgres partitions", `manage.py maintain_partitions`.
- Django's createsuperuser --noinput reads DJANGO_SUPERUSER_EMAIL / _PASSWORD; a taken
  e-mail is "CommandError: Error: That email is already taken." and exit 1.
- Django's password hasher format pbkdf2_sha256$<iterations>$<salt>$<base64 sha256>; its
  CSRF cookie holds a 32-character secret, the X-CSRFToken header the secret or its
  64-character masked form; login rotates the CSRF secret.
- The bootstrap flow (/work/shared/docs/services.md, observed against the real 5.x
  backend): allauth headless browser login, API tokens by session only, organizations,
  teams (a repeated team POST answers 500), projects under teams with a DSN key, keys,
  issues and events listings, cursor pagination in a Link header as Sentry's; ingestion
  at /api/<id>/envelope/ and /api/<id>/store/ with sentry_key from X-Sentry-Auth (or the
  query), 403 on a bad key.
"""

from __future__ import annotations

import base64
import contextlib
import datetime
import gzip
import hashlib
import http.cookies
import json
import os
import re
import secrets
import signal
import string
import sys
import threading
import time
import types
import uuid
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

LINE = os.environ.get("GLITCHTIP_VERSION", "v6").lstrip("v").split(".", 1)[0] or "6"
QUEUE = "glitchtip-standin:ingest"
PBKDF2_ITERATIONS = 1_000_000
CSRF_CHARS = string.ascii_letters + string.digits
SCHEDULE_SECONDS = 3600
DEFAULT_DATABASE_URL = "postgres://postgres:postgres@postgres:5432/postgres"

# The stand-in's own schema, one step per migration (app, name, SQL): not upstream's.
MIGRATIONS: list[tuple[str, str, str]] = [
    ("users", "0001_initial", """
        CREATE TABLE users_user (
            id bigserial PRIMARY KEY, email varchar(254) NOT NULL UNIQUE,
            password varchar(128) NOT NULL, is_superuser boolean NOT NULL DEFAULT false,
            is_staff boolean NOT NULL DEFAULT false, is_active boolean NOT NULL DEFAULT true,
            date_joined timestamptz NOT NULL DEFAULT now(), last_login timestamptz)"""),
    ("sessions", "0001_initial", """
        CREATE TABLE django_session (
            session_key varchar(40) PRIMARY KEY, session_data text NOT NULL,
            expire_date timestamptz NOT NULL)"""),
    ("organizations_ext", "0001_initial", """
        CREATE TABLE organizations_ext_organization (
            id bigserial PRIMARY KEY, name varchar(200) NOT NULL,
            slug varchar(200) NOT NULL UNIQUE, created timestamptz NOT NULL DEFAULT now())"""),
    ("organizations_ext", "0002_organizationuser", """
        CREATE TABLE organizations_ext_organizationuser (
            id bigserial PRIMARY KEY,
            organization_id bigint NOT NULL REFERENCES organizations_ext_organization(id)
                ON DELETE CASCADE,
            user_id bigint NOT NULL REFERENCES users_user(id) ON DELETE CASCADE,
            role smallint NOT NULL DEFAULT 0, UNIQUE (organization_id, user_id))"""),
    ("teams", "0001_initial", """
        CREATE TABLE teams_team (
            id bigserial PRIMARY KEY, slug varchar(50) NOT NULL,
            organization_id bigint NOT NULL REFERENCES organizations_ext_organization(id)
                ON DELETE CASCADE,
            created timestamptz NOT NULL DEFAULT now(), UNIQUE (slug, organization_id))"""),
    ("projects", "0001_initial", """
        CREATE TABLE projects_project (
            id bigserial PRIMARY KEY, name varchar(64) NOT NULL, slug varchar(50) NOT NULL,
            platform varchar(64) NOT NULL DEFAULT '',
            organization_id bigint NOT NULL REFERENCES organizations_ext_organization(id)
                ON DELETE CASCADE,
            first_event timestamptz, created timestamptz NOT NULL DEFAULT now(),
            UNIQUE (slug, organization_id))"""),
    ("projects", "0002_project_teams", """
        CREATE TABLE projects_project_teams (
            id bigserial PRIMARY KEY,
            project_id bigint NOT NULL REFERENCES projects_project(id) ON DELETE CASCADE,
            team_id bigint NOT NULL REFERENCES teams_team(id) ON DELETE CASCADE,
            UNIQUE (project_id, team_id))"""),
    ("projects", "0003_projectkey", """
        CREATE TABLE projects_projectkey (
            id bigserial PRIMARY KEY,
            project_id bigint NOT NULL REFERENCES projects_project(id) ON DELETE CASCADE,
            name varchar(64) NOT NULL DEFAULT 'Default', public_key uuid NOT NULL UNIQUE,
            is_active boolean NOT NULL DEFAULT true,
            created timestamptz NOT NULL DEFAULT now())"""),
    ("api_tokens", "0001_initial", """
        CREATE TABLE api_tokens_apitoken (
            id bigserial PRIMARY KEY, token varchar(64) NOT NULL UNIQUE,
            label varchar(255) NOT NULL DEFAULT '', scopes text[] NOT NULL,
            user_id bigint NOT NULL REFERENCES users_user(id) ON DELETE CASCADE,
            created timestamptz NOT NULL DEFAULT now())"""),
    ("issue_events", "0001_initial", """
        CREATE TABLE issue_events_issue (
            id bigserial PRIMARY KEY,
            project_id bigint NOT NULL REFERENCES projects_project(id) ON DELETE CASCADE,
            title varchar(255) NOT NULL, culprit varchar(1024) NOT NULL DEFAULT '',
            level varchar(16) NOT NULL DEFAULT 'error', type varchar(16) NOT NULL,
            fingerprint varchar(64) NOT NULL, count integer NOT NULL DEFAULT 1,
            first_seen timestamptz NOT NULL, last_seen timestamptz NOT NULL,
            UNIQUE (project_id, fingerprint))"""),
    ("issue_events", "0002_issueevent", """
        CREATE TABLE issue_events_issueevent (
            id uuid PRIMARY KEY,
            issue_id bigint NOT NULL REFERENCES issue_events_issue(id) ON DELETE CASCADE,
            received timestamptz NOT NULL, timestamp timestamptz NOT NULL,
            data jsonb NOT NULL);
        CREATE INDEX issue_events_issueevent_received ON issue_events_issueevent (received)"""),
]
CACHE_TABLE = "django_cache"


class CommandError(Exception):
    """A management command's failure: Django prints "CommandError: <message>", exit 1."""


def log(message: str) -> None:
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M:%S,%f")[:-3]
    print(f"[{stamp}] {message}", file=sys.stderr, flush=True)


def now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def iso(value: datetime.datetime | None) -> str | None:
    return value.astimezone(datetime.UTC).isoformat().replace("+00:00", "Z") if value else None


# --- pure helpers (unit-tested without a database) -------------------------------------

def make_password(password: str, salt: str | None = None,
                  iterations: int = PBKDF2_ITERATIONS) -> str:
    """Django's PBKDF2PasswordHasher format."""
    salt = salt or "".join(secrets.choice(CSRF_CHARS) for _i in range(22))
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt.encode(), iterations)
    return f"pbkdf2_sha256${iterations}${salt}${base64.b64encode(digest).decode()}"


def check_password(password: str, encoded: str) -> bool:
    try:
        algorithm, iterations, salt, _digest = encoded.split("$", 3)
    except ValueError:
        return False
    if algorithm != "pbkdf2_sha256":
        return False
    return secrets.compare_digest(make_password(password, salt, int(iterations)), encoded)


def mask_csrf(secret: str) -> str:
    salt = "".join(secrets.choice(CSRF_CHARS) for _i in range(32))
    pairs = zip((CSRF_CHARS.index(c) for c in secret), (CSRF_CHARS.index(c) for c in salt),
                strict=True)
    return salt + "".join(CSRF_CHARS[(x + y) % len(CSRF_CHARS)] for x, y in pairs)


def unmask_csrf(token: str) -> str:
    salt, cipher = token[:32], token[32:]
    pairs = zip((CSRF_CHARS.index(c) for c in cipher), (CSRF_CHARS.index(c) for c in salt),
                strict=True)
    return "".join(CSRF_CHARS[x - y] for x, y in pairs)


def csrf_ok(cookie: str | None, header: str | None) -> bool:
    """Django's CsrfViewMiddleware for a cookie-held secret: the header is the secret
    (32 characters) or its masked form (64)."""
    if not cookie or not header or len(cookie) != 32 or any(c not in CSRF_CHARS for c in cookie):
        return False
    if any(c not in CSRF_CHARS for c in header):
        return False
    if len(header) == 64:
        header = unmask_csrf(header)
    return len(header) == 32 and secrets.compare_digest(header, cookie)


def slugify(value: str) -> str:
    """Django's slugify for ASCII text."""
    value = re.sub(r"[^\w\s-]", "", value.lower())
    return re.sub(r"[-\s]+", "-", value).strip("-_")


def sentry_key(headers: Any, query: dict[str, list[str]]) -> str | None:
    """The public key from X-Sentry-Auth (or Authorization: Sentry ...) or ?sentry_key=."""
    for name in ("X-Sentry-Auth", "Authorization"):
        value = headers.get(name) or ""
        if value.lower().startswith("sentry "):
            for part in value[7:].split(","):
                key, _sep, found = part.strip().partition("=")
                if key.strip() == "sentry_key":
                    return found.strip()
    values = query.get("sentry_key")
    return values[0] if values else None


def decode_body(body: bytes, encoding: str) -> bytes:
    encoding = encoding.strip().lower()
    if encoding == "gzip":
        return gzip.decompress(body)
    if encoding == "deflate":
        return zlib.decompress(body)
    if encoding in ("", "identity"):
        return body
    raise ValueError(f"unsupported Content-Encoding {encoding}")


def parse_envelope(body: bytes) -> tuple[dict[str, Any], list[tuple[dict[str, Any], bytes]]]:
    """Sentry's envelope: a header line, then items (header line, payload by length or line)."""
    newline = body.find(b"\n")
    header = json.loads(body if newline < 0 else body[:newline])
    items = []
    pos = len(body) if newline < 0 else newline + 1
    while pos < len(body):
        end = body.find(b"\n", pos)
        line = body[pos:] if end < 0 else body[pos:end]
        pos = len(body) if end < 0 else end + 1
        if not line.strip():
            continue
        item_header = json.loads(line)
        if "length" in item_header:
            length = int(item_header["length"])
            payload = body[pos:pos + length]
            pos += length
            if body[pos:pos + 1] == b"\n":
                pos += 1
        else:
            end = body.find(b"\n", pos)
            payload = body[pos:] if end < 0 else body[pos:end]
            pos = len(body) if end < 0 else end + 1
        items.append((item_header, payload))
    return header, items


def event_title(event: dict[str, Any]) -> tuple[str, str, str]:
    """(title, culprit, type) as Sentry titles an event: the exception's type and value,
    else its message."""
    values = (event.get("exception") or {}).get("values") if isinstance(
        event.get("exception"), dict) else event.get("exception")
    if values:
        last = values[-1]
        frames = ((last.get("stacktrace") or {}).get("frames") or [])
        culprit = ""
        if frames:
            frame = frames[-1]
            culprit = f"{frame.get('module') or frame.get('filename') or ''} in " \
                      f"{frame.get('function') or '?'}"
        kind = last.get("type") or "Error"
        value = last.get("value")
        return (f"{kind}: {value}" if value else kind)[:255], culprit, "error"
    message = event.get("message") or (event.get("logentry") or {}).get("formatted") or \
        (event.get("logentry") or {}).get("message") or "<unlabeled event>"
    if isinstance(message, dict):
        message = message.get("formatted") or message.get("message") or ""
    return str(message).splitlines()[0][:255] if message else "<unlabeled event>", \
        event.get("culprit") or "", "default"


def dsn_for(domain: str, key: str, project_id: int) -> str:
    parts = urlsplit(domain or "http://localhost:8000")
    return f"{parts.scheme}://{key}@{parts.netloc}/{project_id}"


def web_port() -> tuple[str, int]:
    """The address the web server binds, as each line's start script reads it."""
    if LINE == "5":
        return "0.0.0.0", int(os.environ.get("PORT") or 8080)
    port = int(os.environ.get("GRANIAN_PORT") or 8000)
    return os.environ.get("GRANIAN_HOST") or "0.0.0.0", port


def server_script(role: str | None) -> str | None:
    """bin/start.sh's dispatch; None for an unknown role."""
    role = role or "web"
    if role == "web" and os.environ.get("GLITCHTIP_EMBED_WORKER") == "true":
        role = "all_in_one"
    scripts = {"web": "web", "worker": "worker", "worker_with_beat": "worker",
               "all_in_one": "all_in_one"}
    if LINE == "5":
        scripts["beat"] = "beat"
    return scripts.get(role)


def retention_days() -> int:
    return int(os.environ.get("GLITCHTIP_MAX_EVENT_LIFE_DAYS") or 90)


# --- database and broker ---------------------------------------------------------------

def require_settings() -> None:
    if not os.environ.get("SECRET_KEY"):
        print("django.core.exceptions.ImproperlyConfigured: Set the SECRET_KEY environment "
              "variable", file=sys.stderr)
        raise SystemExit(1)


def connect() -> Any:
    import psycopg  # noqa: PLC0415 - only where a database is used (unit tests have none)
    return psycopg.connect(os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL,
                           connect_timeout=10)


def broker() -> Any:
    import redis  # noqa: PLC0415 - as above
    url = os.environ.get("VALKEY_URL") or os.environ.get("REDIS_URL") or "redis://redis:6379/0"
    return redis.Redis.from_url(url, socket_timeout=10)


def applied_migrations(conn: Any) -> set[tuple[str, str]]:
    exists = conn.execute("SELECT to_regclass('django_migrations')").fetchone()[0]
    if not exists:
        return set()
    return set(conn.execute("SELECT app, name FROM django_migrations").fetchall())


def migrate() -> int:
    with connect() as conn:
        # One migration job at a time, as Django's own lock on the table does.
        conn.execute("SELECT pg_advisory_lock(5000)")
        conn.execute("""CREATE TABLE IF NOT EXISTS django_migrations (
            id bigserial PRIMARY KEY, app varchar(255) NOT NULL, name varchar(255) NOT NULL,
            applied timestamptz NOT NULL)""")
        conn.commit()
        done = applied_migrations(conn)
        print("Operations to perform:\n  Apply all migrations: " +
              ", ".join(sorted({app for app, _name, _sql in MIGRATIONS})))
        print("Running migrations:")
        pending = [step for step in MIGRATIONS if (step[0], step[1]) not in done]
        if not pending:
            print("  No migrations to apply.")
        for app, name, sql in pending:
            with conn.transaction():
                conn.execute(sql)
                conn.execute("INSERT INTO django_migrations (app, name, applied) "
                             "VALUES (%s, %s, now())", (app, name))
            print(f"  Applying {app}.{name}... OK", flush=True)
        conn.execute("SELECT pg_advisory_unlock(5000)")
    return 0


def check_migrated(conn: Any) -> list[str]:
    done = applied_migrations(conn)
    return [f"{app}.{name}" for app, name, _sql in MIGRATIONS if (app, name) not in done]


# --- management commands -----------------------------------------------------------------

class User:
    """What Django's user model offers the role's ensure_admin script."""

    def __init__(self, row: tuple[Any, ...] | None = None) -> None:
        self.pk, self.email, self.password, self.is_superuser, self.is_staff, \
            self.is_active = row or (None, "", "", False, False, True)

    def check_password(self, raw: str) -> bool:
        return check_password(raw, self.password)

    def set_password(self, raw: str) -> None:
        self.password = make_password(raw)

    def save(self) -> None:
        with connect() as conn:
            if self.pk is None:
                self.pk = conn.execute(
                    "INSERT INTO users_user (email, password, is_superuser, is_staff, "
                    "is_active) VALUES (%s, %s, %s, %s, %s) RETURNING id",
                    (self.email, self.password, self.is_superuser, self.is_staff,
                     self.is_active)).fetchone()[0]
            else:
                conn.execute("UPDATE users_user SET email = %s, password = %s, is_superuser = "
                             "%s, is_staff = %s, is_active = %s WHERE id = %s",
                             (self.email, self.password, self.is_superuser, self.is_staff,
                              self.is_active, self.pk))


class QuerySet:
    def __init__(self, rows: list[tuple[Any, ...]]) -> None:
        self.rows = rows

    def first(self) -> User | None:
        return User(self.rows[0]) if self.rows else None

    def exists(self) -> bool:
        return bool(self.rows)


class UserManager:
    COLUMNS = "id, email, password, is_superuser, is_staff, is_active"
    LOOKUPS = {"email": "email = %s", "email__iexact": "lower(email) = lower(%s)",
               "pk": "id = %s", "id": "id = %s"}

    def filter(self, **lookups: Any) -> QuerySet:
        unknown = set(lookups) - set(self.LOOKUPS)
        if unknown:
            raise NotImplementedError(f"the stand-in's user model has no lookup {unknown}")
        where = " AND ".join(self.LOOKUPS[key] for key in lookups) or "true"
        with connect() as conn:
            rows = conn.execute(f"SELECT {self.COLUMNS} FROM users_user WHERE {where} "
                                "ORDER BY id", list(lookups.values())).fetchall()
        return QuerySet(rows)

    def create_superuser(self, email: str, password: str | None = None, **extra: Any) -> User:
        return self.create_user(email, password, is_superuser=True, is_staff=True, **extra)

    def create_user(self, email: str, password: str | None = None, **extra: Any) -> User:
        user = User()
        user.email = email
        user.is_superuser = bool(extra.get("is_superuser"))
        user.is_staff = bool(extra.get("is_staff"))
        user.password = make_password(password) if password else "!" + secrets.token_urlsafe(30)
        user.save()
        return user


class UserModel:
    objects = UserManager()


def django_shim() -> None:
    """`manage.py shell -c` code imports Django's auth API: give it the stand-in's."""
    modules = {name: types.ModuleType(name) for name in
               ("django", "django.contrib", "django.contrib.auth")}
    modules["django.contrib.auth"].get_user_model = lambda: UserModel  # type: ignore[attr-defined]
    modules["django"].contrib = modules["django.contrib"]  # type: ignore[attr-defined]
    modules["django.contrib"].auth = modules["django.contrib.auth"]  # type: ignore[attr-defined]
    sys.modules.update(modules)


def createsuperuser(args: list[str]) -> int:
    if "--noinput" not in args and "--no-input" not in args:
        raise CommandError("the stand-in only runs createsuperuser --noinput")
    email = os.environ.get("DJANGO_SUPERUSER_EMAIL")
    for index, arg in enumerate(args):
        if arg.startswith("--email="):
            email = arg.split("=", 1)[1]
        elif arg == "--email" and index + 1 < len(args):
            email = args[index + 1]
    if not email:
        raise CommandError("You must use --email with --noinput.")
    with connect() as conn:
        taken = conn.execute("SELECT 1 FROM users_user WHERE lower(email) = lower(%s)",
                             (email,)).fetchone()
    if taken:
        raise CommandError("Error: That email is already taken.")
    UserManager().create_superuser(email, os.environ.get("DJANGO_SUPERUSER_PASSWORD"))
    print("Superuser created successfully.")
    return 0


def manage(args: list[str]) -> int:
    if not args:
        print("Type 'manage.py help <subcommand>' for help on a specific subcommand.")
        return 0
    command, rest = args[0], args[1:]
    require_settings()
    try:
        if command == "migrate":
            return migrate()
        if command == "showmigrations":
            with connect() as conn:
                done = applied_migrations(conn)
            # Django's two layouts: by app (default) or one plan line per migration.
            plan = "--plan" in rest
            shown_app = None
            for app, name, _sql in MIGRATIONS:
                mark = "X" if (app, name) in done else " "
                if plan:
                    print(f"[{mark}]  {app}.{name}")
                    continue
                if app != shown_app:
                    print(app)
                    shown_app = app
                print(f" [{mark}] {name}")
            return 0
        if command == "createcachetable":
            with connect() as conn:
                conn.execute(f"CREATE TABLE IF NOT EXISTS {CACHE_TABLE} (cache_key varchar(255) "
                             "PRIMARY KEY, value text NOT NULL, expires timestamptz NOT NULL)")
            return 0
        if command == "maintain_partitions":
            # The stand-in's tables are not partitioned: nothing to create or drop.
            return 0
        if command == "createsuperuser":
            return createsuperuser(rest)
        if command == "shell":
            if "-c" not in rest and "--command" not in rest:
                raise CommandError("the stand-in's shell only runs -c/--command")
            flag = "-c" if "-c" in rest else "--command"
            code = rest[rest.index(flag) + 1]
            django_shim()
            exec(compile(code, "<command>", "exec"), {"__name__": "__main__"})  # noqa: S102
            return 0
        if command == "runworker" and LINE != "5":
            return run_worker(scheduler="--scheduler" in rest)
        if command == "check":
            print("System check identified no issues (0 silenced).")
            return 0
    except CommandError as error:
        print(f"CommandError: {error}", file=sys.stderr)
        return 1
    print(f"Unknown command: '{command}'\nType 'manage.py help' for usage.", file=sys.stderr)
    return 1


# --- ingestion and the worker ------------------------------------------------------------

def store_event(conn: Any, project_id: int, event: dict[str, Any], received: float) -> None:
    title, culprit, kind = event_title(event)
    fingerprint = hashlib.sha256(f"{kind}\0{title}\0{culprit}".encode()).hexdigest()
    when = datetime.datetime.fromtimestamp(received, datetime.UTC)
    stamp = event.get("timestamp")
    try:
        if isinstance(stamp, int | float):
            happened = datetime.datetime.fromtimestamp(stamp, datetime.UTC)
        else:
            happened = datetime.datetime.fromisoformat(str(stamp).replace("Z", "+00:00"))
            if happened.tzinfo is None:
                happened = happened.replace(tzinfo=datetime.UTC)
    except ValueError:
        happened = when
    with conn.transaction():
        if not conn.execute("SELECT 1 FROM projects_project WHERE id = %s",
                            (project_id,)).fetchone():
            return
        issue_id = conn.execute(
            "INSERT INTO issue_events_issue (project_id, title, culprit, level, type, "
            "fingerprint, first_seen, last_seen) VALUES (%s, %s, %s, %s, %s, %s, %s, %s) "
            "ON CONFLICT (project_id, fingerprint) DO UPDATE SET count = "
            "issue_events_issue.count + 1, last_seen = excluded.last_seen RETURNING id",
            (project_id, title, culprit, str(event.get("level") or "error")[:16], kind,
             fingerprint, when, when)).fetchone()[0]
        event_id = event.get("event_id") or uuid.uuid4().hex
        conn.execute("INSERT INTO issue_events_issueevent (id, issue_id, received, timestamp, "
                     "data) VALUES (%s, %s, %s, %s, %s) ON CONFLICT (id) DO NOTHING",
                     (uuid.UUID(str(event_id)), issue_id, when, happened, json.dumps(event)))
        conn.execute("UPDATE projects_project SET first_event = coalesce(first_event, %s) "
                     "WHERE id = %s", (when, project_id))


def cleanup(conn: Any, days: int) -> tuple[int, int]:
    """Events older than GLITCHTIP_MAX_EVENT_LIFE_DAYS go, then issues left without any."""
    with conn.transaction():
        events = conn.execute("DELETE FROM issue_events_issueevent WHERE received < now() - "
                              "make_interval(days => %s)", (days,)).rowcount
        issues = conn.execute("DELETE FROM issue_events_issue i WHERE NOT EXISTS (SELECT 1 "
                              "FROM issue_events_issueevent e WHERE e.issue_id = i.id)").rowcount
    return events, issues


def run_cleanup(conn: Any) -> None:
    days = retention_days()
    events, issues = cleanup(conn, days)
    log(f"INFO cleanup: removed {events} event(s) and {issues} issue(s) older than {days} days")


def run_worker(scheduler: bool, stop: threading.Event | None = None) -> int:
    require_settings()
    stop = stop or threading.Event()
    queue = broker()
    log(f"INFO worker started (scheduler: {'on' if scheduler else 'off'})")
    next_cleanup = time.monotonic()
    conn = connect()
    conn.autocommit = True
    while not stop.is_set():
        if scheduler and time.monotonic() >= next_cleanup:
            run_cleanup(conn)
            next_cleanup = time.monotonic() + SCHEDULE_SECONDS
        popped = queue.blpop([QUEUE], timeout=1)
        if not popped:
            continue
        task = json.loads(popped[1])
        if task.get("task") == "cleanup":
            run_cleanup(conn)
            continue
        try:
            store_event(conn, int(task["project_id"]), task["event"], float(task["received"]))
        except Exception as error:  # noqa: BLE001 - one bad event must not stop the worker
            log(f"ERROR storing an event for project {task.get('project_id')}: {error!r}")
            if conn.broken or conn.closed:
                # The database went away (a restart): keep the event, exit, be restarted.
                queue.lpush(QUEUE, popped[1])
                return 1
    return 0


def run_beat() -> int:
    """5.x's Celery beat: it only schedules; a worker runs what it queues."""
    require_settings()
    queue = broker()
    log("INFO beat: Starting...")
    while True:
        queue.rpush(QUEUE, json.dumps({"task": "cleanup"}))
        time.sleep(SCHEDULE_SECONDS)


# --- the web ------------------------------------------------------------------------------

class HTTPError(Exception):
    def __init__(self, status: int, payload: Any) -> None:
        super().__init__(status)
        self.status = status
        self.payload = payload


SERVER_ERROR = "<!doctype html>\n<html lang=\"en\">\n<head>\n" \
    "  <title>Server Error (500)</title>\n</head>\n<body>\n" \
    "  <h1>Server Error (500)</h1><p></p>\n</body>\n</html>\n"
CSRF_FAILED = "<h1>Forbidden <span>(403)</span></h1><p>CSRF verification failed. Request " \
    "aborted.</p>"
SCOPES = ["org:read", "org:write", "org:admin", "team:read", "team:write", "team:admin",
          "project:read", "project:write", "project:admin", "event:read", "event:write",
          "event:admin", "member:read", "member:write", "member:admin", "project:releases"]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "granian" if LINE != "5" else "uWSGI"
    sys_version = ""

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        log("INFO " + format % args)

    # --- plumbing
    def do_GET(self) -> None:  # noqa: N802 - http.server naming
        self.handle_request()

    def do_POST(self) -> None:  # noqa: N802
        self.handle_request()

    def do_PUT(self) -> None:  # noqa: N802
        self.handle_request()

    def do_DELETE(self) -> None:  # noqa: N802
        self.handle_request()

    def handle_request(self) -> None:
        self.out_cookies: list[str] = []
        self.extra_headers: dict[str, str] = {}
        self.cookies = http.cookies.SimpleCookie()
        with contextlib.suppress(http.cookies.CookieError):
            self.cookies.load(self.headers.get("Cookie") or "")
        parts = urlsplit(self.path)
        self.query = parse_qs(parts.query, keep_blank_values=True)
        body = self.read_body()
        try:
            self.route(parts.path, body)
        except HTTPError as error:
            if isinstance(error.payload, str):
                self.send(error.status, error.payload.encode(), "text/html; charset=utf-8")
            else:
                self.send_json(error.status, error.payload)
        except Exception as error:  # noqa: BLE001 - Django answers 500 and logs the traceback
            log(f"ERROR Internal Server Error: {parts.path}: {error!r}")
            self.send(500, SERVER_ERROR.encode(), "text/html; charset=utf-8")

    def read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def send(self, status: int, data: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for name, value in self.extra_headers.items():
            self.send_header(name, value)
        for cookie in self.out_cookies:
            self.send_header("Set-Cookie", cookie)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def send_json(self, status: int, payload: Any) -> None:
        self.send(status, json.dumps(payload).encode(), "application/json")

    def cookie(self, name: str) -> str | None:
        morsel = self.cookies.get(name)
        return morsel.value if morsel else None

    def set_cookie(self, name: str, value: str, http_only: bool = False) -> None:
        self.out_cookies.append(f"{name}={value}; Path=/; SameSite=Lax"
                                + ("; HttpOnly" if http_only else ""))

    def json_body(self, body: bytes) -> dict[str, Any]:
        try:
            payload = json.loads(body or b"{}")
        except ValueError:
            raise HTTPError(400, {"detail": "Invalid JSON"}) from None
        if not isinstance(payload, dict):
            raise HTTPError(422, {"detail": [{"msg": "Input should be a valid dictionary"}]})
        return payload

    # --- authentication
    def session_user(self, conn: Any) -> int | None:
        key = self.cookie("sessionid")
        if not key:
            return None
        row = conn.execute("SELECT session_data FROM django_session WHERE session_key = %s "
                           "AND expire_date > now()", (key,)).fetchone()
        return int(row[0]) if row else None

    def require_csrf(self) -> None:
        if not csrf_ok(self.cookie("csrftoken"), self.headers.get("X-CSRFToken")):
            raise HTTPError(403, CSRF_FAILED)

    def api_user(self, conn: Any, session_only: bool = False) -> int:
        auth = self.headers.get("Authorization") or ""
        if auth.lower().startswith("bearer ") and not session_only:
            row = conn.execute("SELECT user_id FROM api_tokens_apitoken WHERE token = %s",
                               (auth[7:].strip(),)).fetchone()
            if row:
                return int(row[0])
            raise HTTPError(401, {"detail": "Unauthorized"})
        user = self.session_user(conn)
        if user is None:
            raise HTTPError(401, {"detail": "Unauthorized"})
        if self.command not in ("GET", "HEAD", "OPTIONS"):
            self.require_csrf()
        return user

    # --- routing
    def route(self, path: str, body: bytes) -> None:
        if path == "/_health/":
            self.send(200, b"ok", "text/plain")
            return
        if path == "/api/0/internal/health" or path == "/api/0/internal/health/":
            self.send_json(200, {"status": "ok"})
            return
        ingest = re.fullmatch(r"/api/(\d+)/(envelope|store)/", path)
        if ingest and self.command == "POST":
            self.ingest(int(ingest.group(1)), ingest.group(2), body)
            return
        with connect() as conn:
            missing = check_migrated(conn)
            if missing:
                # What Django does on an unmigrated database: the query fails, 500.
                raise RuntimeError(f"relation missing: {len(missing)} unapplied migration(s)")
            if path.startswith("/_allauth/browser/v1/"):
                self.allauth(conn, path.removeprefix("/_allauth/browser/v1"), body)
                return
            if path.startswith("/api/0/"):
                self.api(conn, path.removeprefix("/api/0"), body)
                return
        raise HTTPError(404, "<h1>Not Found</h1><p>The requested resource was not found on "
                        "this server.</p>")

    def allauth(self, conn: Any, path: str, body: bytes) -> None:
        if path == "/config" and self.command == "GET":
            if not self.cookie("csrftoken"):
                self.set_cookie("csrftoken", "".join(secrets.choice(CSRF_CHARS)
                                                     for _i in range(32)))
            self.send_json(200, {"status": 200, "data": {
                "account": {"authentication_method": "email", "is_open_for_signup":
                            os.environ.get("ENABLE_USER_REGISTRATION", "").lower()
                            in ("true", "1")},
                "socialaccount": {"providers": []}}})
            return
        if path == "/auth/login" and self.command == "POST":
            self.require_csrf()
            payload = self.json_body(body)
            email, password = payload.get("email"), payload.get("password")
            row = conn.execute("SELECT id, password, is_active FROM users_user WHERE "
                               "lower(email) = lower(%s)", (str(email or ""),)).fetchone()
            if not row or not row[2] or not check_password(str(password or ""), row[1]):
                self.send_json(400, {"status": 400, "errors": [{
                    "message": "The email address and/or password you specified are not "
                               "correct.", "code": "email_password_mismatch",
                    "param": "password"}]})
                return
            key = secrets.token_hex(16)
            conn.execute("INSERT INTO django_session VALUES (%s, %s, now() + interval "
                         "'14 days')", (key, str(row[0])))
            conn.execute("UPDATE users_user SET last_login = now() WHERE id = %s", (row[0],))
            # Django's login() rotates the CSRF secret.
            self.set_cookie("csrftoken", "".join(secrets.choice(CSRF_CHARS) for _i in range(32)))
            self.set_cookie("sessionid", key, http_only=True)
            self.send_json(200, {"status": 200, "data": {"user": {"id": row[0], "email": email},
                                                         "methods": []},
                                 "meta": {"is_authenticated": True}})
            return
        if path == "/auth/session" and self.command == "GET":
            user = self.session_user(conn)
            if user is None:
                self.send_json(401, {"status": 401, "data": {"flows": []},
                                     "meta": {"is_authenticated": False}})
            else:
                self.send_json(200, {"status": 200, "data": {"user": {"id": user}},
                                     "meta": {"is_authenticated": True}})
            return
        raise HTTPError(404, {"status": 404})

    def paginate(self, items: list[Any]) -> None:
        limit = int((self.query.get("limit") or ["100"])[0] or 100)
        cursor = (self.query.get("cursor") or ["0:0:0"])[0]
        try:
            offset = int(cursor.split(":")[1])
        except (IndexError, ValueError):
            offset = 0
        page = items[offset:offset + limit]
        base = f"http://{self.headers.get('Host', 'localhost')}{urlsplit(self.path).path}"
        more = offset + limit < len(items)
        prev = max(offset - limit, 0)
        self.extra_headers["Link"] = (
            f'<{base}?limit={limit}&cursor=0:{prev}:1>; rel="previous"; results='
            f'"{"true" if offset > 0 else "false"}"; cursor="0:{prev}:1", '
            f'<{base}?limit={limit}&cursor=0:{offset + limit}:0>; rel="next"; results='
            f'"{"true" if more else "false"}"; cursor="0:{offset + limit}:0"')
        self.send_json(200, page)

    def organization(self, conn: Any, user: int, slug: str) -> tuple[int, str, str]:
        row = conn.execute(
            "SELECT o.id, o.name, o.slug FROM organizations_ext_organization o JOIN "
            "organizations_ext_organizationuser m ON m.organization_id = o.id WHERE o.slug = %s "
            "AND m.user_id = %s", (slug, user)).fetchone()
        if not row:
            raise HTTPError(404, {"detail": "Not Found"})
        return row

    def project_json(self, conn: Any, row: tuple[Any, ...], org_slug: str) -> dict[str, Any]:
        teams = conn.execute("SELECT t.id, t.slug FROM teams_team t JOIN projects_project_teams "
                             "pt ON pt.team_id = t.id WHERE pt.project_id = %s ORDER BY t.id",
                             (row[0],)).fetchall()
        return {"id": str(row[0]), "name": row[1], "slug": row[2], "platform": row[3] or None,
                "dateCreated": iso(row[4]), "firstEvent": iso(row[5]),
                "organization": {"slug": org_slug},
                "teams": [{"id": str(t[0]), "slug": t[1]} for t in teams]}

    def project(self, conn: Any, user: int, org_slug: str,
                slug: str) -> tuple[tuple[Any, ...], tuple[int, str, str]]:
        org = self.organization(conn, user, org_slug)
        row = conn.execute("SELECT id, name, slug, platform, created, first_event FROM "
                           "projects_project WHERE organization_id = %s AND slug = %s",
                           (org[0], slug)).fetchone()
        if not row:
            raise HTTPError(404, {"detail": "Not Found"})
        return row, org

    def unique_slug(self, conn: Any, table: str, base: str, org: int | None = None) -> str:
        slug, number = base, 1
        where = " AND organization_id = %s" if org is not None else ""
        while conn.execute(f"SELECT 1 FROM {table} WHERE slug = %s{where}",
                           [slug, *([org] if org is not None else [])]).fetchone():
            number += 1
            slug = f"{base}-{number}"
        return slug

    def api(self, conn: Any, path: str, body: bytes) -> None:  # noqa: C901, PLR0912, PLR0915
        method = self.command
        if path == "/api-tokens/":
            # Tokens are managed from a login session only, never with a token.
            if (self.headers.get("Authorization") or "").lower().startswith("bearer "):
                raise HTTPError(403, {"detail": "Forbidden"})
            user = self.api_user(conn, session_only=True)
            if method == "POST":
                payload = self.json_body(body)
                scopes = payload.get("scopes") or []
                bad = [scope for scope in scopes if scope not in SCOPES]
                if not scopes or bad:
                    raise HTTPError(422, {"detail": [{"loc": ["body", "scopes"],
                                                      "msg": f"invalid scopes {bad}"}]})
                token = secrets.token_hex(32)
                row = conn.execute("INSERT INTO api_tokens_apitoken (token, label, scopes, "
                                   "user_id) VALUES (%s, %s, %s, %s) RETURNING id, created",
                                   (token, str(payload.get("label") or ""), scopes,
                                    user)).fetchone()
                self.send_json(201, {"id": str(row[0]), "token": token,
                                     "label": payload.get("label") or "", "scopes": scopes,
                                     "created": iso(row[1])})
                return
            rows = conn.execute("SELECT id, label, scopes, created FROM api_tokens_apitoken "
                                "WHERE user_id = %s ORDER BY id", (user,)).fetchall()
            self.paginate([{"id": str(r[0]), "label": r[1], "scopes": r[2],
                            "created": iso(r[3])} for r in rows])
            return
        user = self.api_user(conn)
        if path == "/organizations/":
            if method == "POST":
                name = str(self.json_body(body).get("name") or "").strip()
                if not name:
                    raise HTTPError(422, {"detail": [{"loc": ["body", "name"],
                                                      "msg": "Field required"}]})
                slug = self.unique_slug(conn, "organizations_ext_organization",
                                        slugify(name) or "org")
                row = conn.execute("INSERT INTO organizations_ext_organization (name, slug) "
                                   "VALUES (%s, %s) RETURNING id, created",
                                   (name, slug)).fetchone()
                conn.execute("INSERT INTO organizations_ext_organizationuser (organization_id, "
                             "user_id, role) VALUES (%s, %s, 3)", (row[0], user))
                self.send_json(201, {"id": str(row[0]), "name": name, "slug": slug,
                                     "dateCreated": iso(row[1])})
                return
            rows = conn.execute(
                "SELECT o.id, o.name, o.slug, o.created FROM organizations_ext_organization o "
                "JOIN organizations_ext_organizationuser m ON m.organization_id = o.id WHERE "
                "m.user_id = %s ORDER BY o.name", (user,)).fetchall()
            self.paginate([{"id": str(r[0]), "name": r[1], "slug": r[2],
                            "dateCreated": iso(r[3])} for r in rows])
            return
        match = re.fullmatch(r"/organizations/([\w-]+)/teams/", path)
        if match:
            org = self.organization(conn, user, match.group(1))
            if method == "POST":
                slug = str(self.json_body(body).get("slug") or "")
                if not re.fullmatch(r"[-a-zA-Z0-9_]+", slug):
                    raise HTTPError(422, {"detail": [{"loc": ["body", "slug"],
                                                      "msg": "Enter a valid slug"}]})
                # No check first: the unique constraint fails, as upstream's 500 shows.
                row = conn.execute("INSERT INTO teams_team (slug, organization_id) VALUES "
                                   "(%s, %s) RETURNING id, created", (slug, org[0])).fetchone()
                self.send_json(201, {"id": str(row[0]), "slug": slug,
                                     "dateCreated": iso(row[1])})
                return
            rows = conn.execute("SELECT id, slug, created FROM teams_team WHERE "
                                "organization_id = %s ORDER BY slug", (org[0],)).fetchall()
            self.paginate([{"id": str(r[0]), "slug": r[1], "dateCreated": iso(r[2])}
                           for r in rows])
            return
        match = re.fullmatch(r"/organizations/([\w-]+)/projects/", path)
        if match and method == "GET":
            org = self.organization(conn, user, match.group(1))
            rows = conn.execute("SELECT id, name, slug, platform, created, first_event FROM "
                                "projects_project WHERE organization_id = %s ORDER BY name, id",
                                (org[0],)).fetchall()
            self.paginate([self.project_json(conn, r, org[2]) for r in rows])
            return
        match = re.fullmatch(r"/teams/([\w-]+)/([\w-]+)/projects/", path)
        if match and method == "POST":
            org = self.organization(conn, user, match.group(1))
            team = conn.execute("SELECT id FROM teams_team WHERE organization_id = %s AND "
                                "slug = %s", (org[0], match.group(2))).fetchone()
            if not team:
                raise HTTPError(404, {"detail": "Not Found"})
            payload = self.json_body(body)
            name = str(payload.get("name") or "").strip()
            if not name:
                raise HTTPError(422, {"detail": [{"loc": ["body", "name"],
                                                  "msg": "Field required"}]})
            slug = self.unique_slug(conn, "projects_project", slugify(name) or "project",
                                    org[0])
            row = conn.execute("INSERT INTO projects_project (name, slug, platform, "
                               "organization_id) VALUES (%s, %s, %s, %s) RETURNING id, name, "
                               "slug, platform, created, first_event",
                               (name, slug, str(payload.get("platform") or ""),
                                org[0])).fetchone()
            conn.execute("INSERT INTO projects_project_teams (project_id, team_id) VALUES "
                         "(%s, %s)", (row[0], team[0]))
            conn.execute("INSERT INTO projects_projectkey (project_id, public_key) VALUES "
                         "(%s, %s)", (row[0], uuid.uuid4()))
            self.send_json(201, self.project_json(conn, row, org[2]))
            return
        match = re.fullmatch(r"/projects/([\w-]+)/([\w-]+)/(keys|issues|events)/", path)
        if match and method == "GET":
            project, _org = self.project(conn, user, match.group(1), match.group(2))
            what = match.group(3)
            if what == "keys":
                domain = os.environ.get("GLITCHTIP_DOMAIN") or "http://localhost:8000"
                rows = conn.execute("SELECT id, name, public_key, created, is_active FROM "
                                    "projects_projectkey WHERE project_id = %s ORDER BY id",
                                    (project[0],)).fetchall()
                self.paginate([{"id": r[2].hex, "name": r[1], "label": r[1],
                                "public": r[2].hex, "projectId": project[0],
                                "isActive": r[4], "dateCreated": iso(r[3]),
                                "dsn": {"public": dsn_for(domain, r[2].hex, project[0]),
                                        "secret": dsn_for(domain, r[2].hex, project[0])}}
                               for r in rows])
            elif what == "issues":
                rows = conn.execute("SELECT id, title, culprit, level, type, count, first_seen, "
                                    "last_seen FROM issue_events_issue WHERE project_id = %s "
                                    "ORDER BY last_seen DESC, id DESC", (project[0],)).fetchall()
                self.paginate([{"id": str(r[0]), "title": r[1], "culprit": r[2], "level": r[3],
                                "type": r[4], "count": str(r[5]), "firstSeen": iso(r[6]),
                                "lastSeen": iso(r[7]), "status": "unresolved",
                                "project": {"id": str(project[0]), "slug": project[2]}}
                               for r in rows])
            else:
                rows = conn.execute(
                    "SELECT e.id, e.issue_id, e.received, e.timestamp, i.title, e.data->>'message'"
                    " FROM issue_events_issueevent e JOIN issue_events_issue i ON i.id = "
                    "e.issue_id WHERE i.project_id = %s ORDER BY e.received DESC",
                    (project[0],)).fetchall()
                self.paginate([{"id": r[0].hex, "eventID": r[0].hex, "groupID": str(r[1]),
                                "dateReceived": iso(r[2]), "dateCreated": iso(r[3]),
                                "title": r[4], "message": r[5] or ""} for r in rows])
            return
        raise HTTPError(404, {"detail": "Not Found"})

    # --- ingestion
    def ingest(self, project_id: int, kind: str, body: bytes) -> None:
        try:
            body = decode_body(body, self.headers.get("Content-Encoding") or "")
        except (ValueError, OSError, EOFError, zlib.error):
            raise HTTPError(400, {"detail": "Invalid request body"}) from None
        key = sentry_key(self.headers, self.query)
        events: list[dict[str, Any]] = []
        try:
            if kind == "envelope":
                header, items = parse_envelope(body)
                if not key and header.get("dsn"):
                    key = urlsplit(str(header["dsn"])).username
                for item_header, payload in items:
                    if item_header.get("type") == "event":
                        events.append(json.loads(payload))
            else:
                events.append(json.loads(body))
        except ValueError:
            raise HTTPError(400, {"detail": "Invalid envelope"}) from None
        try:
            public = uuid.UUID(key or "")
        except ValueError:
            raise HTTPError(403, {"detail": "Denied"}) from None
        with connect() as conn:
            if not conn.execute("SELECT 1 FROM projects_projectkey WHERE project_id = %s AND "
                                "public_key = %s AND is_active", (project_id, public)).fetchone():
                raise HTTPError(403, {"detail": "Denied"})
        received = time.time()
        queue = broker()
        event_id = None
        for event in events:
            event.setdefault("event_id", uuid.uuid4().hex)
            event_id = event["event_id"]
            queue.rpush(QUEUE, json.dumps({"project_id": project_id, "event": event,
                                           "received": received}))
        self.send_json(200, {"id": event_id} if event_id else {})


def run_web(stop: threading.Event | None = None) -> int:
    require_settings()
    host, port = web_port()
    try:
        with connect() as conn:
            missing = check_migrated(conn)
        if missing:
            log(f"WARNING You have {len(missing)} unapplied migration(s). Your project may not "
                "work properly until you apply the migrations.")
    except Exception as error:  # noqa: BLE001 - the server starts anyway, as Django's does
        log(f"WARNING database not reachable at start: {error}")
    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    if LINE == "5":
        log(f"*** uWSGI is running in multiple interpreter mode *** http on {host}:{port}")
    else:
        log(f"Start GlitchTip with 1 granian worker(s) (ASGI)\n[INFO] Listening at: "
            f"http://{host}:{port}")
    if stop is not None:
        threading.Thread(target=lambda: (stop.wait(), server.shutdown()), daemon=True).start()
    server.serve_forever()
    return 0


def main(argv: list[str]) -> int:
    # PID 1 in its container: without a handler, SIGTERM would be ignored.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
    command, args = (argv[0] if argv else "start"), argv[1:]
    if command == "manage":
        return manage(args)
    if command == "migrate":
        print("Run Django migrations", flush=True)
        if manage(["migrate", "--skip-checks"]):
            return 1
        print("Create Django cache table, if needed", flush=True)
        if manage(["createcachetable"]):
            return 1
        print("Create and delete Postgres partitions", flush=True)
        return manage(["maintain_partitions"])
    if command == "start":
        role = os.environ.get("SERVER_ROLE") or "web"
        script = server_script(role)
        if script is None:
            roles = "web|worker|beat|all_in_one" if LINE == "5" else "web|worker|all_in_one"
            print(f"Unknown server role provided: {role}. Should be {roles}.")
            return 1
        command = script
    if command == "web":
        return run_web()
    if command == "worker":
        # 6.x: one worker with its scheduler; 5.x: Celery's worker (beat runs apart,
        # unless the role is worker_with_beat).
        scheduler = LINE != "5" or os.environ.get("SERVER_ROLE") == "worker_with_beat"
        return run_worker(scheduler=scheduler)
    if command == "beat" and LINE == "5":
        return run_beat()
    if command == "all_in_one":
        stop = threading.Event()
        threading.Thread(target=run_worker, args=(True, stop), daemon=True).start()
        return run_web()
    print(f"unknown command {command}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
