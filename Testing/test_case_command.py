"""The skeletons shared by the four assistants: the `radassist brain|crm|spine|breast-us` handler (which inputs it
demands, what it prints) and the *_app.py case job (staged folder, scene bundle, stage seconds)."""

from __future__ import annotations

import argparse
import json

import pytest

from assistcore.errors import InputError
from radassist.cli.case_command import DEMO_MODEL_LINE, require_options, run_case_command


def _args(**values) -> argparse.Namespace:
    return argparse.Namespace(**{"json": False, **values})


def test_missing_inputs_are_named_with_the_usage_line():
    with pytest.raises(InputError) as raised:
        require_options(_args(sag_t2=None, out="x"), ("--sag-t2", "--out"), "radassist spine --sag-t2 S --out D")
    assert str(raised.value).startswith("--sag-t2 and --out are required.")
    assert "radassist spine --sag-t2 S --out D" in str(raised.value)
    with pytest.raises(InputError, match=r"^--out is required\."):
        require_options(_args(out=""), ("--out",), "Give the output folder.")
    require_options(_args(t2="t2.nii.gz", out="out"), ("--t2", "--out"), "unused")  # both given: no error


def _report(demo: bool) -> dict:
    return {"files": ["boxes.json", "scene.mrb"], "model": {"synthetic_demo_model": demo}, "verdict": "CRM-"}


@pytest.mark.parametrize("demo", [True, False])
def test_the_job_gets_the_output_folder_and_its_files_summary_and_demo_warning_are_printed(tmp_path, capsys, demo):
    seen = {}

    def job(out, progress):
        seen["out"] = out
        return _report(demo)

    assert run_case_command(_args(out=str(tmp_path)), "crm", job, lambda report: [report["verdict"]]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert seen["out"] == tmp_path
    assert lines[:4] == [f"results in {tmp_path}", "  boxes.json", "  scene.mrb", "CRM-"]
    assert (DEMO_MODEL_LINE in lines) is demo, "only demo models are flagged as not for clinical use"


def test_with_json_the_whole_report_is_printed(tmp_path, capsys):
    run_case_command(_args(out=str(tmp_path), json=True), "crm", lambda out, progress: _report(True), lambda r: ["x"])
    assert json.loads(capsys.readouterr().out) == _report(True)


class FakeSceneWriter:
    """SceneWriter without a helper process: records the scene job; ``note`` is what finish() reports."""

    def __init__(self, note: str = "") -> None:
        self.note, self.submitted = note, None

    def submit(self, builder, path, *arguments) -> None:
        self.submitted = (builder, path, arguments)

    def finish(self) -> str:
        return self.note

    def __enter__(self):
        return self

    def __exit__(self, *exc_info) -> None:
        pass


@pytest.mark.parametrize("note", ["", "slicer-core is not installed"])
def test_a_case_job_publishes_its_folder_with_the_scene_and_stage_seconds(tmp_path, monkeypatch, note):
    import radassist.case_job as case_job_module

    writer = FakeSceneWriter(note)
    monkeypatch.setattr(case_job_module, "SceneWriter", lambda: writer)
    seconds: dict[str, float] = {"inference": 1.0}
    with case_job_module.case_job(tmp_path / "out", "crm") as job:
        job.read_done()
        job.writing()
        job.submit_scene("radassist.crm_app:build_scene", "result", "case1")
        (job.staging / "boxes.json").write_text("{}")
        extra = job.finish(seconds, read_stage="read_and_register")
    assert writer.submitted == ("radassist.crm_app:build_scene", job.staging / "scene.mrb", ("result", "case1"))
    assert extra == {"files": [] if note else ["scene.mrb"], "scene_note": note}
    assert set(seconds) == {"inference", "read_and_register", "write", "total"}
    assert 0 <= seconds["read_and_register"] <= seconds["total"] and 0 <= seconds["write"] <= seconds["total"]
    assert (tmp_path / "out" / "boxes.json").is_file(), "the staged folder is published when the job succeeds"
