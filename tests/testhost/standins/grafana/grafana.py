"""Contract stand-in for Grafana OSS 13.2.2 (docker.io/grafana/grafana:13.2.2).

No registry here serves the Grafana image, so the test image
`localhost/lgtm-test/grafana:13.2.2` runs this program as
`/usr/share/grafana/bin/grafana` (uid 472, gid 0, started by `/run.sh`, laid out as
upstream's image; tests/testhost/images/grafana.py). It honours the contract the
lgtm.stack grafana role and its tests rely on and does the real work they assert on:
a real SQLite `grafana.db`, real PBKDF2 password hashes, basic auth checked against the
database, provisioning read from files, and datasource health checks that call the
backends over the network on the same path real Grafana calls.

Pinned version: 13.2.2, the newest 13.x patch release pinned by many public deployments
in late 2026 (13.2.0 2026-08-18, 13.2.1 2026-09-01; renovate PRs such as
AndreiGavriliu/homelab#7187, #7230).

Upstream sources this follows (read, not copied):
- Image: Dockerfile (GF_UID=472, GF_GID=0, PATH=/usr/share/grafana/bin:..., GF_PATHS_CONFIG
  /etc/grafana/grafana.ini, GF_PATHS_DATA /var/lib/grafana, GF_PATHS_HOME /usr/share/grafana,
  GF_PATHS_LOGS /var/log/grafana, GF_PATHS_PLUGINS /var/lib/grafana/plugins,
  GF_PATHS_PROVISIONING /etc/grafana/provisioning, WORKDIR $GF_PATHS_HOME, EXPOSE 3000,
  ENTRYPOINT ["/run.sh"]) and packaging/docker/run.sh (GF_*__FILE -> GF_*, both set is an
  error, `exec grafana server --homepath --config --packaging=docker cfg:default.paths.*`):
  https://github.com/grafana/grafana/blob/main/packaging/docker/run.sh
- Configuration: https://grafana.com/docs/grafana/latest/setup-grafana/configure-grafana/
  (GF_<SECTION>_<KEY> overrides, dots and dashes as underscores; `$__env{}` and
  `$__file{}` expansion; admin_password "only used on first start"). The default values
  of the settings read here (from conf/defaults.ini at v13.2.2) are kept as data in
  defaults.json, installed as <homepath>/conf/defaults.json.
- Logging: conf/defaults.ini `[log] mode = console file` (in every copy of upstream's
  defaults.ini read via the search tool, old and recent; the v13.2.2 tag itself could not
  be read), split as pkg/setting's initLogging does; the file logger of pkg/infra/log
  ReadLoggingConfig (open_log_file below; its newest stored version, with the app-sdk
  logger, read via the search tool). The image's run.sh passes
  `cfg:default.log.mode=console` (seen in a public container log), so in the image only
  grafana.ini or GF_LOG_MODE can add `file`. The stand-in always prints to the console
  (upstream prints only with `console` in the mode).
- CLI: https://grafana.com/docs/grafana/latest/cli/ (`grafana cli [global options] admin
  reset-admin-password [--password-from-stdin] [--user-id N] <password>`; global
  --homepath/--config; without --config it reads <homepath>/conf/defaults.ini and
  custom.ini only; "Could not find config defaults, make sure homepath command line
  parameter is set or working directory is homepath").
- Provisioning: https://grafana.com/docs/grafana/latest/administration/provisioning/
  (apiVersion 1, datasources/deleteDatasources/prune, datasource fields, one default per
  org, `$VAR`/`${VAR}` expansion with `$$` for a literal `$`; dashboard providers with
  options.path, updateIntervalSeconds default 10, foldersFromFilesStructure).
- Datasource jsonData keys: https://grafana.com/docs/grafana/latest/datasources/prometheus/
  configure/ (exemplarTraceIdDestinations, httpMethod, ...), .../datasources/loki/
  configure-loki-data-source/ (derivedFields, maxLines, ...), .../datasources/tempo/
  configure-tempo-data-source/ (tracesToLogsV2, tracesToMetrics, serviceMap, nodeGraph,
  lokiSearch, search, traceQuery, spanBar, streamingEnabled, ...).
- HTTP API: https://grafana.com/docs/grafana/latest/developers/http_api/ (health, user,
  users, admin, org, data_source, dashboard (the legacy POST /api/dashboards/db that 13.x
  still serves), folder_dashboard_search) for paths, bodies
  and messages ("User created", "User password updated", "user not found", ...).
- Datasource health (`GET /api/datasources/uid/<uid>/health`, 200 OK / 400 ERROR):
  prometheus pkg/promlib/healthcheck.go (instant query `1+1` over the range 1s..4s, POST
  unless jsonData.httpMethod is GET, "Successfully queried the Prometheus API.", errors
  "<err> - There was an error ..."); loki pkg/tsdb/loki/healthcheck.go (instant query
  `vector(1)+vector(1)` on /loki/api/v1/query, one sample of value 2 wanted,
  "Successfully queried the Loki API."), both read at grafana/grafana main via the
  search tool; tempo: the backend's Service.CheckHealth in pkg/tsdb/tempo/tempo.go (read via
  the search tool at grafana/grafana commit 15c1214f2ce3860aa3b81b7a53785d22952b0a9b; the
  health check moved from the frontend to the backend in grafana/grafana#111668, merged
  2025-09-26, first released in 12.3): unless jsonData.streamingEnabled.search is true, a
  GET <url>/api/echo whose status alone decides (200: OK "Data source is working"; any
  other: ERROR "Tempo echo endpoint returned status <n>"; a transport error: the Go
  client's error text). The streaming variant (a gRPC search) is not modelled here and
  answers ERROR saying so; the role never turns it on. The commit could not be tied to a
  13.2.x tag (the repository is too large to fetch here), so "13.2 behaves so" rests on
  no later change to that function being known.
- Datasource TLS: pkg/services/datasources/service/datasource.go dsTLSOptions (jsonData
  tlsSkipVerify, serverName always; secureJsonData.tlsCACert only with tlsAuthWithCACert,
  read with MustBool/MustString) and grafana-plugin-sdk-go backend/httpclient GetTLSConfig
  (a CA replaces the system pool; "failed to parse TLS CA PEM certificate"); Go's
  crypto/tls and crypto/x509 error texts ("tls: failed to verify certificate: x509: ...").
- Passwords: pkg/util/encoding.go EncodePassword (PBKDF2-HMAC-SHA256, 10000 rounds, 50
  bytes, hex, 10-char salt); login attempts: pkg/services/loginattempt (5 failures in
  5 minutes lock a login).

Stricter than upstream, on purpose (so a role's typo fails loudly; say so when a test
relies on it): provisioning files with keys the docs do not list are rejected (upstream
ignores them), jsonData keys are checked per type against the docs above, and a health
check reports ERROR when a jsonData `datasourceUid` link does not resolve (upstream shows
a broken link in the UI), and the TLS jsonData keys must have their JSON types (upstream
reads a mistyped one as false/empty). What it does NOT do: no UI, sessions, API keys or
service accounts, teams, folders beyond provider names, alerting, plugins, MySQL/Postgres
backends, serving HTTPS itself, TLS client certificates towards datasources (tlsAuth); it
never phones home (usage reporting and update checks are only logged).
Of plugin and alerting provisioning it keeps only upstream's start-up errors when
provisioning/plugins or provisioning/alerting cannot be read (logger, message, path and
error fields as upstream logs them, seen in a public issue report of a 2024 Grafana's log,
prometheus-operator/kube-prometheus#2535; no later change is known); the files in them
are not read.
"""

from __future__ import annotations

import base64
import configparser
import contextlib
import datetime
import hashlib
import hmac
import http.client
import json
import os
import re
import secrets
import sqlite3
import ssl
import string
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TextIO

import yaml

VERSION = "13.2.2"
# Built-in defaults, relative to the homepath (tests/testhost/standins/grafana/defaults.json).
DEFAULTS = "conf/defaults.json"
COMMIT = "lgtm-standin"
ROLES = ("Viewer", "Editor", "Admin")


class StartupError(Exception):
    """Grafana logs the error and exits 1."""


# The open `[log] mode = file` target while `serve` runs (tests run serve in-process, so
# it is closed again when serve returns); every console line is appended to it too.
LOG_FILES: list[TextIO] = []
LOG_LOCK = threading.Lock()


