# Copyright: lgtm.stack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Bringing quadlet units to their desired state on the host: observe, decide, act.

Moved from the quadlet_reconcile module (issue 19 item 3) so that module and the one-call
service module share it. The decision itself is quadlet.decide(); here the Reconciler
observes each unit (systemctl, podman inspect, the unit file, the reload and run state
files in the state directory), acts on the decision and records the state files only
after success. It takes a Settings and a Unit per unit instead of module.params, and
runs commands through a Host (AnsibleModule is one).
"""

# Managed hosts may run Python 3.9 (ansible-core's minimum for targets).
from __future__ import annotations

import http.client
import json
import os
import ssl
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any, Protocol

from ansible.module_utils.common.text.converters import to_text
from ansible_collections.lgtm.stack.plugins.module_utils import quadlet, tls_client
from ansible_collections.lgtm.stack.plugins.module_utils.text_file import read_text

# Default of Settings.systemd_run_dir; quadlet_reconcile's tests point its own copy elsewhere.
SYSTEMD_RUN_DIR = "/run/systemd/system"
UNIT_DIR = "/etc/containers/systemd"
STATE_DIR = "/var/lib/lgtm/.state"

ACTIVE_STATES = ("active", "activating", "reloading")
JOURNAL_LINES = 30
RELOAD_URL_TIMEOUT = 30
RELOAD_BODY_BYTES = 64 * 1024
USER_AGENT = "lgtm.stack-quadlet_reconcile/0.1"
STATE_FILE_MODE = 0o600


class ReconcileError(Exception):
    pass


class Host(Protocol):
    """The part of AnsibleModule the Reconciler uses."""

    check_mode: bool

    def run_command(self, args: list[str]) -> tuple[int, Any, Any]: ...

    def get_bin_path(self, arg: str) -> str | None: ...

    def warn(self, warning: str) -> None: ...


@dataclass(frozen=True)
class Unit:
    """One unit to reconcile: quadlet_reconcile's units[] options."""

    name: str
    state: str = "started"
    container_name: str | None = None
    reload_on: Sequence[str] = ()
    reload_signal: str | None = None
    reload_url: str | None = None
    reload_ca_path: str | None = None
    reload_server_name: str | None = None

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> Unit:
        """A Unit from a units[] item; keys left out or None take the defaults."""
        given = {key: value for key, value in params.items() if value is not None}
        unknown = sorted(set(given) - {option.name for option in fields(cls)})
        if unknown:
            raise ReconcileError(
                f"{given.get('name', 'units[]')}: unknown option(s) {', '.join(unknown)}"
            )
        if "reload_on" in given:
            given["reload_on"] = tuple(given["reload_on"])
        return cls(**given)


@dataclass(frozen=True)
class Settings:
    """What to reconcile and where: quadlet_reconcile's options, and the host's paths."""

    units: Sequence[Unit]
    unit_dir: str = UNIT_DIR
    state_dir: str = STATE_DIR
    daemon_reload: bool = False
    systemd_run_dir: str = SYSTEMD_RUN_DIR
    # Check mode of a caller that plans writes itself (quadlet_service): each unit's text
    # and each changed file as the skipped write would leave them, so the restarts and
    # reloads reported are the ones a real run does.
    planned_texts: Mapping[str, str] = field(default_factory=dict)
    overlay: Mapping[str, quadlet.Planned] = field(default_factory=dict)

    @classmethod
    def from_params(
        cls, params: Mapping[str, Any], systemd_run_dir: str = SYSTEMD_RUN_DIR
    ) -> Settings:
        """Settings from quadlet_reconcile's options (dir is the unit directory)."""
        return cls(
            units=tuple(Unit.from_params(unit) for unit in params["units"]),
            unit_dir=params.get("dir") or UNIT_DIR,
            state_dir=params.get("state_dir") or STATE_DIR,
            daemon_reload=bool(params.get("daemon_reload")),
            systemd_run_dir=systemd_run_dir,
        )


@dataclass
class Observed:
    """What reconcile learned about one unit, plus what it needs to act on it."""

    name: str
    service: str
    state: quadlet.UnitState
    container: str | None = None
    # Oneshot units: the unit's hash label and image reference, to record the run.
    config_hash: str | None = None
    image: str | None = None


def new_result() -> dict[str, Any]:
    """quadlet_reconcile's result before anything ran; reconcile() fills it in."""
    return {"changed": False, "actions": [], "restarted": [], "daemon_reloaded": False}


