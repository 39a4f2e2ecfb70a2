"""Tempo: a contract stand-in (tests/testhost/standins/tempo), not the real Tempo."""

from __future__ import annotations

from pathlib import Path

from testhost import CACHE_DIR, cached_debootstrap, recipe_hash

from images.base import (
    PYTHON_STANDIN_PACKAGES,
    STANDIN_LIB,
    STANDINS,
    Recipe,
    copy_tree,
    install_file,
    install_python_program,
    install_standin_lib,
    owned_dir,
)

UID = 10001
# python3-h2 carries the OTLP gRPC receiver (HTTP/2); its own cached rootfs, as Alloy's.
TEMPO_PACKAGES = [*PYTHON_STANDIN_PACKAGES, "python3-h2"]


def tempo_rootfs() -> Path:
    return cached_debootstrap(CACHE_DIR / f"sid-tempo-{recipe_hash(TEMPO_PACKAGES)}", "sid",
                              TEMPO_PACKAGES)


def populate(root: Path, recipe: Recipe) -> None:
    # Upstream's image: /tempo as 10001:10001, no default config, /var/tempo owned by it.
    copy_tree(tempo_rootfs(), root)
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