def log(level: str, message: str, logger: str = "standin", **fields: Any) -> None:
    extra = " ".join(f"{key}={json.dumps(value)}" for key, value in fields.items())
    line = (f"logger={logger} t={datetime.datetime.now(datetime.UTC).isoformat()} "
            f"level={level} msg={json.dumps(message)} {extra}\n")
    with LOG_LOCK:
        sys.stderr.write(line)
        sys.stderr.flush()
        for target in LOG_FILES:
            target.write(line)
            target.flush()


def log_modes(settings: Settings) -> list[str]:
    """`[log] mode` as upstream's initLogging splits it: on commas, else on spaces."""
    value = settings.get("log", "mode", "console")
    modes = value.split(",")
    if len(modes) == 1:
        modes = value.split(" ")
    return [mode.strip() for mode in modes]


def open_log_file(settings: Settings) -> TextIO | None:
    """The file logger of upstream's ReadLoggingConfig (pkg/infra/log/log.go).

    With `file` among the modes Grafana creates the directory of `[log.file] file_name`
    (default <paths.logs>/grafana.log) and opens the file for appending, mode 0644. When
    either fails, it skips the file logger and starts anyway (since 8.4, grafana/grafana
    #42952, "don't return an error trying to initialize the file logger"); the error it
    logs then goes to the root logger before any output is set up, which discards it,
    so nothing is printed (read in the code, not seen in a running Grafana). Rotation
    (log_rotate, max_lines, daily_rotate...) is not modelled: it renames files inside
    the same directory.
    """
    if "file" not in log_modes(settings):
        return None
    name = settings.get("log.file", "file_name")
    path = Path(name) if name else settings.path("paths", "logs") / "grafana.log"
    try:
        path.parent.mkdir(mode=0o750, parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    except OSError:
        return None
    return os.fdopen(descriptor, "a", encoding="utf-8")


# --- configuration ---------------------------------------------------------------

def env_key(section: str, key: str) -> str:
    return "GF_" + re.sub(r"[.\-]", "_", section).upper() + "_" + re.sub(r"[.\-]", "_", key).upper()


def expand_value(value: str) -> str:
    """`$__env{NAME}` and `$__file{path}`, as Grafana expands ini values."""
    def env(match: re.Match[str]) -> str:
        return os.environ.get(match.group(1), "")

    def file(match: re.Match[str]) -> str:
        try:
            return Path(match.group(1)).read_text().strip()
        except OSError as error:
            raise StartupError(f"failed to read file {match.group(1)}: {error}") from None

    value = re.sub(r"\$__env\{([^}]*)\}", env, value)
    return re.sub(r"\$__file\{([^}]*)\}", file, value)


class Settings:
    def __init__(self, home: Path, config: Path | None, overrides: dict[str, str],
                 cli: bool = False) -> None:
        # Real Grafana needs <homepath>/conf/defaults.ini; the stand-in keeps the same
        # facts in its own form next to it, and fails the same way when it is missing.
        defaults = home / DEFAULTS
        if not defaults.is_file():
            raise StartupError("Could not find config defaults, make sure homepath command line "
                               "parameter is set or working directory is homepath")
        self.home = home
        self.values = {section: dict(keys) for section, keys
                       in json.loads(defaults.read_text())["settings"].items()}
        if config is not None:
            self._read(config, must_exist=not cli)
        elif cli:
            self._read(home / "conf/custom.ini", must_exist=False)
        # Command-line `cfg:default.section.key=value` set defaults (run.sh's paths);
        # the config file and the environment still win over them.
        for dotted, value in overrides.items():
            section, _sep, key = dotted.removeprefix("default.").rpartition(".")
            if not self._has_file_value(section, key):
                self.values.setdefault(section, {})[key] = value
        for section, keys in self.values.items():
            for key in list(keys):
                name = env_key(section, key)
                if name in os.environ:
                    keys[key] = os.environ[name]
        for keys in self.values.values():
            for key, value in keys.items():
                keys[key] = expand_value(value)

    _file_keys: set[tuple[str, str]]

    def _has_file_value(self, section: str, key: str) -> bool:
        return (section, key) in getattr(self, "_file_keys", set())

    def _read(self, path: Path, must_exist: bool) -> None:
        if not path.is_file():
            if must_exist:
                raise StartupError(
                    f"failed to parse {path}: open {path}: no such file or directory")
            return
        parser = configparser.RawConfigParser(comment_prefixes=(";", "#"),
                                              inline_comment_prefixes=None, strict=False,
                                              default_section="__none__")
        parser.optionxform = str  # type: ignore[assignment,method-assign]
        text = path.read_text()
        try:
            parser.read_string("[DEFAULT_TOP]\n" + text, source=str(path))
        except configparser.Error as error:
            raise StartupError(f"failed to parse {path}: {error}") from None
        file_keys = getattr(self, "_file_keys", set())
        for section in parser.sections():
            name = "" if section == "DEFAULT_TOP" else section
            for key, value in parser.items(section):
                self.values.setdefault(name, {})[key] = value.strip().strip('"')
                file_keys.add((name, key))
        self._file_keys = file_keys

    def get(self, section: str, key: str, default: str = "") -> str:
        return self.values.get(section, {}).get(key, default)

    def flag(self, section: str, key: str) -> bool:
        return self.get(section, key).lower() == "true"

    def path(self, section: str, key: str) -> Path:
        value = Path(self.get(section, key))
        return value if value.is_absolute() else self.home / value

    @property
    def data_dir(self) -> Path:
        return self.path("paths", "data")

    @property
    def db_path(self) -> Path:
        value = Path(self.get("database", "path", "grafana.db"))
        return value if value.is_absolute() else self.data_dir / value


# --- database ---------------------------------------------------------------------

SCHEMA = """
CREATE TABLE IF NOT EXISTS migration_log (id INTEGER PRIMARY KEY, migration_id TEXT,
  success INTEGER, timestamp TEXT);
CREATE TABLE IF NOT EXISTS org (id INTEGER PRIMARY KEY, name TEXT UNIQUE NOT NULL, created TEXT,
  updated TEXT);
CREATE TABLE IF NOT EXISTS user (id INTEGER PRIMARY KEY, uid TEXT, login TEXT UNIQUE NOT NULL,
  email TEXT UNIQUE NOT NULL, name TEXT, password TEXT, salt TEXT,
  is_admin INTEGER NOT NULL DEFAULT 0, is_disabled INTEGER NOT NULL DEFAULT 0,
  org_id INTEGER, created TEXT, updated TEXT);
CREATE TABLE IF NOT EXISTS org_user (org_id INTEGER, user_id INTEGER, role TEXT, created TEXT,
  updated TEXT, UNIQUE (org_id, user_id));
CREATE TABLE IF NOT EXISTS login_attempt (id INTEGER PRIMARY KEY, username TEXT, created REAL);
CREATE TABLE IF NOT EXISTS data_source (id INTEGER PRIMARY KEY, org_id INTEGER, version INTEGER,
  type TEXT, name TEXT, access TEXT, url TEXT, user TEXT, database TEXT, basic_auth INTEGER,
  basic_auth_user TEXT, with_credentials INTEGER, is_default INTEGER, json_data TEXT,
  secure_json_data TEXT, read_only INTEGER, uid TEXT, provisioned INTEGER, created TEXT,
  updated TEXT,
  UNIQUE (org_id, name), UNIQUE (org_id, uid));
CREATE TABLE IF NOT EXISTS dashboard (id INTEGER PRIMARY KEY, org_id INTEGER, uid TEXT, title TEXT,
  slug TEXT, data TEXT, version INTEGER, folder_title TEXT, provisioner TEXT, external_id TEXT,
  checksum TEXT, created TEXT, updated TEXT, UNIQUE (org_id, uid));
"""


def now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def encode_password(password: str, salt: str) -> str:
    return hashlib.pbkdf2_hmac("sha256", password.encode(), salt.encode(), 10000, 50).hex()


def random_salt() -> str:
    return "".join(secrets.choice(string.ascii_letters + string.digits) for _position in range(10))


def random_uid() -> str:
    alphabet = string.ascii_lowercase + string.digits
    return "".join(secrets.choice(alphabet) for _position in range(14))


class Store:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.lock = threading.RLock()
        try:
            self.db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
            self.db.row_factory = sqlite3.Row
            self.db.executescript(SCHEMA)
        except sqlite3.Error as error:
            raise StartupError(f"Service init failed: failed to open {path}: {error}") from None

    def query(self, sql: str, *args: Any) -> list[sqlite3.Row]:
        with self.lock:
            return list(self.db.execute(sql, args))

    def one(self, sql: str, *args: Any) -> sqlite3.Row | None:
        rows = self.query(sql, *args)
        return rows[0] if rows else None

    def execute(self, sql: str, *args: Any) -> int:
        with self.lock:
            cursor = self.db.execute(sql, args)
            return int(cursor.lastrowid or 0)

    def healthy(self) -> bool:
        """Whether the database is really open, migrated and writable.

        Upstream (pkg/api/http_server.go apiHealthHandler and databaseHealthy, read at
        grafana/grafana main via the search tool) answers 200 {"database": "ok", "version",
        "commit"} when its database health query succeeds and 503 with "database":
        "failing" when it errors. Its query is a bare SELECT 1 through the connection
        pool; the stand-in keeps a single connection open, so it reads the migration log
        (a file overwritten or truncated under it fails here) and starts a write it
        rolls back (a grafana.db Grafana's user cannot write fails here, as every write
        real Grafana makes - sessions, logins, provisioning - would).
        """
        with self.lock:
            try:
                row = self.db.execute(
                    "SELECT COUNT(*) FROM migration_log WHERE success = 1").fetchone()
                if row is None or row[0] == 0:
                    return False
                self.db.execute("BEGIN IMMEDIATE")
                try:
                    self.db.execute("INSERT INTO migration_log (migration_id, success, "
                                    "timestamp) VALUES ('health probe', 0, ?)", (now(),))
                finally:
                    self.db.execute("ROLLBACK")
            except sqlite3.Error as error:
                log("error", "Database health check failed", error=str(error))
                with contextlib.suppress(sqlite3.Error):
                    if self.db.in_transaction:
                        self.db.execute("ROLLBACK")
                return False
        return True

    def migrate(self) -> None:
        if self.one("SELECT id FROM migration_log") is None:
            log("info", "Starting DB migrations")
            self.execute("INSERT INTO migration_log (migration_id, success, timestamp) "
                         "VALUES ('create standin schema', 1, ?)", now())
        if self.one("SELECT id FROM org WHERE id = 1") is None:
            self.execute("INSERT INTO org (id, name, created, updated) "
                         "VALUES (1, 'Main Org.', ?, ?)", now(), now())

    def create_user(self, login: str, email: str, name: str, password: str, is_admin: bool,
                    role: str) -> int:
        salt = random_salt()
        user_id = self.execute(
            "INSERT INTO user (uid, login, email, name, password, salt, is_admin, org_id, created, "
            "updated) VALUES (?, ?, ?, ?, ?, ?, ?, 1, ?, ?)", random_uid(), login, email or login,
            name, encode_password(password, salt), salt, int(is_admin), now(), now())
        self.execute("INSERT INTO org_user (org_id, user_id, role, created, updated) "
                     "VALUES (1, ?, ?, ?, ?)", user_id, role, now(), now())
        return user_id

    def set_password(self, user_id: int, password: str) -> None:
        salt = random_salt()
        self.execute("UPDATE user SET password = ?, salt = ?, updated = ? WHERE id = ?",
                     encode_password(password, salt), salt, now(), user_id)

    def user_by_login(self, login_or_email: str) -> sqlite3.Row | None:
        return self.one("SELECT * FROM user WHERE login = ? OR email = ?", login_or_email,
                        login_or_email)


def ensure_admin(settings: Settings, store: Store) -> None:
    """The initial admin is created only while the user table is empty (upstream:
    admin_password is "only used on first start")."""
    if settings.flag("security", "disable_initial_admin_creation"):
        return
    if store.one("SELECT id FROM user") is not None:
        return
    login = settings.get("security", "admin_user", "admin")
    store.create_user(login, settings.get("security", "admin_email", "admin@localhost"), "",
                      settings.get("security", "admin_password", "admin"), True, "Admin")
    log("info", "Created default admin", user=login)


# --- provisioning -----------------------------------------------------------------

DATASOURCE_FIELDS = {
    "name": str, "type": str, "access": str, "orgId": int, "uid": str, "url": str, "user": str,
    "database": str, "basicAuth": bool, "basicAuthUser": str, "withCredentials": bool,
    "isDefault": bool, "jsonData": dict, "secureJsonData": dict, "version": int,
    "editable": bool, "correlations": list,
}
DATASOURCE_FILE_FIELDS = {"apiVersion", "datasources", "deleteDatasources", "prune"}
HTTP_JSON_KEYS = {
    "timeout", "keepCookies", "tlsSkipVerify", "tlsAuth", "tlsAuthWithCACert", "serverName",
    "oauthPassThru", "enableSecureSocksProxy", "manageAlerts", "allowedCookies",
    "sigV4Auth", "sigV4AuthType", "sigV4Region", "sigV4Profile", "sigV4AssumeRoleArn",
    "sigV4ExternalId", "httpMode",
}
TYPE_JSON_KEYS: dict[str, set[str]] = {
    "prometheus": {
        "httpMethod", "exemplarTraceIdDestinations", "timeInterval", "queryTimeout",
        "prometheusType", "prometheusVersion", "cacheLevel", "incrementalQuerying",
        "incrementalQueryOverlapWindow", "disableRecordingRules", "customQueryParameters",
        "defaultEditor", "disableMetricsLookup", "seriesEndpoint", "seriesLimit",
        "codeModeMetricNamesSuggestionLimit",
    },
    "loki": {"maxLines", "derivedFields", "predefinedOperations"},
    "tempo": {
        "tracesToLogsV2", "tracesToLogs", "tracesToMetrics", "tracesToProfiles", "serviceMap",
        "nodeGraph", "lokiSearch", "search", "traceQuery", "spanBar", "streamingEnabled",
        "tagLimit", "timeRangeForTags",
    },
}
NESTED_KEYS: dict[str, set[str]] = {
    "exemplarTraceIdDestinations[]": {"name", "datasourceUid", "url", "urlDisplayLabel"},
    "derivedFields[]": {"name", "matcherRegex", "matcherType", "url", "urlDisplayLabel",
                        "datasourceUid", "targetBlank"},
    "tracesToLogsV2": {"datasourceUid", "spanStartTimeShift", "spanEndTimeShift", "tags",
                       "filterByTraceID", "filterBySpanID", "customQuery", "query"},
    "tracesToMetrics": {"datasourceUid", "spanStartTimeShift", "spanEndTimeShift", "tags",
                        "queries"},
    "tracesToProfiles": {"datasourceUid", "tags", "profileTypeId", "customQuery", "query"},
    "serviceMap": {"datasourceUid"},
    "nodeGraph": {"enabled"},
    "lokiSearch": {"datasourceUid"},
    "traceQuery": {"timeShiftEnabled", "spanStartTimeShift", "spanEndTimeShift"},
    "streamingEnabled": {"search", "metrics"},
    "search": {"hide", "filters"},
    "spanBar": {"type", "tag"},
}
# Types of the keys the datasource HTTP client reads (stricter than upstream, see above).
JSON_KEY_TYPES: dict[str, type] = {"tlsSkipVerify": bool, "tlsAuth": bool,
                                   "tlsAuthWithCACert": bool, "serverName": str}
SECURE_KEY_TYPES: dict[str, type] = {"tlsCACert": str, "tlsClientCert": str,
                                     "tlsClientKey": str}
DASHBOARD_FILE_FIELDS = {"apiVersion", "providers"}
PROVIDER_FIELDS = {"name", "orgId", "folder", "folderUid", "type", "disableDeletion",
                   "updateIntervalSeconds", "allowUiUpdates", "options"}
PROVIDER_OPTION_FIELDS = {"path", "foldersFromFilesStructure"}


def expand_env(value: Any) -> Any:
    """`$VAR` and `${VAR}` from the environment, `$$` for a literal `$` (provisioning docs)."""
    if isinstance(value, str):
        def replace(match: re.Match[str]) -> str:
            if match.group(0) == "$$":
                return "$"
            return os.environ.get(match.group(1) or match.group(2), "")
        return re.sub(r"\$\$|\$\{([^}]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)", replace, value)
    if isinstance(value, list):
        return [expand_env(item) for item in value]
    if isinstance(value, dict):
        return {key: expand_env(item) for key, item in value.items()}
    return value


def load_yaml_files(directory: Path) -> list[tuple[Path, Any]]:
    if not directory.is_dir():
        return []
    loaded = []
    for path in sorted(directory.iterdir()):
        if path.suffix not in (".yaml", ".yml") or not path.is_file():
            continue
        try:
            loaded.append((path, yaml.safe_load(path.read_text())))
        except yaml.YAMLError as error:
            raise StartupError(f"could not parse provisioning file {path}: {error}") from None
    return loaded


def check_keys(where: str, data: dict[str, Any], allowed: set[str]) -> None:
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise StartupError(f"{where}: unknown field(s) {', '.join(unknown)}; allowed: "
                           f"{', '.join(sorted(allowed))}")


def check_json_data(where: str, kind: str, json_data: dict[str, Any]) -> None:
    allowed = HTTP_JSON_KEYS | TYPE_JSON_KEYS.get(kind, set())
    for key, value in json_data.items():
        if re.fullmatch(r"httpHeaderName\d+", key):
            continue
        if key not in allowed:
            raise StartupError(f"{where}: jsonData.{key} is not a {kind} datasource setting")
        json_type = JSON_KEY_TYPES.get(key)
        if json_type is not None and not isinstance(value, json_type):
            raise StartupError(f"{where}: jsonData.{key} must be a {json_type.__name__}")
        for nested, fields in NESTED_KEYS.items():
            if nested.removesuffix("[]") != key:
                continue
            items = value if nested.endswith("[]") else [value]
            if not isinstance(items, list):
                raise StartupError(f"{where}: jsonData.{key} must be a list")
            for item in items:
                if not isinstance(item, dict):
                    raise StartupError(f"{where}: jsonData.{key} entries must be objects")
                check_keys(f"{where}: jsonData.{key}", item, fields)


def provision_datasources(store: Store, directory: Path) -> None:
    wanted: list[dict[str, Any]] = []
    deletes: list[dict[str, Any]] = []
    prune = False
    for path, content in load_yaml_files(directory):
        if content is None:
            continue
        if not isinstance(content, dict):
            raise StartupError(f"Datasource provisioning error: {path}: not a mapping")
        check_keys(f"Datasource provisioning error: {path}", content, DATASOURCE_FILE_FIELDS)
        if content.get("apiVersion", 0) != 1:
            raise StartupError(f"Datasource provisioning error: {path}: apiVersion must be 1")
        prune = prune or bool(content.get("prune", False))
        for entry in content.get("deleteDatasources") or []:
            deletes.append(entry)
        for index, entry in enumerate(content.get("datasources") or []):
            where = f"Datasource provisioning error: {path}: datasources[{index}]"
            if not isinstance(entry, dict):
                raise StartupError(f"{where}: not a mapping")
            check_keys(where, entry, set(DATASOURCE_FIELDS))
            for key, kind in DATASOURCE_FIELDS.items():
                if key in entry and entry[key] is not None and not isinstance(entry[key], kind):
                    raise StartupError(f"{where}: {key} must be a {kind.__name__}")
            entry = expand_env(entry)
            if not entry.get("name"):
                raise StartupError(f"{where}: datasource name is required")
            if len(entry.get("uid", "")) > 40:
                raise StartupError(f"{where}: uid longer than 40 characters")
            check_json_data(where, entry.get("type", ""), entry.get("jsonData") or {})
            for key, secure_type in SECURE_KEY_TYPES.items():
                value = (entry.get("secureJsonData") or {}).get(key)
                if value is not None and not isinstance(value, secure_type):
                    raise StartupError(f"{where}: secureJsonData.{key} must be a "
                                       f"{secure_type.__name__}")
            wanted.append(entry)
    defaults = [entry["name"] for entry in wanted if entry.get("isDefault")]
    if len(defaults) > 1:
        raise StartupError("Datasource provisioning error: datasource.yaml config is invalid. "
                           "Only one datasource per organization can be marked as default")
    for entry in deletes:
        store.execute("DELETE FROM data_source WHERE org_id = ? AND name = ?",
                      entry.get("orgId", 1), entry.get("name"))
    if prune:
        names = {entry["name"] for entry in wanted}
        for row in store.query("SELECT id, name FROM data_source WHERE provisioned = 1"):
            if row["name"] not in names:
                store.execute("DELETE FROM data_source WHERE id = ?", row["id"])
                log("info", "deleted provisioned datasource no longer in files", name=row["name"])
    for entry in wanted:
        org = entry.get("orgId", 1)
        uid = entry.get("uid") or random_uid()
        existing = store.one("SELECT id, version FROM data_source "
                             "WHERE org_id = ? AND (name = ? OR uid = ?)", org, entry["name"], uid)
        values = (entry.get("type", ""), entry["name"], entry.get("access", "proxy"),
                  entry.get("url", ""), entry.get("user", ""), entry.get("database", ""),
                  int(entry.get("basicAuth", False)), entry.get("basicAuthUser", ""),
                  int(entry.get("withCredentials", False)), int(entry.get("isDefault", False)),
                  json.dumps(entry.get("jsonData") or {}),
                  json.dumps(entry.get("secureJsonData") or {}),
                  int(not entry.get("editable", False)), uid)
        if existing is None:
            store.execute(
                "INSERT INTO data_source (type, name, access, url, user, database, basic_auth, "
                "basic_auth_user, with_credentials, is_default, json_data, secure_json_data, "
                "read_only, uid, org_id, version, provisioned, created, updated) VALUES "
                "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, 1, ?, ?)",
                *values, org, now(), now())
        else:
            store.execute(
                "UPDATE data_source SET type = ?, name = ?, access = ?, url = ?, user = ?, "
                "database = ?, basic_auth = ?, basic_auth_user = ?, with_credentials = ?, "
                "is_default = ?, json_data = ?, secure_json_data = ?, read_only = ?, uid = ?, "
                "version = ?, provisioned = 1, updated = ? WHERE id = ?",
                *values, entry.get("version", existing["version"] + 1), now(), existing["id"])
        log("info", "inserted or updated datasource from configuration", name=entry["name"],
            uid=uid)


# Provisioning kinds the stand-in does not model beyond reading their directory: upstream
# lists each directory at every start and, when it cannot, logs an error (logger, message)
# and starts anyway (error "open <dir>: no such file or directory" for a missing one).
UNREAD_PROVISIONING = {
    "plugins": ("provisioning.plugins", "Failed to read plugin provisioning files from directory"),
    "alerting": ("provisioning.alerting", "can't read alerting provisioning files from directory"),
}


def list_unmodelled_provisioning(provisioning: Path) -> None:
    for kind, (logger, message) in UNREAD_PROVISIONING.items():
        directory = provisioning / kind
        try:
            os.listdir(directory)
        except OSError as error:
            reason = (error.strerror or str(error)).lower()
            log("error", message, logger=logger, path=str(directory),
                error=f"open {directory}: {reason}")


def read_providers(directory: Path) -> list[dict[str, Any]]:
    providers = []
    for path, content in load_yaml_files(directory):
        if content is None:
            continue
        where = f"Dashboard provisioning error: {path}"
        if not isinstance(content, dict):
            raise StartupError(f"{where}: not a mapping")
        check_keys(where, content, DASHBOARD_FILE_FIELDS)
        if content.get("apiVersion", 0) != 1:
            raise StartupError(f"{where}: apiVersion must be 1")
        for index, provider in enumerate(content.get("providers") or []):
            check_keys(f"{where}: providers[{index}]", provider, PROVIDER_FIELDS)
            check_keys(f"{where}: providers[{index}].options", provider.get("options") or {},
                       PROVIDER_OPTION_FIELDS)
            provider = expand_env(provider)
            if provider.get("type", "file") != "file":
                raise StartupError(f"{where}: providers[{index}]: type must be file")
            if not (provider.get("options") or {}).get("path"):
                raise StartupError(f"{where}: providers[{index}]: options.path is required")
            providers.append(provider)
    return providers


def sync_dashboards(store: Store, providers: list[dict[str, Any]]) -> None:
    seen: set[tuple[str, str]] = set()
    for provider in providers:
        root = Path(provider["options"]["path"])
        files = sorted(root.rglob("*.json")) if root.is_dir() else []
        for path in files:
            raw = path.read_bytes()
            checksum = hashlib.sha256(raw).hexdigest()
            try:
                model = json.loads(raw)
            except ValueError as error:
                log("error", "failed to load dashboard from file", file=str(path), error=str(error))
                continue
            if not isinstance(model, dict) or not model.get("title"):
                log("error", "failed to load dashboard from file", file=str(path),
                    error="Dashboard title cannot be empty")
                continue
            uid = str(model.get("uid") or hashlib.sha1(str(path).encode()).hexdigest()[:14])
            seen.add((provider["name"], uid))
            existing = store.one("SELECT id, checksum, provisioner, version FROM dashboard "
                                 "WHERE org_id = ? AND uid = ?", provider.get("orgId", 1), uid)
            folder = provider.get("folder", "")
            if existing is not None and existing["provisioner"] not in (None, provider["name"]):
                log("error", "the same dashboard uid is provisioned twice", uid=uid)
                continue
            if existing is not None and existing["checksum"] == checksum:
                continue
            model["uid"] = uid
            slug = re.sub(r"[^a-z0-9]+", "-", model["title"].lower()).strip("-")
            if existing is None:
                store.execute(
                    "INSERT INTO dashboard (org_id, uid, title, slug, data, version, folder_title, "
                    "provisioner, external_id, checksum, created, updated) VALUES "
                    "(?, ?, ?, ?, ?, 1, ?, ?, ?, ?, ?, ?)", provider.get("orgId", 1), uid,
                    model["title"], slug, json.dumps(model), folder, provider["name"], str(path),
                    checksum, now(), now())
            else:
                store.execute(
                    "UPDATE dashboard SET title = ?, slug = ?, data = ?, version = ?, "
                    "folder_title = ?, external_id = ?, checksum = ?, updated = ? WHERE id = ?",
                    model["title"], slug, json.dumps(model), existing["version"] + 1, folder,
                    str(path), checksum, now(), existing["id"])
            log("info", "provisioned dashboard", uid=uid, file=str(path))
    for row in store.query("SELECT id, uid, provisioner FROM dashboard "
                           "WHERE provisioner IS NOT NULL"):
        provider = next((p for p in providers if p["name"] == row["provisioner"]), {})
        if (row["provisioner"], row["uid"]) not in seen and not provider.get("disableDeletion"):
            store.execute("DELETE FROM dashboard WHERE id = ?", row["id"])


# --- datasource health ---------------------------------------------------------------

def datasource_json(row: sqlite3.Row, full: bool) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": row["id"], "uid": row["uid"], "orgId": row["org_id"], "name": row["name"],
        "type": row["type"], "typeLogoUrl": f"public/plugins/{row['type']}/img/logo.svg",
        "access": row["access"], "url": row["url"], "user": row["user"],
        "database": row["database"], "basicAuth": bool(row["basic_auth"]),
        "isDefault": bool(row["is_default"]), "jsonData": json.loads(row["json_data"]),
        "readOnly": bool(row["read_only"]),
    }
    if full:
        body.update({
            "basicAuthUser": row["basic_auth_user"],
            "withCredentials": bool(row["with_credentials"]),
            "secureJsonFields": {key: True for key in json.loads(row["secure_json_data"])},
            "version": row["version"],
        })
    else:
        body["typeName"] = row["type"].capitalize()
    return body