class Reconciler:
    def __init__(self, host: Host, settings: Settings) -> None:
        self.host = host
        self.settings = settings
        self.systemctl = ""
        self.podman: str | None = None
        # Units of one service often share an image (GlitchTip's four); an ID found
        # stays valid for the run, a missing one is asked again (a start may pull it).
        self.image_ids: dict[str, str] = {}
        # What prefetch() learnt for all units at once; dropped after the first action,
        # which may change what the later units would observe.
        self.active_states: dict[str, bool] = {}
        self.containers: dict[str, dict[str, Any]] = {}

    # -- commands -----------------------------------------------------------

    def run(self, args: list[str]) -> tuple[int, str, str]:
        rc, out, err = self.host.run_command(args)
        return rc, to_text(out), to_text(err)

    def run_ok(self, args: list[str], what: str) -> str:
        rc, out, err = self.run(args)
        if rc != 0:
            raise ReconcileError(f"{what} failed (rc={rc}): {(err or out).strip()}")
        return out

    def need_podman(self) -> str:
        if self.podman is None:
            self.podman = self.host.get_bin_path("podman")
            if not self.podman:
                raise ReconcileError("Podman is not installed: install podman >= 4.4")
        return self.podman

    # -- preflight ----------------------------------------------------------

    def preflight(self) -> None:
        run_dir = self.settings.systemd_run_dir
        if not os.path.isdir(run_dir):
            raise ReconcileError(
                f"systemd is not running on this host (no {run_dir}); "
                "quadlet units need systemd as init"
            )
        systemctl = self.host.get_bin_path("systemctl")
        if not systemctl:
            raise ReconcileError("systemctl was not found; quadlet units need systemd")
        self.systemctl = systemctl
        for unit in self.settings.units:
            check_unit_options(unit)

    # -- observing ----------------------------------------------------------

    def systemd_is_stale(self) -> bool:
        """True when systemd has not loaded a wanted unit's current quadlet file.

        A run that wrote a unit file and died before daemon-reload leaves systemd
        with the old generated unit; the next run sees no file change, so only
        systemd's own view (NeedDaemonReload, or a unit it has never loaded) tells.
        """
        wanted = [quadlet.service_name(unit.name) for unit in self.settings.units
                  if unit.state == "started"]
        if not wanted:
            return False
        _rc, out, _err = self.run(
            [self.systemctl, "show", "--property=LoadState,NeedDaemonReload", *wanted])
        for line in out.splitlines():
            key, _sep, value = line.partition("=")
            if (key, value) in (("NeedDaemonReload", "yes"), ("LoadState", "not-found")):
                return True
        return False

    def is_active(self, service: str) -> bool:
        if service in self.active_states:
            return self.active_states[service]
        # is-active exits non-zero for anything but active, so the text decides.
        _rc, out, _err = self.run([self.systemctl, "is-active", service])
        return out.strip() in ACTIVE_STATES

    def unit_text(self, unit: Unit) -> str | None:
        """The unit file as it is, or in check mode as the skipped write would leave it."""
        if self.host.check_mode and unit.name in self.settings.planned_texts:
            return self.settings.planned_texts[unit.name]
        return read_text(os.path.join(self.settings.unit_dir, unit.name))

    @staticmethod
    def container_of(unit: Unit, parsed: Mapping[str, Any]) -> str:
        return (
            unit.container_name
            or quadlet.last_value(parsed, "Container", "ContainerName")
            or quadlet.default_container_name(unit.name)
        )

    def prefetch(self) -> None:
        """Every unit's state in one systemctl and one podman call, instead of up to three
        calls per unit (GlitchTip has six). A batch whose answer is not complete and in
        order (an object missing, a name that is a volume) is dropped: each unit is then
        asked alone, as before."""
        services = [quadlet.service_name(unit.name) for unit in self.settings.units]
        if not services:
            return
        _rc, out, _err = self.run([self.systemctl, "is-active", *services])
        states = out.splitlines()
        if len(states) != len(services):
            return
        # Lengths checked above; zip(strict=) is not in the hosts' Python 3.9.
        self.active_states = {service: state.strip() in ACTIVE_STATES
                              for service, state in zip(services, states)}  # noqa: B905
        containers: list[str] = []
        images: list[str] = []
        for unit, service in zip(self.settings.units, services):  # noqa: B905 - same list
            if (not self.active_states[service] or unit.state != "started"
                    or quadlet.unit_type_of(unit.name) != "container"):
                continue
            parsed = quadlet.parse_unit(self.unit_text(unit) or "")
            if quadlet.is_oneshot(parsed):
                continue
            containers.append(self.container_of(unit, parsed))
            image = quadlet.last_value(parsed, "Container", "Image")
            if self.inspectable(image) and image not in images:
                images.append(image)
        if not containers:
            return
        rc, out, _err = self.run([self.need_podman(), "inspect", "--format", "json",
                                  *containers, *images])
        try:
            found = json.loads(out) if rc == 0 else None
        except ValueError:
            found = None
        if not isinstance(found, list) or len(found) != len(containers) + len(images):
            return
        objects = [item if isinstance(item, dict) else {} for item in found]
        # Plain inspect answers a volume of the same name when the container is gone
        # (quadlet names one systemd-<stem>): each must be the container asked for.
        asked = containers + images  # as many as objects, checked above
        pairs = list(zip(asked, objects))  # noqa: B905
        if not all(item.get("Name") == name and "ImageName" in item
                   for name, item in pairs[:len(containers)]):
            return
        if not all("RepoTags" in item and item.get("Id")
                   for _name, item in pairs[len(containers):]):
            return
        self.containers = dict(pairs[:len(containers)])
        for image, item in pairs[len(containers):]:
            image_id = normalize_id(item.get("Id"))
            if image_id is not None:
                self.image_ids[image] = image_id

    def forget_prefetched(self) -> None:
        self.active_states = {}
        self.containers = {}

    def inspect_container(self, container: str) -> dict[str, Any] | None:
        if container in self.containers:
            return self.containers[container]
        # "container inspect", not "inspect": quadlet names a volume systemd-<stem> too, and
        # plain inspect would return that volume when the container is gone.
        command = [self.need_podman(), "container", "inspect", "--format", "json", container]
        rc, out, _err = self.run(command)
        if rc != 0:
            return None
        try:
            data = json.loads(out)
        except ValueError:
            raise ReconcileError(
                f"podman container inspect {container} returned invalid JSON"
            ) from None
        if isinstance(data, list):
            data = data[0] if data else None
        return data if isinstance(data, dict) else None

    @staticmethod
    def inspectable(image: str | None) -> bool:
        # References to .image/.build units are not image names podman can inspect.
        return bool(image) and not str(image).endswith((".image", ".build"))

    def image_id(self, image: str | None) -> str | None:
        if not self.inspectable(image):
            return None
        if image in self.image_ids:
            return self.image_ids[image]
        rc, out, _err = self.run(
            [self.need_podman(), "image", "inspect", "--format", "{{.Id}}", image]
        )
        found = normalize_id(out) if rc == 0 else None
        if found is not None:
            self.image_ids[image] = found
        return found

    def reload_hashes(self, unit: Unit) -> tuple[str | None, str | None]:
        if not unit.reload_on:
            return None, None
        overlay = self.settings.overlay if self.host.check_mode else None
        try:
            current = quadlet.hash_paths(list(unit.reload_on), overlay)
        except quadlet.MissingPathError as exc:
            if not self.host.check_mode:
                raise ReconcileError(f"{unit.name}: reload_on {exc}") from None
            # Probably a file a skipped check-mode task would have written.
            self.host.warn(f"{unit.name}: reload_on {exc}")
            current = "missing"
        recorded = read_text(self.state_file(unit.name))
        return current, recorded.strip() if recorded is not None else None

    def observe(self, unit: Unit) -> Observed:
        name = unit.name
        service = quadlet.service_name(name)
        desired = unit.state
        path = os.path.join(self.settings.unit_dir, name)
        text = self.unit_text(unit)
        if text is None and desired == "started":
            if not self.host.check_mode:
                raise ReconcileError(
                    f"{name}: unit file {path} does not exist;"
                    " write it with lgtm.stack.quadlet_unit first"
                )
            # In check mode the task that writes it did not run.
            text = ""
        active = self.is_active(service)
        if quadlet.unit_type_of(name) != "container" or desired != "started":
            return Observed(name, service, quadlet.UnitState(desired=desired, is_active=active))

        parsed = quadlet.parse_unit(text or "")
        if quadlet.is_oneshot(parsed):
            return self.observe_oneshot(unit, service, active, parsed)
        container = self.container_of(unit, parsed)
        reload_current, reload_recorded = self.reload_hashes(unit)
        running_hash = running_image = None
        if active:
            info = self.inspect_container(container)
            if info is None:
                self.host.warn(
                    f"{service} is active but podman found no container {container!r}; "
                    "check container_name"
                )
            else:
                running_hash = ((info.get("Config") or {}).get("Labels") or {}).get(
                    quadlet.CONFIG_HASH_LABEL
                )
                running_image = normalize_id(info.get("Image"))
        state = quadlet.UnitState(
            desired=desired,
            is_active=active,
            has_container=True,
            expected_hash=quadlet.labels_of(parsed).get(quadlet.CONFIG_HASH_LABEL),
            running_hash=running_hash,
            expected_image_id=self.image_id(quadlet.last_value(parsed, "Container", "Image"))
            if active
            else None,
            running_image_id=running_image,
            reload_hash_current=reload_current,
            reload_hash_recorded=reload_recorded,
        )
        return Observed(name, service, state, container)

    def observe_oneshot(
        self, unit: Unit, service: str, active: bool, parsed: dict[str, Any]
    ) -> Observed:
        name = unit.name
        if not quadlet.remains_after_exit(parsed):
            # Without it a finished job is inactive, and every run would start it again.
            raise ReconcileError(
                f"{name}: a Type=oneshot unit needs RemainAfterExit=yes in [Service]"
            )
        config_hash = quadlet.labels_of(parsed).get(quadlet.CONFIG_HASH_LABEL)
        image = quadlet.last_value(parsed, "Container", "Image")
        current = quadlet.run_hash(config_hash, self.image_id(image)) if active else None
        recorded = read_text(self.run_state_file(name))
        state = quadlet.UnitState(
            desired="started",
            is_active=active,
            oneshot=True,
            expected_hash=config_hash,
            run_hash_current=current,
            run_hash_recorded=recorded.strip() if recorded is not None else None,
        )
        return Observed(name, service, state, config_hash=config_hash, image=image)

    # -- acting -------------------------------------------------------------

    def diagnostics(self, service: str) -> str:
        parts = []
        _rc, out, err = self.run([self.systemctl, "status", "--no-pager", "--full", service])
        parts.append(f"--- systemctl status {service} ---\n{(out or err).strip()}")
        journalctl = self.host.get_bin_path("journalctl")
        if journalctl:
            _rc, out, err = self.run(
                [journalctl, "-u", service, "--no-pager", "-n", str(JOURNAL_LINES)]
            )
            parts.append(
                f"--- journalctl -u {service} (last {JOURNAL_LINES} lines) ---\n"
                f"{(out or err).strip()}"
            )
        return "\n".join(parts)

    def systemctl_action(self, verb: str, service: str) -> None:
        rc, out, err = self.run([self.systemctl, verb, service])
        if rc == 0:
            return
        message = f"systemctl {verb} {service} failed (rc={rc}): {(err or out).strip()}"
        if verb in ("start", "restart"):
            message += "\n" + self.diagnostics(service)
        raise ReconcileError(message)

    def reload(self, unit: Unit, observed: Observed) -> None:
        if unit.reload_signal:
            self.run_ok(
                [
                    self.need_podman(),
                    "kill",
                    "--signal",
                    unit.reload_signal,
                    observed.container or "",
                ],
                f"reloading {observed.service} with signal {unit.reload_signal}",
            )
            return
        post_reload(
            unit.reload_url or "",
            observed.service,
            ca_path=unit.reload_ca_path,
            server_name=(unit.reload_server_name or "").strip() or None,
        )

    def state_file(self, name: str) -> str:
        return os.path.join(self.settings.state_dir, f"{quadlet.unit_stem(name)}.reload-hash")

    def run_state_file(self, name: str) -> str:
        return os.path.join(self.settings.state_dir, f"{quadlet.unit_stem(name)}.run-hash")

    def record_reload_hash(self, name: str, value: str) -> None:
        self.write_state(self.state_file(name), value)

    def write_state(self, path: str, value: str) -> None:
        state_dir = self.settings.state_dir
        os.makedirs(state_dir, mode=0o700, exist_ok=True)
        # mkstemp creates the file 0600, so the hash is never readable by others mid-write.
        fd, tmp = tempfile.mkstemp(prefix=".state.", dir=state_dir)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(value + "\n")
            os.chmod(tmp, STATE_FILE_MODE)
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)

    def act(self, unit: Unit, observed: Observed, decision: quadlet.Decision) -> None:
        if decision.action in ("start", "restart", "stop"):
            self.systemctl_action(decision.action, observed.service)
        elif decision.action == "reload":
            self.reload(unit, observed)
        current = observed.state.reload_hash_current
        if decision.satisfies_reload and current is not None:
            self.record_reload_hash(unit.name, current)
        if observed.state.oneshot and decision.action in ("start", "restart"):
            # systemctl returned, so the job succeeded. The image is resolved now, after
            # the run, because a first start may have pulled it.
            self.write_state(
                self.run_state_file(unit.name),
                quadlet.run_hash(observed.config_hash, self.image_id(observed.image)),
            )

    # -- driver -------------------------------------------------------------

    def reconcile(self, result: dict[str, Any]) -> None:
        """Reconcile every unit in order, filling in result (see new_result()) as it goes,
        so a failure still returns what was done before it."""
        self.preflight()
        check_mode = self.host.check_mode
        if (self.settings.daemon_reload or self.systemd_is_stale()) and not check_mode:
            self.run_ok([self.systemctl, "daemon-reload"], "systemctl daemon-reload")
            result["daemon_reloaded"] = True
        self.prefetch()
        for unit in self.settings.units:
            observed = self.observe(unit)
            decision = quadlet.decide(observed.state)
            result["actions"].append(
                {
                    "name": observed.name,
                    "service": observed.service,
                    "action": decision.action,
                    "reason": decision.reason,
                }
            )
            if decision.action == "none":
                continue
            result["changed"] = True
            if decision.action == "restart":
                result["restarted"].append(observed.service)
            if not check_mode:
                self.forget_prefetched()
                self.act(unit, observed, decision)


