# Copyright: lgtm.stack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A service's directories, secrets and files on the host: plan, validate, write.

Moved from the config_files and secret_file modules (issue 19 item 3) so those modules
and the one-call service module share it. Three phases the caller may run apart:

- plan() reads only: each directory's state, each secret (kept, given, or generated in
  memory now), each file's current bytes and attributes, what is to be removed. Every
  setting is judged here, so bad input fails before anything is written.
- validate() checks every changed file that has a validator as a candidate in a private
  directory of this call, and names all that failed together.
- write_prerequisites() creates and fixes directories and writes secrets, which a
  validator may need (it may mount a directory; a config names its secret files);
  write_files() writes files and removals, only after validate() passed. Files are
  replaced atomically, with owner, mode and the directory's SELinux context set before
  they appear under their name. write() is the two in a row.

apply() runs them in a row, as config_files does. Parameters are plain mappings
(the modules' option dicts), not module.params; the module object is used only for
check mode, running validators and SELinux contexts.
"""

# Managed hosts may run Python 3.9 (ansible-core's minimum for targets).
from __future__ import annotations

import grp
import hashlib
import os
import pwd
import secrets as secrets_random
import shutil
import stat
import string
import tempfile
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.lgtm.stack.plugins.module_utils.quadlet import (
    Planned,
    PlannedDirectory,
    PlannedFile,
)
from ansible_collections.lgtm.stack.plugins.module_utils.selinux import copy_directory_context
from ansible_collections.lgtm.stack.plugins.module_utils.text_file import read_text

# Generated secrets: letters and digits, safe in URLs and env files.
SECRET_ALPHABET = string.ascii_letters + string.digits
SECRET_LENGTH_RANGE = (16, 4096)
SECRET_ATTRIBUTES = {"owner": "root", "group": "root", "mode": "0600"}


class ConfigError(Exception):
    """A setting or host state that stops the run before any live file is written."""


@dataclass(frozen=True)
class Attributes:
    uid: int
    gid: int
    mode: int


def resolve_user(name: str) -> int:
    if name.isdigit():
        return int(name)
    try:
        return pwd.getpwnam(name).pw_uid
    except KeyError:
        raise ConfigError(f"user {name!r} does not exist on the host") from None


def resolve_group(name: str) -> int:
    if name.isdigit():
        return int(name)
    try:
        return grp.getgrnam(name).gr_gid
    except KeyError:
        raise ConfigError(f"group {name!r} does not exist on the host") from None


def parse_mode(mode: str, path: str) -> int:
    try:
        value = int(mode, 8)
    except ValueError:
        raise ConfigError(f"{path}: mode {mode!r} is not an octal number") from None
    if not 0 <= value <= 0o7777:
        raise ConfigError(f"{path}: mode {mode!r} is out of range")
    return value


def attributes(entry: Mapping[str, Any], path: str) -> Attributes:
    """owner, group and mode of an option entry, resolved on this host."""
    return Attributes(
        resolve_user(entry["owner"]), resolve_group(entry["group"]), parse_mode(entry["mode"], path)
    )


def current_attributes(path: str) -> Attributes:
    current = os.lstat(path)
    return Attributes(current.st_uid, current.st_gid, stat.S_IMODE(current.st_mode))


def differs(path: str, wanted: Attributes) -> bool:
    return current_attributes(path) != wanted


def apply_attributes(path: str, wanted: Attributes) -> None:
    os.chown(path, wanted.uid, wanted.gid)
    os.chmod(path, wanted.mode)


def current_umask() -> int:
    # Reading the umask means setting it; set straight back.
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def read_bytes(path: str) -> bytes | None:
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except FileNotFoundError:
        return None


def write_file(
    path: str, content: bytes, wanted: Attributes | None, module: AnsibleModule | None = None
) -> None:
    """Replace path atomically; the new inode has its owner and mode before it is renamed in.

    wanted None keeps what mkstemp gives: the caller's user and 0600, so a secret whose
    attributes are set afterwards is never readable by others, not even briefly. With
    module, the file also has its directory's SELinux context (a container volume's label).
    """
    fd, temp_path = tempfile.mkstemp(
        prefix=f".{os.path.basename(path)}.", dir=os.path.dirname(path) or "."
    )
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        if wanted is not None:
            apply_attributes(temp_path, wanted)
        if module is not None:
            copy_directory_context(module, temp_path)
        os.replace(temp_path, path)
    finally:
        if os.path.exists(temp_path):
            os.unlink(temp_path)


def raise_error(error: OSError) -> None:
    raise error


def reown_beneath(top: str, uid: int, gid: int) -> None:
    """Owner and group of everything beneath top; links are not followed, mounts not entered."""
    device = os.stat(top).st_dev
    for root, dirs, names in os.walk(top, onerror=raise_error):
        entered = []
        for name in dirs + names:
            path = os.path.join(root, name)
            current = os.lstat(path)
            if current.st_dev != device:
                continue  # a mount point: another file system's root, not this tree's
            if (current.st_uid, current.st_gid) != (uid, gid):
                os.lchown(path, uid, gid)
            if name in dirs and stat.S_ISDIR(current.st_mode):
                entered.append(name)
        dirs[:] = entered


def inside(path: str, directory: str) -> bool:
    return path.startswith(directory.rstrip("/") + "/")


# ---------------------------------------------------------------------------
# Plans: what would change, found by reading only
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class DirectoryPlan:
    """A directory to create or whose owner, group or mode to fix.

    reown: its content gets its owner and group first (recurse, and the top's owner is off).
    """

    path: str
    wanted: Attributes
    exists: bool
    reown: bool


@dataclass(frozen=True)
class FilePlan:
    dest: str
    content: bytes = field(repr=False)
    current: bytes | None = field(repr=False)
    wanted: Attributes
    secret: bool
    validate: str | None
    attributes_differ: bool

    @property
    def content_changed(self) -> bool:
        return self.content != self.current

    @property
    def changed(self) -> bool:
        return self.content_changed or self.attributes_differ


@dataclass(frozen=True)
class SecretPlan:
    """content: what will be written (given or generated now), None when the file is kept.

    wanted None leaves owner and mode to the caller (secret_file's file attributes).
    """

    path: str
    content: str | None = field(repr=False)
    generated: bool
    wanted: Attributes | None = None
    attributes_differ: bool = False

    @property
    def written(self) -> bool:
        return self.content is not None

    @property
    def changed(self) -> bool:
        return self.written or self.attributes_differ


@dataclass
class Plan:
    """Everything that would change; only changed directories and files are kept."""

    directories: list[DirectoryPlan] = field(default_factory=list)
    secrets: list[SecretPlan] = field(default_factory=list)
    files: list[FilePlan] = field(default_factory=list)
    remove: list[str] = field(default_factory=list)
    candidate_dir: str | None = None

    @property
    def changed(self) -> bool:
        return bool(
            self.directories
            or any(secret.changed for secret in self.secrets)
            or self.files
            or self.remove
        )

    def summary(self) -> dict[str, Any]:
        """Paths that change (or would, in check mode); secrets without their content."""
        return {
            "directories": [plan.path for plan in self.directories],
            "reowned": [plan.path for plan in self.directories if plan.reown],
            "secrets": [
                {
                    "path": plan.path,
                    "changed": plan.changed,
                    "generated": plan.generated,
                    "written": plan.written,
                }
                for plan in self.secrets
            ],
            "files": [plan.dest for plan in self.files],
            "removed": list(self.remove),
        }

    def overlay(self) -> dict[str, Planned]:
        """Each path this plan changes as the write will leave it, for quadlet.hash_paths:
        a unit's hash label over its restart files is known before they are written."""
        planned: dict[str, Planned] = {}
        # Parents that makedirs creates on the way get the default mode under the umask.
        parent_mode = 0o777 & ~current_umask()
        for path in will_exist(self.directories):
            planned[path] = PlannedDirectory(parent_mode)
        for plan in self.directories:
            planned[plan.path.rstrip("/") or "/"] = PlannedDirectory(plan.wanted.mode)
        for secret in self.secrets:
            if secret.wanted is None or not secret.changed:
                continue
            # A kept secret whose mode changes keeps its bytes.
            content = (secret.content.encode("utf-8") if secret.content is not None
                       else read_bytes(secret.path) or b"")
            planned[secret.path] = PlannedFile(content, secret.wanted.mode)
        for file_plan in self.files:
            planned[file_plan.dest] = PlannedFile(file_plan.content, file_plan.wanted.mode)
        for path in self.remove:
            planned[path] = None
        return planned

    def diffs(self) -> list[dict[str, str]]:
        """Content changes of files that are not secret; never a secret's."""
        return [file_diff(plan) for plan in self.files if plan.content_changed and not plan.secret]


def file_diff(plan: FilePlan) -> dict[str, str]:
    before = plan.current
    return {
        "before_header": plan.dest if before is not None else "(absent)",
        "after_header": plan.dest,
        "before": before.decode("utf-8", errors="replace") if before is not None else "",
        "after": plan.content.decode("utf-8", errors="replace"),
    }


def plan_directories(entries: Sequence[Mapping[str, Any]]) -> list[DirectoryPlan]:
    """entries: path, owner, group, mode, recurse (config_files' directories options)."""
    plans = []
    for entry in entries:
        path = entry["path"]
        wanted = attributes(entry, path)
        if os.path.lexists(path) and not os.path.isdir(path):
            raise ConfigError(f"{path} exists and is not a directory")
        current = current_attributes(path) if os.path.isdir(path) else None
        if current == wanted:
            continue
        # The top directory's owner is the marker: it changes only after everything beneath
        # did, so an unchanged top means there is nothing beneath to walk.
        reown = bool(
            entry.get("recurse")
            and current is not None
            and (current.uid, current.gid) != (wanted.uid, wanted.gid)
        )
        plans.append(DirectoryPlan(path, wanted, current is not None, reown))
    return plans


def will_exist(directories: Sequence[DirectoryPlan]) -> set[str]:
    """Directories a write of these plans creates, with the parents makedirs adds."""
    created = set()
    for plan in directories:
        if plan.exists:
            continue
        path = plan.path.rstrip("/") or "/"
        while path not in created and not os.path.isdir(path):
            created.add(path)
            path = os.path.dirname(path)
    return created


def check_directory_of(path: str, planned_directories: Collection[str]) -> None:
    directory = os.path.dirname(path) or "."
    if not os.path.isdir(directory) and directory not in planned_directories:
        raise ConfigError(f"the directory of {path} does not exist")
    if os.path.isdir(path):
        raise ConfigError(f"{path} is a directory")


def attributes_after_reown(
    path: str, wanted: Attributes, directories: Sequence[DirectoryPlan]
) -> bool:
    """Whether path's attributes differ from wanted once the planned re-owning is done."""
    current = current_attributes(path)
    for plan in directories:
        if plan.reown and inside(path, plan.path):
            current = Attributes(plan.wanted.uid, plan.wanted.gid, current.mode)
    return current != wanted


def filled(entry: Mapping[str, Any], secret_values: Mapping[str, str]) -> str:
    """The entry's content with each fill placeholder replaced by its secret's value."""
    content = str(entry.get("content") if entry.get("content") is not None
                  else entry.get("secret_content"))
    for fill in entry["fill"]:
        placeholder, path = fill["placeholder"], fill["secret"]
        if not placeholder:
            raise ConfigError(f"{entry['dest']}: fill: an empty placeholder")
        if path not in secret_values:
            raise ConfigError(f"{entry['dest']}: fill {placeholder} names {path},"
                              " which is not one of the call's secrets")
        value = secret_values[path]
        if fill.get("encoding") == "url":
            # Every character that means something in a URL, "/" and ":" included.
            value = quote(value, safe="")
        content = content.replace(placeholder, value)
    return content


def plan_files(
    entries: Sequence[Mapping[str, Any]],
    candidate_dir: str | None,
    directories: Sequence[DirectoryPlan] = (),
    secret_values: Mapping[str, str] | None = None,
) -> list[FilePlan]:
    """entries: config_files' files options. directories: the plans written before them.

    A file with fill takes secret values (secret_values: path -> value, as this plan will
    leave them) and is then secret itself: never shown, never diffed.
    """
    planned = will_exist(directories)
    plans = []
    for entry in entries:
        dest = entry["dest"]
        if entry.get("fill"):
            content = filled(entry, secret_values or {})
            entry = {key: value for key, value in entry.items()
                     if key not in ("content", "secret_content", "fill")}
            entry["secret_content"] = content
        secret = entry.get("secret_content") is not None
        # Settings are judged for every file, changed or not, before anything is read or written.
        validate = entry.get("validate") or None
        if validate:
            if not candidate_dir:
                raise ConfigError("candidate_dir is required when a file has validate")
            if "%s" not in validate:
                raise ConfigError(f"{dest}: validate must contain %s for the candidate's path")
        if secret == (entry.get("content") is not None):
            raise ConfigError(f"{dest}: give exactly one of content and secret_content")
        check_directory_of(dest, planned)
        content = (entry["secret_content"] if secret else entry["content"]).encode("utf-8")
        current = read_bytes(dest)
        wanted = attributes(entry, dest)
        attributes_differ = current is not None and attributes_after_reown(
            dest, wanted, directories
        )
        if content != current or attributes_differ:
            plans.append(
                FilePlan(dest, content, current, wanted, secret, validate, attributes_differ)
            )
    return plans


def _given(entry: Mapping[str, Any]) -> dict[str, Any]:
    return {key: entry[key] for key in SECRET_ATTRIBUTES if entry.get(key) is not None}


def generate_secret(length: int) -> str:
    return "".join(secrets_random.choice(SECRET_ALPHABET) for _position in range(length))


def plan_secret(
    path: str,
    value: str | None,
    length: int,
    wanted: Attributes | None = None,
    planned_directories: Collection[str] = (),
) -> SecretPlan:
    """A given value is written when it differs; none keeps a non-empty file or generates one.

    The generated secret exists only in this plan (in memory on the host) until written.
    """
    low, high = SECRET_LENGTH_RANGE
    if not low <= length <= high:
        raise ConfigError(f"length must be between {low} and {high}, got {length}")
    check_directory_of(path, planned_directories)
    current = read_text(path)
    content = value or None
    generated = content is None and not current
    if generated:
        content = generate_secret(length)
    if content == current:
        content = None
    attributes_differ = wanted is not None and current is not None and differs(path, wanted)
    return SecretPlan(path, content, generated, wanted, attributes_differ)


def plan_secrets(
    entries: Sequence[Mapping[str, Any]], directories: Sequence[DirectoryPlan] = ()
) -> list[SecretPlan]:
    """entries: path, value, and optionally length (32), owner, group (root) and mode (0600)."""
    planned = will_exist(directories)
    return [
        plan_secret(
            entry["path"],
            entry.get("value"),
            entry.get("length") or 32,
            attributes({**SECRET_ATTRIBUTES, **_given(entry)}, entry["path"]),
            planned,
        )
        for entry in entries
    ]


def secret_values(plans: Sequence[SecretPlan]) -> dict[str, str]:
    """Each secret's value as the plan leaves it: written now (given or generated) or kept."""
    return {plan.path: plan.content if plan.content is not None else read_text(plan.path) or ""
            for plan in plans}


def plan_removals(paths: Sequence[str]) -> list[str]:
    return [path for path in paths if os.path.lexists(path)]


def plan(
    directories: Sequence[Mapping[str, Any]] = (),
    files: Sequence[Mapping[str, Any]] = (),
    remove: Sequence[str] = (),
    candidate_dir: str | None = None,
    secrets: Sequence[Mapping[str, Any]] = (),
) -> Plan:
    """Everything that would change; reads only, raises ConfigError for bad settings.

    directories, files, remove and candidate_dir are config_files' options; secrets as
    plan_secrets takes them. Secrets and files may lie in directories still to be created.
    """
    directory_plans = plan_directories(directories)
    secret_plans = plan_secrets(secrets, directory_plans)
    return Plan(
        directories=directory_plans,
        secrets=secret_plans,
        files=plan_files(files, candidate_dir, directory_plans, secret_values(secret_plans)),
        remove=plan_removals(remove),
        candidate_dir=candidate_dir,
    )


# ---------------------------------------------------------------------------
# Validation and writing
# ---------------------------------------------------------------------------


def candidate_path(check_dir: str, dest: str) -> str:
    # Named after the live path, so two services' or two directories' config.yaml never meet.
    return os.path.join(
        check_dir, hashlib.sha1(dest.encode()).hexdigest()[:16] + "-" + os.path.basename(dest)
    )


def validate(module: AnsibleModule, files_plan: Plan) -> list[str]:
    """Check every changed file's candidate that has a validator; raise naming all that failed.

    Returns the files validated; none in check mode, where validators do not run.
    """
    checked = [plan for plan in files_plan.files if plan.validate and plan.content_changed]
    if not checked or module.check_mode:
        return []
    candidate_dir = files_plan.candidate_dir
    if not candidate_dir:
        raise ConfigError("candidate_dir is required when a file has validate")
    os.makedirs(candidate_dir, mode=0o700, exist_ok=True)
    apply_attributes(candidate_dir, Attributes(0, 0, 0o700))
    # A directory of this call's own: two plays at once on the same host must not
    # validate, or remove, each other's candidates.
    check_dir = tempfile.mkdtemp(prefix=".check-", dir=candidate_dir)
    failures = []
    try:
        for plan in checked:
            candidate = candidate_path(check_dir, plan.dest)
            write_file(candidate, plan.content, Attributes(0, 0, 0o600))
            rc, out, err = module.run_command(plan.validate % candidate)
            if rc != 0:
                report = (
                    "(output not shown: secret file)"
                    if plan.secret
                    else "\n".join(part.strip() for part in (err, out) if part and part.strip())
                )
                failures.append(f"{plan.dest} failed validation (exit {rc}): {report}")
    finally:
        shutil.rmtree(check_dir, ignore_errors=True)
    if failures:
        raise ConfigError("; ".join(failures) + ". No live file was changed.")
    return [plan.dest for plan in checked]


def write_directory(plan: DirectoryPlan) -> None:
    if plan.reown:
        reown_beneath(plan.path, plan.wanted.uid, plan.wanted.gid)
    if not plan.exists:
        os.makedirs(plan.path, mode=0o700)
    apply_attributes(plan.path, plan.wanted)


def write_secret(module: AnsibleModule, plan: SecretPlan) -> None:
    if plan.content is not None:
        write_file(plan.path, plan.content.encode("utf-8"), plan.wanted, module)
    elif plan.attributes_differ and plan.wanted is not None:
        apply_attributes(plan.path, plan.wanted)


def write_one_file(module: AnsibleModule, plan: FilePlan) -> None:
    if plan.content_changed:
        write_file(plan.dest, plan.content, plan.wanted, module)
    else:
        apply_attributes(plan.dest, plan.wanted)


def remove_path(path: str) -> None:
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path)
    else:
        os.unlink(path)


def write_prerequisites(module: AnsibleModule, files_plan: Plan) -> None:
    """Directories, then secrets: what validating a candidate may need to exist already.

    A validator may mount the service's directories (Alertmanager's mounts its secrets
    directory) and a config names its secret files, so these come before validate().
    A secret written for a config that then fails restarts nothing: the units are not
    written, and the next run's hash label takes the secret in. Nothing in check mode.
    """
    if module.check_mode:
        return
    for directory in files_plan.directories:
        write_directory(directory)
    for secret in files_plan.secrets:
        write_secret(module, secret)


def write_files(module: AnsibleModule, files_plan: Plan) -> None:
    """Files, then removals: only after every candidate passed. Nothing in check mode."""
    if module.check_mode:
        return
    for file_plan in files_plan.files:
        write_one_file(module, file_plan)
    for path in files_plan.remove:
        remove_path(path)


def write(module: AnsibleModule, files_plan: Plan) -> None:
    """Carry the plan out: directories, secrets, files, removals. Nothing in check mode."""
    write_prerequisites(module, files_plan)
    write_files(module, files_plan)


def apply(
    module: AnsibleModule,
    directories: Sequence[Mapping[str, Any]] = (),
    files: Sequence[Mapping[str, Any]] = (),
    remove: Sequence[str] = (),
    candidate_dir: str | None = None,
) -> Plan:
    """plan, directories, validate, files: every candidate is judged before a file is written."""
    files_plan = plan(directories, files, remove, candidate_dir)
    write_prerequisites(module, files_plan)
    validate(module, files_plan)
    write_files(module, files_plan)
    return files_plan