def link_targets(json_data: dict[str, Any]) -> list[tuple[str, str]]:
    links: list[tuple[str, str]] = []

    def walk(value: Any, path: str) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                if key == "datasourceUid" and isinstance(item, str):
                    links.append((path + "." + key, item))
                else:
                    walk(item, f"{path}.{key}")
        elif isinstance(value, list):
            for index, item in enumerate(value):
                walk(item, f"{path}[{index}]")

    walk(json_data, "jsonData")
    return links


def backend_headers(row: sqlite3.Row) -> dict[str, str]:
    json_data = json.loads(row["json_data"])
    secure = json.loads(row["secure_json_data"])
    headers = {}
    for key, name in json_data.items():
        match = re.fullmatch(r"httpHeaderName(\d+)", key)
        if match:
            headers[name] = secure.get(f"httpHeaderValue{match.group(1)}", "")
    if row["basic_auth"]:
        token = f"{row['basic_auth_user']}:{secure.get('basicAuthPassword', '')}"
        headers["Authorization"] = "Basic " + base64.b64encode(token.encode()).decode()
    headers["User-Agent"] = f"Grafana/{VERSION}"
    return headers


# --- TLS towards datasources: Go's crypto/tls semantics with Python's ssl ---------------

class TLSError(OSError):
    """A TLS set-up or verification failure, worded as Go's crypto/tls and crypto/x509."""


