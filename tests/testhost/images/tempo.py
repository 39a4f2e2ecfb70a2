"""Tempo: a contract stand-in (tests/testhost/standins/tempo), not the real Tempo.

The stand-in is issue 16's work: until standins/tempo/tempo.py exists this recipe
cannot be built, and every scenario that wants the image is reported BLOCKED.
"""

from __future__ import annotations

from pathlib import Path

from images.base import (
    STANDIN_LIB,
    STANDINS,
    Recipe,
    copy_tree,
    install_file,
    install_python_program,
    install_standin_lib,
    owned_dir,
    python_standin_rootfs,
)

UID = 10001


def populate(root: Path, recipe: Recipe) -> None:
    # Upstream's image: /tempo as 10001:10001, no default config, /var/tempo owned by it.
    copy_tree(python_standin_rootfs(), root)
    program, schema, _lib = recipe.inputs
    install_python_program(program, root / "tempo")
    install_file(schema, root / "usr/share/lgtm-standin/tempo/schema.json", 0o644)
    install_standin_lib(root)
    with open(root / "etc/passwd", "a") as passwd:
        passwd.write(f"tempo:x:{UID}:{UID}:tempo:/var/tempo:/sbin/nologin\n")
    owned_dir(root / "var/tempo", UID)


def recipes() -> list[Recipe]:
    return [Recipe(
        name="tempo", version="3.0.3", module=__file__,
        stands_for="contract stand-in for docker.io/grafana/tempo:3.0.3 (Python, "
                   "tests/testhost/standins/tempo; not the real Tempo)",
        user=f"{UID}:{UID}", entrypoint=["/tempo"],
        inputs=[STANDINS / "tempo/tempo.py", STANDINS / "tempo/schema.json", STANDIN_LIB],
        populate=populate, exposes=[3200, 4317, 4318])]
