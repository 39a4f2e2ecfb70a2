"""Local test images for lgtm.stack, built without any registry.

Each image is a small rootfs laid out like the upstream image it stands for
(entrypoint path, UID, data and config paths), made into a Podman image with
`podman import`, and named `localhost/lgtm-test/<name>:<version>` with a label
saying what it is: never an upstream name, because Podman only pulls missing
images and a host that once got a test image under an upstream name would keep it.

All images live in one Podman image store on the outer machine that every test
host mounts read-only as an additional image store, so a host sees them without
a copy. An image is rebuilt only when its recipe (this file, its inputs) changed.

Real software first: Loki and Tempo are the real upstream binaries from the
project's shared/bin; Prometheus, PostgreSQL and Valkey are Debian sid's real
packages (the closest to upstream's current versions) with entrypoints that
honour the official images' contracts; `testsvc` is busybox's httpd, a real
small server for exercising the quadlet core itself. What no registry here offers and
cannot be built here (Mimir) is a contract stand-in: a Python program under
tests/testhost/standins/ on a minimal Debian sid with python3 and PyYAML, honouring the
upstream image's entrypoint, user, flags, ports, config schema and API.
"""

from __future__ import annotations

import hashlib
import json
import lzma
import os
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from testhost import CACHE_DIR, MIRROR, cache_lock, log, recipe_hash, run

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SHARED_BIN = Path(os.environ.get("LGTM_SHARED_BIN", PROJECT_ROOT.parent / "shared" / "bin"))
STORE = CACHE_DIR / "images"
NAMESPACE = "localhost/lgtm-test"
FILES = Path(__file__).resolve().parent / "files"
# One sid tree serves the three Debian-packaged services; each image is a copy
# of it with its own user ids and entrypoint.
SID_PACKAGES = ["prometheus", "postgresql-18", "valkey-server", "ca-certificates"]
# The base of the Python contract stand-ins (Mimir now; Grafana and Alloy can reuse it).
PYTHON_STANDIN_PACKAGES = ["python3-minimal", "python3-yaml", "ca-certificates"]
STANDINS = Path(__file__).resolve().parent / "standins"


@dataclass
class Recipe:
    name: str
    version: str
    stands_for: str
    user: str
    entrypoint: list[str]
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

    @property
    def ref(self) -> str:
        return f"{NAMESPACE}/{self.name}:{self.version}"

    def digest(self) -> str:
        input_hashes = [sha256_file(path) for path in self.inputs]
        source = Path(__file__).read_text()
        return recipe_hash(self.name, self.version, self.user, self.entrypoint, self.cmd,
                           self.workdir, self.env, self.stop_signal, input_hashes, source)


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