def tls_context(ca_pem: str = "", skip_verify: bool = False) -> ssl.SSLContext:
    """A client context trusting only ca_pem (the system store without it), as a Go
    tls.Config with RootCAs: CAs in the pool are anchors, no common-name fallback."""
    try:
        context = ssl.create_default_context(cadata=ca_pem or None)
    except (ssl.SSLError, ValueError):
        raise TLSError("failed to parse TLS CA PEM certificate") from None
    context.verify_flags = (context.verify_flags | ssl.VERIFY_X509_PARTIAL_CHAIN) \
        & ~ssl.VERIFY_X509_STRICT
    context.hostname_checks_common_name = False
    if skip_verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def go_tls_text(error: ssl.SSLError, name: str) -> str:
    """Go's words for what OpenSSL reports (X509_V_ERR_* codes)."""
    if isinstance(error, ssl.SSLCertVerificationError):
        if error.verify_code in (2, 18, 19, 20, 21):  # no chain to a trusted root
            detail = "certificate signed by unknown authority"
        elif error.verify_code in (9, 10):
            detail = "certificate has expired or is not yet valid"
        elif error.verify_code in (62, 64):  # host name or IP address mismatch
            detail = f"certificate is not valid for {name}"
        else:
            detail = str(error.verify_message)
        return f"tls: failed to verify certificate: x509: {detail}"
    if error.reason == "WRONG_VERSION_NUMBER":
        return "http: server gave HTTP response to HTTPS client"
    return f"tls: {error.reason or error}"


