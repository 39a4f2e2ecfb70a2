# Copyright: lgtm.stack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One service on the host in one call: what the quadlet_service module does.

expand() turns the service's declared state into what the steps below take: the TLS
files before the role's files, each unit's restart and reload paths in the order the
hash label has always covered them, the readiness and reload URLs over https with the
CA and name clients use. It is pure and its result is returned, so `-v` shows what the
core added to what the role said.

run() then goes through the phases, each reading only until the write phase:
files.plan (directories, secrets, files, removals); the units' final texts, hashed over
the files as the write will leave them (quadlet.hash_paths with the plan's overlay);
one quadlet dry run of the changed units; directories and secrets (validators may need
them); every changed candidate through its validator; then the files, the units
(rehashed from disk: the disk wins), the reconcile, the timers (module_utils/timers.py)
and the readiness wait. No file or unit is written before every unit passed the dry run
and every candidate its validator.
A failure names its phase and item and returns what the phases before it did.
"""

# Managed hosts may run Python 3.9 (ansible-core's minimum for targets).
from __future__ import annotations

import fnmatch
import os
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.lgtm.stack.plugins.module_utils import (
    files,
    postgres,
    quadlet,
    quadlet_units,
    reconcile,
    timers,
    wait,
)
from ansible_collections.lgtm.stack.plugins.module_utils.text_file import read_text

ACTIONS = ("restart", "reload", "none")
PHASES = ("expand", "plan", "units", "validate", "postgres", "write", "reconcile", "timers",
          "wait")


class ServiceError(Exception):
    """A failure of one phase; the message names the file, unit or endpoint."""

    def __init__(self, phase: str, message: str) -> None:
        super().__init__(message)
        self.phase = phase


@dataclass
class Expanded:
    """The service as the steps take it."""

    directories: list[dict[str, Any]] = field(default_factory=list)
    secrets: list[dict[str, Any]] = field(default_factory=list)
    files: list[dict[str, Any]] = field(default_factory=list)
    remove: list[str] = field(default_factory=list)
    units: list[dict[str, Any]] = field(default_factory=list)
    reconcile_units: list[reconcile.Unit] = field(default_factory=list)
    endpoints: list[dict[str, Any]] = field(default_factory=list)
    tls_files: list[str] = field(default_factory=list)

    def shown(self) -> dict[str, Any]:
        """What the core added or derived, without a secret: returned as `expanded`."""
        return {
            "units": {
                unit["name"]: {
                    "restart_on": list(unit.get("restart_on") or []),
                    "reload_on": list(reconciled.reload_on),
                    "reload_url": reconciled.reload_url,
                    "reload_ca_path": reconciled.reload_ca_path,
                    "reload_server_name": reconciled.reload_server_name,
                }
                for unit, reconciled in zip(self.units, self.reconcile_units)  # noqa: B905
            },
            "endpoints": [
                {key: endpoint.get(key) for key in ("name", "url", "host", "port",
                                                    "ca_path", "server_name")
                 if endpoint.get(key) is not None}
                for endpoint in self.endpoints
            ],
            "tls_files": list(self.tls_files),
            "directories": [entry["path"] for entry in self.directories],
            "remove": list(self.remove),
        }


def _owner(entry: Mapping[str, Any], default: str = "root") -> str:
    return str(entry.get("owner") or default)


def _directory(entry: Mapping[str, Any]) -> dict[str, Any]:
    owner = _owner(entry)
    return {
        "path": entry["path"],
        "owner": owner,
        "group": str(entry.get("group") or owner),
        "mode": str(entry.get("mode") or "0755"),
        "recurse": bool(entry.get("recurse")),
    }


def _secret(entry: Mapping[str, Any]) -> dict[str, Any]:
    owner = _owner(entry)
    return {
        "path": entry["path"],
        "value": entry.get("value") or None,
        "length": entry.get("length") or 32,
        "owner": owner,
        "group": str(entry.get("group") or owner),
        "mode": str(entry.get("mode") or "0600"),
    }


def _file(entry: Mapping[str, Any]) -> dict[str, Any]:
    """config_files' shape: owner and group root, mode 0644 unless given."""
    given = {
        "dest": entry["dest"],
        "owner": _owner(entry),
        "group": str(entry.get("group") or "root"),
        "mode": str(entry.get("mode") or "0644"),
    }
    if entry.get("secret_content") is not None:
        given["secret_content"] = entry["secret_content"]
    else:
        given["content"] = entry.get("content")
    if entry.get("validate"):
        given["validate"] = entry["validate"]
    if entry.get("fill"):
        given["fill"] = [{"placeholder": fill["placeholder"], "secret": fill["secret"],
                          "encoding": fill.get("encoding") or "plain"} for fill in entry["fill"]]
    return given


def pruned(directories: Sequence[Mapping[str, Any]],
           declared: Sequence[Mapping[str, Any]]) -> list[str]:
    """Files in a directory with `prune` that match its pattern and no file entry declares
    (a dashboard no longer configured); read only, removed with the call's other removals."""
    wanted = {os.path.normpath(entry["dest"]) for entry in declared}
    found: list[str] = []
    for directory in directories:
        pattern = directory.get("prune")
        if not pattern:
            continue
        try:
            names = sorted(os.listdir(directory["path"]))
        except FileNotFoundError:
            continue
        for name in names:
            path = os.path.normpath(os.path.join(directory["path"], name))
            if (fnmatch.fnmatch(name, pattern) and path not in wanted
                    and (os.path.islink(path) or os.path.isfile(path))):
                found.append(path)
    return found


def tls_on(tls: Mapping[str, Any] | None) -> bool:
    return bool(tls) and bool(tls.get("enabled"))  # type: ignore[union-attr]


def tls_file_entries(tls: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The certificate and key the service serves (a change restarts it), and the CA the
    host's own readiness check and reload verify it with."""
    directory = tls["dir"]
    return [
        {"dest": f"{directory}/server.crt", "content": tls.get("certificate") or "",
         "mode": "0644", "unit": tls.get("unit"), "action": "restart"},
        {"dest": f"{directory}/server.key", "secret_content": tls.get("private_key") or "",
         "mode": "0400", "owner": str(tls.get("owner") or "root"), "unit": tls.get("unit"),
         "action": "restart"},
        {"dest": f"{directory}/ca.crt", "content": tls.get("ca_certificate") or "",
         "mode": "0644", "action": "none"},
    ]


def _https(url: str | None) -> str | None:
    if url and url.startswith("http://"):
        return "https://" + url[len("http://"):]
    return None


def check(params: Mapping[str, Any]) -> None:
    """What the argument spec cannot say, named by item."""
    names = [unit["name"] for unit in params.get("units") or []]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ServiceError("expand", f"units: {', '.join(duplicates)} given more than once")
    # One of content and secret_content per file: the spec says it, files.plan checks it.
    reload_settings = params.get("reload") or {}
    reloads = bool(reload_settings.get("reload_signal") or reload_settings.get("reload_url"))
    for entry in params.get("files") or []:
        action = entry.get("action") or "restart"
        unit = entry.get("unit")
        if unit and unit not in names:
            raise ServiceError("expand", f"files: {entry['dest']}: unit {unit} is not in units")
        if action == "reload" and unit and not reloads:
            raise ServiceError(
                "expand",
                f"files: {entry['dest']} reloads {unit}, but reload has neither reload_signal"
                " nor reload_url",
            )
    for entry in params.get("secrets") or []:
        unit = entry.get("unit")
        if unit and unit not in names:
            raise ServiceError("expand", f"secrets: {entry['path']}: unit {unit} is not in units")
    tls = params.get("tls") or {}
    if tls_on(tls):
        missing = [key for key in ("dir", "certificate", "private_key", "ca_certificate")
                   if not tls.get(key)]
        if missing:
            raise ServiceError("expand", f"tls is enabled but tls.{', tls.'.join(missing)} empty")


def expand(params: Mapping[str, Any]) -> Expanded:
    """The service's declared state as the phases take it; pure (reads nothing)."""
    check(params)
    tls = params.get("tls") or {}
    serving_tls = tls_on(tls)
    tls_entries = tls_file_entries(tls) if serving_tls else []
    all_files = tls_entries + list(params.get("files") or [])
    secrets = list(params.get("secrets") or [])
    expanded = Expanded(
        directories=[_directory(entry) for entry in params.get("directories") or []],
        secrets=[_secret(entry) for entry in secrets],
        files=[_file(entry) for entry in all_files],
        remove=list(params.get("remove") or []),
        tls_files=[entry["dest"] for entry in tls_entries],
    )
    if serving_tls:
        expanded.directories.append(_directory({"path": tls["dir"], "mode": "0755"}))
    elif tls.get("dir"):
        # The config no longer names them: certificate and key go with TLS.
        expanded.remove.append(tls["dir"])
    reload_settings = dict(params.get("reload") or {})
    if serving_tls and _https(reload_settings.get("reload_url")):
        reload_settings.update(
            reload_url=_https(reload_settings["reload_url"]),
            reload_ca_path=f"{tls['dir']}/ca.crt",
            reload_server_name=tls.get("server_name"),
        )
    for unit in params.get("units") or []:
        name = unit["name"]
        # The order is part of the hash label: restart_on, the unit's restart-class files
        # (TLS first), then its secrets.
        restart_on = list(unit.get("restart_on") or [])
        restart_on += [
            entry["dest"] for entry in all_files
            if entry.get("unit") == name and (entry.get("action") or "restart") == "restart"
        ]
        restart_on += [entry["path"] for entry in secrets if entry.get("unit") == name]
        reload_on = [entry["dest"] for entry in all_files
                     if entry.get("unit") == name and entry.get("action") == "reload"]
        written = {"name": name, "sections": unit.get("sections") or {}, "state": "present"}
        if restart_on:
            written["restart_on"] = restart_on
        expanded.units.append(written)
        reconciled: dict[str, Any] = {"name": name, "state": unit.get("state") or "started",
                                      "container_name": unit.get("container_name")}
        if reload_on:
            reconciled.update(reload_on=reload_on, **reload_settings)
        expanded.reconcile_units.append(reconcile.Unit.from_params(reconciled))
    for endpoint in (params.get("wait") or {}).get("endpoints") or []:
        endpoint = {key: value for key, value in endpoint.items() if value is not None}
        https = _https(endpoint.get("url")) if serving_tls else None
        if https:
            # Checked the way clients reach it: https, verified against the CA and their name.
            endpoint.update(url=https, ca_path=f"{tls['dir']}/ca.crt",
                            server_name=tls.get("server_name"))
        expanded.endpoints.append(endpoint)
    return expanded


# ---------------------------------------------------------------------------
# The phases
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Paths:
    """Where things go on the host (module options and module-level defaults)."""

    unit_dir: str
    state_dir: str
    candidate_dir: str
    quadlet_binary: str | None = None
    min_podman: str | None = None
    systemd_run_dir: str = quadlet_units.SYSTEMD_RUN_DIR
    quadlet_candidates: Sequence[str] = quadlet_units.QUADLET_BINARY_CANDIDATES


def new_result() -> dict[str, Any]:
    return {"changed": False}


def settle_units(
    units: Sequence[Mapping[str, Any]], unit_plan: quadlet_units.UnitPlan
) -> None:
    """After the files are written, each unit's text from the disk; it wins over the plan.

    It differs from the planned text only in the hash label (the sections did not change),
    which quadlet has no verdict on, so no new dry run is needed.
    """
    for index, unit in enumerate(units):
        result = unit_plan.results[index]
        text, digest = quadlet.unit_text(
            unit["name"], unit["sections"], unit.get("restart_on") or []
        )
        if text == result.get("content"):
            continue
        result["content"] = text
        if digest is not None:
            result["config_hash"] = digest
        if text == read_text(result["path"]):
            unit_plan.new_texts.pop(unit["name"], None)
            result["changed"] = False
            result.pop("diff", None)
        else:
            unit_plan.new_texts[unit["name"]] = text
            result["changed"] = True


def carry_postgres_passwords(
    module: AnsibleModule, secrets: Sequence[Mapping[str, Any]], files_plan: files.Plan
) -> list[dict[str, Any]]:
    """Each secret with postgres: its value, as this call leaves it, carried into the role
    in the running container (module_utils/postgres.py). Every run, not only on a change:
    a run that died between writing the secret and carrying it is finished by the next."""
    wanted = [entry for entry in secrets if entry.get("postgres")]
    if not wanted:
        return []
    values = files.secret_values(files_plan.secrets)
    carried = []
    for entry in wanted:
        database = entry["postgres"]
        outcome = postgres.carry(module, database["container"], database["user"],
                                 values[entry["path"]], database.get("database") or "postgres")
        carried.append({"secret": entry["path"], "container": database["container"],
                        "user": database["user"], **outcome})
    return carried


def remove(
    module: AnsibleModule, params: Mapping[str, Any], paths: Paths, result: dict[str, Any]
) -> None:
    """state=absent: stop the units in reverse order, remove their files, daemon-reload when
    one was removed, and remove the directories only with remove_data (data outlives the
    service unless asked). Every step honours check mode; raises ServiceError naming the
    phase."""
    names = [unit["name"] for unit in params.get("units") or []][::-1]
    phase = "reconcile"
    try:
        stopping = reconcile.new_result()
        result["reconcile"] = stopping
        reconcile.Reconciler(module, reconcile.Settings(
            units=tuple(reconcile.Unit(name, state="stopped") for name in names),
            unit_dir=paths.unit_dir, state_dir=paths.state_dir,
            systemd_run_dir=paths.systemd_run_dir,
        )).reconcile(stopping)
        result["changed"] = bool(stopping.pop("changed"))

        phase = "units"
        unit_settings = quadlet_units.Settings(unit_dir=paths.unit_dir,
                                               systemd_run_dir=paths.systemd_run_dir)
        entries = [{"name": name, "state": "absent"} for name in names]
        unit_plan = quadlet_units.plan_units(module, unit_settings, entries)
        result["units"] = quadlet_units.write_units(module, unit_settings, entries, unit_plan)
        removed_units = any(unit["changed"] for unit in result["units"])
        result["changed"] = result["changed"] or removed_units

        phase = "reconcile"
        if removed_units and not module.check_mode:
            reloading = reconcile.new_result()
            reconcile.Reconciler(module, reconcile.Settings(
                units=(), unit_dir=paths.unit_dir, state_dir=paths.state_dir,
                daemon_reload=True, systemd_run_dir=paths.systemd_run_dir,
            )).reconcile(reloading)
            stopping["daemon_reloaded"] = bool(reloading["daemon_reloaded"])

        phase = "write"
        directories = [entry["path"] for entry in params.get("directories") or []]
        removed = files.plan_removals(directories) if params.get("remove_data") else []
        result["removed"] = removed
        result["changed"] = result["changed"] or bool(removed)
        if not module.check_mode:
            for path in removed:
                if os.path.isdir(path) and not os.path.islink(path):
                    shutil.rmtree(path)
                elif os.path.lexists(path):
                    os.unlink(path)
    except (quadlet_units.PreflightError, reconcile.ReconcileError, OSError, ValueError) as exc:
        raise ServiceError(phase, str(exc)) from None


def run(
    module: AnsibleModule, params: Mapping[str, Any], paths: Paths, result: dict[str, Any]
) -> None:
    """Every phase in order, filling in result; raises ServiceError naming the phase."""
    phase = "expand"
    try:
        expanded = expand(params)
        result["expanded"] = expanded.shown()

        phase = "plan"
        files_plan = files.plan(
            directories=expanded.directories,
            files=expanded.files,
            remove=expanded.remove + pruned(params.get("directories") or [], expanded.files),
            candidate_dir=paths.candidate_dir,
            secrets=expanded.secrets,
        )
        overlay = files_plan.overlay()

        phase = "units"
        unit_settings = quadlet_units.Settings(
            unit_dir=paths.unit_dir,
            quadlet_binary=paths.quadlet_binary,
            min_podman=paths.min_podman,
            systemd_run_dir=paths.systemd_run_dir,
            quadlet_candidates=tuple(paths.quadlet_candidates),
            version_cache_dir=paths.state_dir,
        )
        unit_plan = quadlet_units.plan_units(module, unit_settings, expanded.units, overlay)
        if unit_plan.version is not None:
            result["podman_version"] = quadlet.format_version(unit_plan.version)
        quadlet_units.dry_run_units(module, unit_settings, expanded.units, unit_plan)
        result["dry_run"] = sorted(unit_plan.new_texts) if unit_plan.dry_run else []

        phase = "write"
        # Directories and secrets first: a validator may mount a directory and a config
        # names its secrets (files.write_prerequisites). No file or unit is written yet.
        files.write_prerequisites(module, files_plan)
        phase = "validate"
        result["validated"] = files.validate(module, files_plan)

        phase = "postgres"
        # Before any file or unit that reads a changed password is written or restarted.
        carried = carry_postgres_passwords(module, params.get("secrets") or [], files_plan)
        if carried:
            result["postgres"] = carried

        phase = "write"
        summary = files_plan.summary()
        result.update(
            directories=summary["directories"],
            reowned=summary["reowned"],
            secrets=summary["secrets"],
            files=summary["files"],
            removed=summary["removed"],
        )
        result["changed"] = files_plan.changed or any(item["changed"] for item in carried)
        files.write_files(module, files_plan)
        if not module.check_mode:
            settle_units(expanded.units, unit_plan)
        unit_results = quadlet_units.write_units(
            module, unit_settings, expanded.units, unit_plan
        )
        diffs = files_plan.diffs() if module._diff else []
        diffs += [unit.pop("diff") for unit in unit_results if "diff" in unit]
        if diffs:
            result["diff"] = diffs
        for unit in unit_results:
            unit.pop("content", None)
        result["units"] = unit_results
        units_changed = any(unit["changed"] for unit in unit_results)
        result["changed"] = result["changed"] or units_changed

        phase = "reconcile"
        reloaded = False
        if expanded.reconcile_units:
            reconcile_result = reconcile.new_result()
            result["reconcile"] = reconcile_result
            settings = reconcile.Settings(
                units=tuple(expanded.reconcile_units),
                unit_dir=paths.unit_dir,
                state_dir=paths.state_dir,
                daemon_reload=units_changed,
                systemd_run_dir=paths.systemd_run_dir,
                planned_texts=dict(unit_plan.new_texts),
                overlay=overlay,
            )
            reconcile.Reconciler(module, settings).reconcile(reconcile_result)
            reconcile_changed = reconcile_result.pop("changed")
            result["changed"] = result["changed"] or reconcile_changed
            reloaded = bool(reconcile_result["daemon_reloaded"])
        quadlet_units.remember_version(module, unit_settings, unit_plan)

        phase = "timers"
        timer_names = list(params.get("timers") or [])
        if timer_names:
            reload_needed = timers.files_changed(timer_names, summary["files"]) and not reloaded
            timer_result = timers.ensure(module, timer_names, reload_needed)
            timers_changed = timer_result.pop("changed")
            result["changed"] = result["changed"] or timers_changed
            result["timers"] = timer_result
        if not expanded.reconcile_units:
            return

        phase = "wait"
        wait_params = params.get("wait") or {}
        if expanded.endpoints and module.check_mode and result["changed"]:
            # What answers now is the service before the change: its answer says nothing
            # of the changed one (a readiness check may look for new content).
            result["wait"] = {"skipped": "check mode: the service would change first"}
        elif expanded.endpoints:
            options = wait.options_from_params(
                {**wait_params, "endpoints": expanded.endpoints}
            )
            outcome = wait.wait_until_ready(options)
            result["wait"] = outcome.as_dict()
            if not outcome.ready:
                raise ServiceError("wait", wait.failure_message(outcome.results))
    except ServiceError:
        raise
    except (
        postgres.PostgresError,
        files.ConfigError,
        quadlet_units.PreflightError,
        reconcile.ReconcileError,
        timers.TimerError,
        wait.EndpointError,
        quadlet.MissingPathError,
        ValueError,
        OSError,
    ) as exc:
        raise ServiceError(phase, str(exc)) from None
