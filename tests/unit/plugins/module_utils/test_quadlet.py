"""Unit tests for the pure quadlet logic."""

import os

import pytest
from ansible_collections.lgtm.stack.plugins.module_utils import quadlet
from ansible_collections.lgtm.stack.plugins.module_utils.quadlet import Decision, UnitState

# --------------------------------------------------------------------------- render_unit


def test_render_keeps_section_and_key_order():
    text = quadlet.render_unit(
        {
            "Unit": {"Description": "Loki", "After": "lgtm-network.service"},
            "Container": {"Image": "loki:3", "ContainerName": "lgtm-loki"},
            "Service": {"Restart": "always"},
            "Install": {"WantedBy": "multi-user.target"},
        },
        None,
    )
    assert text == (
        "[Unit]\nDescription=Loki\nAfter=lgtm-network.service\n\n"
        "[Container]\nImage=loki:3\nContainerName=lgtm-loki\n\n"
        "[Service]\nRestart=always\n\n"
        "[Install]\nWantedBy=multi-user.target\n"
    )


def test_render_lists_repeat_the_key_and_skip_none():
    text = quadlet.render_unit(
        {
            "Container": {
                "PublishPort": ["127.0.0.1:3100:3100", None, "127.0.0.1:9095:9095"],
                "Label": [],
                "Environment": None,
            }
        }
    )
    assert text == (
        "[Container]\nPublishPort=127.0.0.1:3100:3100\nPublishPort=127.0.0.1:9095:9095\n"
    )


def test_render_scalars():
    text = quadlet.render_unit(
        {"Container": {"ReadOnly": True, "RunInit": False, "StopTimeout": 30}, "Network": {}}
    )
    assert text == "[Container]\nReadOnly=true\nRunInit=false\nStopTimeout=30\n\n[Network]\n"


def test_render_header_comment():
    text = quadlet.render_unit({"Network": {}}, "Managed by Ansible.\n\nDo not edit.")
    assert text == "# Managed by Ansible.\n#\n# Do not edit.\n\n[Network]\n"


def test_render_is_deterministic():
    sections = {"Container": {"Volume": ["/a:/a", "/b:/b"], "Image": "x"}}
    assert quadlet.render_unit(sections) == quadlet.render_unit(dict(sections))


@pytest.mark.parametrize(
    "value",
    ["a\nb", "a\rb", ["ok", "bad\nvalue"]],
)
def test_render_rejects_newlines(value):
    with pytest.raises(ValueError, match=r"Container\.Environment"):
        quadlet.render_unit({"Container": {"Environment": value}})


@pytest.mark.parametrize(
    "sections",
    [{"Bad]": {}}, {"Container": {"Ke=y": "v"}}, {"Container": {"": "v"}}, {"Container": "x"}],
)
def test_render_rejects_bad_names(sections):
    with pytest.raises(ValueError):
        quadlet.render_unit(sections)


def test_render_rejects_nested_structures():
    with pytest.raises(ValueError, match=r"Container\.Label"):
        quadlet.render_unit({"Container": {"Label": [{"a": "b"}]}})


# --------------------------------------------------------------------------- parse / labels


def test_parse_unit_roundtrip_and_labels():
    sections = {
        "Container": {
            "Image": "docker.io/grafana/loki:3.5.0",
            "Label": ["a=b", '"c=d e" f=g'],
        }
    }
    parsed = quadlet.parse_unit(quadlet.render_unit(sections, "header"))
    assert quadlet.last_value(parsed, "Container", "Image") == "docker.io/grafana/loki:3.5.0"
    assert quadlet.labels_of(parsed) == {"a": "b", "c": "d e", "f": "g"}
    assert quadlet.last_value(parsed, "Container", "ContainerName") is None


def test_parse_unit_continuation_and_comments():
    parsed = quadlet.parse_unit("; c\n[Container]\n# c\nExec=a \\\n  b\nImage=x\n")
    assert parsed == {"Container": {"Exec": ["a  b"], "Image": ["x"]}}


def test_with_config_hash_label_appends_and_replaces():
    sections = {"Container": {"Image": "x", "Label": ["a=b", "lgtm.stack.config-hash=old"]}}
    labelled = quadlet.with_config_hash_label(sections, "new")
    assert labelled["Container"]["Label"] == ["a=b", "lgtm.stack.config-hash=new"]
    # input untouched
    assert sections["Container"]["Label"] == ["a=b", "lgtm.stack.config-hash=old"]
    single = quadlet.with_config_hash_label({"Container": {"Label": "a=b"}}, "h")
    assert single["Container"]["Label"] == ["a=b", "lgtm.stack.config-hash=h"]
    none = quadlet.with_config_hash_label({"Container": {"Image": "x"}}, "h")
    assert list(none["Container"]) == ["Image", "Label"]


