"""SELinux logic: volume labels over one call's units, host problems, contexts of written files."""

import pytest
from ansible_collections.lgtm.stack.plugins.module_utils import selinux


def unit(name, *volume, **container):
    return {
        "name": name,
        "sections": {"Container": {"Image": "x", "Volume": list(volume), **container}},
    }


def labelled(*units):
    return {
        item["name"]: item["sections"]["Container"]["Volume"]
        for item in selinux.volume_labels(list(units))
    }


def test_one_container_gets_a_private_label_and_keeps_its_options():
    assert labelled(unit("a.container", "/etc/lgtm/a:/etc/a:ro", "/var/lib/lgtm/a:/data")) == {
        "a.container": ["/etc/lgtm/a:/etc/a:ro,Z", "/var/lib/lgtm/a:/data:Z"]
    }


def test_a_directory_two_containers_mount_gets_a_shared_label():
    assert labelled(
        unit("web.container", "/srv/app/uploads:/up"),
        unit("worker.container", "/srv/app/uploads/:/up"),
        unit("db.container", "/srv/app/db:/db"),
    ) == {
        "web.container": ["/srv/app/uploads:/up:z"],
        "worker.container": ["/srv/app/uploads:/up:z"],
        "db.container": ["/srv/app/db:/db:Z"],
    }


def test_a_directory_inside_another_container_s_is_shared_too():
    assert labelled(
        unit("a.container", "/srv/app:/app"), unit("b.container", "/srv/app/data:/d")
    ) == {"a.container": ["/srv/app:/app:z"], "b.container": ["/srv/app/data:/d:z"]}


def test_a_scalar_volume_stays_a_scalar_and_other_sections_are_untouched():
    units = [
        {
            "name": "a.container",
            "sections": {"Unit": {"Description": "a"}, "Container": {"Volume": "/srv/a:/a"}},
        },
        {"name": "lgtm.network", "sections": {"Network": {}}},
    ]
    result = selinux.volume_labels(units)
    assert result[0]["sections"] == {
        "Unit": {"Description": "a"},
        "Container": {"Volume": "/srv/a:/a:Z"},
    }
    assert result[1] == units[1]
    assert units[0]["sections"]["Container"]["Volume"] == "/srv/a:/a", "input unchanged"


def test_given_labels_named_volumes_and_overlays_are_kept():
    assert labelled(
        unit("a.container", "/srv/a:/a:z", "/srv/b:/b:ro,Z", "data:/data", "/srv/c:/c:O", "/tmpfs")
    ) == {"a.container": ["/srv/a:/a:z", "/srv/b:/b:ro,Z", "data:/data", "/srv/c:/c:O", "/tmpfs"]}


def test_a_private_label_given_on_a_shared_directory_fails_naming_both():
    with pytest.raises(selinux.LabelError, match=r"a\.container.*Z.*/srv/x.*b\.container"):
        selinux.volume_labels(
            [unit("a.container", "/srv/x:/x:Z"), unit("b.container", "/srv/x:/x")]
        )


@pytest.mark.parametrize(
    "disable",
    [
        {"SecurityLabelDisable": True},
        {"SecurityLabelDisable": "true"},
        {"PodmanArgs": ["--security-opt=label=disable"]},
        {"PodmanArgs": "--security-opt label=disable"},
    ],
)
def test_a_container_without_label_separation_relabels_nothing(disable):
    units = [
        unit(
            "alloy.container",
            "/etc/lgtm/alloy:/etc/alloy:ro",
            "/var/log/journal:/var/log/journal:ro",
            "/etc/machine-id:/etc/machine-id:ro",
            **disable,
        ),
        unit("other.container", "/etc/lgtm/alloy:/x:ro"),
    ]
    assert labelled(*units) == {
        "alloy.container": [
            "/etc/lgtm/alloy:/etc/alloy:ro",
            "/var/log/journal:/var/log/journal:ro",
            "/etc/machine-id:/etc/machine-id:ro",
        ],
        # Only containers that are labelled share a label.
        "other.container": ["/etc/lgtm/alloy:/x:ro,Z"],
    }


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/etc",
        "/etc/",
        "/usr",
        "/usr/share/x",
        "/var",
        "/var/lib",
        "/var/log",
        "/var/log/journal",
        "/proc",
        "/sys/fs",
        "/home",
        "/home/alice",
        "/root",
        "/var/lib/containers",
        "/var/lib/containers/storage",
        "/etc/machine-id",
        "/etc/pki/tls",
        "/run/log/journal",
        "/tmp",
    ],
)
def test_host_system_paths_are_refused_naming_unit_and_path(path):
    assert selinux.is_system_path(path)
    with pytest.raises(
        selinux.LabelError, match=f"lgtm-x.container: Volume={path}:/x would relabel"
    ):
        selinux.volume_labels([unit("lgtm-x.container", f"{path}:/x")])
    # Asked for explicitly, on a container without separation too.
    with pytest.raises(selinux.LabelError, match="would relabel"):
        selinux.volume_labels(
            [unit("lgtm-x.container", f"{path}:/x:ro,z", SecurityLabelDisable=True)]
        )


@pytest.mark.parametrize(
    "path",
    [
        "/etc/lgtm",
        "/etc/lgtm/loki",
        "/var/lib/lgtm/loki",
        "/srv/lgtm",
        "/home/alice/lgtm",
        "/data/loki",
        "/opt/lgtm/data",
    ],
)
def test_the_stack_s_own_directories_are_labelled(path):
    assert not selinux.is_system_path(path)
    assert labelled(unit("a.container", f"{path}:/x")) == {"a.container": [f"{path}:/x:Z"]}


def test_host_problems_only_on_an_enforcing_host_name_the_packages():
    nothing = {"library": False, "container_policy": False}
    assert selinux.host_problems({"mode": "disabled", **nothing}) == []
    assert selinux.host_problems({"mode": "permissive", **nothing}) == []
    assert (
        selinux.host_problems({"mode": "enforcing", "library": True, "container_policy": True})
        == []
    )
    problems = selinux.host_problems({"mode": "enforcing", **nothing})
    assert len(problems) == 2
    assert "python3-libselinux" in problems[0] and "container-selinux" in problems[1]
    assert selinux.host_problems(
        {"mode": "enforcing", "library": True, "container_policy": False}
    ) == [problems[1]]


class FakeModule:
    def __init__(self, enabled, contexts):
        self.enabled = enabled
        self.contexts = contexts
        self.set = []

    def selinux_enabled(self):
        return self.enabled

    def selinux_context(self, path):
        return self.contexts[path]

    def set_context_if_different(self, path, context, changed, diff=None):
        self.set.append((path, context))
        return True


def test_a_written_file_gets_its_directory_s_context():
    module = FakeModule(
        True, {"/var/lib/lgtm/grafana": ["system_u", "object_r", "container_file_t", "s0:c1,c2"]}
    )
    selinux.copy_directory_context(module, "/var/lib/lgtm/grafana/.grafana.db.x")
    assert module.set == [
        (
            "/var/lib/lgtm/grafana/.grafana.db.x",
            ["system_u", "object_r", "container_file_t", "s0:c1,c2"],
        )
    ]


def test_without_selinux_no_context_is_read_or_set():
    module = FakeModule(False, {})
    selinux.copy_directory_context(module, "/etc/lgtm/loki/loki.yaml")
    assert module.set == []