def open_url(request: urllib.request.Request, timeout: float,
             context: ssl.SSLContext | None = None, server_name: str = "") -> Any:
    """urllib's urlopen, verifying https against context and server_name (the URL's host
    when empty), also sent as SNI unless an IP address: Go's tls.Config.ServerName."""
    tls = context or tls_context()
    host = urllib.parse.urlsplit(request.full_url).hostname or ""

    class Connection(http.client.HTTPSConnection):
        def connect(self) -> None:
            http.client.HTTPConnection.connect(self)
            self.sock = tls.wrap_socket(self.sock, server_hostname=server_name or getattr(
                self, "_tunnel_host", None) or self.host)

    class Handler(urllib.request.HTTPSHandler):
        def https_open(self, req: urllib.request.Request) -> Any:
            return self.do_open(Connection, req, context=tls)

    try:
        return urllib.request.build_opener(Handler).open(request, timeout=timeout)
    except urllib.error.URLError as error:
        reason = None if isinstance(error, urllib.error.HTTPError) else error.reason
        if not isinstance(reason, ssl.SSLError):
            raise
        raise TLSError(f'{request.get_method().capitalize()} "{request.full_url}": '
                       f"{go_tls_text(reason, server_name or host)}") from None


def backend_tls(row: sqlite3.Row) -> tuple[ssl.SSLContext, str]:
    """dsTLSOptions: tlsSkipVerify and serverName always, the CA only with
    tlsAuthWithCACert (MustBool/MustString: anything else is false/empty)."""
    json_data = json.loads(row["json_data"])
    secure = json.loads(row["secure_json_data"])
    ca_pem = secure.get("tlsCACert") if json_data.get("tlsAuthWithCACert") is True else ""
    server_name = json_data.get("serverName")
    return (tls_context(ca_pem if isinstance(ca_pem, str) else "",
                        json_data.get("tlsSkipVerify") is True),
            server_name if isinstance(server_name, str) else "")


