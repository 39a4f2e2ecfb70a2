"""module_utils/reconcile.py called with plain parameters: no AnsibleModule, a fake Host.

quadlet_reconcile's own tests (tests/unit/plugins/modules/test_quadlet_reconcile.py) run
the same code through the module against fake executables; these check what a caller
without the module relies on: Settings and Unit from plain mappings with defaults, the
checks the module's argument spec used to do alone, the host paths from the Settings,
and the result filled in up to a failure.
"""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any

import pytest
from ansible_collections.lgtm.stack.plugins.module_utils import quadlet, reconcile

HASH = "a" * 64
OTHER_HASH = "b" * 64
IMAGE = "docker.io/grafana/loki:3.5.0"
IMAGE_ID = "1" * 64


class FakeHost:
    """Answers commands from a table keyed by the command line without its binary's path."""

    def __init__(self, check_mode: bool = False) -> None:
        self.check_mode = check_mode
        self.answers: dict[str, tuple[int, str, str]] = {}
        self.calls: list[str] = []
        self.warnings: list[str] = []
        self.binaries = {"systemctl", "podman", "journalctl"}

    def get_bin_path(self, arg: str) -> str | None:
        return f"/fake/bin/{arg}" if arg in self.binaries else None

    def run_command(self, args: list[str]) -> tuple[int, Any, Any]:
        line = " ".join([Path(args[0]).name, *args[1:]])
        self.calls.append(line)
        if line in self.answers:
            return self.answers[line]
        if line.startswith("systemctl is-active"):
            return 3, "inactive\n", ""
        if line.startswith("systemctl show"):
            return 0, "LoadState=loaded\nNeedDaemonReload=no\n", ""
        # bytes, as AnsibleModule may return them: the Reconciler turns them into text.
        return 0, b"", b""

    def warn(self, warning: str) -> None:
        self.warnings.append(warning)

    def running(self, name: str, container: str, config_hash: str = HASH) -> None:
        self.answers[f"systemctl is-active {quadlet.service_name(name)}"] = (0, "active\n", "")
        labels = {quadlet.CONFIG_HASH_LABEL: config_hash}
        inspect = [{"Image": IMAGE_ID, "Config": {"Labels": labels}}]
        self.answers[f"podman container inspect --format json {container}"] = (
            0, json.dumps(inspect), "")
        self.answers[f"podman image inspect --format {{{{.Id}}}} {IMAGE}"] = (0, IMAGE_ID, "")

    def mutating(self) -> list[str]:
        verbs = ("systemctl start", "systemctl restart", "systemctl stop",
                 "systemctl daemon-reload", "podman kill")
        return [call for call in self.calls if call.startswith(verbs)]


@pytest.fixture
def paths(tmp_path: Path) -> dict[str, Path]:
    found = {name: tmp_path / name for name in ("units", "state", "run")}
    found["units"].mkdir()
    found["run"].mkdir()
    return found


def write_unit(units: Path, name: str, config_hash: str = HASH) -> None:
    sections = quadlet.with_config_hash_label({"Container": {"Image": IMAGE}}, config_hash)
    (units / name).write_text(quadlet.render_unit(sections, "test"))


def settings(paths: dict[str, Path], units: list[dict[str, Any]], **options: Any):
    return reconcile.Settings.from_params(
        {"units": units, "dir": str(paths["units"]), "state_dir": str(paths["state"]), **options},
        systemd_run_dir=str(paths["run"]),
    )


def run(host: FakeHost, config: reconcile.Settings) -> dict[str, Any]:
    result = reconcile.new_result()
    reconcile.Reconciler(host, config).reconcile(result)
    return result


# --------------------------------------------------------------------------- parameters


def test_units_and_settings_from_plain_mappings_take_the_defaults() -> None:
    config = reconcile.Settings.from_params({"units": [{"name": "lgtm-loki.container"}]})
    assert config == reconcile.Settings(
        units=(reconcile.Unit("lgtm-loki.container"),),
        unit_dir="/etc/containers/systemd",
        state_dir="/var/lib/lgtm/.state",
        daemon_reload=False,
        systemd_run_dir="/run/systemd/system",
    )
    # As AnsibleModule gives them: every option present, None where not set.
    unit = reconcile.Unit.from_params(
        {"name": "lgtm-prometheus.container", "state": None, "container_name": None,
         "reload_on": ["/etc/lgtm/prometheus/rules"], "reload_signal": None,
         "reload_url": "http://127.0.0.1:9090/-/reload", "reload_ca_path": None,
         "reload_server_name": None})
    assert unit.state == "started"
    assert unit.reload_on == ("/etc/lgtm/prometheus/rules",)


