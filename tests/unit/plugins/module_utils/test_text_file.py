"""read_text, shared by quadlet_units and secret_file: a missing file is None, not an error."""

from __future__ import annotations

from pathlib import Path

import pytest
from ansible_collections.lgtm.stack.plugins.module_utils.text_file import read_text


def test_text_of_a_file(tmp_path: Path) -> None:
    path = tmp_path / "unit"
    path.write_text("[Unit]\nDescription=é\n", encoding="utf-8")
    assert read_text(str(path)) == "[Unit]\nDescription=é\n"


def test_empty_file_is_empty_text_not_none(tmp_path: Path) -> None:
    path = tmp_path / "empty"
    path.write_text("")
    assert read_text(str(path)) == ""


def test_missing_file_is_none(tmp_path: Path) -> None:
    assert read_text(str(tmp_path / "absent")) is None


def test_other_errors_are_raised(tmp_path: Path) -> None:
    with pytest.raises(IsADirectoryError):
        read_text(str(tmp_path))
