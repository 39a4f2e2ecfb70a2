"""The quadlet core on a real host: restart only what changed, decided from state.

Tests run in file order and build on each other, like an operator's day.
"""

from lgtm_molecule import container_identity, run_playbook

A, B = "lgtm-testsvc-a", "lgtm-testsvc-b"


def page(host, port: int, path: str = "/index.html") -> tuple[str, str]:
    result = host.run(f"curl -s -w '\\n%{{http_code}}' http://127.0.0.1:{port}{path}")
    body, _newline, status = result.stdout.rpartition("\n")
    return status, body.strip()


def image_id(host, image: str) -> str:
    result = host.run(f"podman image inspect --format '{{{{.Id}}}}' {image}")
    assert result.rc == 0, result.stderr
    return result.stdout.strip()


def running_image(host, container: str) -> str:
    return host.run(f"podman inspect --format '{{{{.Image}}}}' {container}").stdout.strip()


def test_both_services_answer(root):
    assert page(root, 18080) == ("200", "lgtm test page v1")
    assert page(root, 18081) == ("200", "lgtm bystander page")
    for unit in (f"{A}.service", f"{B}.service"):
        assert root.run(f"systemctl is-active {unit}").stdout.strip() == "active"


def test_files_directories_and_hash_label(root):
    unit = root.file(f"/etc/containers/systemd/{A}.container")
    assert (unit.user, unit.group, unit.mode) == ("root", "root", 0o644)
    config = root.file("/etc/lgtm/testsvc-a/www/index.html")
    assert (config.user, config.mode) == ("root", 0o644)
    data = root.file("/var/lib/lgtm/testsvc-a")
    assert (data.uid, data.gid, data.mode) == (10001, 10001, 0o750)
    label = [
        line
        for line in unit.content_string.splitlines()
        if line.startswith("Label=lgtm.stack.config-hash=")
    ]
    assert len(label) == 1
    # The core labels every bind mount for SELinux (one container each here: private).
    volumes = [line for line in unit.content_string.splitlines() if line.startswith("Volume=")]
    assert volumes == ["Volume=/etc/lgtm/testsvc-a/www:/srv/www:ro,Z",
                       "Volume=/etc/lgtm/testsvc-a/httpd:/etc/testsvc:ro,Z",
                       "Volume=/var/lib/lgtm/testsvc-a:/data:Z"]
    running = root.run(
        "podman inspect --format '{{index .Config.Labels \"lgtm.stack.config-hash\"}}' " + A
    )
    assert running.stdout.strip() == label[0].split("=", 2)[2]
    # The host starts the services at boot through the generator's [Install] handling.
    assert root.file(f"/run/systemd/generator/multi-user.target.wants/{A}.service").exists


def test_unrelated_run_changes_and_restarts_nothing(root):
    before = {name: container_identity(root, name) for name in (A, B)}
    result = run_playbook("converge.yml")
    result.assert_ok()
    assert result.changed == 0, result.output[-4000:]
    assert {name: container_identity(root, name) for name in (A, B)} == before


def test_secrets_generated_once_on_the_host_and_never_shown(root):
    tokens = {}
    for name in ("a", "b"):
        token = root.file(f"/etc/lgtm/testsvc-{name}/secrets/token")
        assert (token.user, token.group, token.mode) == ("root", "root", 0o600)
        tokens[name] = token.content_string
        assert len(tokens[name]) == 32 and tokens[name].isalnum()
    assert tokens["a"] != tokens["b"]
    before = {name: container_identity(root, name) for name in (A, B)}
    result = run_playbook("converge.yml", verbosity=2)
    result.assert_ok()
    assert result.changed == 0
    assert not [t for t in tokens.values() if t in result.output]
    assert root.file("/etc/lgtm/testsvc-a/secrets/token").content_string == tokens["a"]
    assert {name: container_identity(root, name) for name in (A, B)} == before


def test_given_secret_replaces_the_generated_one_and_restarts_only_its_user(root):
    before = {name: container_identity(root, name) for name in (A, B)}
    given = "operator-chosen-token-0123456789"
    result = run_playbook("converge.yml", {"testsvc_a_token": given}, verbosity=2)
    result.assert_ok()
    assert result.changed > 0
    assert given not in result.output
    assert root.file("/etc/lgtm/testsvc-a/secrets/token").content_string == given
    after = {name: container_identity(root, name) for name in (A, B)}
    assert after[A] != before[A], "a's secret changed: a must restart"
    assert after[B] == before[B]
    # Given once, kept: a later run without the variable leaves it alone.
    again = run_playbook("converge.yml")
    again.assert_ok()
    assert again.changed == 0, again.output[-4000:]
    assert root.file("/etc/lgtm/testsvc-a/secrets/token").content_string == given


def test_check_mode_with_diff_predicts_the_restart_and_shows_no_secret(root):
    """Check mode says which service a change restarts (the hash over the files as the
    write would leave them), --diff shows the change, and neither shows a secret."""
    tokens = [root.file(f"/etc/lgtm/testsvc-{name}/secrets/token").content_string
              for name in ("a", "b")]
    before = {name: container_identity(root, name) for name in (A, B)}
    result = run_playbook("converge.yml", {"testsvc_message": "lgtm test page v2"},
                          check=True, verbosity=1)
    result.assert_ok()
    assert result.changed > 0
    assert "+lgtm test page v2" in result.output, result.output[-4000:]
    # -v prints each result as one JSON line.
    assert '"restarted": ["lgtm-testsvc-a.service"]' in result.output, result.output[-4000:]
    assert "lgtm-testsvc-b.service\"]" not in result.output
    assert not [token for token in tokens if token in result.output]
    assert root.file("/etc/lgtm/testsvc-a/www/index.html").content_string == (
        "lgtm test page v1\n")
    assert {name: container_identity(root, name) for name in (A, B)} == before


