"""host_probe's main(): commands run in order, failures reported not raised, paths looked at."""

import pytest
from ansible_collections.lgtm.stack.plugins.modules import host_probe


@pytest.fixture
def bin_dir(tmp_path, monkeypatch):
    directory = tmp_path / "bin"
    directory.mkdir()
    for name, script in {
        "podman": "echo 'podman version 5.4.2'",
        "failing": "echo 'partial' ; echo 'df: /missing: No such file or directory' >&2 ; exit 1",
    }.items():
        path = directory / name
        path.write_text(f"#!/bin/sh\n{script}\n")
        path.chmod(0o755)
    monkeypatch.setenv("PATH", str(directory))
    return directory


def test_commands_in_order_and_paths(run_module, bin_dir, tmp_path):
    result = run_module(
        host_probe.main,
        commands=[["podman", "--version"], ["failing", 1], ["nowhere-to-be-found"]],
        paths=[str(bin_dir), str(bin_dir / "podman"), str(tmp_path / "missing")],
    )[0]
    assert result["changed"] is False
    podman, failing, missing = result["commands"]
    assert (podman["rc"], podman["stdout_lines"]) == (0, ["podman version 5.4.2"])
    assert podman["argv"] == ["podman", "--version"]
    assert failing["argv"] == ["failing", "1"]
    assert (failing["rc"], failing["stdout"]) == (1, "partial\n")
    assert "No such file or directory" in failing["stderr"]
    assert missing["rc"] == 127
    assert "nowhere-to-be-found: command not found" in missing["stderr"]
    paths = result["paths"]
    assert paths[str(bin_dir)] == {"exists": True, "isdir": True, "isfile": False, "islink": False}
    assert paths[str(bin_dir / "podman")]["isfile"] is True
    assert paths[str(tmp_path / "missing")]["exists"] is False


def test_check_mode_probes_the_same(run_module, bin_dir):
    result = run_module(host_probe.main, check=True, commands=[["podman", "--version"]])[0]
    assert result["changed"] is False
    assert result["commands"][0]["rc"] == 0


def test_nothing_asked_nothing_done(run_module):
    result = run_module(host_probe.main)[0]
    assert (result["commands"], result["paths"]) == ([], {})


def test_selinux_is_reported_only_when_asked(run_module, monkeypatch):
    monkeypatch.setattr(host_probe, "selinux_mode", lambda: "enforcing")
    monkeypatch.setattr(host_probe, "selinux_library", lambda: False)
    monkeypatch.setattr(host_probe, "container_policy", lambda: True)
    assert "selinux" not in run_module(host_probe.main)[0]
    result = run_module(host_probe.main, selinux=True)[0]
    assert result["selinux"] == {"mode": "enforcing", "library": False, "container_policy": True}


@pytest.mark.parametrize(
    ("content", "mode"), [("1\n", "enforcing"), ("0\n", "permissive"), (None, "disabled")]
)
def test_selinux_mode_comes_from_the_kernel_switch(tmp_path, content, mode):
    enforce = tmp_path / "enforce"
    if content is not None:
        enforce.write_text(content)
    assert host_probe.selinux_mode(str(enforce)) == mode


def test_this_machine_has_no_selinux_and_its_python_loads_or_lacks_the_library_honestly():
    # The machines these tests run on have no SELinux (see README): nothing enforces.
    assert host_probe.selinux_mode() == "disabled"
    try:
        import ctypes

        ctypes.CDLL("libselinux.so.1")
        loadable = True
    except OSError:
        loadable = False
    assert host_probe.selinux_library() is loadable


def store(tmp_path, kind, priority, disabled=False):
    modules = tmp_path / "store" / kind / "active" / "modules"
    (modules / priority / "container").mkdir(parents=True)
    if disabled:
        (modules / "disabled").mkdir()
        (modules / "disabled" / "container").write_text("")
    return str(tmp_path / "store")


def config(tmp_path, kind):
    path = tmp_path / "config"
    path.write_text(f"# comment\nSELINUX=enforcing\nSELINUXTYPE={kind}\n")
    return str(path)


def test_container_policy_found_in_the_store_of_the_host_s_policy(tmp_path):
    root = store(tmp_path, "targeted", "200")
    assert host_probe.container_policy(root, config(tmp_path, "targeted")) is True
    assert host_probe.container_policy(root, config(tmp_path, "mls")) is False
    assert host_probe.container_policy(root, str(tmp_path / "no-config")) is True
    nowhere = str(tmp_path / "nothing")
    assert host_probe.container_policy(nowhere, str(tmp_path / "no-config")) is False


def test_a_disabled_container_module_does_not_count(tmp_path):
    root = store(tmp_path, "targeted", "200", disabled=True)
    assert host_probe.container_policy(root, config(tmp_path, "targeted")) is False
