"""The `radassist` command line: help, info, errors as one line, exit codes, the demo."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from radassist.cli.main import main

pytestmark = pytest.mark.cli

RADASSIST = str(Path(sys.executable).with_name("radassist"))


def test_help_lists_every_subcommand_and_exits_zero():
    completed = subprocess.run([RADASSIST, "--help"], capture_output=True, text=True, timeout=60)
    assert completed.returncode == 0
    for command in ("info", "models", "demo", "bench"):
        assert command in completed.stdout


def test_info_json_reports_versions_and_a_device(capsys):
    assert main(["info", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["packages"]["SimpleITK"]
    assert info["device"]["device"] in {"cpu", "cuda", "mps"} or info["device"]["device"].startswith("cuda")
    assert info["model_search_paths"], "the registry must report where it looks for models"


def test_no_subcommand_prints_help_and_fails_with_usage_code(capsys):
    assert main([]) == 2
    assert "usage" in capsys.readouterr().out


def test_missing_input_is_one_line_on_stderr_without_traceback(tmp_path, capsys):
    missing = tmp_path / "does-not-exist"
    code = main(["demo", "--out", str(tmp_path / "out"), "--data", str(missing)])
    captured = capsys.readouterr()
    assert code == 1
    error_lines = [line for line in captured.err.splitlines() if line.startswith("radassist:")]
    assert len(error_lines) == 1 and str(missing) in error_lines[0]
    assert "Traceback" not in captured.err
    assert not (tmp_path / "out").exists(), "a failed demo must leave no output folder"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out.")], "no temporary folder left behind"


def test_debug_flag_shows_the_traceback(tmp_path, capsys):
    main(["--debug", "demo", "--out", str(tmp_path / "out"), "--data", str(tmp_path / "nope")])
    assert "Traceback" in capsys.readouterr().err


def test_internal_errors_exit_with_code_three_and_one_line(monkeypatch, tmp_path, capsys):
    import radassist.demo

    def broken_step(context):
        raise ZeroDivisionError("boom")

    monkeypatch.setattr(radassist.demo, "DEMO_STEPS", [("broken", broken_step)])
    code = main(["demo", "--out", str(tmp_path / "out"), "--data", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 3 and "ZeroDivisionError: boom" in err and "--debug" in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()


@pytest.mark.realdata
@pytest.mark.mrml
def test_demo_writes_volumes_pictures_report_and_scene_bundle(real_data_dir, tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--data", str(real_data_dir), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["output_dir"] == str(out.resolve())
    for item in report["outputs"]:
        assert Path(item["path"]).is_file(), item
    assert (out / "scene.mrb").stat().st_size > 1000
    written = json.loads((out / "report.json").read_text())
    pelvis = written["sample_images"][0]
    assert pelvis["size_ijk"] == [384, 384, 19]
    spine = written["spine"]
    assert set(spine) == {"PHANTOM2024", "sct-cervical", "sct-lumbar"}
    assert "C3" in spine["PHANTOM2024"]["vertebrae"] and spine["PHANTOM2024"]["discs"]
    assert (out / "spine" / "sct-cervical" / "overview.png").is_file()
    assert "not for clinical use" in written["note"]
    # the real glioma with the default (real-data) brain model: the README's numbers come from here
    brain = written["brain_tumor"]["TCGA-DU-7294"]
    assert "DeepMedic" in brain["model"] and brain["dice"]["whole_tumor"] >= 0.8, brain


@pytest.mark.models
def test_models_list_import_and_verify_from_the_command_line(tmp_path, monkeypatch, capsys):
    from model_fixtures import make_tiny_model_folder

    monkeypatch.setenv("RADASSIST_BUNDLED_MODELS", str(tmp_path / "bundled"))
    monkeypatch.setenv("RADASSIST_USER_MODELS", str(tmp_path / "user"))
    monkeypatch.delenv("RADASSIST_MODELS_PATH", raising=False)
    source = make_tiny_model_folder(tmp_path / "incoming")
    assert main(["models", "import", str(source), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["id"] == "tiny-brain"
    assert main(["models", "list", "--json"]) == 0
    (listed,) = json.loads(capsys.readouterr().out)
    assert listed["synthetic_demo"] is True and listed["source"] == "user"
    assert main(["models", "verify"]) == 0
    assert "OK" in capsys.readouterr().out
    weights = tmp_path / "user" / "tiny-brain" / "model.pt"
    weights.write_bytes(weights.read_bytes()[:-10] + b"0123456789")
    assert main(["models", "verify"]) == 1
    captured = capsys.readouterr()
    assert "FAILED tiny-brain" in captured.out and "model.pt" in captured.err and "Traceback" not in captured.err


def test_importing_a_missing_model_folder_fails_cleanly(tmp_path, capsys):
    assert main(["models", "import", str(tmp_path / "nothing")]) == 1
    assert "not found" in capsys.readouterr().err
