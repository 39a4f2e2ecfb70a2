#!/usr/bin/python
# Copyright: lgtm.stack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

# Managed hosts may run Python 3.9 (ansible-core's minimum for targets).
from __future__ import annotations

DOCUMENTATION = r"""
---
module: config_files
short_description: A service's directories and config files in one step, validated first
version_added: "0.1.0"
description:
  - Ensures O(directories) exist with their owner, group and mode, then that every file of O(files)
    holds its content with its owner, group and mode, and that every path of O(remove) is gone.
  - A file whose content would change and that has a C(validate) command is first written as a
    candidate to O(candidate_dir) and checked there. Only when every such candidate passed is any
    live file written, so one bad file leaves every live file alone, not only itself.
  - Files are replaced atomically; a new file gets its owner and mode before it appears under its
    name, so a private key is never readable by others, not even briefly.
  - One call does what a loop of M(ansible.builtin.file) and M(ansible.builtin.copy) tasks would,
    in one round trip to the host; an unchanged run reads each file once and writes nothing.
author:
  - lgtm.stack contributors (@lgtm-stack)
options:
  directories:
    description:
      - Directories to create (with missing parents) and keep at their owner, group and mode.
    type: list
    elements: dict
    default: []
    suboptions:
      path:
        description: The directory.
        type: path
        required: true
      owner:
        description: User name or numeric UID.
        type: str
        default: root
      group:
        description: Group name or numeric GID.
        type: str
        default: root
      mode:
        description: Octal mode, for example C(0755).
        type: str
        default: "0755"
      recurse:
        description:
          - When the directory exists with another owner or group than O(directories[].owner)
            and O(directories[].group), first give everything beneath it that owner and group,
            then the directory itself. For a service that used to run as another user, whose
            data it can no longer write otherwise (Mimir wrote its data as root before it ran
            as UID 10001).
          - Symbolic links are re-owned themselves, never followed; a file system mounted
            beneath is left alone. Only owner and group change beneath, never the mode.
          - The directory itself is re-owned last, so a run interrupted half-way is finished
            by the next one. When the directory already has its owner and group, nothing
            beneath it is read, however large.
        type: bool
        default: false
  files:
    description:
      - Files and their wanted content.
      - Their directories must exist (list them in O(directories)).
    type: list
    elements: dict
    default: []
    suboptions:
      dest:
        description: The live file.
        type: path
        required: true
      content:
        description: The content. Shown in diffs.
        type: str
      secret_content:
        description:
          - The content of a secret file, instead of O(files[].content).
          - Never returned, logged or shown in a diff.
        type: str
      owner:
        description: User name or numeric UID.
        type: str
        default: root
      group:
        description: Group name or numeric GID.
        type: str
        default: root
      mode:
        description: Octal mode, for example C(0644).
        type: str
        default: "0644"
      validate:
        description:
          - Command run (without a shell) on the candidate before the live file changes.
          - C(%s) is replaced by the candidate's path.
          - A non-zero exit fails the task and no live file is written.
        type: str
  remove:
    description: Files or directories (with their content) that must not exist.
    type: list
    elements: path
    default: []
  candidate_dir:
    description:
      - Where candidates are validated (created root-owned, C(0700)).
      - Required when a file has C(validate).
      - Each call checks its candidates in a private directory inside it, removed once checked,
        so plays running at once do not meet.
    type: path
attributes:
  check_mode:
    description: Reports what would change without writing; validation commands do not run.
    support: full
  diff_mode:
    description: Content changes of files that are not secret.
    support: full
  platform:
    description: Target OS/families that can be operated against.
    support: full
    platforms: posix
"""

EXAMPLES = r"""
- name: Loki's directories and config, validated before it goes live
  lgtm.stack.config_files:
    directories:
      - {path: /etc/lgtm/loki}
      - {path: /var/lib/lgtm/loki, owner: "10001", mode: "0750"}
    files:
      - dest: /etc/lgtm/loki/config.yaml
        content: "{{ loki_config | to_nice_yaml }}"
        validate: /usr/local/bin/loki -config.file=%s -verify-config
      - dest: /etc/lgtm/loki/tls/server.key
        secret_content: "{{ lgtm_tls_private_key }}"
        owner: "10001"
        mode: "0400"
    candidate_dir: /var/lib/lgtm/.quadlet/candidates/loki
"""

