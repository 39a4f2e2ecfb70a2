"""lgtm.stack.quadlet_entries: the core's options with its defaults, the same entries the
Jinja loops it replaced built (hosts converged before see the same module arguments)."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.lgtm.stack.plugins.filter.quadlet_entries import quadlet_entries


def test_directories_take_the_owner_as_group_and_strings() -> None:
    entries = quadlet_entries(
        [{"path": "/d", "owner": 10001}, {"path": "/e", "owner": 0, "group": 5, "mode": "0750",
                                          "recurse": "yes", "prune": "*.tmp"},
         {"path": "/f", "prune": ""}],
        "directories")
    assert entries == [
        {"path": "/d", "owner": "10001", "group": "10001", "mode": "0755", "recurse": False},
        {"path": "/e", "owner": "0", "group": "5", "mode": "0750", "recurse": True,
         "prune": "*.tmp"},
        {"path": "/f", "owner": "root", "group": "root", "mode": "0755", "recurse": False},
    ]


def test_secrets_leave_an_empty_value_out_and_keep_unit_and_postgres() -> None:
    postgres = {"container": "pg", "user": "glitchtip"}
    entries = quadlet_entries(
        [{"path": "/s1", "value": "", "owner": 472},
         {"path": "/s2", "value": "hunter22", "length": "48", "unit": "a.container",
          "postgres": postgres},
         {"path": "/s3", "length": "many"}],
        "secrets")
    assert entries == [
        {"path": "/s1", "length": 32, "owner": "472", "group": "472", "mode": "0600"},
        {"path": "/s2", "length": 48, "owner": "root", "group": "root", "mode": "0600",
         "value": "hunter22", "unit": "a.container", "postgres": postgres},
        # As Ansible's int filter: not a number is 0, which the module refuses by name.
        {"path": "/s3", "length": 0, "owner": "root", "group": "root", "mode": "0600"},
    ]


def test_a_secret_file_passes_its_content_as_secret_content() -> None:
    fill = [{"placeholder": "@P@", "secret": "/s1"}]
    entries = quadlet_entries(
        [{"dest": "/a.yaml", "content": "a: 1\n", "validate": "check %s", "action": "reload"},
         {"dest": "/env", "content": "P=@P@\n", "secret": True, "fill": fill, "unit": "x.container",
          "owner": 1000, "mode": "0600"}],
        "files")
    assert entries == [
        {"dest": "/a.yaml", "owner": "root", "group": "root", "mode": "0644", "action": "reload",
         "content": "a: 1\n", "validate": "check %s"},
        {"dest": "/env", "owner": "1000", "group": "root", "mode": "0600", "action": "restart",
         "secret_content": "P=@P@\n", "fill": fill, "unit": "x.container"},
    ]


def test_units_wait_for_a_published_address_and_drop_what_the_module_does_not_take() -> None:
    sections = {"Container": {"PublishPort": "10.1.2.3:3100:3100"}}
    entries = quadlet_entries(
        [{"name": "a.container", "sections": sections, "container_name": "ignored"},
         {"name": "b.container", "sections": {"Container": {}}, "restart_on": ("/x",),
          "state": "stopped"}],
        "units")
    assert entries[0]["restart_on"] == [] and entries[0]["state"] == "started"
    assert set(entries[0]) == {"name", "sections", "restart_on", "state"}
    assert "network-online.target" in entries[0]["sections"]["Unit"]["After"]
    assert any("10.1.2.3/" in line for line in entries[0]["sections"]["Service"]["ExecStartPre"])
    assert entries[1] == {"name": "b.container", "sections": {"Container": {}},
                          "restart_on": ["/x"], "state": "stopped"}


@pytest.mark.parametrize(("items", "kind", "message"), [
    ([{"dest": "/a"}], "files", r"quadlet_files\[0\] \(/a\) has no content"),
    ([{"owner": "root"}], "directories", r"quadlet_directories\[0\] \(unnamed\) has no path"),
    ([{"name": "u.container"}], "units", r"quadlet_units\[0\] \(u.container\) has no sections"),
    ({"path": "/d"}, "directories", "quadlet_directories must be a list of mappings"),
    (["/d"], "directories", "quadlet_directories must be a list of mappings"),
    ([], "volumes", "kind must be one of directories, secrets, files, units, not 'volumes'"),
])
def test_bad_entries_fail_naming_the_option(items: object, kind: str, message: str) -> None:
    with pytest.raises(AnsibleFilterError, match=message):
        quadlet_entries(items, kind)
