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
