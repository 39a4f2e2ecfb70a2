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
