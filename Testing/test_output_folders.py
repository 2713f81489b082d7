"""Output folders a user names (--out): nothing of theirs is ever replaced or removed; results stay atomic."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import pytest

from assistcore.atomic import RESULT_MARKER, read_result_marker, result_directory
from assistcore.errors import OutputError
from radassist.cli.main import main


def _write_result(folder: Path, command: str, files: dict[str, str], **options) -> None:
    with result_directory(folder, command, **options) as staging:
        for name, text in files.items():
            (staging / name).parent.mkdir(parents=True, exist_ok=True)
            (staging / name).write_text(text)


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _no_temporaries(folder: Path) -> None:
    leftovers = [p for p in folder.parent.rglob(".*") if p.name != RESULT_MARKER]
    assert not leftovers, f"temporary files or folders left behind: {leftovers}"


def test_a_new_folder_gets_the_results_and_a_marker_naming_the_command_and_its_files(tmp_path):
    out = tmp_path / "results"
    _write_result(out, "brain", {"report.json": "{}", "overlays/a.png": "png"})
    marker = read_result_marker(out)
    assert marker is not None and marker.command == "brain"
    assert marker.files == ("overlays/a.png", "report.json")
    _no_temporaries(out)


def test_a_folder_of_other_files_is_refused_and_left_byte_identical(tmp_path):
    out = tmp_path / "patient"
    out.mkdir()
    (out / "t1c.nii.gz").write_bytes(b"scan")
    (out / "notes.txt").write_text("read me")
    before = _snapshot(out)
    with pytest.raises(OutputError, match="did not write"):
        _write_result(out, "brain", {"report.json": "{}"})
    assert _snapshot(out) == before
    _no_temporaries(out)


def test_rerunning_a_command_replaces_its_own_files_and_keeps_the_readers_notes(tmp_path):
    out = tmp_path / "results"
    _write_result(out, "brain", {"report.json": "old", "stale.csv": "old", "overlays/old.png": "old"})
    (out / "notes.txt").write_text("my notes")
    _write_result(out, "brain", {"report.json": "new", "overlays/new.png": "new"})
    assert (out / "report.json").read_text() == "new"
    assert not (out / "stale.csv").exists() and not (out / "overlays" / "old.png").exists()
    assert (out / "notes.txt").read_text() == "my notes"
    assert read_result_marker(out).files == ("overlays/new.png", "report.json")
    _no_temporaries(out)


def test_a_result_of_another_command_is_refused(tmp_path):
    out = tmp_path / "results"
    _write_result(out, "crm", {"boxes.json": "[]"})
    with pytest.raises(OutputError, match="radassist crm"):
        _write_result(out, "brain", {"report.json": "{}"})
    assert read_result_marker(out).command == "crm"


def test_overwrite_adds_results_beside_other_files_without_touching_them(tmp_path):
    out = tmp_path / "patient"
    out.mkdir()
    (out / "t1c.nii.gz").write_bytes(b"scan")
    _write_result(out, "brain", {"report.json": "{}"}, overwrite=True)
    assert (out / "t1c.nii.gz").read_bytes() == b"scan"
    assert (out / "report.json").read_text() == "{}"
    assert read_result_marker(out).files == ("report.json",)


def test_overwrite_never_replaces_a_file_radassist_did_not_write(tmp_path):
    out = tmp_path / "patient"
    out.mkdir()
    (out / "report.json").write_text("the reader's own report")
    (out / "overlays").write_text("a file where the result needs a folder")
    before = _snapshot(out)
    with pytest.raises(OutputError, match="report.json"):
        _write_result(out, "brain", {"report.json": "{}"}, overwrite=True)
    with pytest.raises(OutputError, match="overlays"):
        _write_result(out, "brain", {"overlays/a.png": "png"}, overwrite=True)
    assert _snapshot(out) == before
    _no_temporaries(out)


def test_a_failing_run_leaves_the_earlier_result_intact(tmp_path):
    out = tmp_path / "results"
    _write_result(out, "brain", {"report.json": "old"})
    before = _snapshot(out)
    with pytest.raises(RuntimeError), result_directory(out, "brain") as staging:
        (staging / "report.json").write_text("half")
        raise RuntimeError("model failed")
    assert _snapshot(out) == before
    _no_temporaries(out)


def test_a_move_failing_half_way_puts_the_earlier_result_back(tmp_path, monkeypatch):
    out = tmp_path / "results"
    _write_result(out, "brain", {"a.txt": "old a", "b.txt": "old b"})
    (out / "notes.txt").write_text("notes")
    before = _snapshot(out)
    real_replace = os.replace

    def failing_replace(source, target):
        if ".radassist-staging-" in str(source) and Path(target).name == "b.txt":
            raise OSError(errno.EIO, "I/O error", str(target))
        return real_replace(source, target)

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(OutputError, match="I/O error"):
        _write_result(out, "brain", {"a.txt": "new a", "b.txt": "new b"})
    monkeypatch.undo()
    assert _snapshot(out) == before
    _no_temporaries(out)


def test_accumulate_adds_to_an_earlier_export_case_by_case(tmp_path):
    out = tmp_path / "training"
    _write_result(out, "crm export-training", {"A_0000.png": "a"}, accumulate=True)
    _write_result(out, "crm export-training", {"B_0000.png": "b"}, accumulate=True)
    _write_result(out, "crm export-training", {"B_0000.png": "b2"}, accumulate=True)
    assert _snapshot(out).keys() == {"A_0000.png", "B_0000.png", RESULT_MARKER}
    assert (out / "B_0000.png").read_text() == "b2"
    assert read_result_marker(out).files == ("A_0000.png", "B_0000.png")


def test_an_output_path_that_is_a_file_is_refused(tmp_path):
    target = tmp_path / "report.json"
    target.write_text("keep")
    with pytest.raises(OutputError, match="is a file"):
        _write_result(target, "brain", {"report.json": "{}"})
    assert target.read_text() == "keep"


# ----- the command line ---------------------------------------------------------------------------


@pytest.fixture
def a_demo_data_folder(tmp_path):
    """A folder a user might point --out at: input scans and a notes file."""
    folder = tmp_path / "patient"
    folder.mkdir()
    (folder / "flair.nii.gz").write_bytes(b"\x1f\x8b not really")
    (folder / "notes.txt").write_text("dictated findings")
    return folder


@pytest.mark.cli
def test_cli_refuses_an_input_folder_as_out_with_one_line_and_exit_1(a_demo_data_folder, tmp_path, capsys):
    before = _snapshot(a_demo_data_folder)
    code = main(["demo", "--out", str(a_demo_data_folder), "--data", str(tmp_path / "no-data")])
    err = capsys.readouterr().err
    assert code == 1
    lines = [line for line in err.splitlines() if line.startswith("radassist:")]
    assert len(lines) == 1 and "--overwrite" in lines[0] and str(a_demo_data_folder) in lines[0]
    assert _snapshot(a_demo_data_folder) == before


@pytest.mark.cli
@pytest.mark.parametrize("errno_code, words", [(errno.EROFS, "read-only"), (errno.ENOSPC, "disk is full")])
def test_cli_read_only_or_full_output_is_exit_1_with_a_clear_line(tmp_path, monkeypatch, capsys, errno_code, words):
    import assistcore.atomic

    def refuse(*args, **kwargs):
        raise OSError(errno_code, os.strerror(errno_code), str(tmp_path / "out"))

    monkeypatch.setattr(assistcore.atomic.tempfile, "mkdtemp", refuse)
    code = main(["demo", "--out", str(tmp_path / "out"), "--data", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 1, err
    assert words in err and "internal error" not in err
    assert not (tmp_path / "out").exists()


@pytest.mark.cli
def test_agree_refuses_to_replace_an_existing_report_file(tmp_path, capsys):
    import numpy as np

    from assistcore.image import Image
    from assistcore.image_io import write_image

    labels = np.zeros((4, 5, 6), np.uint8)
    labels[1:3, 1:4, 2:5] = 2
    a = write_image(Image(labels, (1.0, 1.0, 1.0), (0.0, 0.0, 0.0), np.eye(3)), tmp_path / "a.nii.gz")
    report = tmp_path / "agreement.json"
    report.write_text("earlier")
    assert main(["brain", "agree", "--a", str(a), "--b", str(a), "--out", str(report)]) == 1
    assert report.read_text() == "earlier"
    assert main(["brain", "agree", "--a", str(a), "--b", str(a), "--out", str(report), "--overwrite"]) == 0
    assert json.loads(report.read_text())["regions"]
