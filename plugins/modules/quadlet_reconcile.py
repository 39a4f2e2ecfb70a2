#!/usr/bin/python
# Copyright: lgtm.stack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

# Managed hosts may run Python 3.9 (ansible-core's minimum for targets).
from __future__ import annotations

DOCUMENTATION = r"""
---
module: quadlet_reconcile
short_description: Start, restart, reload or stop Podman quadlet units based on their state
version_added: "0.1.0"
description:
  - Brings a list of quadlet units to their desired state. The decision for each unit comes from
    what is on the host, not from handlers, so a run that failed half way is completed by the
    next run.
  - A unit that should be started and is not running is started.
  - A running C(.container) unit is restarted when the C(lgtm.stack.config-hash) label in its
    unit file (written by M(lgtm.stack.quadlet_unit)) differs from the label on the running
    container, or when the image its C(Image=) reference resolves to now differs from the image
    of the running container.
  - Otherwise, when the hash of the O(units[].reload_on) files differs from the one recorded in
    O(state_dir) after the last successful start, restart or reload, the unit is reloaded with a
    signal (O(units[].reload_signal)) or an HTTP POST (O(units[].reload_url)).
  - A C(.container) unit with C(Type=oneshot) in C([Service]) is a job (a database migration, say)
    and must also set C(RemainAfterExit=yes), so that a successful run stays visible as active. It
    leaves no container to compare, so after each successful start or restart a hash of its
    C(lgtm.stack.config-hash) label and of its image ID is recorded in O(state_dir); it runs again
    (restart) when either differs from the recorded one, and is left alone otherwise.
  - A unit that should be stopped and is running is stopped.
  - C(.network) and C(.volume) units are only started or stopped.
  - Quadlet generated services cannot be enabled; starting at boot comes from the C([Install])
    section of the quadlet file.
author:
  - lgtm.stack contributors (@lgtm-stack)
options:
  units:
    description:
      - The units to reconcile, handled in the order given (put networks and volumes first).
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description:
          - Quadlet file name, for example C(lgtm-loki.container).
        type: str
        required: true
      state:
        description:
          - Desired state of the unit's service.
        type: str
        choices: [started, stopped]
        default: started
      container_name:
        description:
          - Name of the container to inspect for C(.container) units.
          - Defaults to C(ContainerName=) from the unit file, else C(systemd-<stem>) as quadlet
            names it.
        type: str
      reload_on:
        description:
          - Files and directories whose change triggers a reload instead of a restart.
          - Requires O(units[].reload_signal) or O(units[].reload_url). Only for C(.container)
            units.
        type: list
        elements: path
      reload_signal:
        description:
          - Signal sent with C(podman kill --signal) to reload, for example C(HUP).
        type: str
      reload_url:
        description:
          - URL that gets an HTTP POST from the host to reload, for example
            C(http://127.0.0.1:9090/-/reload). Any 2xx answer is success; redirects are not
            followed and proxy environment variables are ignored.
          - An C(https://) URL is verified against the system trust store, or against
            O(units[].reload_ca_path) and O(units[].reload_server_name) when given.
        type: str
      reload_ca_path:
        description:
          - PEM file with the CA certificates used to verify an C(https://) O(units[].reload_url),
            instead of the system trust store. It must exist on the managed host when the reload
            is done.
          - Requires O(units[].reload_url); not used for a plain C(http://) one.
        type: path
      reload_server_name:
        description:
          - Name the TLS certificate of an C(https://) O(units[].reload_url) is verified against,
            instead of the host in the URL; it is also sent as the TLS server name (SNI). For a
            service whose certificate names the host's address while the reload goes to
            V(127.0.0.1).
          - A DNS name must be among the certificate's DNS subject alternative names; an IP
            address among its IP ones.
          - Requires O(units[].reload_url); not used for a plain C(http://) one.
        type: str
  dir:
    description:
      - Directory holding the quadlet files.
    type: path
    default: /etc/containers/systemd
  state_dir:
    description:
      - Directory for the C(<stem>.reload-hash) files that record the reload hash of each unit,
        and the C(<stem>.run-hash) files of oneshot units.
        Created with mode C(0700); the files get mode C(0600).
    type: path
    default: /var/lib/lgtm/.state
  daemon_reload:
    description:
      - Run C(systemctl daemon-reload) before anything else, so systemd sees changed quadlet
        files. Pass V(true) when a quadlet file changed.
      - Also run when systemd reports a started unit as never loaded or as C(NeedDaemonReload=yes),
        which is what a run that wrote a file and died before reloading leaves behind.
      - Not run in check mode and does not by itself make the result changed.
    type: bool
    default: false
attributes:
  check_mode:
    description: Reports the actions it would take, running only read-only queries
      (C(systemctl is-active), C(podman container inspect), C(podman image inspect)).
    support: full
  diff_mode:
    description: No diff is returned; the actions list describes what changes.
    support: none
  platform:
    description: Targets running systemd and Podman.
    support: full
    platforms: posix
notes:
  - When starting or restarting a unit fails, the message includes C(systemctl status) and the
    last 30 lines of its journal.
requirements:
  - systemd as init system
  - podman >= 4.4
seealso:
  - module: lgtm.stack.quadlet_unit
"""