def unpack_xz(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    with lzma.open(source) as compressed, open(target, "wb") as out:
        shutil.copyfileobj(compressed, out)
    target.chmod(0o755)


def owned_dir(path: Path, uid: int) -> None:
    path.mkdir(parents=True, exist_ok=True)
    os.chown(path, uid, uid)


def populate_testsvc(root: Path, recipe: Recipe) -> None:
    minimal_tree(root, 10001, "/srv")
    busybox = Path(shutil.which("busybox") or "/bin/busybox")
    (root / "bin").mkdir()
    shutil.copy(busybox, root / "bin/busybox")
    (root / "bin/sh").symlink_to("busybox")
    owned_dir(root / "srv/www", 10001)
    (root / "srv/www/index.html").write_text("lgtm.stack test service: no config mounted\n")


def populate_loki(root: Path, recipe: Recipe) -> None:
    minimal_tree(root, 10001, "/loki")
    unpack_xz(recipe.inputs[0], root / "usr/bin/loki")
    owned_dir(root / "loki", 10001)
    (root / "etc/loki").mkdir(parents=True)


def populate_tempo(root: Path, recipe: Recipe) -> None:
    minimal_tree(root, 10001, "/var/tempo")
    unpack_xz(recipe.inputs[0], root / "tempo")
    owned_dir(root / "var/tempo", 10001)


def sid_rootfs() -> Path:
    """Debian sid with the real Prometheus, PostgreSQL 18 and Valkey 9 (cached)."""
    target = CACHE_DIR / f"sid-services-{recipe_hash(SID_PACKAGES)}"
    with cache_lock("sid-rootfs"):
        if (target / ".complete").exists():
            return target
        staging = target.with_name(target.name + ".tmp")
        shutil.rmtree(staging, ignore_errors=True)
        log(f"debootstrap sid with {', '.join(SID_PACKAGES)} (cached afterwards)")
        run(["debootstrap", "--variant=minbase", f"--include={','.join(SID_PACKAGES)}",
             "sid", str(staging), MIRROR], stdout=subprocess.DEVNULL)
        # The official images start with no cluster and no default config; the
        # packages' postinst made both.
        for leftover in ("var/lib/postgresql/18/main", "etc/postgresql/18/main"):
            shutil.rmtree(staging / leftover, ignore_errors=True)
        for cache in ("var/cache/apt/archives", "var/lib/apt/lists"):
            shutil.rmtree(staging / cache, ignore_errors=True)
        (staging / ".complete").write_text("ok\n")
        staging.rename(target)
    return target


def python_standin_rootfs() -> Path:
    """Debian sid minbase with python3 and PyYAML, for stand-ins (cached by package list)."""
    target = CACHE_DIR / f"sid-python-{recipe_hash(PYTHON_STANDIN_PACKAGES)}"
    with cache_lock("python-standin-rootfs"):
        if (target / ".complete").exists():
            return target
        staging = target.with_name(target.name + ".tmp")
        shutil.rmtree(staging, ignore_errors=True)
        log(f"debootstrap sid with {', '.join(PYTHON_STANDIN_PACKAGES)} (cached afterwards)")
        run(["debootstrap", "--variant=minbase",
             f"--include={','.join(PYTHON_STANDIN_PACKAGES)}", "sid", str(staging), MIRROR],
            stdout=subprocess.DEVNULL)
        for cache in ("var/cache/apt/archives", "var/lib/apt/lists"):
            shutil.rmtree(staging / cache, ignore_errors=True)
        (staging / ".complete").write_text("ok\n")
        staging.rename(target)
    return target


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


def populate_prometheus(root: Path, recipe: Recipe) -> None:
    copy_tree(sid_rootfs(), root)
    install_file(FILES / "prometheus.yml", root / "etc/prometheus/prometheus.yml", 0o644)
    owned_dir(root / "prometheus", 65534)


def populate_postgres(root: Path, recipe: Recipe) -> None:
    copy_tree(sid_rootfs(), root)
    set_uid(root, "postgres", 999)
    install_file(FILES / "postgres-entrypoint.sh", root / "usr/local/bin/docker-entrypoint.sh")
    (root / "docker-entrypoint-initdb.d").mkdir()
    owned_dir(root / "var/lib/postgresql", 999)
    owned_dir(root / "var/run/postgresql", 999)


def populate_valkey(root: Path, recipe: Recipe) -> None:
    copy_tree(sid_rootfs(), root)
    set_uid(root, "valkey", 999)
    install_file(FILES / "valkey-entrypoint.sh", root / "usr/local/bin/docker-entrypoint.sh")
    owned_dir(root / "data", 999)


def populate_mimir(root: Path, recipe: Recipe) -> None:
    # Upstream's image is distroless and runs /bin/mimir as root with WORKDIR /, so the
    # default relative data paths (./tsdb/, ...) land under /.
    copy_tree(python_standin_rootfs(), root)
    program, schema = recipe.inputs
    # The repository keeps Python files free of shebangs (ansible-test sanity); the
    # image's entrypoint gets Debian's python3 as its interpreter here.
    target = root / "bin/mimir"
    target.write_text("#!/usr/bin/python3\n" + program.read_text())
    target.chmod(0o755)
    install_file(schema, root / "usr/share/lgtm-standin/mimir/schema.json", 0o644)


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


def recipes() -> dict[str, Recipe]:
    busybox = Path(shutil.which("busybox") or "/bin/busybox")
    sid_inputs = [FILES / "prometheus.yml", FILES / "postgres-entrypoint.sh",
                  FILES / "valkey-entrypoint.sh"]
    return {
        "testsvc": Recipe(
            name="testsvc", version=busybox_version(),
            stands_for="a small HTTP service for testing the quadlet core (busybox httpd)",
            user="10001:10001", entrypoint=["/bin/busybox", "httpd", "-f", "-v"],
            cmd=["-p", "8080", "-h", "/srv/www"], inputs=[busybox],
            populate=populate_testsvc, exposes=[8080]),
        "loki": Recipe(
            name="loki", version="3.7.6", stands_for="docker.io/grafana/loki:3.7.6 (real binary)",
            user="10001:10001", entrypoint=["/usr/bin/loki"],
            cmd=["-config.file=/etc/loki/local-config.yaml"],
            inputs=[SHARED_BIN / "loki-3.7.6-linux-amd64.xz"], populate=populate_loki,
            exposes=[3100, 9095]),
        "tempo": Recipe(
            name="tempo", version="3.0.3", stands_for="docker.io/grafana/tempo:3.0.3 (real binary)",
            user="10001:10001", entrypoint=["/tempo"],
            inputs=[SHARED_BIN / "tempo-3.0.3-linux-amd64.xz"], populate=populate_tempo,
            exposes=[3200, 4317, 4318]),
        "prometheus": Recipe(
            name="prometheus", version="3.5", package="prometheus",
            stands_for="docker.io/prom/prometheus (real binary from Debian sid)",
            user="65534:65534", entrypoint=["/bin/prometheus"],
            cmd=["--config.file=/etc/prometheus/prometheus.yml", "--storage.tsdb.path=/prometheus"],
            workdir="/prometheus", inputs=sid_inputs, populate=populate_prometheus,
            exposes=[9090]),
        "postgres": Recipe(
            name="postgres", version="18", package="postgresql-18",
            stands_for="docker.io/library/postgres:18 (real server from Debian sid)",
            user="0:0", entrypoint=["docker-entrypoint.sh"], cmd=["postgres"],
            env={"PGDATA": "/var/lib/postgresql/18/docker",
                 "PATH": "/usr/local/sbin:/usr/local/bin:/usr/lib/postgresql/18/bin:"
                         "/usr/sbin:/usr/bin:/sbin:/bin"},
            stop_signal="SIGINT", inputs=sid_inputs, populate=populate_postgres,
            exposes=[5432]),
        "valkey": Recipe(
            name="valkey", version="9", package="valkey-server",
            stands_for="docker.io/valkey/valkey:9 (real server from Debian sid)",
            user="0:0", entrypoint=["docker-entrypoint.sh"], cmd=["valkey-server"],
            workdir="/data", inputs=sid_inputs, populate=populate_valkey, exposes=[6379]),
        "mimir": Recipe(
            name="mimir", version="2.17.11",
            stands_for="contract stand-in for docker.io/grafana/mimir:2.17.11 (Python, "
                       "tests/testhost/standins/mimir; not the real Mimir)",
            # Upstream's Dockerfile: ENTRYPOINT ["/bin/mimir"], no CMD, no USER, EXPOSE 8080.
            user="0:0", entrypoint=["/bin/mimir"],
            inputs=[STANDINS / "mimir/mimir.py", STANDINS / "mimir/schema.json"],
            populate=populate_mimir, exposes=[8080]),
    }


def make_tarball(recipe: Recipe, workdir: Path) -> Path:
    root = workdir / "root"
    root.mkdir()
    assert recipe.populate is not None
    recipe.populate(root, recipe)
    tarball = workdir / f"{recipe.name}.tar"
    with tarfile.open(tarball, "w") as archive:
        for entry in sorted(root.iterdir()):
            archive.add(entry, arcname=entry.name)
    return tarball


def podman_in(rootfs: Path, workdir: Path, *args: str) -> None:
    """Run the test host image's own Podman against the shared store, without booting.

    The outer machine has no Podman; the rootfs has the same one the hosts run,
    so the store it writes is one they read. --volatile keeps the cached rootfs
    pristine.
    """
    cmd = ["systemd-nspawn", "--quiet", "--register=no", "--keep-unit", "--volatile=overlay",
           "-D", str(rootfs), f"--bind={STORE}:/store", f"--bind-ro={workdir}:/in",
           "--setenv=CONTAINERS_STORAGE_CONF=/in/storage.conf",
           "podman", "--root", "/store", "--runroot", "/run/lgtm-images", *args]
    subprocess.run(cmd, check=True, env=dict(os.environ, SYSTEMD_SECCOMP="0"),
                   stdout=subprocess.DEVNULL)


def import_image(rootfs: Path, recipe: Recipe) -> None:
    if recipe.package:
        found = sid_version(recipe.package)
        if found != recipe.version and not found.startswith(recipe.version + "."):
            raise SystemExit(f"test image {recipe.name}: Debian sid now has {recipe.package} "
                             f"{found}, not the {recipe.version} line the tag names")
    with tempfile.TemporaryDirectory(prefix=f"lgtm-image-{recipe.name}-",
                                     dir=CACHE_DIR) as tmp:
        workdir = Path(tmp)
        tarball = make_tarball(recipe, workdir)
        (workdir / "storage.conf").write_text('[storage]\ndriver = "overlay"\n')
        changes = [
            f"USER {recipe.user}",
            f"WORKDIR {recipe.workdir}",
            *(f"ENV {key}={value}" for key, value in recipe.env.items()),
            *([f"STOPSIGNAL {recipe.stop_signal}"] if recipe.stop_signal else []),
            f"ENTRYPOINT {json.dumps(recipe.entrypoint)}",
            f"CMD {json.dumps(recipe.cmd)}",
            f"LABEL lgtm.stack.test-image=\"{recipe.stands_for}\"",
            f"LABEL lgtm.stack.recipe={recipe.digest()}",
            *(f"EXPOSE {port}" for port in recipe.exposes),
        ]
        args = ["import"]
        for change in changes:
            args += ["--change", change]
        podman_in(rootfs, workdir, *args, f"/in/{tarball.name}", recipe.ref)


def build_store(rootfs: Path, names: list[str] | None = None) -> Path:
    """Import every asked-for image whose recipe changed; returns the store path."""
    available = recipes()
    wanted = names if names else list(available)
    unknown = sorted(set(wanted) - set(available))
    if unknown:
        raise SystemExit(f"unknown test image(s): {', '.join(unknown)}; known: {sorted(available)}")
    with cache_lock("images"):
        STORE.mkdir(parents=True, exist_ok=True)
        manifest_path = STORE / "lgtm-manifest.json"
        manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
        rebuilt = False
        for name in wanted:
            recipe = available[name]
            if not all(path.exists() for path in recipe.inputs):
                missing = [str(p) for p in recipe.inputs if not p.exists()]
                raise SystemExit(f"test image {name}: missing input(s) {missing}")
            digest = recipe.digest()
            if manifest.get(name, {}).get("digest") == digest:
                continue
            log(f"building test image {recipe.ref}")
            import_image(rootfs, recipe)
            rebuilt = True
            manifest[name] = {"digest": digest, "ref": recipe.ref}
            manifest_path.write_text(json.dumps(manifest, indent=2))
        if rebuilt:
            # The image a rebuilt tag used to name is dangling now: drop it.
            with tempfile.TemporaryDirectory(dir=CACHE_DIR) as tmp:
                (Path(tmp) / "storage.conf").write_text('[storage]\ndriver = "overlay"\n')
                podman_in(rootfs, Path(tmp), "image", "prune", "--force")
    return STORE
