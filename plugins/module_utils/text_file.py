# Copyright: lgtm.stack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a file on the managed host holds now, before a module decides whether to write it.

Shared by quadlet_units (unit files), the secret_file module and quadlet_reconcile
(recorded state). Stdlib only.
"""

# Managed hosts may run Python 3.9 (ansible-core's minimum for targets).
from __future__ import annotations


def read_text(path: str) -> str | None:
    """The file's UTF-8 text; None when there is no file (other errors are raised)."""
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except FileNotFoundError:
        return None
