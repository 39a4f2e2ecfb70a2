"""End-to-end tests of quadlet_unit's main() against fake podman and quadlet executables."""

import grp
import json
import os
import pwd
import shlex
import stat

import pytest
from ansible.module_utils.testing import patch_module_args
from ansible_collections.lgtm.stack.plugins.module_utils import quadlet
from ansible_collections.lgtm.stack.plugins.modules import quadlet_unit

LOKI = {
    "Unit": {"Description": "Grafana Loki"},
    "Container": {
        "Image": "docker.io/grafana/loki:3.5.0",
        "ContainerName": "lgtm-loki",
        "Network": "lgtm.network",
        "PublishPort": ["127.0.0.1:3100:3100"],
        "Label": ["org.example.stack=lgtm"],
    },
    "Service": {"Restart": "always"},
    "Install": {"WantedBy": "multi-user.target"},
}

# The fake quadlet prints a dryrun header for every unit it finds, like the real one, and
# logs the files it saw so tests can check the siblings were copied.
QUADLET_SCRIPT = """#!/bin/sh
printf 'quadlet %s QUADLET_UNIT_DIRS=%s\\n' "$*" "$QUADLET_UNIT_DIRS" >> {log}
if [ -n "$FAKE_QUADLET_FAIL" ]; then
    printf '%s\\n' "$FAKE_QUADLET_FAIL" >&2
    exit 1
fi
for f in "$QUADLET_UNIT_DIRS"/*; do
    name=${{f##*/}}
    printf 'saw %s\\n' "$name" >> {log}
    case "$name" in
        *.container)
            [ -n "$FAKE_QUADLET_SKIP" ] || printf -- '---%s.service---\\n' "${{name%.container}}" ;;
        *.network) printf -- '---%s-network.service---\\n' "${{name%.network}}" ;;
        *.volume) printf -- '---%s-volume.service---\\n' "${{name%.volume}}" ;;
    esac
    printf '[Service]\\nExecStart=/usr/bin/podman run\\n\\n'
done
exit 0
"""


def write_executable(path, text):
    path.write_text(text)
    path.chmod(0o755)


def write_podman(bin_dir, log, version_output="podman version 5.4.2"):
    write_executable(
        bin_dir / "podman",
        "#!/bin/sh\n"
        f"printf 'podman %s\\n' \"$*\" >> {shlex.quote(str(log))}\n"
        f'[ "$1" = "--version" ] && printf \'%s\\n\' {shlex.quote(version_output)}\n'
        "exit 0\n",
    )


@pytest.fixture
def env(tmp_path, monkeypatch):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "calls.log"
    log.touch()
    write_podman(bin_dir, log)
    write_executable(bin_dir / "quadlet", QUADLET_SCRIPT.format(log=shlex.quote(str(log))))
    run_dir = tmp_path / "run-systemd-system"
    run_dir.mkdir()
    # Only the fakes: a real podman on the machine must not leak into the tests.
    monkeypatch.setenv("PATH", str(bin_dir))
    monkeypatch.delenv("FAKE_QUADLET_FAIL", raising=False)
    monkeypatch.delenv("FAKE_QUADLET_SKIP", raising=False)
    monkeypatch.setattr(quadlet_unit, "SYSTEMD_RUN_DIR", str(run_dir))
    units = tmp_path / "units"
    units.mkdir()

    class Env:
        pass

    e = Env()
    e.tmp, e.bin, e.log, e.units, e.run_dir = tmp_path, bin_dir, log, units, run_dir
    e.calls = lambda: log.read_text().splitlines()
    return e


@pytest.fixture
def run(env, capsys):
    def _run(check=False, diff=False, **params):
        args = {"dir": str(env.units), "quadlet_binary": str(env.bin / "quadlet"), **params}
        if check:
            args["_ansible_check_mode"] = True
        if diff:
            args["_ansible_diff"] = True
        with patch_module_args(args), pytest.raises(SystemExit) as exc:
            quadlet_unit.main()
        result = json.loads(capsys.readouterr().out)
        assert exc.value.code == (1 if result.get("failed") else 0)
        return result

    return _run


