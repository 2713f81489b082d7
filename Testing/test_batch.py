"""radassist batch: case discovery, input hashes, the ledger and lock, and real Dask runs (LocalCluster of 2
worker processes on CRM phantoms and a real ProstateX series) with a worker killed mid-batch."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
from pathlib import Path

import pytest

from assistcore.batch.cases import discover_cases
from assistcore.batch.ledger import batch_lock, input_sha256, read_entry
from assistcore.batch.summary import uncertainty_from_report
from assistcore.errors import InputError, OutputError

REPO_ROOT = Path(__file__).resolve().parents[1]
GOOD_CASES = ("case0", "case1", "case2", "case3")
#: files of a CRM result that must be byte-identical between runs (report.json is compared without timings)
EXACT_FILES = ("boxes.json", "slices.csv")


def _touch(path: Path, content: bytes = b"x") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return path


# ----- pure parts ------------------------------------------------------------------------------


def test_discovery_matches_inputs_by_name_per_assistant_and_reports_what_it_cannot_match(tmp_path):
    _touch(tmp_path / "b1" / "b1_t1c.nii.gz")
    _touch(tmp_path / "b1" / "b1_flair.nii.gz")
    _touch(tmp_path / "b1" / "b1_seg.nii.gz")
    _touch(tmp_path / "b2" / "b2_t2.nii.gz")  # brain without T1c and FLAIR
    cases, problems = discover_cases(tmp_path, "brain")
    assert [c.case_id for c in cases] == ["b1"] and set(cases[0].inputs) == {"t1c", "flair"}
    assert [p.case_id for p in problems] == ["b2"] and "b2" in problems[0].reason

    spine = tmp_path / "spine"
    _touch(spine / "s1" / "s1_sag_t2.nii.gz")
    _touch(spine / "s1" / "s1_sag_labels.nii.gz")
    _touch(spine / "s1" / "s1_ax_t2_block0.nii.gz")
    _touch(spine / "s1" / "s1_ax_t2_block1.nii.gz")
    _touch(spine / "loose.nii.gz")  # a loose file is a case of its own
    (spine / "s1" / "radassist-case.json").unlink(missing_ok=True)
    cases, problems = discover_cases(spine, "spine")
    assert [c.case_id for c in cases] == ["loose", "s1"] and not problems
    assert [p.name for p in cases[1].inputs["ax_t2"]] == ["s1_ax_t2_block0.nii.gz", "s1_ax_t2_block1.nii.gz"]

    crm = tmp_path / "crm"
    _touch(crm / "dicom_case" / "IM0001", b"\0" * 128 + b"DICM")  # no volume file: the folder is the series
    _touch(crm / "phantom" / "phantom_t2.nii.gz")
    _touch(crm / "phantom" / "phantom_labels.nii.gz")
    (crm / "empty").mkdir()
    _touch(crm / "spine_case" / "radassist-case.json", b'{"assistant": "spine", "inputs": {"sag_t2": "x"}}')
    cases, problems = discover_cases(crm, "crm")
    assert {c.case_id: c.inputs["t2"].name for c in cases} == {
        "dicom_case": "dicom_case",
        "phantom": "phantom_t2.nii.gz",
    }
    reasons = {p.case_id: p.reason for p in problems}
    assert set(reasons) == {"empty", "spine_case"} and "radassist batch spine" in reasons["spine_case"]


def test_discovery_refuses_a_cases_folder_that_does_not_exist(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        discover_cases(tmp_path / "missing", "crm")
    with pytest.raises(InputError, match="Unknown assistant"):
        discover_cases(tmp_path, "lung")


def test_input_hash_follows_content_not_dates_or_location(tmp_path):
    _touch(tmp_path / "a" / "c" / "c_t2.nii.gz", b"one")
    (case,) = discover_cases(tmp_path / "a", "crm")[0]
    first = input_sha256(case)
    os.utime(case.inputs["t2"], (1, 1))
    assert input_sha256(case) == first, "a touched file with the same content is unchanged"
    shutil.copytree(tmp_path / "a", tmp_path / "moved")
    assert input_sha256(discover_cases(tmp_path / "moved", "crm")[0][0]) == first
    case.inputs["t2"].write_bytes(b"two")
    assert input_sha256(case) != first


def test_second_batch_on_one_output_folder_is_refused_and_a_dead_batchs_lock_is_taken_over(tmp_path):
    with batch_lock(tmp_path / "out") as lock:
        holder = json.loads(lock.read_text())
        assert holder["pid"] == os.getpid() and holder["host"] == socket.gethostname()
        with (
            pytest.raises(OutputError, match=f"in use by another batch \\(pid {os.getpid()}"),
            batch_lock(tmp_path / "out"),
        ):
            pass
    assert not lock.exists(), "the lock goes with the batch"
    dead_pid = 2**22 + 12345  # above the kernel's pid range here: no such process
    lock.write_text(json.dumps({"pid": dead_pid, "host": socket.gethostname(), "started": 0}))
    with batch_lock(tmp_path / "out"):
        assert json.loads(lock.read_text())["pid"] == os.getpid()
    lock.write_text(json.dumps({"pid": 1, "host": "another-machine", "started": 0}))
    with pytest.raises(OutputError, match="another-machine"), batch_lock(tmp_path / "out"):
        pass


def test_uncertainty_is_highest_where_the_result_sits_on_the_operating_threshold():
    crm = lambda p: uncertainty_from_report("crm", {"verdict": {"max_probability": p, "threshold": 0.7}})  # noqa: E731
    assert crm(0.7) == 1.0 and crm(0.0) == 0.0 and crm(0.35) == pytest.approx(0.5)
    fused = {"summary": {"threshold": 0.5}, "fused": [{"fused_score": 0.95}, {"fused_score": 0.55}]}
    assert uncertainty_from_report("breast-us", fused) == pytest.approx(0.9)
    assert uncertainty_from_report("spine", {"labelling": {"confidence": 0.8}}) == pytest.approx(0.2)
    assert uncertainty_from_report("brain", {"uncertainty": 0.3}) == 0.3


# ----- real Dask runs ----------------------------------------------------------------------------


def _write_cases(root: Path) -> list[str]:
    from assistcore.phantoms.rectum import generate_rectal_phantom, write_rectal_phantom_case

    for seed, case_id in enumerate(GOOD_CASES):
        phantom = generate_rectal_phantom(seed, crm_positive=seed % 2 == 0, matrix=128, n_slices=6)
        write_rectal_phantom_case(phantom, root / case_id, case_id)
    _touch(root / "broken" / "broken_t2.nii.gz", b"not a nifti")  # unreadable: fails alone
    (root / "no_images").mkdir()  # unmatched: reported
    names = list(GOOD_CASES)
    data = Path(os.environ.get("RADASSIST_DATA", REPO_ROOT.parent / "shared" / "data"))
    series = sorted(data.glob("pelvis_prostatex_dicom/ProstateX-0000/*/*t2tsetra*"))
    if series:  # the real DICOM series, named by a case file (an absolute path stays absolute)
        spec = {"assistant": "crm", "inputs": {"t2": str(series[0])}}
        _touch(root / "prostatex" / "radassist-case.json", json.dumps(spec).encode())
        names.append("prostatex")
    return names


def _reference_run(cases: Path, out: Path, names: list[str]) -> None:
    """The same cases one by one in this process, as `radassist crm` runs them (one torch thread, as a worker)."""
    import importlib.util

    import torch

    from assistcore.batch.cases import case_inputs
    from radassist.crm_app import detect_case_to_folder

    if importlib.util.find_spec("slicer"):
        import slicer  # noqa: F401  (scenes built here, as in a worker, not in a helper process per case)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        for name in names:
            options = {"model_id": "crm-demo", "device": "cpu", "threshold": None, "slices": None}
            detect_case_to_folder(case_inputs(cases / name, "crm")["t2"], out / name, options, case_id=name)
    finally:
        torch.set_num_threads(threads)


def _complete(folder: Path) -> bool:
    """The folder is a whole result: its marker lists files that are all there."""
    from assistcore.atomic import read_result_marker

    marker = read_result_marker(folder)
    return marker is not None and all((folder / name).is_file() for name in marker.files)


def _comparable_report(folder: Path) -> dict:
    report = json.loads((folder / "report.json").read_text())
    for key in ("seconds_per_stage", "seconds_per_slice", "model"):
        report.pop(key, None)
    return report


@pytest.fixture(scope="module")
def a_scheduler():
    """A running Dask scheduler with 2 worker processes (as `dask scheduler` + `dask worker` would give), on
    which a task whose worker dies fails at once (allowed-failures 0, as `radassist batch` sets by default)."""
    import logging

    import dask
    from distributed import LocalCluster

    with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
        cluster = LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0", silence_logs=logging.ERROR
        )
    with cluster:
        yield cluster.scheduler_address


@pytest.fixture(scope="module")
def killed_then_rerun(tmp_path_factory, a_scheduler):
    """Batch 1 on the 2 workers of a running scheduler with one worker killed after the first result, then
    batch 2 on the same output folder; returns what both did."""
    from assistcore.brain.worklist import Worklist
    from radassist.batch_run import BatchSettings, run_batch

    root = tmp_path_factory.mktemp("batch")
    names = _write_cases(root / "cases")
    killed: list[str] = []

    def kill_a_busy_worker(row, client) -> None:
        if killed:
            return
        busy = [address for address, keys in client.processing().items() if keys]
        if busy:
            pid = client.run(os.getpid, workers=busy[:1])[busy[0]]
            os.kill(pid, signal.SIGKILL)
            killed.append(busy[0])

    settings = dict(cases=root / "cases", out=root / "out", worklist=root / "worklist.db", scheduler=a_scheduler)
    options = {"device": "cpu", "cpu_threads": 1}
    first = run_batch(BatchSettings("crm", **settings, options=options), kill_a_busy_worker, False)
    first_rows = {row.case_id: row for row in first.rows}
    half_cases = [name for name in names if (root / "out" / name).exists() and not _complete(root / "out" / name)]
    second = run_batch(BatchSettings("crm", **settings, options=options), show_progress=False)
    from distributed import Client

    from assistcore.models.loader import cached_model_keys

    with Client(a_scheduler) as client:
        worker_caches = client.run(cached_model_keys)
    _reference_run(root / "cases", root / "reference", names)
    return {
        "root": root,
        "names": names,
        "killed": killed,
        "first": first_rows,
        "first_outcome": first,
        "half_cases": half_cases,
        "second": {row.case_id: row for row in second.rows},
        "second_outcome": second,
        "worklist": Worklist(root / "worklist.db"),
        "worker_caches": worker_caches,
    }


@pytest.mark.models
@pytest.mark.slow
def test_a_killed_worker_fails_only_its_cases_and_the_rerun_finishes_exactly_those(killed_then_rerun):
    run = killed_then_rerun
    first, second = run["first"], run["second"]
    assert run["killed"], "a worker was busy when the first result came in and was killed"
    lost = {name for name in run["names"] if first[name].status == "failed"}
    assert lost, f"the killed worker held a case: {[(r.case_id, r.status, r.error) for r in first.values()]}"
    assert all("KilledWorker" in first[name].error for name in lost), [first[name].error for name in lost]
    assert run["half_cases"] == [], "a killed task leaves no half case (a folder is a whole result or absent)"
    # a task killed after its folder was moved in but before it returned counts as lost: it runs again
    assert first["broken"].status == "failed" and "broken_t2.nii.gz" in first["broken"].error
    assert first["no_images"].status == "unmatched"
    assert not run["first_outcome"].all_succeeded
    ran_again = {name for name, row in second.items() if row.status in ("ok", "failed")}
    assert ran_again == lost | {"broken"}, "the rerun runs exactly what is missing (and the still-bad case)"
    assert {name for name, row in second.items() if row.status == "skipped"} == set(run["names"]) - lost
    summary = (run["root"] / "out" / "batch_summary.csv").read_text().splitlines()
    assert summary[0] == "case_id,status,seconds,worker,uncertainty,error" and len(summary) == len(second) + 1


@pytest.mark.models
@pytest.mark.slow
def test_batch_outputs_are_identical_to_a_one_process_run(killed_then_rerun):
    root = killed_then_rerun["root"]
    for name in killed_then_rerun["names"]:
        batch, reference = root / "out" / name, root / "reference" / name
        for file_name in EXACT_FILES:
            assert (batch / file_name).read_bytes() == (reference / file_name).read_bytes(), f"{name}/{file_name}"
        assert _comparable_report(batch) == _comparable_report(reference), name
        assert sorted(p.name for p in batch.rglob("*.png")) == sorted(p.name for p in reference.rglob("*.png"))
        assert (batch / "scene.mrb").is_file()
        entry = read_entry(root / "out", name)
        assert entry.status == "ok" and entry.model_id == "crm-demo" and len(entry.model_sha256) == 64


@pytest.mark.models
@pytest.mark.slow
def test_results_enter_the_worklist_most_uncertain_first_with_their_assistant(killed_then_rerun):
    queue = killed_then_rerun["worklist"].queue()
    assert {case.case_id for case in queue} == set(killed_then_rerun["names"])
    assert all(case.assistant == "crm" and case.labels_path.endswith("boxes.json") for case in queue)
    scores = [case.uncertainty for case in queue]
    assert scores == sorted(scores, reverse=True)


@pytest.mark.models
@pytest.mark.slow
def test_an_unchanged_case_is_skipped_and_a_changed_one_runs_again(killed_then_rerun, tmp_path):
    from assistcore.phantoms.rectum import generate_rectal_phantom, write_rectal_phantom_case
    from radassist.batch_run import BatchSettings, run_batch

    root = killed_then_rerun["root"]
    shutil.copytree(root / "cases", tmp_path / "cases", symlinks=True)
    shutil.copytree(root / "out", tmp_path / "out")
    shutil.rmtree(tmp_path / "cases" / "broken")
    write_rectal_phantom_case(generate_rectal_phantom(9, matrix=128, n_slices=6), tmp_path / "cases" / "case1", "case1")
    settings = BatchSettings("crm", tmp_path / "cases", tmp_path / "out", workers=1, options={"device": "cpu"})
    outcome = run_batch(settings, show_progress=False)
    statuses = {row.case_id: row.status for row in outcome.rows}
    assert outcome.cases_run == 1 and statuses["case1"] == "ok"
    assert {name for name, status in statuses.items() if status == "skipped"} == set(killed_then_rerun["names"]) - {
        "case1"
    }
    with batch_lock(tmp_path / "out"), pytest.raises(OutputError, match="in use by another batch"):
        run_batch(settings, show_progress=False)


def test_a_scheduler_that_does_not_answer_is_a_clear_error_and_runs_nothing(tmp_path):
    from radassist.batch_run import BatchSettings, run_batch

    _touch(tmp_path / "cases" / "c" / "c_t2.nii.gz")
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings = BatchSettings(
        "crm", tmp_path / "cases", tmp_path / "out", scheduler=f"tcp://127.0.0.1:{port}", connect_timeout_s=2
    )
    with pytest.raises(InputError, match=f"tcp://127.0.0.1:{port} did not answer .*dask scheduler"):
        run_batch(settings, show_progress=False)
    assert not (tmp_path / "out" / "batch_summary.csv").exists()


@pytest.mark.cli
def test_command_line_lists_unmatched_cases_and_exits_one_without_starting_workers(tmp_path, capsys):
    from radassist.cli.main import main

    (tmp_path / "cases" / "empty").mkdir(parents=True)
    _touch(tmp_path / "cases" / "notes" / "readme.txt")
    assert main(["batch", "crm", "--cases", str(tmp_path / "cases"), "--out", str(tmp_path / "out")]) == 1
    printed = capsys.readouterr().out
    assert "empty" in printed and "notes" in printed and "2 unmatched" in printed
    assert (tmp_path / "out" / "batch_summary.csv").read_text().count("unmatched") == 2
    assert main(["batch", "crm", "--out", str(tmp_path / "out")]) == 1
    assert "--cases and --out are required" in capsys.readouterr().err


@pytest.mark.models
@pytest.mark.slow
@pytest.mark.mrml
def test_a_case_pre_labelled_by_the_batch_opens_in_the_station_with_the_batchs_result(killed_then_rerun, tmp_path):
    pytest.importorskip("slicer")
    from assistcore.brain.worklist import Worklist
    from assistcore.station.accounts import Account, Role
    from AssistCoreLib.headless import createHeadlessScene
    from radassist.station.assistants import CASE_FILE
    from radassist.station.cases import StationSession

    root = killed_then_rerun["root"]
    folder = shutil.copytree(root / "cases" / "case0", tmp_path / "case0")
    (folder / CASE_FILE).write_text(json.dumps({"assistant": "crm", "inputs": {"t2": "case0_t2.nii.gz"}}))
    worklist = Worklist(tmp_path / "worklist.db")
    entry = read_entry(root / "out", "case0")
    worklist.add_prelabelled(
        "case0", folder, entry.labels_path, entry.uncertainty, entry.model_id, "1", assistant="crm"
    )
    scene, logics = createHeadlessScene()
    opened = StationSession(scene, logics, worklist, Account("ann", Role.ANNOTATOR)).open_case("case0")
    verdict = json.loads((root / "out" / "case0" / "report.json").read_text())["verdict"]
    assert opened.kind == "crm" and opened.summary["verdict"] == verdict and opened.summary["saved"]


@pytest.mark.models
@pytest.mark.slow
def test_each_worker_keeps_the_model_it_loaded_between_cases(killed_then_rerun):
    caches = [keys for keys in killed_then_rerun["worker_caches"].values() if keys]
    assert caches, "the workers that ran cases still hold their network"
    assert all(len(keys) == 1 and keys[0][0] == "crm-demo" for keys in caches), caches


def test_workers_sharing_a_machine_build_onnx_sessions_with_their_share_of_the_cores():
    from assistcore.models import onnx_runtime

    model = Path(__file__).resolve().parents[1] / "Resources" / "Models" / "crm-demo" / "model.onnx"
    try:
        onnx_runtime.set_cpu_threads(1)
        one = onnx_runtime.OnnxNetwork(model)
        onnx_runtime.set_cpu_threads(None)
        default = onnx_runtime.OnnxNetwork(model)
    finally:
        onnx_runtime.set_cpu_threads(None)
    assert one.session.get_session_options().intra_op_num_threads == 1
    assert default.session.get_session_options().intra_op_num_threads == 0  # ONNX Runtime's own: every core