# --------------------------------------------------------------------------- versions


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("podman version 5.4.2\n", (5, 4, 2)),
        ("podman version 4.9.3-dev", (4, 9, 3)),
        ("podman version 5.0.0-rc1", (5, 0, 0)),
        ("podman version 4.4", (4, 4, 0)),
        ("WARN[0000] some cgroup warning\npodman version 4.6.1\n", (4, 6, 1)),
    ],
)
def test_parse_podman_version(text, expected):
    assert quadlet.parse_podman_version(text) == expected


@pytest.mark.parametrize("text", ["", "docker version 24.0.0", "podman version x.y", "garbage"])
def test_parse_podman_version_rejects_garbage(text):
    with pytest.raises(ValueError):
        quadlet.parse_podman_version(text)


def test_parse_version_and_format():
    assert quadlet.parse_version("5.2") == (5, 2, 0)
    assert quadlet.parse_version("4.9.3") == (4, 9, 3)
    assert quadlet.format_version((5, 2, 0), short=True) == "5.2"
    assert quadlet.format_version((5, 2, 0)) == "5.2.0"
    with pytest.raises(ValueError):
        quadlet.parse_version("five")


def test_version_tables():
    assert quadlet.TYPE_MIN_PODMAN["container"] == (4, 4, 0)
    assert quadlet.TYPE_MIN_PODMAN["pod"] == (5, 0, 0)
    assert quadlet.KEY_MIN_PODMAN[("Container", "HealthCmd")] == (4, 5, 0)
    assert quadlet.KEY_MIN_PODMAN[("Container", "HealthStartupCmd")] == (4, 5, 0)
    assert quadlet.KEY_MIN_PODMAN[("Container", "Pull")] == (4, 6, 0)
    assert quadlet.KEY_MIN_PODMAN[("Network", "NetworkName")] == (4, 7, 0)
    assert quadlet.KEY_MIN_PODMAN[("Container", "NetworkAlias")] == (5, 2, 0)
    assert quadlet.KEY_MIN_PODMAN[("Container", "ReloadSignal")] == (5, 5, 0)


def test_required_podman_lists_only_keys_above_base():
    sections = {
        "Unit": {"Description": "x"},
        "Container": {
            "Image": "x",
            "Secret": ["s1", "s2"],
            "NetworkAlias": "loki",
            "Notify": "healthy",
            "Pull": None,
        },
    }
    assert quadlet.required_podman("container", sections) == [
        ("Secret", (4, 5, 0)),
        ("NetworkAlias", (5, 2, 0)),
        ("Notify=healthy", (5, 0, 0)),
    ]
    assert quadlet.required_podman("pod", {"Pod": {}}) == [(".pod units", (5, 0, 0))]
    with pytest.raises(ValueError):
        quadlet.required_podman("service", {})


def test_check_podman_support_old_host_with_network_alias():
    sections = {"Container": {"Image": "x", "NetworkAlias": "loki"}}
    messages = quadlet.check_podman_support(
        "container", sections, (4, 4, 0), unit_name="lgtm-loki.container"
    )
    assert messages == [
        "lgtm-loki.container uses NetworkAlias, which needs Podman >= 5.2 (host has 4.4.0)"
    ]


def test_check_podman_support_message_format_from_brief():
    messages = quadlet.check_podman_support(
        "container", {"Container": {"NetworkAlias": "loki"}}, (4, 9, 3), "lgtm-loki.container"
    )
    assert messages == [
        "lgtm-loki.container uses NetworkAlias, which needs Podman >= 5.2 (host has 4.9.3)"
    ]


def test_check_podman_support_new_host_ok():
    sections = {
        "Container": {"NetworkAlias": "loki", "HealthCmd": "true", "Notify": "healthy"},
    }
    assert quadlet.check_podman_support("container", sections, (5, 4, 0)) == []


def test_check_podman_support_pull_on_46_ok():
    assert (
        quadlet.check_podman_support("container", {"Container": {"Pull": "newer"}}, (4, 6, 0)) == []
    )
    assert quadlet.check_podman_support("container", {"Container": {"Pull": "newer"}}, (4, 5, 9))


def test_check_podman_support_network_name_section_scoped():
    assert (
        quadlet.check_podman_support("network", {"Network": {"NetworkName": "lgtm"}}, (4, 7, 0))
        == []
    )
    messages = quadlet.check_podman_support(
        "network", {"Network": {"NetworkName": "lgtm"}}, (4, 6, 2)
    )
    assert messages == [
        "this .network unit uses NetworkName, which needs Podman >= 4.7 (host has 4.6.2)"
    ]


# --------------------------------------------------------------------------- hashing