def call_backend(row: sqlite3.Row, method: str, path: str, query: dict[str, str] | None = None,
                 form: dict[str, str] | None = None, timeout: float = 10
                 ) -> tuple[int, bytes]:
    url = row["url"].rstrip("/") + path
    data = None
    headers = backend_headers(row)
    if query:
        url += "?" + urllib.parse.urlencode(query)
    if form is not None:
        data = urllib.parse.urlencode(form).encode()
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with open_url(request, timeout, *backend_tls(row)) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def check_health(store: Store, row: sqlite3.Row) -> tuple[bool, str]:
    json_data = json.loads(row["json_data"])
    for where, uid in link_targets(json_data):
        if store.one("SELECT id FROM data_source WHERE org_id = ? AND uid = ?",
                     row["org_id"], uid) is None:
            return False, f"{where} points to datasource uid {uid!r}, which does not exist"
    kind = row["type"]
    try:
        if kind == "prometheus":
            # An instant query of 1+1 over the range 1s..4s, evaluated at its end.
            params = {"query": "1+1", "time": "4"}
            if json_data.get("httpMethod", "POST").upper() == "GET":
                status, body = call_backend(row, "GET", "/api/v1/query", query=params)
            else:
                status, body = call_backend(row, "POST", "/api/v1/query", form=params)
            if status == 200 and json.loads(body).get("status") == "success":
                return True, "Successfully queried the Prometheus API."
            return False, (f"{status}: {body[:200].decode(errors='replace')} - "
                           "There was an error returned querying the Prometheus API.")
        if kind == "loki":
            status, body = call_backend(row, "GET", "/loki/api/v1/query", query={
                "query": "vector(1)+vector(1)", "time": str(4 * 10**9), "limit": "1"})
            error = f"{status}: {body[:200].decode(errors='replace')}"
            if status == 200:
                data = json.loads(body).get("data") or {}
                result = data.get("result") or []
                # Upstream wants one sample whose value is 2.
                if len(result) == 1 and float(result[0].get("value", [0, "0"])[1]) == 2:
                    return True, "Successfully queried the Loki API."
                error = "invalid response"
            return False, f"There was an error returned querying the Loki API.: {error}"
        if kind == "tempo":
            streaming = json_data.get("streamingEnabled") or {}
            if isinstance(streaming, dict) and streaming.get("search") is True:
                return False, ("the stand-in does not model Tempo's streaming health check "
                               "(jsonData.streamingEnabled.search)")
            status = call_backend(row, "GET", "/api/echo")[0]
            if status == 200:
                return True, "Data source is working"
            return False, f"Tempo echo endpoint returned status {status}"
    except TLSError as error:
        return False, str(error)
    except (OSError, ValueError) as error:
        return False, f"Post/Get \"{row['url']}\": {error}"
    return False, f"Plugin health check failed: plugin {kind!r} does not support health checks"


# --- HTTP API ------------------------------------------------------------------------