def loki(**extra):
    return {"name": "lgtm-loki.container", "sections": LOKI, **extra}


def test_writes_file_and_reports_changed(env, run):
    (env.units / "lgtm.network").write_text("[Network]\n")
    result = run(**loki())
    path = env.units / "lgtm-loki.container"
    assert result["changed"] is True
    assert result["path"] == str(path)
    assert result["service"] == "lgtm-loki.service"
    assert result["podman_version"] == "5.4.2"
    text = path.read_text()
    assert text == result["content"]
    assert text.startswith("# Managed by Ansible")
    assert f"Label=lgtm.stack.config-hash={result['config_hash']}\n" in text
    assert text.index("Label=org.example.stack=lgtm") < text.index("Label=lgtm.stack.config-hash")
    st = path.stat()
    assert stat.S_IMODE(st.st_mode) == 0o644
    assert (pwd.getpwuid(st.st_uid).pw_name, grp.getgrgid(st.st_gid).gr_name) == ("root", "root")
    calls = env.calls()
    assert "podman --version" in calls
    dryrun = [c for c in calls if c.startswith("quadlet -dryrun QUADLET_UNIT_DIRS=")]
    assert len(dryrun) == 1
    assert not dryrun[0].endswith("=" + str(env.units))  # a temporary copy, not the real dir
    assert "saw lgtm.network" in calls and "saw lgtm-loki.container" in calls
    assert not [p for p in os.listdir(env.units) if p.startswith(".")]  # no temp file left


def test_second_identical_call_is_unchanged(env, run):
    first = run(**loki())
    env.log.write_text("")
    second = run(**loki())
    assert second["changed"] is False
    assert second["config_hash"] == first["config_hash"]
    assert not [c for c in env.calls() if c.startswith("quadlet")]  # no validation needed


def test_check_mode_does_not_write(env, run):
    result = run(check=True, **loki())
    assert result["changed"] is True
    assert not (env.units / "lgtm-loki.container").exists()
    assert [c for c in env.calls() if c.startswith("quadlet -dryrun")]  # still validated


def test_check_mode_without_podman_warns(env, run):
    (env.bin / "podman").unlink()
    result = run(check=True, **loki())
    assert result["changed"] is True
    assert "podman" in json.dumps(result["warnings"]).lower()
    assert not (env.units / "lgtm-loki.container").exists()


def test_diff_mode(env, run):
    first = run(diff=True, **loki())
    assert first["diff"]["before"] == ""
    assert first["diff"]["after"] == first["content"]
    sections = {**LOKI, "Service": {"Restart": "on-failure"}}
    second = run(diff=True, name="lgtm-loki.container", sections=sections)
    assert "Restart=always" in second["diff"]["before"]
    assert "Restart=on-failure" in second["diff"]["after"]
    assert second["config_hash"] != first["config_hash"]  # unit edits change the hash too


def test_quadlet_rejection_keeps_good_file(env, run, monkeypatch):
    good = run(**loki())
    path = env.units / "lgtm-loki.container"
    monkeypatch.setenv(
        "FAKE_QUADLET_FAIL", 'converting "lgtm-loki.container": unsupported key "Bogus"'
    )
    sections = {**LOKI, "Container": {**LOKI["Container"], "Bogus": "1"}}
    result = run(name="lgtm-loki.container", sections=sections)
    assert result["failed"] is True
    assert "quadlet rejected lgtm-loki.container" in result["msg"]
    assert 'unsupported key "Bogus"' in result["msg"]
    assert path.read_text() == good["content"]


def test_quadlet_output_without_the_service_fails(env, run, monkeypatch):
    monkeypatch.setenv("FAKE_QUADLET_SKIP", "1")
    result = run(**loki())
    assert result["failed"] is True
    assert "did not generate lgtm-loki.service" in result["msg"]
    assert not (env.units / "lgtm-loki.container").exists()


