"""Mimir: a contract stand-in (tests/testhost/standins/mimir), not the real Mimir."""

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
    python_standin_rootfs,
)


def populate(root: Path, recipe: Recipe) -> None:
    # Upstream's image is distroless and runs /bin/mimir as root with WORKDIR /, so the
    # default relative data paths (./tsdb/, ...) land under /.
    copy_tree(python_standin_rootfs(), root)
    program, schema, _lib = recipe.inputs
    install_python_program(program, root / "bin/mimir")
    install_file(schema, root / "usr/share/lgtm-standin/mimir/schema.json", 0o644)
    install_standin_lib(root)


def recipes() -> list[Recipe]:
    return [Recipe(
        name="mimir", version="2.17.11", module=__file__,
        stands_for="contract stand-in for docker.io/grafana/mimir:2.17.11 (Python, "
                   "tests/testhost/standins/mimir; not the real Mimir)",
        # Upstream's Dockerfile: ENTRYPOINT ["/bin/mimir"], no CMD, no USER, EXPOSE 8080.
        user="0:0", entrypoint=["/bin/mimir"],
        inputs=[STANDINS / "mimir/mimir.py", STANDINS / "mimir/schema.json", STANDIN_LIB],
        populate=populate, exposes=[8080])]
