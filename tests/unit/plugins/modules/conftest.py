"""Modules run on managed hosts: keep them in module mode whatever else the session imported.

Importing controller code (filter plugins import ansible.errors) flips ansible-core's
process-wide `is_controller` switch, after which module warnings go to the controller's
display instead of the module result.
"""

import pytest
from ansible.module_utils import _internal


@pytest.fixture(autouse=True)
def module_side(monkeypatch):
    monkeypatch.setattr(_internal, "is_controller", False)


@pytest.fixture
def run_module(capsys):
    """Run a module's main() with these params; its JSON result and raw output.

    The exit code must match the result: 1 when it failed, 0 otherwise.
    """
    import json

    from ansible.module_utils.testing import patch_module_args

    def _run(main, check=False, diff=False, **params):
        args = dict(params)
        if check:
            args["_ansible_check_mode"] = True
        if diff:
            args["_ansible_diff"] = True
        with patch_module_args(args), pytest.raises(SystemExit) as exc:
            main()
        output = capsys.readouterr().out
        result = json.loads(output)
        assert exc.value.code == (1 if result.get("failed") else 0)
        return result, output

    return _run


@pytest.fixture
def fake_selinux(monkeypatch):
    """SELinux enabled, as AnsibleModule sees it: every directory has a context of its own.

    Returns the (path, inode, context) of each context set, so a test can tell that it
    was set on the inode that ends up at the destination.
    """
    import os

    from ansible.module_utils.basic import AnsibleModule

    calls = []

    def context(_module, path):
        return ["system_u", "object_r", "container_file_t", f"s0:{os.path.basename(path)}"]

    def set_context(_module, path, wanted, changed, diff=None):
        calls.append((path, os.stat(path).st_ino, wanted))
        return True

    monkeypatch.setattr(AnsibleModule, "selinux_enabled", lambda _module: True)
    monkeypatch.setattr(AnsibleModule, "selinux_context", context)
    monkeypatch.setattr(AnsibleModule, "set_context_if_different", set_context)
    return calls
