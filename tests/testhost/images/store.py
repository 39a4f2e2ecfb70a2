"""The shared image store: import every recipe whose digest changed."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import tarfile
import tempfile
from pathlib import Path

from testhost import CACHE_DIR, cache_lock, log

from images.base import Recipe, sid_version

STORE = CACHE_DIR / "images"
# Every other module under images/ defines recipes, one per image or family of images.
MACHINERY = {"__init__", "base", "store"}


def recipe_modules() -> list[str]:
    here = Path(__file__).parent
    return sorted(path.stem for path in here.glob("*.py") if path.stem not in MACHINERY)


def recipes() -> dict[str, Recipe]:
    found: dict[str, Recipe] = {}
    for module_name in recipe_modules():
        module = importlib.import_module(f"images.{module_name}")
        for recipe in module.recipes():
            if recipe.name in found:
                raise SystemExit(f"test image {recipe.name} is defined twice")
            found[recipe.name] = recipe
    return found


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