def test_unknown_unit_option_is_refused_by_name() -> None:
    expected = r"lgtm-loki.container: unknown option\(s\) reload"
    with pytest.raises(reconcile.ReconcileError, match=expected):
        reconcile.Unit.from_params({"name": "lgtm-loki.container", "reload": "HUP"})


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"state": "running"}, "state must be started or stopped, got 'running'"),
        ({"reload_on": ["/x"], "reload_signal": "HUP", "reload_url": "http://127.0.0.1:1/"},
         "reload_on needs exactly one of reload_signal or reload_url"),
        ({"reload_signal": "HUP", "reload_url": "http://127.0.0.1:1/"},
         "reload_signal and reload_url are mutually exclusive"),
        ({"reload_signal": "HUP", "reload_ca_path": "/ca.crt"},
         "reload_ca_path requires reload_url"),
        ({"reload_server_name": "stack.example"}, "reload_server_name requires reload_url"),
        ({"reload_url": "ftp://127.0.0.1/"}, "reload_url: url scheme must be http or https, got 'ftp://127.0.0.1/'"),
    ],
)
def test_contradicting_options_fail_before_any_command(
    paths: dict[str, Path], options: dict[str, Any], message: str
) -> None:
    host = FakeHost()
    config = settings(paths, [{"name": "lgtm-prometheus.container", **options}])
    with pytest.raises(reconcile.ReconcileError) as failure:
        run(host, config)
    assert str(failure.value) == f"lgtm-prometheus.container: {message}"
    assert host.calls == []


def test_systemd_run_dir_comes_from_the_settings(paths: dict[str, Path]) -> None:
    paths["run"].rmdir()
    with pytest.raises(reconcile.ReconcileError, match=f"no {paths['run']}"):
        run(FakeHost(), settings(paths, [{"name": "lgtm-loki.container"}]))


# --------------------------------------------------------------------------- reconciling


def test_units_are_started_restarted_and_left_alone(paths: dict[str, Path]) -> None:
    host = FakeHost()
    for name in ("lgtm-loki", "lgtm-tempo", "lgtm-mimir"):
        write_unit(paths["units"], f"{name}.container")
    host.running("lgtm-tempo.container", "systemd-lgtm-tempo", config_hash=OTHER_HASH)
    host.running("lgtm-mimir.container", "systemd-lgtm-mimir")
    names = ["lgtm-loki.container", "lgtm-tempo.container", "lgtm-mimir.container"]
    result = run(host, settings(paths, [{"name": name} for name in names]))
    assert [(a["name"], a["action"]) for a in result["actions"]] == [
        ("lgtm-loki.container", "start"),
        ("lgtm-tempo.container", "restart"),
        ("lgtm-mimir.container", "none"),
    ]
    assert result["changed"] is True
    assert result["restarted"] == ["lgtm-tempo.service"]
    assert host.mutating() == ["systemctl start lgtm-loki.service",
                               "systemctl restart lgtm-tempo.service"]


def test_a_failure_leaves_the_result_of_the_units_before_it(paths: dict[str, Path]) -> None:
    host = FakeHost()
    write_unit(paths["units"], "lgtm-loki.container")
    host.answers["systemctl start lgtm-loki.service"] = (1, "", "Job failed")
    units = [{"name": "lgtm.network"}, {"name": "lgtm-loki.container"}]
    (paths["units"] / "lgtm.network").write_text("[Network]\n")
    result = reconcile.new_result()
    with pytest.raises(reconcile.ReconcileError, match="systemctl start lgtm-loki.service failed"):
        reconcile.Reconciler(host, settings(paths, units)).reconcile(result)
    assert [a["action"] for a in result["actions"]] == ["start", "start"]
    assert host.mutating() == ["systemctl start lgtm-network.service",
                               "systemctl start lgtm-loki.service"]


def test_reload_hash_goes_to_the_settings_state_dir(paths: dict[str, Path]) -> None:
    host = FakeHost()
    rules = paths["units"].parent / "rules.yml"
    rules.write_text("groups: []\n")
    write_unit(paths["units"], "lgtm-prometheus.container")
    host.running("lgtm-prometheus.container", "systemd-lgtm-prometheus")
    units = [{"name": "lgtm-prometheus.container", "reload_on": [str(rules)],
              "reload_signal": "HUP"}]
    result = run(host, settings(paths, units))
    assert result["actions"][0]["action"] == "reload"
    assert host.mutating() == ["podman kill --signal HUP systemd-lgtm-prometheus"]
    state_file = paths["state"] / "lgtm-prometheus.reload-hash"
    assert state_file.read_text() == quadlet.hash_paths([str(rules)]) + "\n"
    assert stat.S_IMODE(state_file.stat().st_mode) == 0o600
    host.calls.clear()
    assert run(host, settings(paths, units))["changed"] is False
    assert host.mutating() == []


def test_check_mode_warns_through_the_host_and_changes_nothing(paths: dict[str, Path]) -> None:
    host = FakeHost(check_mode=True)
    write_unit(paths["units"], "lgtm-prometheus.container")
    host.running("lgtm-prometheus.container", "systemd-lgtm-prometheus")
    missing = str(paths["units"].parent / "not-written-yet.yml")
    units = [{"name": "lgtm-prometheus.container", "reload_on": [missing],
              "reload_signal": "HUP"}, {"name": "lgtm-loki.container"}]
    result = run(host, settings(paths, units, daemon_reload=True))
    assert [a["action"] for a in result["actions"]] == ["reload", "start"]
    assert result["daemon_reloaded"] is False
    assert host.mutating() == []
    assert len(host.warnings) == 1 and missing in host.warnings[0]
    assert not paths["state"].exists()