def test_validate_false_skips_quadlet(env, run, monkeypatch):
    monkeypatch.setenv("FAKE_QUADLET_FAIL", "should not run")
    result = run(validate=False, **loki())
    assert result["changed"] is True
    assert not [c for c in env.calls() if c.startswith("quadlet")]


def test_missing_podman_is_a_clear_failure(env, run):
    (env.bin / "podman").unlink()
    result = run(**loki())
    assert result["failed"] is True
    assert result["msg"] == "Podman is not installed: install podman >= 4.4"


def test_unparsable_podman_version(env, run):
    write_podman(env.bin, env.log, version_output="something odd")
    result = run(**loki())
    assert result["failed"] is True
    assert "cannot parse Podman version" in result["msg"]


def test_no_systemd_is_a_clear_failure(env, run):
    env.run_dir.rmdir()
    result = run(**loki())
    assert result["failed"] is True
    assert result["msg"] == (
        f"systemd is not running on this host (no {env.run_dir}); "
        "quadlet units need systemd as init"
    )


def test_missing_quadlet_binary(env, run):
    result = run(**loki(quadlet_binary=str(env.tmp / "nowhere" / "quadlet")))
    assert result["failed"] is True
    assert "quadlet generator was not found" in result["msg"]


def test_old_podman_with_network_alias(env, run):
    write_podman(env.bin, env.log, version_output="podman version 4.9.3")
    sections = {
        **LOKI,
        "Container": {**LOKI["Container"], "NetworkAlias": "loki", "HealthCmd": "true"},
    }
    result = run(name="lgtm-loki.container", sections=sections)
    assert result["failed"] is True
    assert result["msg"] == (
        "lgtm-loki.container uses NetworkAlias, which needs Podman >= 5.2 (host has 4.9.3)"
    )
    assert not (env.units / "lgtm-loki.container").exists()


def test_min_podman(env, run):
    write_podman(env.bin, env.log, version_output="podman version 4.9.3")
    result = run(min_podman="5.0", **loki())
    assert result["failed"] is True
    assert result["msg"] == "lgtm-loki.container requires Podman >= 5.0 (host has 4.9.3)"
    assert run(min_podman="4.9", **loki())["changed"] is True


def test_restart_on_hash_follows_config(env, run):
    conf = env.tmp / "loki"
    conf.mkdir()
    (conf / "config.yaml").write_text("a: 1\n")
    first = run(restart_on=[str(conf)], **loki())
    assert run(restart_on=[str(conf)], **loki())["changed"] is False
    (conf / "config.yaml").write_text("a: 2\n")
    second = run(restart_on=[str(conf)], **loki())
    assert second["changed"] is True
    assert second["config_hash"] != first["config_hash"]
    third = run(restart_on=[str(conf)], restart_on_extra=["secret-sha"], **loki())
    assert third["config_hash"] != second["config_hash"]
    parsed = quadlet.parse_unit((env.units / "lgtm-loki.container").read_text())
    assert quadlet.labels_of(parsed)[quadlet.CONFIG_HASH_LABEL] == third["config_hash"]


def test_a_change_of_the_hash_label_alone_is_not_dry_run_again(env, run):
    conf = env.tmp / "loki.yaml"
    conf.write_text("a: 1\n")
    run(restart_on=[str(conf)], **loki())
    env.log.write_text("")
    # The pre-flight call knows no config files: only its label differs from the file.
    preflight = run(check=True, **loki())
    assert preflight["changed"] is True
    conf.write_text("a: 2\n")
    assert run(restart_on=[str(conf)], **loki())["changed"] is True
    assert not [c for c in env.calls() if c.startswith("quadlet")]
    # Any other change is dry-run as before.
    changed_image = {
        **LOKI,
        "Container": {**LOKI["Container"], "Image": "docker.io/grafana/loki:3.6.0"},
    }
    run(check=True, name="lgtm-loki.container", sections=changed_image)
    assert [c for c in env.calls() if c.startswith("quadlet -dryrun")]


