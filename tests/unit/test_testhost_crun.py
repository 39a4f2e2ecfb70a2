"""The test hosts' crun wrapper: crun gets a copy of the bundle's config without memory
limits, the bundle's own config.json (what Podman reads back) keeps them."""

import importlib.util
import json
from pathlib import Path
from types import ModuleType

import pytest

WRAPPER = Path(__file__).resolve().parents[2] / "tests/testhost/files/crun-test-host.py"
SPEC = {"ociVersion": "1.0.0", "process": {"args": ["alloy"]},
        "linux": {"resources": {"memory": {"limit": 1073741824, "swap": 2147483648},
                                "pids": {"limit": 0}}}}


@pytest.fixture
def wrapper() -> ModuleType:
    spec = importlib.util.spec_from_file_location("crun_test_host", WRAPPER)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def bundle(tmp_path: Path) -> Path:
    (tmp_path / "config.json").write_text(json.dumps(SPEC))
    return tmp_path


@pytest.mark.parametrize("verb", ["create", "run"])
@pytest.mark.parametrize("form", ["--bundle", "-b", "--bundle="])
def test_crun_gets_a_copy_without_memory_limits(wrapper, bundle, verb, form):
    where = [f"--bundle={bundle}"] if form == "--bundle=" else [form, str(bundle)]
    args = ["--root", "/run/crun", verb, *where, "--pid-file", "/p", "ctr"]
    rewritten = wrapper.rewrite(args)
    copy = bundle / "config.test-host.json"
    assert rewritten == ["--root", "/run/crun", verb, "--config", str(copy), *where,
                         "--pid-file", "/p", "ctr"]
    assert json.loads(copy.read_text())["linux"]["resources"] == {"pids": {"limit": 0}}
    assert json.loads((bundle / "config.json").read_text()) == SPEC, "Podman's copy keeps it"


@pytest.mark.parametrize("args", [["--root", "/r", "start", "ctr"], ["delete", "--force", "ctr"],
                                  ["features"], ["--version"]])
def test_other_commands_pass_through(wrapper, args):
    assert wrapper.rewrite(list(args)) == args
