"""GlitchTip: the real 5.x backend from shared/src, built into an image laid out like
upstream's (its Dockerfile: WORKDIR /code, user app 5000:5000 owning /code and
/code/uploads, CMD ./bin/start.sh, no entrypoint, ENV PORT=8080).

Built like upstream's two stages, on Debian trixie's Python 3.13 instead of the
python:3.13 images: a build tree with a compiler and libpq-dev installs the locked
dependencies with `uv sync --frozen --no-dev --no-install-project` from PyPI into a
virtual environment at /usr/local (where upstream's python image keeps them, so
`python`, `celery` and `uwsgi` are on PATH as there); the image is a slim runtime tree
(python3, libpython3.13, libpq5, libxml2) plus that /usr/local and the source.

The dependency install is the expensive step (a few minutes): it is cached under the
test cache keyed on uv.lock, pyproject.toml, the build packages and the uv version, so
editing this recipe re-imports the image without reinstalling anything.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tarfile
from pathlib import Path

from testhost import CACHE_DIR, cache_lock, cached_debootstrap, log, recipe_hash, run

from images.base import SHARED_SRC, Recipe, copy_tree

VERSION = "5.1.0"
SOURCE = SHARED_SRC / "glitchtip-backend-5.1.0-c264800f.tar.xz"
# uv from PyPI, pinned (upstream's Dockerfile copies uv:latest from its image).
UV_VERSION = "0.13.9"
# What compiling uWSGI and psycopg's C extension needs; python3-venv bootstraps pip
# for installing uv itself.
BUILD_PACKAGES = ["python3", "python3-dev", "python3-venv", "gcc", "libc6-dev", "libpq-dev",
                  "libxml2", "ca-certificates"]
# Upstream's runtime stage adds libxml2 and libpq5 to python:3.13-slim; uWSGI embeds
# libpython, which Debian ships separately.
RUNTIME_PACKAGES = ["python3", "libpython3.13", "libpq5", "libxml2", "ca-certificates"]
# Bumped when install_dependencies changes what it produces, so the cache key moves.
DEPS_REVISION = 1
APP_UID = 5000


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _source_member(name: str) -> bytes:
    with tarfile.open(SOURCE) as archive:
        member = archive.extractfile(f"glitchtip-backend/{name}")
        assert member is not None, f"{SOURCE} has no {name}"
        return member.read()


def _chroot(root: Path, script: str) -> None:
    # A clean environment: the outer machine's pip settings (find-links, local
    # indexes) and CA paths mean nothing inside the tree.
    env = {
        "PATH": "/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "HOME": "/root",
        "LANG": "C.UTF-8",
        # PyPI is reached through a TLS-inspecting proxy: trust what the outer machine trusts.
        "SSL_CERT_FILE": "/tmp/outer-ca.pem",
        "PIP_CERT": "/tmp/outer-ca.pem",
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        "UV_COMPILE_BYTECODE": "1",
        "UV_PYTHON_DOWNLOADS": "never",
        "UV_PYTHON": "/usr/bin/python3",
        "UV_PROJECT_ENVIRONMENT": "/usr/local",
        "UV_LINK_MODE": "copy",
        "UV_CACHE_DIR": "/tmp/uv-cache",
    }
    run(["chroot", str(root), "/bin/sh", "-ec", script], env=env)


def install_dependencies() -> Path:
    """/usr/local with GlitchTip's locked dependencies, built once per uv.lock."""
    lock, pyproject = _source_member("uv.lock"), _source_member("pyproject.toml")
    key = recipe_hash(_sha256(lock), _sha256(pyproject), BUILD_PACKAGES, UV_VERSION,
                      DEPS_REVISION)
    target = CACHE_DIR / f"glitchtip-deps-{key}"
    with cache_lock("glitchtip-deps"):
        if (target / ".complete").exists():
            return target
        build = cached_debootstrap(
            CACHE_DIR / f"trixie-pybuild-{recipe_hash(BUILD_PACKAGES)}", "trixie",
            BUILD_PACKAGES)
        staging = target.with_name(target.name + ".tmp")
        shutil.rmtree(staging, ignore_errors=True)
        log(f"installing GlitchTip {VERSION} dependencies from uv.lock (cached afterwards)")
        copy_tree(build, staging)
        shutil.copy("/etc/ssl/certs/ca-certificates.crt", staging / "tmp/outer-ca.pem")
        shutil.copy("/etc/resolv.conf", staging / "etc/resolv.conf")
        code = staging / "code"
        code.mkdir()
        (code / "uv.lock").write_bytes(lock)
        (code / "pyproject.toml").write_bytes(pyproject)
        _chroot(staging, f"""
            python3 -m venv /opt/uv
            /opt/uv/bin/pip install --quiet uv=={UV_VERSION}
            /opt/uv/bin/uv venv --allow-existing /usr/local
            cd /code
            /opt/uv/bin/uv sync --frozen --no-dev --no-install-project
        """)
        result = staging.with_name(staging.name + ".result")
        shutil.rmtree(result, ignore_errors=True)
        result.mkdir()
        (staging / "usr/local").rename(result / "local")
        shutil.rmtree(staging)
        (result / ".complete").write_text(f"uv {UV_VERSION}\n")
        shutil.rmtree(target, ignore_errors=True)
        result.rename(target)
        log(f"{target.name} ready")
    return target


def runtime_rootfs() -> Path:
    return cached_debootstrap(
        CACHE_DIR / f"trixie-pyruntime-{recipe_hash(RUNTIME_PACKAGES)}", "trixie",
        RUNTIME_PACKAGES)


def populate(root: Path, recipe: Recipe) -> None:
    deps = install_dependencies()
    copy_tree(runtime_rootfs(), root)
    run(["cp", "-a", f"{deps / 'local'}/.", str(root / "usr/local")])
    code = root / "code"
    code.mkdir()
    # All of the tree, SQL files included: a filter built from .dockerignore's `*.sql`
    # would drop the migrations' SQL everywhere, where Docker drops it only at the top.
    run(["tar", "-xJf", str(recipe.inputs[0]), "-C", str(code), "--strip-components=1",
         "--no-same-owner"])
    run(["chroot", str(root), "useradd", "--uid", str(APP_UID), "--user-group", "app"],
        stdout=subprocess.DEVNULL)
    for path in (code, code / "uploads"):
        os.chown(path, APP_UID, APP_UID)


def recipes() -> list[Recipe]:
    return [Recipe(
        name="glitchtip", version=VERSION, module=__file__,
        stands_for=f"docker.io/glitchtip/glitchtip:v{VERSION} (the real GlitchTip backend, "
                   "5.x line, upstream master c264800f built from source on Debian trixie "
                   "Python 3.13 with its uv.lock)",
        user="app:app", entrypoint=[], cmd=["./bin/start.sh"], workdir="/code",
        env={"PORT": "8080", "PYTHONUNBUFFERED": "1", "GLITCHTIP_VERSION": VERSION,
             "PATH": "/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin"},
        inputs=[SOURCE], populate=populate, exposes=[8080])]