RETURN = r"""
directories:
  description: Directories created or whose owner, group or mode changed.
  returned: always
  type: list
  elements: str
reowned:
  description:
    - Directories with O(directories[].recurse) whose content was given their owner and group
      (or would be, in check mode).
  returned: always
  type: list
  elements: str
files:
  description: Files whose content, owner, group or mode changed (or would, in check mode).
  returned: always
  type: list
  elements: str
removed:
  description: Paths of O(remove) that were removed (or would be, in check mode).
  returned: always
  type: list
  elements: str
"""

import grp
import hashlib
import os
import pwd
import shutil
import stat
import tempfile
from dataclasses import dataclass

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.lgtm.stack.plugins.module_utils.selinux import copy_directory_context


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


def attributes(entry: dict, path: str) -> Attributes:
    return Attributes(
        resolve_user(entry["owner"]), resolve_group(entry["group"]), parse_mode(entry["mode"], path)
    )


def differs(path: str, wanted: Attributes) -> bool:
    current = os.lstat(path)
    return (current.st_uid, current.st_gid, stat.S_IMODE(current.st_mode)) != (
        wanted.uid,
        wanted.gid,
        wanted.mode,
    )


def apply_attributes(path: str, wanted: Attributes) -> None:
    os.chown(path, wanted.uid, wanted.gid)
    os.chmod(path, wanted.mode)


def read_bytes(path: str) -> bytes | None:
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except FileNotFoundError:
        return None


def write_file(
    path: str, content: bytes, wanted: Attributes, module: AnsibleModule | None = None
) -> None:
    """Replace path atomically; the new inode has its owner and mode before it is renamed in.

    With module, it also has its directory's SELinux context (a container volume's label).
    """
    fd, temp_path = tempfile.mkstemp(
        prefix=f".{os.path.basename(path)}.", dir=os.path.dirname(path)
    )
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
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
    for root, dirs, files in os.walk(top, onerror=raise_error):
        entered = []
        for name in dirs + files:
            path = os.path.join(root, name)
            current = os.lstat(path)
            if current.st_dev != device:
                continue  # a mount point: another file system's root, not this tree's
            if (current.st_uid, current.st_gid) != (uid, gid):
                os.lchown(path, uid, gid)
            if name in dirs and stat.S_ISDIR(current.st_mode):
                entered.append(name)
        dirs[:] = entered


def ensure_directories(module: AnsibleModule, entries: list[dict]) -> tuple[list[str], list[str]]:
    """(directories changed, directories whose content was re-owned)."""
    changed, reowned = [], []
    for entry in entries:
        path = entry["path"]
        wanted = attributes(entry, path)
        if os.path.lexists(path) and not os.path.isdir(path):
            raise ConfigError(f"{path} exists and is not a directory")
        exists = os.path.isdir(path)
        if exists and not differs(path, wanted):
            continue
        changed.append(path)
        current = os.lstat(path) if exists else None
        # The top directory's owner is the marker: it changes only after everything beneath
        # did, so an unchanged top means there is nothing beneath to walk.
        walk = (
            entry["recurse"]
            and current is not None
            and (current.st_uid, current.st_gid) != (wanted.uid, wanted.gid)
        )
        if walk:
            reowned.append(path)
        if module.check_mode:
            continue
        if walk:
            reown_beneath(path, wanted.uid, wanted.gid)
        if not exists:
            os.makedirs(path, mode=0o700)
        apply_attributes(path, wanted)
    return changed, reowned


def candidate_path(check_dir: str, dest: str) -> str:
    # Named after the live path, so two services' or two directories' config.yaml never meet.
    return os.path.join(
        check_dir, hashlib.sha1(dest.encode()).hexdigest()[:16] + "-" + os.path.basename(dest)
    )


def validate_candidates(
    module: AnsibleModule, candidate_dir: str | None, pending: list[tuple[dict, bytes]]
) -> None:
    """Check every changed file that has a validate command; raise naming all that failed."""
    checked = [(entry, content) for entry, content in pending if entry.get("validate")]
    if not checked or module.check_mode:
        return
    os.makedirs(candidate_dir, mode=0o700, exist_ok=True)
    apply_attributes(candidate_dir, Attributes(0, 0, 0o700))
    # A directory of this call's own: two plays at once on the same host must not
    # validate, or remove, each other's candidates.
    check_dir = tempfile.mkdtemp(prefix=".check-", dir=candidate_dir)
    failures = []
    try:
        for entry, content in checked:
            candidate = candidate_path(check_dir, entry["dest"])
            write_file(candidate, content, Attributes(0, 0, 0o600))
            rc, out, err = module.run_command(entry["validate"] % candidate)
            if rc != 0:
                report = (
                    "(output not shown: secret file)"
                    if entry.get("secret_content") is not None
                    else "\n".join(part.strip() for part in (err, out) if part and part.strip())
                )
                failures.append(f"{entry['dest']} failed validation (exit {rc}): {report}")
    finally:
        shutil.rmtree(check_dir, ignore_errors=True)
    if failures:
        raise ConfigError("; ".join(failures) + ". No live file was changed.")


