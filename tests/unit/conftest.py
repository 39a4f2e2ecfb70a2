"""Make `ansible_collections.lgtm.stack` importable from the repository checkout."""

import contextlib
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
COLLECTIONS = REPO_ROOT / "collections"
LINK = COLLECTIONS / "ansible_collections" / "lgtm" / "stack"

if not LINK.exists():
    LINK.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError):  # created meanwhile by another run
        LINK.symlink_to(Path("..") / ".." / "..", target_is_directory=True)

if str(COLLECTIONS) not in sys.path:
    sys.path.insert(0, str(COLLECTIONS))
