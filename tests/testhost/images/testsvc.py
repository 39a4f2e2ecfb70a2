"""busybox httpd: a real small server for exercising the quadlet core itself."""

from __future__ import annotations

import shutil
from pathlib import Path

from images.base import Recipe, busybox_version, minimal_tree, owned_dir


def populate(root: Path, recipe: Recipe) -> None:
    minimal_tree(root, 10001, "/srv")
    (root / "bin").mkdir()
    shutil.copy(recipe.inputs[0], root / "bin/busybox")
    (root / "bin/sh").symlink_to("busybox")
    owned_dir(root / "srv/www", 10001)
    (root / "srv/www/index.html").write_text("lgtm.stack test service: no config mounted\n")


def recipes() -> list[Recipe]:
    busybox = Path(shutil.which("busybox") or "/bin/busybox")
    return [Recipe(
        name="testsvc", version=busybox_version(), module=__file__, kind="packaged",
        stands_for="a small HTTP service for testing the quadlet core (busybox httpd)",
        user="10001:10001", entrypoint=["/bin/busybox", "httpd", "-f", "-v"],
        cmd=["-p", "8080", "-h", "/srv/www"], inputs=[busybox], populate=populate,
        exposes=[8080])]