def file_diff(entry: dict, before: bytes | None, after: bytes) -> dict:
    return {
        "before_header": entry["dest"] if before is not None else "(absent)",
        "after_header": entry["dest"],
        "before": before.decode("utf-8", errors="replace") if before is not None else "",
        "after": after.decode("utf-8", errors="replace"),
    }


def ensure_files(
    module: AnsibleModule,
    entries: list[dict],
    candidate_dir: str | None,
    new_directories: list[str],
) -> tuple[list[str], list[dict]]:
    """new_directories: created by this call, or in check mode still to be created."""
    plans = []
    for entry in entries:
        dest = entry["dest"]
        secret = entry.get("secret_content") is not None
        # Settings are judged for every file, changed or not, before anything is read or written.
        if entry.get("validate"):
            if not candidate_dir:
                raise ConfigError("candidate_dir is required when a file has validate")
            if "%s" not in entry["validate"]:
                raise ConfigError(f"{dest}: validate must contain %s for the candidate's path")
        if secret == (entry.get("content") is not None):
            raise ConfigError(f"{dest}: give exactly one of content and secret_content")
        if not os.path.isdir(os.path.dirname(dest)) and not (
            module.check_mode and os.path.dirname(dest) in new_directories
        ):
            raise ConfigError(f"the directory of {dest} does not exist")
        if os.path.isdir(dest):
            raise ConfigError(f"{dest} is a directory")
        content = (entry["secret_content"] if secret else entry["content"]).encode("utf-8")
        plans.append((entry, secret, content, read_bytes(dest), attributes(entry, dest)))

    pending = [
        (entry, content)
        for entry, _secret, content, current, _wanted in plans
        if content != current
    ]
    # Every candidate is judged before the first live file is touched.
    validate_candidates(module, candidate_dir, pending)

    changed, diffs = [], []
    for entry, secret, content, current, wanted in plans:
        dest = entry["dest"]
        if content != current:
            changed.append(dest)
            if module._diff and not secret:
                diffs.append(file_diff(entry, current, content))
            if not module.check_mode:
                write_file(dest, content, wanted, module)
        elif differs(dest, wanted):
            changed.append(dest)
            if not module.check_mode:
                apply_attributes(dest, wanted)
    return changed, diffs


def remove_paths(module: AnsibleModule, paths: list[str]) -> list[str]:
    removed = [path for path in paths if os.path.lexists(path)]
    if not module.check_mode:
        for path in removed:
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path)
            else:
                os.unlink(path)
    return removed


def main() -> None:
    ownership = {
        "owner": {"type": "str", "default": "root"},
        "group": {"type": "str", "default": "root"},
    }
    module = AnsibleModule(
        argument_spec={
            "directories": {
                "type": "list",
                "elements": "dict",
                "default": [],
                "options": {
                    "path": {"type": "path", "required": True},
                    "mode": {"type": "str", "default": "0755"},
                    "recurse": {"type": "bool", "default": False},
                    **ownership,
                },
            },
            "files": {
                "type": "list",
                "elements": "dict",
                "default": [],
                "options": {
                    "dest": {"type": "path", "required": True},
                    "content": {"type": "str"},
                    "secret_content": {"type": "str", "no_log": True},
                    "mode": {"type": "str", "default": "0644"},
                    "validate": {"type": "str"},
                    **ownership,
                },
            },
            "remove": {"type": "list", "elements": "path", "default": []},
            "candidate_dir": {"type": "path"},
        },
        supports_check_mode=True,
    )
    try:
        directories, reowned = ensure_directories(module, module.params["directories"])
        files, diffs = ensure_files(
            module, module.params["files"], module.params["candidate_dir"], directories
        )
        removed = remove_paths(module, module.params["remove"])
    except (ConfigError, OSError) as exc:
        module.fail_json(msg=str(exc))
    result = {
        "changed": bool(directories or files or removed),
        "directories": directories,
        "reowned": reowned,
        "files": files,
        "removed": removed,
    }
    if diffs:
        result["diff"] = diffs
    module.exit_json(**result)


if __name__ == "__main__":
    main()