EXAMPLES = r"""
- name: Bring the stack up
  lgtm.stack.quadlet_reconcile:
    daemon_reload: "{{ lgtm_network is changed or loki_unit is changed }}"
    units:
      - name: lgtm.network
      - name: lgtm-loki.container
      - name: lgtm-prometheus.container
        reload_on:
          - /etc/lgtm/prometheus/rules
        reload_url: http://127.0.0.1:9090/-/reload
      - name: lgtm-alloy.container
        reload_on:
          - /etc/lgtm/alloy/config.alloy
        reload_signal: HUP
  register: reconcile

- name: Reload Prometheus over TLS, its certificate naming the host's address
  lgtm.stack.quadlet_reconcile:
    units:
      - name: lgtm-prometheus.container
        reload_on:
          - /etc/lgtm/prometheus/rules
        reload_url: https://127.0.0.1:9090/-/reload
        reload_ca_path: /etc/lgtm/prometheus/tls/ca.crt
        reload_server_name: 192.0.2.10

- name: Stop Tempo
  lgtm.stack.quadlet_reconcile:
    units:
      - name: lgtm-tempo.container
        state: stopped
"""

RETURN = r"""
actions:
  description: What was done (or would be done in check mode) for each unit, in order.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: Quadlet file name.
      type: str
      sample: lgtm-loki.container
    service:
      description: systemd service generated from it.
      type: str
      sample: lgtm-loki.service
    action:
      description: One of V(none), V(start), V(restart), V(reload), V(stop).
      type: str
      sample: restart
    reason:
      description: Why.
      type: str
      sample: config-hash label differs
restarted:
  description: Services that were restarted (or would be in check mode).
  returned: always
  type: list
  elements: str
  sample: [lgtm-loki.service]
daemon_reloaded:
  description: Whether C(systemctl daemon-reload) was run.
  returned: always
  type: bool
"""

import http.client
import json
import os
import ssl
import tempfile
from dataclasses import dataclass
from typing import Any

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_text
from ansible_collections.lgtm.stack.plugins.module_utils import quadlet, tls_client
from ansible_collections.lgtm.stack.plugins.module_utils.text_file import read_text

# Module-level so tests can point it at a temporary directory.
SYSTEMD_RUN_DIR = "/run/systemd/system"

ACTIVE_STATES = ("active", "activating", "reloading")
JOURNAL_LINES = 30
RELOAD_URL_TIMEOUT = 30
RELOAD_BODY_BYTES = 64 * 1024
USER_AGENT = "lgtm.stack-quadlet_reconcile/0.1"
STATE_FILE_MODE = 0o600


class ReconcileError(Exception):
    pass


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