def check_unit_options(unit: Unit) -> None:
    """Refuse a unit whose options contradict each other, naming the unit.

    quadlet_reconcile's argument spec already refuses the last two; a caller passing
    plain Units gets the same checks here.
    """
    name = unit.name
    if unit.state not in ("started", "stopped"):
        raise ReconcileError(f"{name}: state must be started or stopped, got {unit.state!r}")
    unit_type = quadlet.unit_type_of(name)
    reload_by = [key for key in ("reload_signal", "reload_url") if getattr(unit, key)]
    if unit.reload_on:
        if unit_type != "container":
            raise ReconcileError(f"{name}: reload_on is only supported for .container units")
        if len(reload_by) != 1:
            raise ReconcileError(
                f"{name}: reload_on needs exactly one of reload_signal or reload_url"
            )
    url = unit.reload_url
    if url:
        try:
            tls_client.parse_url(url)
        except ValueError as exc:
            raise ReconcileError(f"{name}: reload_url: {exc}") from None
    server_name = unit.reload_server_name
    if server_name is not None and not server_name.strip():
        raise ReconcileError(f"{name}: reload_server_name must not be empty")
    if len(reload_by) > 1:
        raise ReconcileError(f"{name}: reload_signal and reload_url are mutually exclusive")
    for key in ("reload_ca_path", "reload_server_name"):
        if getattr(unit, key) is not None and not url:
            raise ReconcileError(f"{name}: {key} requires reload_url")