@pytest.fixture
def config_tree(tmp_path):
    root = tmp_path / "loki"
    (root / "rules").mkdir(parents=True)
    (root / "config.yaml").write_text("a: 1\n")
    (root / "rules" / "r.yaml").write_text("groups: []\n")
    os.chmod(root / "config.yaml", 0o644)
    single = tmp_path / "single.conf"
    single.write_text("x\n")
    return root, single


def test_hash_paths_stable(config_tree):
    root, single = config_tree
    first = quadlet.hash_paths([str(root), str(single)])
    assert first == quadlet.hash_paths([str(root), str(single)])
    assert len(first) == 64
    int(first, 16)


def test_hash_paths_content_change(config_tree):
    root, _single = config_tree
    before = quadlet.hash_paths([str(root)])
    (root / "rules" / "r.yaml").write_text("groups: [x]\n")
    assert quadlet.hash_paths([str(root)]) != before


def test_hash_paths_mode_change(config_tree):
    root, single = config_tree
    before = quadlet.hash_paths([str(root), str(single)])
    os.chmod(root / "config.yaml", 0o600)
    assert quadlet.hash_paths([str(root), str(single)]) != before


def test_hash_paths_new_file(config_tree):
    root, _single = config_tree
    before = quadlet.hash_paths([str(root)])
    (root / "rules" / "new.yaml").write_text("")
    assert quadlet.hash_paths([str(root)]) != before


def test_hash_paths_rename_changes_hash(config_tree):
    root, _single = config_tree
    before = quadlet.hash_paths([str(root)])
    os.rename(root / "config.yaml", root / "config2.yaml")
    assert quadlet.hash_paths([str(root)]) != before


def test_hash_paths_symlink_hashed_by_target(config_tree):
    root, single = config_tree
    os.symlink(str(single), root / "link")
    before = quadlet.hash_paths([str(root)])
    single.write_text("changed\n")  # link target text unchanged -> same hash
    assert quadlet.hash_paths([str(root)]) == before
    os.unlink(root / "link")
    os.symlink("elsewhere", root / "link")
    assert quadlet.hash_paths([str(root)]) != before


def test_hash_paths_independent_of_creation_order(tmp_path):
    root = tmp_path / "conf"

    def build(order):
        root.mkdir()
        for name in order:
            (root / name).write_text(name)
            os.chmod(root / name, 0o644)
        digest = quadlet.hash_paths([str(root)])
        for name in order:
            (root / name).unlink()
        root.rmdir()
        return digest

    assert build("xyz") == build("zyx")


def test_hash_paths_missing_path_named(tmp_path):
    missing = str(tmp_path / "nope.yaml")
    with pytest.raises(ValueError, match="nope.yaml"):
        quadlet.hash_paths([missing])
    with pytest.raises(quadlet.MissingPathError):
        quadlet.hash_paths([missing])


def test_hash_strings():
    assert quadlet.hash_strings(["a", "b"]) == quadlet.hash_strings(["a", "b"])
    assert quadlet.hash_strings(["a", "b"]) != quadlet.hash_strings(["ab"])
    assert quadlet.hash_strings(["a", "b"]) != quadlet.hash_strings(["b", "a"])


def test_config_hash_covers_definition_paths_and_extra(config_tree):
    root, _single = config_tree
    base = quadlet.config_hash("unit", [str(root)], ["secret-hash"])
    assert base == quadlet.config_hash("unit", [str(root)], ["secret-hash"])
    assert base != quadlet.config_hash("unit2", [str(root)], ["secret-hash"])
    assert base != quadlet.config_hash("unit", [str(root)], ["other"])
    assert base != quadlet.config_hash("unit", [], ["secret-hash"])


# --------------------------------------------------------------------------- decide