class Reconciler:
    def __init__(self, module: AnsibleModule) -> None:
        self.module = module
        self.params = module.params
        self.systemctl = ""
        self.podman: str | None = None
        # Units of one service often share an image (GlitchTip's four); an ID found
        # stays valid for the run, a missing one is asked again (a start may pull it).
        self.image_ids: dict[str, str] = {}

    # -- commands -----------------------------------------------------------

    def run(self, args: list[str]) -> tuple[int, str, str]:
        rc, out, err = self.module.run_command(args)
        return rc, to_text(out), to_text(err)

    def run_ok(self, args: list[str], what: str) -> str:
        rc, out, err = self.run(args)
        if rc != 0:
            raise ReconcileError(f"{what} failed (rc={rc}): {(err or out).strip()}")
        return out

    def need_podman(self) -> str:
        if self.podman is None:
            self.podman = self.module.get_bin_path("podman")
            if not self.podman:
                raise ReconcileError("Podman is not installed: install podman >= 4.4")
        return self.podman

    # -- preflight ----------------------------------------------------------

    def preflight(self) -> None:
        if not os.path.isdir(SYSTEMD_RUN_DIR):
            raise ReconcileError(
                f"systemd is not running on this host (no {SYSTEMD_RUN_DIR}); "
                "quadlet units need systemd as init"
            )
        systemctl = self.module.get_bin_path("systemctl")
        if not systemctl:
            raise ReconcileError("systemctl was not found; quadlet units need systemd")
        self.systemctl = systemctl
        for unit in self.params["units"]:
            self.check_unit_options(unit)

    @staticmethod
    def check_unit_options(unit: dict[str, Any]) -> None:
        name = unit["name"]
        unit_type = quadlet.unit_type_of(name)
        reload_by = [key for key in ("reload_signal", "reload_url") if unit.get(key)]
        if unit.get("reload_on"):
            if unit_type != "container":
                raise ReconcileError(f"{name}: reload_on is only supported for .container units")
            if len(reload_by) != 1:
                raise ReconcileError(
                    f"{name}: reload_on needs exactly one of reload_signal or reload_url"
                )
        url = unit.get("reload_url")
        if url:
            try:
                tls_client.parse_url(url)
            except ValueError as exc:
                raise ReconcileError(f"{name}: reload_url: {exc}") from None
        server_name = unit.get("reload_server_name")
        if server_name is not None and not server_name.strip():
            raise ReconcileError(f"{name}: reload_server_name must not be empty")

    # -- observing ----------------------------------------------------------

    def systemd_is_stale(self) -> bool:
        """True when systemd has not loaded a wanted unit's current quadlet file.

        A run that wrote a unit file and died before daemon-reload leaves systemd
        with the old generated unit; the next run sees no file change, so only
        systemd's own view (NeedDaemonReload, or a unit it has never loaded) tells.
        """
        wanted = [quadlet.service_name(unit["name"]) for unit in self.params["units"]
                  if unit["state"] == "started"]
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
        # is-active exits non-zero for anything but active, so the text decides.
        _rc, out, _err = self.run([self.systemctl, "is-active", service])
        return out.strip() in ACTIVE_STATES

    def inspect_container(self, container: str) -> dict[str, Any] | None:
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

    def image_id(self, image: str | None) -> str | None:
        # References to .image/.build units are not image names podman can inspect.
        if not image or image.endswith((".image", ".build")):
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

    def reload_hashes(self, unit: dict[str, Any]) -> tuple[str | None, str | None]:
        if not unit.get("reload_on"):
            return None, None
        try:
            current = quadlet.hash_paths(unit["reload_on"])
        except quadlet.MissingPathError as exc:
            if not self.module.check_mode:
                raise ReconcileError(f"{unit['name']}: reload_on {exc}") from None
            # Probably a file a skipped check-mode task would have written.
            self.module.warn(f"{unit['name']}: reload_on {exc}")
            current = "missing"
        recorded = read_text(self.state_file(unit["name"]))
        return current, recorded.strip() if recorded is not None else None

    def observe(self, unit: dict[str, Any]) -> Observed:
        name = unit["name"]
        service = quadlet.service_name(name)
        desired = unit["state"]
        path = os.path.join(self.params["dir"], name)
        text = read_text(path)
        if text is None and desired == "started":
            if not self.module.check_mode:
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
        container = (
            unit.get("container_name")
            or quadlet.last_value(parsed, "Container", "ContainerName")
            or quadlet.default_container_name(name)
        )
        reload_current, reload_recorded = self.reload_hashes(unit)
        running_hash = running_image = None
        if active:
            info = self.inspect_container(container)
            if info is None:
                self.module.warn(
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
        self, unit: dict[str, Any], service: str, active: bool, parsed: dict[str, Any]
    ) -> Observed:
        name = unit["name"]
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
        journalctl = self.module.get_bin_path("journalctl")
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

    def reload(self, unit: dict[str, Any], observed: Observed) -> None:
        if unit.get("reload_signal"):
            self.run_ok(
                [
                    self.need_podman(),
                    "kill",
                    "--signal",
                    unit["reload_signal"],
                    observed.container or "",
                ],
                f"reloading {observed.service} with signal {unit['reload_signal']}",
            )
            return
        post_reload(
            unit["reload_url"],
            observed.service,
            ca_path=unit.get("reload_ca_path"),
            server_name=(unit.get("reload_server_name") or "").strip() or None,
        )

    def state_file(self, name: str) -> str:
        return os.path.join(self.params["state_dir"], f"{quadlet.unit_stem(name)}.reload-hash")

    def run_state_file(self, name: str) -> str:
        return os.path.join(self.params["state_dir"], f"{quadlet.unit_stem(name)}.run-hash")

    def record_reload_hash(self, name: str, value: str) -> None:
        self.write_state(self.state_file(name), value)

    def write_state(self, path: str, value: str) -> None:
        state_dir = self.params["state_dir"]
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

    def act(self, unit: dict[str, Any], observed: Observed, decision: quadlet.Decision) -> None:
        if decision.action in ("start", "restart", "stop"):
            self.systemctl_action(decision.action, observed.service)
        elif decision.action == "reload":
            self.reload(unit, observed)
        current = observed.state.reload_hash_current
        if decision.satisfies_reload and current is not None:
            self.record_reload_hash(unit["name"], current)
        if observed.state.oneshot and decision.action in ("start", "restart"):
            # systemctl returned, so the job succeeded. The image is resolved now, after
            # the run, because a first start may have pulled it.
            self.write_state(
                self.run_state_file(unit["name"]),
                quadlet.run_hash(observed.config_hash, self.image_id(observed.image)),
            )

    # -- driver -------------------------------------------------------------

    def reconcile(self, result: dict[str, Any]) -> None:
        self.preflight()
        if (self.params["daemon_reload"] or self.systemd_is_stale()) and not self.module.check_mode:
            self.run_ok([self.systemctl, "daemon-reload"], "systemctl daemon-reload")
            result["daemon_reloaded"] = True
        for unit in self.params["units"]:
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
            if not self.module.check_mode:
                self.act(unit, observed, decision)


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


