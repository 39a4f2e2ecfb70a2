"""The archive switch (LGTM_TEST_IMAGE_ARCHIVES) on the real harness.

An image archive, as `podman save` writes it, replaces a test image's recipe under the
same localhost/lgtm-test name; a test host sees the archive's image with the archive's
own labels, and the scenarios' helper judges it by those labels (no test-image label:
upstream's image). A changed archive is loaded again; a corrupt, misnamed or
wrong-format one fails naming the file; without the setting the recipe's image returns.

Runs in a private image store (LGTM_TEST_IMAGE_STORE), so the shared one is untouched,
and boots one test host. Needs root, systemd-nspawn and the cached test rootfs, like the
Molecule scenarios: `tests/run-all.sh` runs it as its own stage.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(REPO / "molecule" / "shared"))
sys.path.insert(0, str(REPO / "collections"))

import testhost  # noqa: E402 - after the path set-up above
from images import store  # noqa: E402
from lgtm_molecule import image_kind  # noqa: E402

IMAGE = "testsvc"
# Stands for a label only the archive's image has: what the host must show.
ARCHIVE_LABEL = "org.lgtm-test.archive-switch"
HOST = "lgtm-archive-switch"


@dataclass
class Result:
    rc: int
    stdout: str
    stderr: str


class SSHHost:
    """The little of testinfra's host that lgtm_molecule's image helpers use."""

    def __init__(self, address: str) -> None:
        self.address = address

    def run(self, command: str) -> Result:
        done = subprocess.run(
            ["ssh", "-i", str(testhost.ssh_key()), "-o", "StrictHostKeyChecking=no",
             "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR",
             f"root@{self.address}", command],
            capture_output=True, text=True, timeout=120, check=False)
        return Result(done.returncode, done.stdout, done.stderr)


@pytest.fixture(scope="module")
def rootfs() -> Path:
    if os.geteuid() != 0:
        pytest.skip("the harness needs root (systemd-nspawn)")
    return testhost.build_rootfs()


@pytest.fixture(scope="module")
def private_store() -> Iterator[Path]:
    directory = Path(tempfile.mkdtemp(prefix="archive-switch-store-", dir=testhost.CACHE_DIR))
    saved = store.STORE
    store.STORE = directory
    try:
        yield directory
    finally:
        store.STORE = saved
        shutil.rmtree(directory, ignore_errors=True)


def make_archive(rootfs: Path, target: Path, marker: str, archive_format: str) -> None:
    """An image that is not one of ours (no test-image label), saved as Podman saves it."""
    recipe = store.recipes()[IMAGE]
    scratch = Path(tempfile.mkdtemp(prefix="archive-switch-scratch-", dir=testhost.CACHE_DIR))
    saved = store.STORE
    store.STORE = scratch / "store"
    store.STORE.mkdir()
    try:
        workdir = scratch / "work"
        workdir.mkdir()
        tarball = store.make_tarball(recipe, workdir)
        (workdir / "storage.conf").write_text('[storage]\ndriver = "overlay"\n')
        ref = f"localhost/archive-switch/{IMAGE}:{marker}"
        store.podman_in(rootfs, workdir, "import",
                        "--change", f"LABEL {ARCHIVE_LABEL}={marker}",
                        "--change", f"USER {recipe.user}",
                        "--change", f"ENTRYPOINT {json.dumps(recipe.entrypoint)}",
                        "--change", f"CMD {json.dumps(recipe.cmd)}",
                        f"/in/{tarball.name}", ref)
        store.podman_in(rootfs, workdir, "save", "--format", archive_format,
                        "--output", "/store/saved.tar", ref)
        shutil.move(store.STORE / "saved.tar", target)
    finally:
        store.STORE = saved
        shutil.rmtree(scratch, ignore_errors=True)


def labels_in_store(rootfs: Path, ref: str) -> dict[str, str]:
    with tempfile.TemporaryDirectory(dir=testhost.CACHE_DIR) as tmp:
        (Path(tmp) / "storage.conf").write_text('[storage]\ndriver = "overlay"\n')
        out = store.podman_in(rootfs, Path(tmp), "image", "inspect", "--format",
                              "{{json .Labels}}", ref).stdout
    return json.loads(out) or {}


def build_failure(rootfs: Path) -> str:
    with pytest.raises(SystemExit) as raised:
        store.build_store(rootfs, [IMAGE])
    return str(raised.value)


def test_archives_replace_the_recipe_and_are_judged_by_their_own_labels(
        rootfs: Path, private_store: Path, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    ref = store.recipes()[IMAGE].ref
    archives = tmp_path / "archives"
    archives.mkdir()
    first, second = uuid.uuid4().hex[:12], uuid.uuid4().hex[:12]
    make_archive(rootfs, archives / f"{IMAGE}.tar", first, "docker-archive")
    monkeypatch.setenv(store.ARCHIVES_ENV, str(archives))

    store.build_store(rootfs, [IMAGE])
    labels = labels_in_store(rootfs, ref)
    assert labels.get(ARCHIVE_LABEL) == first
    assert store.WHAT_LABEL not in labels, "the archive's image keeps its own labels"

    # A test host booted on that store sees it, and the scenarios' helper calls it upstream's.
    host = testhost.up(HOST, private_store)
    try:
        ssh = SSHHost(host.address)
        shown = ssh.run(f"podman image inspect --format '{{{{json .Labels}}}}' {ref}")
        assert shown.rc == 0, shown.stderr
        assert json.loads(shown.stdout).get(ARCHIVE_LABEL) == first
        assert image_kind(ssh, ref) == "upstream"
    finally:
        testhost.down(HOST)

    # A changed archive (another format too) is loaded again.
    make_archive(rootfs, archives / f"{IMAGE}.tar", second, "oci-archive")
    store.build_store(rootfs, [IMAGE])
    assert labels_in_store(rootfs, ref).get(ARCHIVE_LABEL) == second

    # Without the setting, the recipe's own image comes back, saying what it is.
    monkeypatch.delenv(store.ARCHIVES_ENV)
    store.build_store(rootfs, [IMAGE])
    labels = labels_in_store(rootfs, ref)
    assert ARCHIVE_LABEL not in labels
    assert labels.get(store.KIND_LABEL) == "packaged"


def test_bad_archives_fail_naming_the_file(rootfs: Path, private_store: Path, tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    archives = tmp_path / "archives"
    archives.mkdir()
    monkeypatch.setenv(store.ARCHIVES_ENV, str(archives))
    archive = archives / f"{IMAGE}.tar"

    archive.write_bytes(os.urandom(4096))
    message = build_failure(rootfs)
    assert str(archive) in message and "Podman can load" in message, message

    # A well-formed tar that is no image archive.
    payload = tmp_path / "not-an-image.txt"
    payload.write_text("just a file\n")
    with tarfile.open(archive, "w") as tar:
        tar.add(payload, arcname=payload.name)
    message = build_failure(rootfs)
    assert str(archive) in message and "Podman can load" in message, message

    archive.unlink()
    stray = archives / "no-such-image.tar"
    stray.write_bytes(b"")
    message = build_failure(rootfs)
    assert str(stray) in message and "not an image archive this harness knows" in message
