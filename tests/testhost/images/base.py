"""What every test image recipe shares: the Recipe record and rootfs helpers."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from testhost import CACHE_DIR, cached_debootstrap, recipe_hash, run

HERE = Path(__file__).resolve().parent
PROJECT_ROOT = HERE.parents[2]
NAMESPACE = "localhost/lgtm-test"
FILES = HERE.parent / "files"
STANDINS = HERE.parent / "standins"
# What the Python stand-ins share (Go-style config decoding, durations, wire formats,
# the TLS HTTP server): installed beside each stand-in as an importable module.
STANDIN_LIB = STANDINS / "lgtm_standin.py"
# One sid tree serves the three Debian-packaged services; each image is a copy
# of it with its own user ids and entrypoint.
SID_PACKAGES = ["prometheus", "postgresql-18", "valkey-server", "ca-certificates"]
# The base of the Python contract stand-ins.
PYTHON_STANDIN_PACKAGES = ["python3-minimal", "python3-yaml", "ca-certificates"]


@dataclass
class Recipe:
    name: str
    version: str
    stands_for: str
    user: str
    entrypoint: list[str]
    # The module that defines the recipe: its source is part of the digest.
    module: str
    cmd: list[str] = field(default_factory=list)
    inputs: list[Path] = field(default_factory=list)
    populate: Callable[[Path, Recipe], None] | None = None
    exposes: list[int] = field(default_factory=list)
    workdir: str = "/"
    env: dict[str, str] = field(default_factory=dict)
    stop_signal: str | None = None
    # A Debian package whose upstream version must be on the line `version` names
    # (tags name the line, as upstream's postgres:18 does, so they stay stable).
    package: str | None = None
    # What runs inside, for scenarios that must judge an image by its own label (see
    # store.KIND_LABEL): "stand-in" (a contract stand-in written here) or "packaged" (the
    # real program from a package registry, as that registry builds it).
    kind: str = "stand-in"

    @property
    def ref(self) -> str:
        return f"{NAMESPACE}/{self.name}:{self.version}"

    def digest(self) -> str:
        input_hashes = [sha256_file(path) for path in self.inputs]
        sources = [(HERE / name).read_text() for name in ("base.py", "store.py")]
        sources.append(Path(self.module).read_text())
        return recipe_hash(self.name, self.version, self.user, self.entrypoint, self.cmd,
                           self.workdir, self.env, self.stop_signal, self.kind, input_hashes,
                           sources)

    def missing_inputs(self) -> list[str]:
        """The inputs that do not exist, named relative to the project where they live in it."""
        missing = []
        for path in self.inputs:
            if not path.exists():
                try:
                    missing.append(str(path.relative_to(PROJECT_ROOT)))
                except ValueError:
                    missing.append(str(path))
        return missing


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def minimal_tree(root: Path, uid: int, home: str) -> None:
    """What a static binary in a distroless-like image has: users, /tmp, CA certs."""
    (root / "etc/ssl/certs").mkdir(parents=True)
    (root / "tmp").mkdir(mode=0o1777)
    (root / "tmp").chmod(0o1777)
    (root / "etc/passwd").write_text(
        f"root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:"
        f"/sbin/nologin\napp:x:{uid}:{uid}:app:{home}:/sbin/nologin\n")
    (root / "etc/group").write_text(f"root:x:0:\nnogroup:x:65534:\napp:x:{uid}:\n")
    shutil.copy("/etc/ssl/certs/ca-certificates.crt", root / "etc/ssl/certs/ca-certificates.crt")


def owned_dir(path: Path, uid: int) -> None:
    path.mkdir(parents=True, exist_ok=True)
    os.chown(path, uid, uid)


def copy_tree(source: Path, root: Path) -> None:
    run(["cp", "-a", f"{source}/.", str(root)])
    (root / ".complete").unlink(missing_ok=True)


def set_uid(root: Path, user: str, uid: int) -> None:
    """Give a packaged system user the UID the official image uses."""
    old = run(["chroot", str(root), "id", "-u", user], capture_output=True).stdout.strip()
    run(["chroot", str(root), "usermod", "-o", "-u", str(uid), user])
    run(["chroot", str(root), "groupmod", "-o", "-g", str(uid), user])
    run(["chroot", str(root), "find", "/", "-xdev", "-uid", old, "-exec", "chown", "-h",
         f"{uid}:{uid}", "{}", "+"])


def install_file(source: Path, target: Path, mode: int = 0o755) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(source, target)
    target.chmod(mode)


def install_standin_lib(root: Path) -> None:
    install_file(STANDIN_LIB, root / "usr/lib/python3/dist-packages/lgtm_standin.py", 0o644)


def install_python_program(source: Path, target: Path) -> None:
    """The repository keeps Python files free of shebangs (ansible-test sanity); an
    image's entrypoint gets Debian's python3 as its interpreter here."""
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text("#!/usr/bin/python3\n" + source.read_text())
    target.chmod(0o755)


def _drop_packaged_postgres_cluster(root: Path) -> None:
    # The official images start with no cluster and no default config; the
    # package's postinst made both.
    for leftover in ("var/lib/postgresql/18/main", "etc/postgresql/18/main"):
        shutil.rmtree(root / leftover, ignore_errors=True)


def sid_rootfs() -> Path:
    """Debian sid with the real Prometheus, PostgreSQL 18 and Valkey 9 (cached)."""
    return cached_debootstrap(CACHE_DIR / f"sid-services-{recipe_hash(SID_PACKAGES)}",
                              "sid", SID_PACKAGES, _drop_packaged_postgres_cluster)


def python_standin_rootfs() -> Path:
    """Debian sid minbase with python3 and PyYAML, for stand-ins (cached by package list)."""
    return cached_debootstrap(
        CACHE_DIR / f"sid-python-{recipe_hash(PYTHON_STANDIN_PACKAGES)}", "sid",
        PYTHON_STANDIN_PACKAGES)


def sid_version(package: str) -> str:
    """The packaged upstream version, e.g. 3.5.3 from 3.5.3+ds1-1."""
    status = (sid_rootfs() / "var/lib/dpkg/status").read_text()
    block = status.split(f"Package: {package}\n", 1)[1].split("\n\n", 1)[0]
    version = next(line for line in block.splitlines() if line.startswith("Version: "))
    upstream = version.split(": ", 1)[1].split(":", 1)[-1]
    return upstream.split("+", 1)[0].split("-", 1)[0].split("~", 1)[0]


def busybox_version() -> str:
    out = subprocess.run(["busybox"], capture_output=True, text=True, check=False).stdout
    return out.split()[1].lstrip("v") if out.startswith("BusyBox") else "unknown"