def main() -> None:
    unit_spec = {
        "name": {"type": "str", "required": True},
        "state": {"type": "str", "choices": ["started", "stopped"], "default": "started"},
        "container_name": {"type": "str"},
        "reload_on": {"type": "list", "elements": "path"},
        "reload_signal": {"type": "str"},
        "reload_url": {"type": "str"},
        "reload_ca_path": {"type": "path"},
        "reload_server_name": {"type": "str"},
    }
    module = AnsibleModule(
        argument_spec={
            "units": {
                "type": "list",
                "elements": "dict",
                "required": True,
                "options": unit_spec,
                "mutually_exclusive": [("reload_signal", "reload_url")],
                "required_by": {
                    "reload_ca_path": "reload_url",
                    "reload_server_name": "reload_url",
                },
            },
            "dir": {"type": "path", "default": "/etc/containers/systemd"},
            "state_dir": {"type": "path", "default": "/var/lib/lgtm/.state"},
            "daemon_reload": {"type": "bool", "default": False},
        },
        supports_check_mode=True,
    )
    result: dict[str, Any] = {
        "changed": False,
        "actions": [],
        "restarted": [],
        "daemon_reloaded": False,
    }
    try:
        Reconciler(module).reconcile(result)
    except (ReconcileError, ValueError) as exc:
        module.fail_json(msg=str(exc), **result)
    except OSError as exc:
        module.fail_json(msg=to_text(exc), **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
