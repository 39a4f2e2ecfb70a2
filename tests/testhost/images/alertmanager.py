"""Alertmanager: Debian sid's real prometheus-alertmanager (and amtool), laid out like
docker.io/prom/alertmanager.

Its own cached sid tree rather than one more package in base.SID_PACKAGES: that list is
part of every image's recipe digest, so growing it would rebuild the other images."""

from __future__ import annotations

import os
from pathlib import Path

from testhost import CACHE_DIR, cached_debootstrap, recipe_hash

from images.base import Recipe, copy_tree, owned_dir

ALERTMANAGER_PACKAGES = ["prometheus-alertmanager", "ca-certificates"]
# The line the tag names; the build fails when sid moves to another one.
LINE = "0.33"

# Upstream's image (prometheus/alertmanager Dockerfile): the binaries in /bin, an example
# config at /etc/alertmanager/alertmanager.yml, /alertmanager owned by nobody, USER nobody,
# WORKDIR /alertmanager, EXPOSE 9093, CMD naming both paths.
EXAMPLE_CONFIG = """\
route:
  receiver: default
receivers:
  - name: default
"""


def alertmanager_rootfs() -> Path:
    return cached_debootstrap(
        CACHE_DIR / f"sid-alertmanager-{recipe_hash(ALERTMANAGER_PACKAGES)}",
        "sid",
        ALERTMANAGER_PACKAGES,
    )


def packaged_version(root: Path) -> str:
    status = (root / "var/lib/dpkg/status").read_text()
    block = status.split("Package: prometheus-alertmanager\n", 1)[1].split("\n\n", 1)[0]
    line = next(row for row in block.splitlines() if row.startswith("Version: "))
    return line.split(": ", 1)[1].split(":", 1)[-1].split("+", 1)[0].split("-", 1)[0]


def populate(root: Path, recipe: Recipe) -> None:
    source = alertmanager_rootfs()
    found = packaged_version(source)
    if not found.startswith(LINE + "."):
        raise SystemExit(
            f"test image alertmanager: Debian sid now has prometheus-alertmanager "
            f"{found}, not the {LINE} line the tag names"
        )
    copy_tree(source, root)
    # Debian names the server prometheus-alertmanager; upstream's image has /bin/alertmanager
    # (/bin is /usr/bin here).
    os.symlink("prometheus-alertmanager", root / "usr/bin/alertmanager")
    config_dir = root / "etc/alertmanager"
    config_dir.mkdir(parents=True, exist_ok=True)
    (config_dir / "alertmanager.yml").write_text(EXAMPLE_CONFIG)
    owned_dir(config_dir, 65534)
    owned_dir(root / "alertmanager", 65534)


def recipes() -> list[Recipe]:
    return [
        Recipe(
            name="alertmanager",
            version=LINE,
            module=__file__, kind="packaged",
            stands_for="docker.io/prom/alertmanager (real binary and amtool from Debian sid)",
            user="65534:65534",
            entrypoint=["/bin/alertmanager"],
            cmd=[
                "--config.file=/etc/alertmanager/alertmanager.yml",
                "--storage.path=/alertmanager",
            ],
            workdir="/alertmanager",
            populate=populate,
            exposes=[9093],
        )
    ]