def test_daemon_reload_when_asked(paths: dict[str, Path]) -> None:
    host = FakeHost()
    write_unit(paths["units"], "lgtm-loki.container")
    host.running("lgtm-loki.container", "systemd-lgtm-loki")
    result = run(host, settings(paths, [{"name": "lgtm-loki.container"}], daemon_reload=True))
    assert result == {"changed": False, "daemon_reloaded": True, "restarted": [],
                      "actions": [{"name": "lgtm-loki.container", "service": "lgtm-loki.service",
                                   "action": "none", "reason": result["actions"][0]["reason"]}]}
    assert host.mutating() == ["systemctl daemon-reload"]


# --------------------------------------------------------------------------- prefetch

NAMES = ["lgtm-glitchtip-postgres.container", "lgtm-glitchtip-web.container",
         "lgtm-glitchtip-worker.container"]
CONTAINERS = [f"systemd-{name.removesuffix('.container')}" for name in NAMES]
BATCH = f"podman inspect --format json {' '.join(CONTAINERS)} {IMAGE}"


def container(name: str, config_hash: str = HASH) -> dict[str, Any]:
    return {"Name": name, "ImageName": IMAGE, "Image": IMAGE_ID,
            "Config": {"Labels": {quadlet.CONFIG_HASH_LABEL: config_hash}}}


def all_running(host: FakeHost, paths: dict[str, Path], hashes: list[str] | None = None) -> None:
    for name in NAMES:
        write_unit(paths["units"], name)
    services = [quadlet.service_name(name) for name in NAMES]
    host.answers[f"systemctl is-active {' '.join(services)}"] = (
        0, "active\n" * len(NAMES), "")
    found = [container(name, config_hash)
             for name, config_hash in zip(CONTAINERS, hashes or [HASH] * len(NAMES), strict=True)]
    host.answers[BATCH] = (0, json.dumps([*found, {"Id": IMAGE_ID, "RepoTags": [IMAGE]}]), "")


def test_an_unchanged_service_is_observed_in_two_calls(paths: dict[str, Path]) -> None:
    host = FakeHost()
    all_running(host, paths)
    result = run(host, settings(paths, [{"name": name} for name in NAMES]))
    assert [a["action"] for a in result["actions"]] == ["none"] * 3
    observing = [call for call in host.calls if not call.startswith("systemctl show")]
    assert observing == [f"systemctl is-active {' '.join(quadlet.service_name(n) for n in NAMES)}",
                         BATCH]


def test_after_an_action_the_next_units_are_asked_alone(paths: dict[str, Path]) -> None:
    """A restart may change what the later units would observe: no stale answer is used."""
    host = FakeHost()
    all_running(host, paths, hashes=[OTHER_HASH, HASH, HASH])
    for name, container_name in zip(NAMES[1:], CONTAINERS[1:], strict=True):
        host.running(name, container_name)
    result = run(host, settings(paths, [{"name": name} for name in NAMES]))
    assert [a["action"] for a in result["actions"]] == ["restart", "none", "none"]
    after = host.calls[host.calls.index("systemctl restart lgtm-glitchtip-postgres.service"):]
    assert "systemctl is-active lgtm-glitchtip-web.service" in after
    assert f"podman container inspect --format json {CONTAINERS[1]}" in after


@pytest.mark.parametrize("answer", [
    # An object missing: podman answers the others and fails.
    (125, json.dumps([container(CONTAINERS[0])]), "Error: no such object"),
    # A volume of the container's name (quadlet's systemd-<stem>), not the container.
    (0, json.dumps([{"Name": CONTAINERS[0], "Driver": "local"},
                    *(container(name) for name in CONTAINERS[1:]),
                    {"Id": IMAGE_ID, "RepoTags": [IMAGE]}]), ""),
    (0, "not json", ""),
])
def test_an_incomplete_batch_falls_back_to_one_call_per_unit(
        paths: dict[str, Path], answer: tuple[int, str, str]) -> None:
    host = FakeHost()
    all_running(host, paths)
    host.answers[BATCH] = answer
    for name, container_name in zip(NAMES, CONTAINERS, strict=True):
        host.running(name, container_name)
    result = run(host, settings(paths, [{"name": name} for name in NAMES]))
    assert [a["action"] for a in result["actions"]] == ["none"] * 3
    for container_name in CONTAINERS:
        assert f"podman container inspect --format json {container_name}" in host.calls


def test_an_is_active_answer_of_the_wrong_length_is_not_used(paths: dict[str, Path]) -> None:
    host = FakeHost()
    all_running(host, paths)
    services = " ".join(quadlet.service_name(name) for name in NAMES)
    host.answers[f"systemctl is-active {services}"] = (0, "active\n", "")
    run(host, settings(paths, [{"name": name} for name in NAMES]))
    assert BATCH not in host.calls
    assert "systemctl is-active lgtm-glitchtip-web.service" in host.calls
