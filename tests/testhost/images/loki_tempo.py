"""Loki and Tempo: the real upstream binaries from shared/bin, laid out like upstream's images."""

from __future__ import annotations

from pathlib import Path

from images.base import SHARED_BIN, Recipe, minimal_tree, owned_dir, unpack_xz


def populate_loki(root: Path, recipe: Recipe) -> None:
    minimal_tree(root, 10001, "/loki")
    unpack_xz(recipe.inputs[0], root / "usr/bin/loki")
    owned_dir(root / "loki", 10001)
    (root / "etc/loki").mkdir(parents=True)


def populate_tempo(root: Path, recipe: Recipe) -> None:
    minimal_tree(root, 10001, "/var/tempo")
    unpack_xz(recipe.inputs[0], root / "tempo")
    owned_dir(root / "var/tempo", 10001)


def recipes() -> list[Recipe]:
    return [
        Recipe(
            name="loki", version="3.7.6", module=__file__,
            stands_for="docker.io/grafana/loki:3.7.6 (real binary)",
            user="10001:10001", entrypoint=["/usr/bin/loki"],
            cmd=["-config.file=/etc/loki/local-config.yaml"],
            inputs=[SHARED_BIN / "loki-3.7.6-linux-amd64.xz"], populate=populate_loki,
            exposes=[3100, 9095]),
        Recipe(
            name="tempo", version="3.0.3", module=__file__,
            stands_for="docker.io/grafana/tempo:3.0.3 (real binary)",
            user="10001:10001", entrypoint=["/tempo"],
            inputs=[SHARED_BIN / "tempo-3.0.3-linux-amd64.xz"], populate=populate_tempo,
            exposes=[3200, 4317, 4318]),
    ]
