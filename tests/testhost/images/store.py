"""The shared image store: import every recipe whose digest changed.

With LGTM_TEST_IMAGE_ARCHIVES=DIR, an archive DIR/<image>.tar (docker-archive or
oci-archive, as `podman save` writes them) takes the place of that image's recipe: it is
loaded into the store under the same localhost/lgtm-test name, so every scenario runs it
unchanged, and loaded again whenever the archive's sha256 changes. Such an image keeps
its own labels: a real upstream image has no KIND_LABEL, and scenarios that must tell a
real program from a stand-in or a distribution's build read that label, never how the
image got here.
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import tarfile
import tempfile
from pathlib import Path

from testhost import CACHE_DIR, cache_lock, log

from images.base import Recipe, sha256_file, sid_version

STORE = Path(os.environ.get("LGTM_TEST_IMAGE_STORE", CACHE_DIR / "images"))
ARCHIVES_ENV = "LGTM_TEST_IMAGE_ARCHIVES"
# Every locally built image carries both; see Recipe.kind.
WHAT_LABEL = "lgtm.stack.test-image"
KIND_LABEL = "lgtm.stack.test-image.kind"
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


def podman_in(rootfs: Path, workdir: Path, *args: str,
              binds: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    """Run the test host image's own Podman against the shared store, without booting.

    The outer machine has no Podman; the rootfs has the same one the hosts run,
    so the store it writes is one they read. --volatile keeps the cached rootfs
    pristine.
    """
    cmd = ["systemd-nspawn", "--quiet", "--register=no", "--keep-unit", "--volatile=overlay",
           "-D", str(rootfs), f"--bind={STORE}:/store", f"--bind-ro={workdir}:/in",
           *(f"--bind-ro={bind}" for bind in binds),
           "--setenv=CONTAINERS_STORAGE_CONF=/in/storage.conf",
           # The outer machine's cgroups v1 makes Podman warn on the output it returns.
           "--setenv=PODMAN_IGNORE_CGROUPSV1_WARNING=1",
           "podman", "--root", "/store", "--runroot", "/run/lgtm-images", *args]
    result = subprocess.run(cmd, check=False, env=dict(os.environ, SYSTEMD_SECCOMP="0"),
                            capture_output=True, text=True)
    if result.returncode != 0:
        log(f"podman {' '.join(args)} failed:\n{result.stdout.strip()}\n{result.stderr.strip()}")
        raise subprocess.CalledProcessError(result.returncode, cmd, result.stdout, result.stderr)
    return result


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
            f"LABEL {WHAT_LABEL}=\"{recipe.stands_for}\"",
            f"LABEL {KIND_LABEL}={recipe.kind}",
            f"LABEL lgtm.stack.recipe={recipe.digest()}",
            *(f"EXPOSE {port}" for port in recipe.exposes),
        ]
        args = ["import"]
        for change in changes:
            args += ["--change", change]
        podman_in(rootfs, workdir, *args, f"/in/{tarball.name}", recipe.ref)


def archives(available: dict[str, Recipe]) -> dict[str, Path]:
    """The image archives LGTM_TEST_IMAGE_ARCHIVES names, by image; a stray file fails."""
    setting = os.environ.get(ARCHIVES_ENV)
    if not setting:
        return {}
    directory = Path(setting)
    if not directory.is_dir():
        raise SystemExit(f"{ARCHIVES_ENV}={setting}: not a directory")
    found: dict[str, Path] = {}
    for path in sorted(directory.iterdir()):
        name = path.name.removesuffix(".tar")
        if not path.is_file() or path.suffix != ".tar" or name not in available:
            raise SystemExit(f"{path}: not an image archive this harness knows; {ARCHIVES_ENV} "
                             f"holds only <image>.tar files, <image> one of "
                             f"{', '.join(sorted(available))}")
        found[name] = path
    return found


def unbuildable(names: list[str], available: dict[str, Recipe] | None = None,
                given: dict[str, Path] | None = None) -> dict[str, str]:
    """Why each of these images cannot be had here (an archive in place of a recipe counts).
    Callers that already hold the recipes and archives pass them, so neither is read twice."""
    available = recipes() if available is None else available
    given = archives(available) if given is None else given
    reasons = {}
    for name in names:
        if name not in available:
            reasons[name] = f"no recipe (known: {', '.join(sorted(available))})"
        elif name not in given and (missing := available[name].missing_inputs()):
            reasons[name] = f"missing input(s) {', '.join(missing)}"
    return reasons


def load_archive(rootfs: Path, recipe: Recipe, archive: Path) -> None:
    """`podman load` the archive and give its one image the recipe's name."""
    with tempfile.TemporaryDirectory(prefix=f"lgtm-archive-{recipe.name}-",
                                     dir=CACHE_DIR) as tmp:
        workdir = Path(tmp)
        (workdir / "storage.conf").write_text('[storage]\ndriver = "overlay"\n')
        try:
            loaded = podman_in(rootfs, workdir, "load", "--input", f"/archive/{archive.name}",
                               binds=(f"{archive.parent}:/archive",))
        except subprocess.CalledProcessError as error:
            # Podman's messages arrive on the guest's stdout, next to nspawn's own noise.
            said = f"{error.stdout}\n{error.stderr}".splitlines()
            reason = next((line for line in said if line.startswith("Error:")),
                          f"podman load exited {error.returncode}")
            raise SystemExit(f"test image {recipe.name}: {archive} is not an image archive "
                             f"Podman can load (docker-archive or oci-archive): "
                             f"{reason}") from None
        refs = [ref.strip() for line in loaded.stdout.splitlines()
                if line.startswith("Loaded image")
                for ref in line.split(":", 1)[1].split(",") if ref.strip()]
        if len(refs) != 1:
            raise SystemExit(f"test image {recipe.name}: {archive} holds {len(refs)} images "
                             f"({', '.join(refs) or 'none'}); an archive holds exactly one")
        podman_in(rootfs, workdir, "tag", refs[0], recipe.ref)