def normalize_id(value: Any) -> str | None:
    text = str(value or "").strip()
    if text.startswith("sha256:"):
        text = text[len("sha256:") :]
    return text or None


def post_reload(
    url: str, service: str, ca_path: str | None = None, server_name: str | None = None
) -> None:
    """POST to a reload URL; an https one is verified against ca_path and server_name.

    No proxy: reload endpoints are on the host itself and a proxy from the environment
    would not reach them.
    """
    where = f"reloading {service}: POST {url}"
    target = tls_client.parse_url(url)
    context = None
    if target.is_https:
        try:
            context = tls_client.client_context(ca_path=ca_path)
        except OSError as exc:  # ssl.SSLError included: not a PEM CA bundle
            what = f"reload_ca_path {ca_path!r}" if ca_path else "the system CA certificates"
            raise ReconcileError(f"{where}: cannot load {what}: {exc}") from None
    connection = tls_client.open_connection(target, RELOAD_URL_TIMEOUT, context, server_name)
    try:
        connection.request("POST", target.path, body=b"", headers={"User-Agent": USER_AGENT})
        response = connection.getresponse()
        status = response.status
        body = response.read(RELOAD_BODY_BYTES)
    except ssl.SSLCertVerificationError as exc:
        detail = tls_client.verification_failure(exc, server_name, "reload_server_name")
        raise ReconcileError(f"{where} failed: {detail}") from None
    except (OSError, http.client.HTTPException) as exc:
        raise ReconcileError(f"{where} failed: {exc}") from None
    finally:
        connection.close()
    if not 200 <= status < 300:
        text = " ".join(body[:200].decode("utf-8", "replace").split())
        raise ReconcileError(f"{where} answered HTTP {status}" + (f": {text}" if text else ""))