def test_restart_on_missing_path(env, run):
    result = run(restart_on=[str(env.tmp / "missing.yaml")], **loki())
    assert result["failed"] is True
    assert "missing.yaml" in result["msg"]


def test_restart_on_only_for_containers(env, run):
    result = run(name="lgtm.network", sections={"Network": {}}, restart_on=[str(env.tmp)])
    assert result["failed"] is True
    assert "only supported for .container units" in result["msg"]


def test_network_unit_has_no_hash(env, run):
    result = run(name="lgtm.network", sections={"Network": {"NetworkName": "lgtm"}})
    assert result["changed"] is True
    assert result["service"] == "lgtm-network.service"
    assert "config_hash" not in result
    assert "lgtm.stack.config-hash" not in (env.units / "lgtm.network").read_text()


def test_wrong_mode_is_fixed(env, run):
    run(**loki())
    path = env.units / "lgtm-loki.container"
    path.chmod(0o600)
    result = run(**loki())
    assert result["changed"] is True
    assert stat.S_IMODE(path.stat().st_mode) == 0o644


def test_dir_is_created(env, run):
    target = env.tmp / "new" / "systemd"
    result = run(**loki(dir=str(target)))
    assert result["changed"] is True
    assert (target / "lgtm-loki.container").is_file()


def test_absent(env, run):
    run(**loki())
    path = env.units / "lgtm-loki.container"
    checked = run(check=True, name="lgtm-loki.container", state="absent")
    assert checked["changed"] is True and path.exists()
    removed = run(diff=True, name="lgtm-loki.container", state="absent")
    assert removed["changed"] is True
    assert removed["diff"]["after"] == ""
    assert not path.exists()
    assert run(name="lgtm-loki.container", state="absent")["changed"] is False


@pytest.mark.parametrize(
    "name", ["lgtm-loki", "lgtm-loki.service", "../evil.container", "x/y.network", "a.image"]
)
def test_bad_names(run, name):
    result = run(name=name, sections={"Container": {"Image": "x"}})
    assert result["failed"] is True


def test_newline_in_value(run):
    result = run(name="lgtm-loki.container", sections={"Container": {"Exec": "a\nb"}})
    assert result["failed"] is True
    assert "Container.Exec" in result["msg"]


def test_sections_required_when_present(run):
    result = run(name="lgtm-loki.container")
    assert result["failed"] is True
    assert "sections" in result["msg"]


NETWORK = {"name": "lgtm.network", "sections": {"Network": {"NetworkName": "lgtm"}}}


def test_units_in_one_call_are_dry_run_together(env, run):
    result = run(units=[NETWORK, loki()])
    assert result["changed"] is True
    assert result["podman_version"] == "5.4.2"
    assert [unit["service"] for unit in result["units"]] == [
        "lgtm-network.service",
        "lgtm-loki.service",
    ]
    assert all(unit["changed"] for unit in result["units"])
    for unit in result["units"]:
        assert (env.units / os.path.basename(unit["path"])).read_text() == unit["content"]
    calls = env.calls()
    # The host is asked once and quadlet runs once, seeing both new texts.
    assert calls.count("podman --version") == 1
    assert len([c for c in calls if c.startswith("quadlet -dryrun")]) == 1
    assert "saw lgtm.network" in calls and "saw lgtm-loki.container" in calls

    env.log.write_text("")
    again = run(units=[NETWORK, loki()])
    assert again["changed"] is False
    assert not any(unit["changed"] for unit in again["units"])
    assert not [c for c in env.calls() if c.startswith("quadlet")]