H1, H2 = "a" * 64, "b" * 64
I1, I2 = "1" * 64, "2" * 64


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        # stopping
        (
            UnitState("stopped", is_active=True, has_container=True),
            ("stop", "desired state is stopped"),
        ),
        (UnitState("absent", is_active=True), ("stop", "desired state is absent")),
        (UnitState("stopped", is_active=False, has_container=True), ("none", "already stopped")),
        (UnitState("absent", is_active=False), ("none", "already stopped")),
        # starting
        (
            UnitState("started", is_active=False, has_container=True, expected_hash=H1),
            ("start", "not running"),
        ),
        (UnitState("started", is_active=False), ("start", "not running")),
        # non-container units only start/stop
        (
            UnitState("started", is_active=True, expected_hash=H1, reload_hash_current=H1),
            ("none", "running"),
        ),
        # config hash
        (
            UnitState("started", True, True, expected_hash=H1, running_hash=H2),
            ("restart", "config-hash label differs"),
        ),
        (
            UnitState("started", True, True, expected_hash=H1, running_hash=None),
            ("restart", "config-hash label differs"),
        ),
        # image
        (
            UnitState("started", True, True, H1, H1, expected_image_id=I1, running_image_id=I2),
            ("restart", "image changed"),
        ),
        (
            UnitState("started", True, True, H1, H1, expected_image_id=None, running_image_id=I2),
            ("none", "up to date"),
        ),
        (
            UnitState("started", True, True, H1, H1, expected_image_id=I1, running_image_id=None),
            ("none", "up to date"),
        ),
        # reload
        (
            UnitState(
                "started",
                True,
                True,
                H1,
                H1,
                I1,
                I1,
                reload_hash_current=H1,
                reload_hash_recorded=H2,
            ),
            ("reload", "reload files changed"),
        ),
        (
            UnitState(
                "started", True, True, H1, H1, reload_hash_current=H1, reload_hash_recorded=None
            ),
            ("reload", "reload files changed"),
        ),
        (
            UnitState(
                "started", True, True, H1, H1, reload_hash_current=H1, reload_hash_recorded=H1
            ),
            ("none", "up to date"),
        ),
        # restart wins over reload
        (
            UnitState(
                "started", True, True, H1, H2, reload_hash_current=H1, reload_hash_recorded=H2
            ),
            ("restart", "config-hash label differs"),
        ),
        # oneshot jobs: decided by the recorded run, never by a container
        (
            UnitState("started", False, oneshot=True, run_hash_current=None, run_hash_recorded=H1),
            ("start", "not running"),
        ),
        (
            UnitState("started", True, oneshot=True, run_hash_current=H1, run_hash_recorded=H2),
            ("restart", "unit or image changed since its last run"),
        ),
        (
            UnitState("started", True, oneshot=True, run_hash_current=H1, run_hash_recorded=None),
            ("restart", "unit or image changed since its last run"),
        ),
        (
            UnitState("started", True, oneshot=True, run_hash_current=H1, run_hash_recorded=H1),
            ("none", "ran with the current unit and image"),
        ),
        (
            UnitState("stopped", True, oneshot=True, run_hash_current=H1, run_hash_recorded=H2),
            ("stop", "desired state is stopped"),
        ),
        # nothing to do
        (UnitState("started", True, True, H1, H1, I1, I1), ("none", "up to date")),
        (UnitState("started", True, True), ("none", "up to date")),
    ],
)
def test_decide(state, expected):
    assert quadlet.decide(state) == Decision(*expected)


def test_decide_rejects_unknown_state():
    with pytest.raises(ValueError):
        quadlet.decide(UnitState("running", is_active=True))


@pytest.mark.parametrize(
    ("action", "satisfies"),
    [("start", True), ("restart", True), ("reload", True), ("stop", False), ("none", False)],
)
def test_decision_satisfies_reload(action, satisfies):
    assert Decision(action, "").satisfies_reload is satisfies


# --------------------------------------------------------------------------- names


@pytest.mark.parametrize(
    ("name", "service"),
    [
        ("lgtm-loki.container", "lgtm-loki.service"),
        ("lgtm.network", "lgtm-network.service"),
        ("lgtm-loki-data.volume", "lgtm-loki-data-volume.service"),
        ("lgtm.pod", "lgtm-pod.service"),
        ("app.kube", "app.service"),
        ("base.image", "base-image.service"),
    ],
)
def test_service_name(name, service):
    assert quadlet.service_name(name) == service


def test_name_helpers():
    assert quadlet.split_unit_name("lgtm-loki.container") == ("lgtm-loki", "container")
    assert quadlet.unit_stem("lgtm.network") == "lgtm"
    assert quadlet.unit_type_of("lgtm.network") == "network"
    assert quadlet.default_container_name("lgtm-loki.container") == "systemd-lgtm-loki"
    assert quadlet.type_section("container") == "Container"


@pytest.mark.parametrize(
    "name", ["lgtm-loki", "lgtm.service", ".container", "a/b.container", "sp ace.container", ""]
)
def test_bad_unit_names(name):
    with pytest.raises(ValueError):
        quadlet.service_name(name)


def test_run_hash_covers_unit_and_image():
    assert quadlet.run_hash("a", "1") == quadlet.run_hash("a", "1")
    assert quadlet.run_hash("a", "1") != quadlet.run_hash("b", "1")
    assert quadlet.run_hash("a", "1") != quadlet.run_hash("a", "2")
    assert quadlet.run_hash("a", None) != quadlet.run_hash("a", "1")


def test_oneshot_and_remain_after_exit_from_the_unit_file():
    parsed = quadlet.parse_unit("[Service]\nType=oneshot\nRemainAfterExit=yes\n")
    assert quadlet.is_oneshot(parsed) and quadlet.remains_after_exit(parsed)
    plain = quadlet.parse_unit("[Service]\nRestart=always\n")
    assert not quadlet.is_oneshot(plain) and not quadlet.remains_after_exit(plain)
