"""Files holding personal data: their owner's alone, never written over, whole or absent."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from regiocrm.platform.files import UnwritableFile, private_file


def test_the_file_takes_its_name_whole_and_its_owners_alone(tmp_path: Path) -> None:
    target = tmp_path / "report.csv"
    old_umask = os.umask(0)
    try:
        with private_file(target) as stream:
            stream.write("first half,")
            assert not target.exists(), "named before it was complete"
            stream.write("second half\n")
    finally:
        os.umask(old_umask)
    assert target.read_text() == "first half,second half\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert [path.name for path in tmp_path.iterdir()] == ["report.csv"]


def write_report(target: Path, *, meanwhile: str | None = None) -> None:
    """Half a report, then the trail cannot be read; or, with ``meanwhile``, a whole report
    while someone else writes a file of the same name."""
    with private_file(target) as stream:
        stream.write("half a report")
        if meanwhile is None:
            raise RuntimeError("the trail could not be read")
        target.write_text(meanwhile)


def test_a_write_cut_short_leaves_nothing_behind(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="the trail could not be read"):
        write_report(tmp_path / "report.csv")
    assert list(tmp_path.iterdir()) == []


def test_a_file_that_took_the_name_meanwhile_is_not_written_over(tmp_path: Path) -> None:
    target = tmp_path / "report.csv"
    with pytest.raises(UnwritableFile, match=r"report\.csv") as refused:
        write_report(target, meanwhile="someone else's")
    assert "exists" in refused.value.reason
    assert target.read_text() == "someone else's"
    assert [path.name for path in tmp_path.iterdir()] == ["report.csv"]


@pytest.mark.parametrize(
    ("name", "reason"),
    [("exists.csv", "it exists already"), ("missing/report.csv", "does not exist")],
)
def test_a_file_that_cannot_be_made_is_refused_before_anything_is_written(
    tmp_path: Path, name: str, reason: str
) -> None:
    (tmp_path / "exists.csv").write_text("kept")
    with pytest.raises(UnwritableFile, match=reason), private_file(tmp_path / name):
        pytest.fail("the block ran")
    assert (tmp_path / "exists.csv").read_text() == "kept"
    assert [path.name for path in tmp_path.iterdir()] == ["exists.csv"]