def test_one_rejected_unit_leaves_every_file_alone(env, run, monkeypatch):
    run(units=[NETWORK, loki()])
    before = {path.name: path.read_text() for path in env.units.iterdir()}
    monkeypatch.setenv("FAKE_QUADLET_FAIL", 'converting "lgtm-loki.container": bad key')
    renamed = {**NETWORK, "sections": {"Network": {"NetworkName": "other"}}}
    broken = loki(sections={**LOKI, "Container": {**LOKI["Container"], "Bogus": "1"}})
    result = run(units=[renamed, broken])
    assert result["failed"] is True
    assert "quadlet rejected lgtm.network, lgtm-loki.container" in result["msg"]
    assert {path.name: path.read_text() for path in env.units.iterdir()} == before


def test_a_unit_quadlet_does_not_generate_is_named(env, run, monkeypatch):
    monkeypatch.setenv("FAKE_QUADLET_SKIP", "1")  # .container units generate nothing
    result = run(units=[NETWORK, loki()])
    assert result["failed"] is True
    assert "did not generate lgtm-loki.service from lgtm-loki.container" in result["msg"]
    assert list(env.units.iterdir()) == []


def test_units_mix_present_and_absent_with_a_diff_each(env, run):
    run(units=[NETWORK, loki()])
    result = run(diff=True, units=[{"name": "lgtm.network", "state": "absent"},
                                   loki(restart_on_extra=["new-secret-sha"])])
    assert [unit["changed"] for unit in result["units"]] == [True, True]
    assert not (env.units / "lgtm.network").exists()
    assert [diff["after_header"] for diff in result["diff"]] == [
        str(env.units / "lgtm.network"),
        str(env.units / "lgtm-loki.container"),
    ]
    assert result["diff"][0]["after"] == ""


def test_units_in_check_mode_write_nothing(env, run):
    result = run(check=True, units=[NETWORK, loki()])
    assert result["changed"] is True
    assert list(env.units.iterdir()) == []


@pytest.mark.parametrize(
    ("units", "message"),
    [
        ([NETWORK, NETWORK], "units: lgtm.network given more than once"),
        ([{"name": "lgtm-loki.container"}], "lgtm-loki.container: sections is required"),
        ([{"name": "lgtm-loki.service", "state": "absent"}], "lgtm-loki.service"),
    ],
)
def test_bad_units_fail_before_any_change(env, run, units, message):
    result = run(units=units)
    assert result["failed"] is True
    assert message in result["msg"]
    assert list(env.units.iterdir()) == []
    assert env.calls() == []


def test_name_and_units_are_exclusive(run):
    result = run(units=[NETWORK], **loki())
    assert result["failed"] is True
    assert "mutually exclusive" in result["msg"]


def test_plan_and_dry_run_write_nothing_until_write_units(env):
    """The steps the service module runs apart (module_utils.quadlet_units): planning and the
    dry run leave the unit directory alone; only write_units writes what was planned."""
    from ansible.module_utils.basic import AnsibleModule
    from ansible_collections.lgtm.stack.plugins.module_utils import quadlet_units

    with patch_module_args({}):
        module = AnsibleModule(argument_spec={}, supports_check_mode=True)
    settings = quadlet_units.Settings(
        unit_dir=str(env.units), quadlet_binary=str(env.bin / "quadlet"),
        systemd_run_dir=str(env.run_dir),
    )
    units = [{"name": "lgtm-loki.container", "sections": LOKI, "state": "present"}]
    plan = quadlet_units.plan_units(module, settings, units)
    assert plan.dry_run and list(plan.new_texts) == ["lgtm-loki.container"]
    assert plan.version == (5, 4, 2)
    assert os.listdir(env.units) == []
    assert not [c for c in env.calls() if c.startswith("quadlet")]
    quadlet_units.dry_run_units(module, settings, units, plan)
    assert os.listdir(env.units) == []
    assert len([c for c in env.calls() if c.startswith("quadlet -dryrun")]) == 1
    results = quadlet_units.write_units(module, settings, units, plan)
    assert results[0]["changed"] is True
    assert (env.units / "lgtm-loki.container").read_text() == plan.new_texts["lgtm-loki.container"]