class ApiError(Exception):
    def __init__(self, status: int, message: str, message_id: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.message_id = message_id


def user_json(store: Store, row: sqlite3.Row) -> dict[str, Any]:
    org_user = store.one("SELECT role FROM org_user WHERE org_id = 1 AND user_id = ?", row["id"])
    return {
        "id": row["id"], "uid": row["uid"], "email": row["email"], "name": row["name"] or "",
        "login": row["login"], "theme": "", "orgId": row["org_id"] or 1,
        "isGrafanaAdmin": bool(row["is_admin"]), "isDisabled": bool(row["is_disabled"]),
        "isExternal": False, "isExternallySynced": False, "authLabels": [],
        "updatedAt": row["updated"], "createdAt": row["created"],
        "avatarUrl": "/avatar/" + hashlib.md5(row["email"].encode()).hexdigest(),  # noqa: S324 - upstream's gravatar id
        "role": org_user["role"] if org_user else "",
    }


class Grafana:
    def __init__(self, settings: Settings, store: Store) -> None:
        self.settings = settings
        self.store = store
        self.ready = False

    # Authentication: basic auth against the database, with upstream's lockout.
    def authenticate(self, header: str | None) -> sqlite3.Row | None:
        if not header:
            return None
        if not header.startswith("Basic ") or not self.settings.flag("auth.basic", "enabled"):
            raise ApiError(401, "Unauthorized", "auth.unauthorized")
        try:
            login, _sep, password = base64.b64decode(header[6:]).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            raise ApiError(401, "Unauthorized", "auth.unauthorized") from None
        protect = not self.settings.flag("security", "disable_brute_force_login_protection")
        limit = int(self.settings.get("security", "brute_force_login_protection_max_attempts", "5"))
        if protect:
            recent = self.store.one("SELECT COUNT(*) AS n FROM login_attempt WHERE username = ? "
                                    "AND created > ?", login, time.time() - 300)
            if recent is not None and recent["n"] >= limit:
                raise ApiError(401, "Invalid username or password", "password-auth.failed")
        user = self.store.user_by_login(login)
        if user is None or not hmac.compare_digest(
                encode_password(password, user["salt"]), user["password"]):
            self.store.execute("INSERT INTO login_attempt (username, created) VALUES (?, ?)",
                               login, time.time())
            raise ApiError(401, "Invalid username or password", "password-auth.failed")
        if user["is_disabled"]:
            raise ApiError(401, "user is disabled", "password-auth.failed")
        return user

    def role(self, user: sqlite3.Row) -> str:
        row = self.store.one("SELECT role FROM org_user WHERE org_id = 1 AND user_id = ?",
                             user["id"])
        return row["role"] if row else ""

    def require(self, user: sqlite3.Row | None, server_admin: bool = False,
                org_role: str = "Viewer") -> sqlite3.Row:
        if user is None:
            raise ApiError(401, "Unauthorized", "auth.unauthorized")
        if server_admin and not user["is_admin"]:
            raise ApiError(403, "Permission denied")
        rank = ROLES.index(self.role(user) or "Viewer")
        if rank < ROLES.index(org_role) and not user["is_admin"]:
            raise ApiError(403, "Permission denied")
        return user

    def lookup_user(self, ident: str) -> sqlite3.Row:
        row = self.store.one("SELECT * FROM user WHERE id = ?", ident) if ident.isdigit() else None
        if row is None:
            raise ApiError(404, "user not found")
        return row

    def datasource(self, uid: str) -> sqlite3.Row:
        row = self.store.one("SELECT * FROM data_source WHERE org_id = 1 AND uid = ?", uid)
        if row is None:
            raise ApiError(404, "Data source not found")
        return row

    def handle(self, method: str, path: str, query: dict[str, str], body: Any,
               auth: str | None) -> tuple[int, Any]:
        if path == "/api/health":
            if self.store.healthy():
                return 200, {"commit": COMMIT, "database": "ok", "version": VERSION}
            return 503, {"commit": COMMIT, "database": "failing", "version": VERSION}
        anonymous = self.settings.flag("auth.anonymous", "enabled")
        user = self.authenticate(auth)
        if user is None and not anonymous:
            raise ApiError(401, "Unauthorized", "auth.unauthorized")
        parts = [urllib.parse.unquote(part) for part in path.strip("/").split("/")]
        route = (method, *parts)
        match route:
            case ("GET", "api", "user"):
                return 200, user_json(self.store, self.require(user))
            case ("GET", "api", "users"):
                self.require(user, server_admin=True)
                return 200, [self._user_summary(row) for row in self.store.query(
                    "SELECT * FROM user ORDER BY login")]
            case ("GET", "api", "users", "lookup"):
                self.require(user, server_admin=True)
                row = self.store.user_by_login(query.get("loginOrEmail", ""))
                if row is None:
                    raise ApiError(404, "user not found")
                return 200, user_json(self.store, row)
            case ("GET", "api", "users", ident):
                self.require(user, server_admin=True)
                return 200, user_json(self.store, self.lookup_user(ident))
            case ("PUT", "api", "users", ident):
                self.require(user, server_admin=True)
                target = self.lookup_user(ident)
                fields = {key: body.get(key) for key in ("login", "email", "name") if body.get(key)}
                for key, value in fields.items():
                    self.store.execute(f"UPDATE user SET {key} = ?, updated = ? WHERE id = ?",  # noqa: S608 - fixed column names
                                       value, now(), target["id"])
                return 200, {"message": "User updated"}
            case ("GET", "api", "users", ident, "orgs"):
                self.require(user, server_admin=True)
                target = self.lookup_user(ident)
                return 200, [{"orgId": 1, "name": "Main Org.", "role": self.role(target)}]
            case ("POST", "api", "admin", "users"):
                self.require(user, server_admin=True)
                return 200, self._create_user(body)
            case ("PUT", "api", "admin", "users", ident, "password"):
                self.require(user, server_admin=True)
                target = self.lookup_user(ident)
                password = str(body.get("password") or "")
                if len(password) < 4:
                    raise ApiError(400, "New password is too short")
                self.store.set_password(target["id"], password)
                return 200, {"message": "User password updated"}
            case ("DELETE", "api", "admin", "users", ident):
                self.require(user, server_admin=True)
                target = self.lookup_user(ident)
                self.store.execute("DELETE FROM org_user WHERE user_id = ?", target["id"])
                self.store.execute("DELETE FROM user WHERE id = ?", target["id"])
                return 200, {"message": "User deleted"}
            case ("GET", "api", "org", "users"):
                self.require(user, org_role="Admin")
                return 200, [{
                    "orgId": 1, "userId": row["id"], "email": row["email"],
                    "name": row["name"] or "",
                    "login": row["login"], "role": row["role"], "lastSeenAt": row["updated"],
                    "avatarUrl": "", "lastSeenAtAge": "",
                } for row in self.store.query(
                    "SELECT user.*, org_user.role AS role FROM user JOIN org_user ON "
                    "org_user.user_id = user.id WHERE org_user.org_id = 1 ORDER BY login")]
            case ("PATCH", "api", "org", "users", ident):
                self.require(user, org_role="Admin")
                target = self.lookup_user(ident)
                role = body.get("role")
                if role not in ROLES + ("None",):
                    raise ApiError(400, "Invalid role specified")
                self.store.execute("UPDATE org_user SET role = ?, updated = ? WHERE org_id = 1 AND "
                                   "user_id = ?", role, now(), target["id"])
                return 200, {"message": "Organization user updated"}
            case ("GET", "api", "datasources"):
                self.require(user, org_role="Admin")
                return 200, [datasource_json(row, False) for row in self.store.query(
                    "SELECT * FROM data_source WHERE org_id = 1 ORDER BY name")]
            case ("GET", "api", "datasources", "uid", uid):
                self.require(user, org_role="Admin")
                return 200, datasource_json(self.datasource(uid), True)
            case ("GET", "api", "datasources", "name", name):
                self.require(user, org_role="Admin")
                row = self.store.one("SELECT * FROM data_source WHERE org_id = 1 AND name = ?",
                                     name)
                if row is None:
                    raise ApiError(404, "Data source not found")
                return 200, datasource_json(row, True)
            case ("GET", "api", "datasources", "uid", uid, "health"):
                self.require(user)
                ok, message = check_health(self.store, self.datasource(uid))
                return (200, {"status": "OK", "message": message}) if ok else (
                    400, {"status": "ERROR", "message": message})
            case ("GET", "api", "search"):
                self.require(user)
                return 200, self._search(query)
            case ("POST", "api", "dashboards", "db"):
                self.require(user, org_role="Editor")
                return 200, self._save_dashboard(body)
            case ("GET", "api", "dashboards", "uid", uid):
                self.require(user)
                row = self.store.one("SELECT * FROM dashboard WHERE org_id = 1 AND uid = ?", uid)
                if row is None:
                    raise ApiError(404, "Dashboard not found")
                model = json.loads(row["data"])
                model.update({"id": row["id"], "uid": row["uid"], "version": row["version"]})
                return 200, {"dashboard": model, "meta": {
                    "type": "db", "canSave": True, "canEdit": True, "canAdmin": True,
                    "slug": row["slug"], "url": f"/d/{row['uid']}/{row['slug']}",
                    "created": row["created"], "updated": row["updated"],
                    "version": row["version"], "folderTitle": row["folder_title"] or "Dashboards",
                    "provisioned": row["provisioner"] is not None,
                    "provisionedExternalId": Path(row["external_id"] or "").name}}
        raise ApiError(404, "Not found")

    def _user_summary(self, row: sqlite3.Row) -> dict[str, Any]:
        return {"id": row["id"], "uid": row["uid"], "name": row["name"] or "",
                "login": row["login"], "email": row["email"], "avatarUrl": "",
                "isAdmin": bool(row["is_admin"]), "isDisabled": bool(row["is_disabled"]),
                "lastSeenAt": row["updated"], "lastSeenAtAge": "", "authLabels": []}

    def _create_user(self, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise ApiError(400, "bad request data")
        login = str(body.get("login") or body.get("email") or "")
        email = str(body.get("email") or login)
        password = str(body.get("password") or "")
        if not login:
            raise ApiError(400, "bad request data")
        if len(password) < 4:
            raise ApiError(400, "Password is missing or too short")
        if self.store.user_by_login(login) or self.store.user_by_login(email):
            raise ApiError(412, "User with same email or username already exists")
        role = self.settings.get("users", "auto_assign_org_role", "Viewer")
        user_id = self.store.create_user(login, email, str(body.get("name") or ""), password,
                                         False, role)
        row = self.store.one("SELECT uid FROM user WHERE id = ?", user_id)
        return {"id": user_id, "uid": row["uid"] if row else "", "message": "User created"}

    def _save_dashboard(self, body: Any) -> dict[str, Any]:
        """POST /api/dashboards/db: create, or with overwrite replace, a dashboard the
        API owns (stored in grafana.db, unlike provisioned ones it has no file)."""
        model = body.get("dashboard") if isinstance(body, dict) else None
        if not isinstance(model, dict):
            raise ApiError(400, "bad request data")
        if not str(model.get("title") or "").strip():
            raise ApiError(400, "Dashboard title cannot be empty")
        uid = str(model.get("uid") or random_uid())
        existing = self.store.one("SELECT * FROM dashboard WHERE org_id = 1 AND uid = ?", uid)
        if existing is not None and existing["provisioner"] is not None:
            raise ApiError(400, "Cannot save provisioned dashboard")
        if existing is not None and not body.get("overwrite"):
            raise ApiError(412, "The dashboard has been changed by someone else")
        model = {key: value for key, value in model.items() if key not in ("id", "version")}
        model["uid"] = uid
        slug = re.sub(r"[^a-z0-9]+", "-", model["title"].lower()).strip("-")
        if existing is None:
            version = 1
            dashboard_id = self.store.execute(
                "INSERT INTO dashboard (org_id, uid, title, slug, data, version, folder_title, "
                "provisioner, external_id, checksum, created, updated) VALUES "
                "(1, ?, ?, ?, ?, 1, '', NULL, NULL, NULL, ?, ?)", uid, model["title"], slug,
                json.dumps(model), now(), now())
        else:
            version = existing["version"] + 1
            dashboard_id = existing["id"]
            self.store.execute("UPDATE dashboard SET title = ?, slug = ?, data = ?, version = ?, "
                               "updated = ? WHERE id = ?", model["title"], slug, json.dumps(model),
                               version, now(), dashboard_id)
        return {"id": dashboard_id, "uid": uid, "url": f"/d/{uid}/{slug}", "status": "success",
                "version": version, "slug": slug, "folderUid": ""}

    def _search(self, query: dict[str, str]) -> list[dict[str, Any]]:
        if query.get("type", "dash-db") not in ("dash-db", ""):
            return []
        text = query.get("query", "").lower()
        results = []
        for row in self.store.query("SELECT * FROM dashboard WHERE org_id = 1 ORDER BY title"):
            model = json.loads(row["data"])
            tags = model.get("tags") or []
            if text and text not in row["title"].lower():
                continue
            if query.get("tag") and query["tag"] not in tags:
                continue
            results.append({
                "id": row["id"], "uid": row["uid"], "orgId": 1, "title": row["title"],
                "uri": f"db/{row['slug']}", "url": f"/d/{row['uid']}/{row['slug']}",
                "slug": "", "type": "dash-db", "tags": tags, "isStarred": False, "sortMeta": 0,
                "folderTitle": row["folder_title"] or "",
            })
        return results

    def proxy(self, handler: BaseHTTPRequestHandler, method: str, uid: str, rest: str,
              raw_query: str, body: bytes, auth: str | None) -> None:
        user = self.authenticate(auth)
        if user is None and not self.settings.flag("auth.anonymous", "enabled"):
            raise ApiError(401, "Unauthorized", "auth.unauthorized")
        row = self.datasource(uid)
        url = row["url"].rstrip("/") + "/" + rest + (f"?{raw_query}" if raw_query else "")
        headers = backend_headers(row)
        content_type = handler.headers.get("Content-Type")
        if content_type:
            headers["Content-Type"] = content_type
        request = urllib.request.Request(url, data=body or None, method=method, headers=headers)
        try:
            with open_url(request, 30, *backend_tls(row)) as response:
                status, payload, kind = response.status, response.read(), response.headers.get(
                    "Content-Type", "application/octet-stream")
        except urllib.error.HTTPError as error:
            status, payload, kind = error.code, error.read(), error.headers.get(
                "Content-Type", "text/plain")
        except OSError as error:
            raise ApiError(502, "Bad Gateway", str(error)) from None
        handler.send_response(status)
        handler.send_header("Content-Type", kind)
        handler.send_header("Content-Length", str(len(payload)))
        handler.end_headers()
        handler.wfile.write(payload)


def make_handler(app: Grafana) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "Grafana-standin"
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
            log("debug", "request", line=format % args)

        def _dispatch(self, method: str) -> None:
            parsed = urllib.parse.urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            auth = self.headers.get("Authorization")
            try:
                if not app.ready:
                    raise ApiError(503, "Grafana is starting")
                match = re.fullmatch(r"/api/datasources/proxy/uid/([^/]+)/?(.*)", parsed.path)
                if match:
                    app.proxy(self, method, match.group(1), match.group(2), parsed.query, raw, auth)
                    return
                if parsed.path == "/metrics":
                    self._send_metrics()
                    return
                if not parsed.path.startswith("/api/"):
                    self._send(302 if parsed.path == "/" else 404, {"message": "Not found"},
                               {"Location": "/login"} if parsed.path == "/" else None)
                    return
                body: Any = None
                if raw:
                    try:
                        body = json.loads(raw)
                    except ValueError:
                        raise ApiError(400, "bad request data") from None
                query = dict(urllib.parse.parse_qsl(parsed.query))
                status, payload = app.handle(method, parsed.path.rstrip("/") or "/", query,
                                             body if body is not None else {}, auth)
                self._send(status, payload)
            except ApiError as error:
                payload = {"message": error.message}
                if error.message_id:
                    payload.update({"messageId": error.message_id, "statusCode": error.status,
                                    "traceID": ""})
                self._send(error.status, payload)

        def _send_metrics(self) -> None:
            """Prometheus text format, as Grafana's /metrics: on unless [metrics] enabled is
            false, behind basic auth only when both basic_auth settings are set."""
            if not app.settings.flag("metrics", "enabled"):
                self._send(404, {"message": "Not found"})
                return
            username = app.settings.get("metrics", "basic_auth_username")
            password = app.settings.get("metrics", "basic_auth_password")
            if username and password:
                expected = base64.b64encode(f"{username}:{password}".encode()).decode()
                if self.headers.get("Authorization") != f"Basic {expected}":
                    self._send(401, {"message": "Unauthorized"})
                    return
            users = len(app.store.query("SELECT id FROM user"))
            datasources = len(app.store.query("SELECT id FROM data_source"))
            data = (
                "# HELP grafana_build_info Always 1; the labels name the stand-in's build.\n"
                "# TYPE grafana_build_info gauge\n"
                f'grafana_build_info{{edition="oss",version="{VERSION}"}} 1\n'
                "# HELP grafana_stat_total_users Users in the database.\n"
                "# TYPE grafana_stat_total_users gauge\n"
                f"grafana_stat_total_users {users}\n"
                "# HELP grafana_stat_totals_datasource Data sources in the database.\n"
                "# TYPE grafana_stat_totals_datasource gauge\n"
                f"grafana_stat_totals_datasource {datasources}\n"
            ).encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _send(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:  # noqa: N802 - stdlib hook names
            self._dispatch("GET")

        def do_POST(self) -> None:  # noqa: N802
            self._dispatch("POST")

        def do_PUT(self) -> None:  # noqa: N802
            self._dispatch("PUT")

        def do_PATCH(self) -> None:  # noqa: N802
            self._dispatch("PATCH")

        def do_DELETE(self) -> None:  # noqa: N802
            self._dispatch("DELETE")

    return Handler


# --- entry points ---------------------------------------------------------------------

def parse_global(args: list[str]) -> tuple[dict[str, str], dict[str, str], list[str]]:
    """--flag value / --flag=value options, cfg:key=value overrides, the rest."""
    options: dict[str, str] = {}
    overrides: dict[str, str] = {}
    rest: list[str] = []
    index = 0
    while index < len(args):
        arg = args[index]
        if arg.startswith("cfg:"):
            key, _sep, value = arg[4:].partition("=")
            overrides[key] = value
        elif arg.startswith("--") and arg[2:].split("=", 1)[0] in (
                "homepath", "config", "packaging", "pidfile", "configOverrides", "pluginsDir"):
            name, eq, value = arg[2:].partition("=")
            if not eq:
                index += 1
                value = args[index] if index < len(args) else ""
            options[name] = value
        else:
            rest.append(arg)
        index += 1
    return options, overrides, rest


def load_settings(options: dict[str, str], overrides: dict[str, str], cli: bool) -> Settings:
    home = Path(options.get("homepath") or os.getcwd())
    config = Path(options["config"]) if options.get("config") else None
    if config is None and not cli:
        config = home / "conf/custom.ini"
    return Settings(home, config, overrides, cli=cli)


def serve(args: list[str], stop: threading.Event | None = None) -> int:
    options, overrides, _rest = parse_global(args)
    try:
        settings = load_settings(options, overrides, cli=False)
    except StartupError as error:
        log("error", str(error))
        return 1
    # Upstream sets up its loggers right after reading the configuration, before any
    # other start-up step.
    log_file = open_log_file(settings)
    if log_file is not None:
        LOG_FILES.append(log_file)
    try:
        return run_server(settings, stop)
    finally:
        if log_file is not None:
            with LOG_LOCK:
                LOG_FILES.remove(log_file)
            log_file.close()


def run_server(settings: Settings, stop: threading.Event | None) -> int:
    try:
        if settings.get("database", "type") != "sqlite3":
            raise StartupError("the stand-in only has the sqlite3 database")
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        store = Store(settings.db_path)
        store.migrate()
        ensure_admin(settings, store)
        provisioning = settings.path("paths", "provisioning")
        provision_datasources(store, provisioning / "datasources")
        providers = read_providers(provisioning / "dashboards")
        sync_dashboards(store, providers)
        list_unmodelled_provisioning(provisioning)
    except StartupError as error:
        log("error", str(error))
        return 1
    for key in ("reporting_enabled", "check_for_updates", "check_for_plugin_updates"):
        if settings.flag("analytics", key):
            log("warn", "would phone home (not contacted by the stand-in)",
                setting=f"analytics.{key}")
    app = Grafana(settings, store)
    address = settings.get("server", "http_addr") or "0.0.0.0"  # noqa: S104 - upstream's default: all interfaces
    port = int(settings.get("server", "http_port", "3000"))
    server = ThreadingHTTPServer((address, port), make_handler(app))
    server.daemon_threads = True
    app.ready = True
    log("info", "HTTP Server Listen", address=f"{address}:{port}", protocol="http")
    stop = stop or threading.Event()

    def rescan() -> None:
        interval = min([int(p.get("updateIntervalSeconds", 10)) for p in providers] or [10])
        while not stop.wait(max(interval, 1)):
            with contextlib.suppress(Exception):
                sync_dashboards(store, providers)

    threading.Thread(target=rescan, daemon=True).start()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    with contextlib.suppress(KeyboardInterrupt):
        stop.wait()
    server.shutdown()
    server.server_close()
    return 0


def cli(args: list[str]) -> int:
    options, overrides, rest = parse_global(args)
    if rest[:2] != ["admin", "reset-admin-password"]:
        sys.stderr.write("the stand-in's CLI has only `admin reset-admin-password`\n")
        return 1
    flags = rest[2:]
    from_stdin = "--password-from-stdin" in flags
    user_id = 1
    positional = []
    index = 0
    while index < len(flags):
        flag = flags[index]
        if flag == "--password-from-stdin":
            pass
        elif flag.startswith("--user-id"):
            value = flag.partition("=")[2] if "=" in flag else flags[index + 1]
            index += 0 if "=" in flag else 1
            user_id = int(value)
        else:
            positional.append(flag)
        index += 1
    password = sys.stdin.readline().rstrip("\n") if from_stdin else (positional or [""])[0]
    if not password:
        sys.stderr.write("Error: ✗ missing new password\n")
        return 1
    try:
        settings = load_settings(options, overrides, cli=True)
        if not settings.db_path.is_file():
            raise StartupError(f"failed to find the admin user: no database at {settings.db_path}")
        store = Store(settings.db_path)
    except StartupError as error:
        sys.stderr.write(f"Error: ✗ {error}\n")
        return 1
    user = store.one("SELECT * FROM user WHERE id = ?", user_id)
    if user is None:
        sys.stderr.write("Error: ✗ failed to find user\n")
        return 1
    if not user["is_admin"]:
        sys.stderr.write("Error: ✗ cannot reset password for non-admin user\n")
        return 1
    store.set_password(user_id, password)
    sys.stdout.write("\nAdmin password changed successfully ✔\n\n")
    return 0


def main(argv: list[str]) -> int:
    name = Path(argv[0]).name
    args = argv[1:]
    if name == "grafana-cli":
        return cli(args)
    if name == "grafana-server":
        return serve(args)
    if args and args[0] in ("-v", "--version", "-version"):
        sys.stdout.write(f"grafana version {VERSION}\n")
        return 0
    if args and args[0] == "cli":
        return cli(args[1:])
    if args and args[0] == "server":
        return serve(args[1:])
    sys.stderr.write("usage: grafana [server|cli] ...\n")
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