def build_store(rootfs: Path, names: list[str] | None = None) -> Path:
    """Import every asked-for image whose recipe or archive changed; returns the store path."""
    available = recipes()
    wanted = names if names is not None else list(available)
    unknown = sorted(set(wanted) - set(available))
    if unknown:
        raise SystemExit(f"unknown test image(s): {', '.join(unknown)}; known: {sorted(available)}")
    given = archives(available)
    blocked = unbuildable(wanted, available, given)
    if blocked:
        raise SystemExit("; ".join(f"test image {name} cannot be built: {reason}"
                                   for name, reason in sorted(blocked.items())))
    with cache_lock("images"):
        STORE.mkdir(parents=True, exist_ok=True)
        manifest_path = STORE / "lgtm-manifest.json"
        manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
        rebuilt = False
        for name in wanted:
            recipe = available[name]
            archive = given.get(name)
            digest = f"archive:{sha256_file(archive)}" if archive else recipe.digest()
            if manifest.get(name, {}).get("digest") == digest:
                continue
            if archive:
                log(f"loading test image {recipe.ref} from {archive}")
                load_archive(rootfs, recipe, archive)
            else:
                log(f"building test image {recipe.ref}")
                import_image(rootfs, recipe)
            rebuilt = True
            manifest[name] = {"digest": digest, "ref": recipe.ref,
                              "source": str(archive) if archive else "recipe"}
            manifest_path.write_text(json.dumps(manifest, indent=2))
        if rebuilt:
            # The image a rebuilt tag used to name is dangling now: drop it.
            with tempfile.TemporaryDirectory(dir=CACHE_DIR) as tmp:
                (Path(tmp) / "storage.conf").write_text('[storage]\ndriver = "overlay"\n')
                podman_in(rootfs, Path(tmp), "image", "prune", "--force")
    return STORE