def test_config_change_restarts_only_its_service(root):
    before = {name: container_identity(root, name) for name in (A, B)}
    result = run_playbook("converge.yml", {"testsvc_message": "lgtm test page v2"})
    result.assert_ok()
    assert result.changed > 0
    after = {name: container_identity(root, name) for name in (A, B)}
    assert after[A] != before[A], "a's page changed: a must restart"
    assert after[B] == before[B], "b did not change: b must not restart"
    assert page(root, 18080) == ("200", "lgtm test page v2")


def test_reload_class_file_reloads_without_restart(root):
    assert page(root, 18080, "/private/index.html")[0] == "404"
    before = container_identity(root, A)
    result = run_playbook(
        "converge.yml",
        {"testsvc_message": "lgtm test page v2", "testsvc_a_auth": "/private:user:secret"},
    )
    result.assert_ok()
    assert result.changed > 0
    assert container_identity(root, A) == before, "a reload-class change must not restart"
    # busybox httpd re-read its config on SIGHUP: /private now needs auth.
    assert page(root, 18080, "/private/index.html")[0] == "401"
    assert page(root, 18080) == ("200", "lgtm test page v2")
    state = root.file("/var/lib/lgtm/.state")
    assert state.is_directory


def test_invalid_config_never_replaces_a_good_one(root):
    before = container_identity(root, A)
    result = run_playbook(
        "converge.yml",
        {"testsvc_message": "no marker in this page", "testsvc_a_auth": "/private:user:secret"},
    )
    assert result.rc != 0
    # The validate command's own failure, naming the file: not "Validating arguments
    # against arg spec", which every run prints.
    assert "/etc/lgtm/testsvc-a/www/index.html failed validation (exit 1)" in result.output, (
        result.output[-4000:]
    )
    assert root.file("/etc/lgtm/testsvc-a/www/index.html").content_string == "lgtm test page v2\n"
    assert container_identity(root, A) == before


def test_interrupted_run_is_finished_by_the_next_run(root):
    extra = {"testsvc_message": "lgtm test page v3", "testsvc_a_auth": "/private:user:secret"}
    before = container_identity(root, A)
    partial = run_playbook("interrupted.yml", extra)
    assert partial.rc != 0, "the interrupted run must fail"
    assert "reconcile" in partial.output and "interrupted before systemctl" in partial.output, (
        partial.output[-4000:])
    assert container_identity(root, A) == before, "the partial run reconciles nothing"
    unit = root.file(f"/etc/containers/systemd/{A}.container").content_string
    running = root.run(
        "podman inspect --format '{{index .Config.Labels \"lgtm.stack.config-hash\"}}' " + A
    )
    assert f"lgtm.stack.config-hash={running.stdout.strip()}" not in unit
    finished = run_playbook("converge.yml", extra)
    finished.assert_ok()
    assert container_identity(root, A) != before, "the next run must restart a"
    again = run_playbook("converge.yml", extra)
    again.assert_ok()
    assert again.changed == 0


def test_new_image_behind_the_same_reference_restarts_its_users(root):
    """An image re-pulled under the same tag restarts the units that run it, and only them."""
    extra = {"testsvc_message": "lgtm test page v3", "testsvc_a_auth": "/private:user:secret"}
    image = root.run("podman inspect --format '{{.ImageName}}' " + A).stdout.strip()
    before = {name: container_identity(root, name) for name in (A, B)}
    old_id = image_id(root, image)
    build = root.run(
        f"printf 'FROM {image}\\nLABEL lgtm.test.rebuilt=1\\n' | "
        f"podman build --pull=never -t {image} -f - /tmp"
    )
    assert build.rc == 0, build.stderr
    try:
        new_id = image_id(root, image)
        result = run_playbook("converge.yml", extra)
        result.assert_ok()
        for name in (A, B):
            assert container_identity(root, name) != before[name], f"{name} runs the old image"
            assert running_image(root, name) == new_id
        rebuilt = {name: container_identity(root, name) for name in (A, B)}
    finally:
        # Untag: the reference resolves to the shared store's image again, and
        # the next run moves both units back to it.
        root.run(f"podman untag {image}")
    shared_id = image_id(root, image)
    assert shared_id == old_id, "after the untag the reference names the shared store's image"
    restored = run_playbook("converge.yml", extra)
    restored.assert_ok()
    for name in (A, B):
        assert container_identity(root, name) != rebuilt[name], f"{name} was not restarted"
        assert running_image(root, name) == shared_id, f"{name} still runs the rebuilt image"
    again = run_playbook("converge.yml", extra)
    again.assert_ok()
    assert again.changed == 0, again.output[-4000:]


def test_removal_stops_and_removes_units_but_keeps_data(root):
    before_a = container_identity(root, A)
    result = run_playbook("remove.yml")
    result.assert_ok()
    assert not root.file(f"/etc/containers/systemd/{B}.container").exists
    assert root.run(f"systemctl is-active {B}.service").stdout.strip() != "active"
    assert root.run(f"podman container exists {B}").rc == 1
    assert root.file("/var/lib/lgtm/testsvc-b").is_directory
    assert container_identity(root, A) == before_a
