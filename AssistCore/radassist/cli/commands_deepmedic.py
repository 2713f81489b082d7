"""`radassist models convert-deepmedic`: CaPTk 1.9's DeepMedic brain tumour checkpoint -> a RadAssist model folder.

TensorFlow runs only to read the checkpoint, in an environment of its own (``--tf-python``, else
``$RADASSIST_TF_PYTHON``): that interpreter runs ``radassist/deepmedic_checkpoint_dump.py``, which writes the
``net/`` variables to an .npz. Everything else runs here: the variables go onto
:class:`assistcore.brain.deepmedic_network.DeepMedic` (strict), and the folder gets ``model.pt`` (state dict),
``model.onnx`` (checked against torch), ``SBIA_license.txt`` (copied verbatim), ``NOTICE`` (this is a modified,
converted version) and ``model_card.json`` (validated). Written atomically: on any error nothing is left.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from assistcore.errors import InputError, ModelError

from .deepmedic_card import CAPTK_MODEL_NAME, CHECKPOINT_FILES, LICENCE_FILE, MODEL_ID, build_card, notice_text

#: environment variable naming a Python interpreter that has TensorFlow
TF_PYTHON_VARIABLE = "RADASSIST_TF_PYTHON"
_TF_HINT = (
    f"Make one with `python3 -m venv /tmp/tfenv && /tmp/tfenv/bin/pip install tensorflow-cpu numpy`, then pass "
    f"--tf-python /tmp/tfenv/bin/python or set {TF_PYTHON_VARIABLE}."
)
CONFIG_FILE = "modelConfig.txt"


def register(subparsers, common: argparse.ArgumentParser) -> None:
    """Add ``convert-deepmedic`` to the ``models`` command (made here if ``commands_models`` has not yet)."""
    models = subparsers.choices.get("models")
    if models is None:
        models = subparsers.add_parser("models", parents=[common], help="list, verify, import and convert models")
        actions = models.add_subparsers(dest="models_action", metavar="ACTION", required=True)
    else:  # argparse keeps a parser's sub-commands in its _SubParsersAction; there is no public lookup
        actions = next(action for action in models._actions if isinstance(action, argparse._SubParsersAction))
    parser = actions.add_parser(
        "convert-deepmedic",
        parents=[common],
        help="convert CaPTk 1.9's DeepMedic brain tumour checkpoint (TensorFlow 1) into a model folder",
        description="Reads the checkpoint with TensorFlow in an interpreter of its own, writes model.pt, model.onnx, "
        "the SBIA licence, a NOTICE and model_card.json to --out.",
    )
    parser.add_argument(
        "ckpt_dir",
        help="CaPTk's model folder: model.ckpt.index, model.ckpt.data-00000-of-00001, "
        "modelConfig.txt, SBIA_license.txt",
    )
    parser.add_argument("--out", required=True, help="model folder to write (e.g. Resources/Models/" + MODEL_ID + ")")
    parser.add_argument("--tf-python", help=f"Python interpreter with TensorFlow (default ${TF_PYTHON_VARIABLE})")
    parser.add_argument("--overwrite", action="store_true", help="write into an existing folder of other files")
    parser.set_defaults(handler=run_convert)


def run_convert(args: argparse.Namespace) -> int:
    from .main import emit

    command = "radassist " + " ".join(getattr(args, "command_line", None) or ["models", "convert-deepmedic"])
    card = convert_deepmedic(args.ckpt_dir, args.out, args.tf_python, args.overwrite, command)
    emit(args, card, f"converted {card['id']} into {args.out} (model.pt, model.onnx, {LICENCE_FILE}, NOTICE)")
    return 0


def check_checkpoint_folder(ckpt_dir: str | os.PathLike[str]) -> Path:
    """The checkpoint folder, after checking its files are there and are CaPTk 1.9's (sha256, model name).

    :raises InputError: not a folder, or a file missing.
    :raises ModelError: a checkpoint file with another sha256, or another model's config.
    """
    from assistcore.models.weights import sha256_of

    folder = Path(ckpt_dir)
    if not folder.is_dir():
        raise InputError(f"Checkpoint folder {folder} does not exist.", "Give CaPTk's brainTumorSegmentation folder.")
    for name in [*CHECKPOINT_FILES, CONFIG_FILE, LICENCE_FILE]:
        if not (folder / name).is_file():
            raise InputError(
                f"Checkpoint folder {folder} has no {name}.",
                "Copy CaPTk's data/deepMedic/saved_models/brainTumorSegmentation folder whole.",
            )
    for name, expected in CHECKPOINT_FILES.items():
        actual = sha256_of(folder / name)
        if actual != expected:
            raise ModelError(
                f"{folder / name} is not CaPTk 1.9's brain tumour checkpoint (sha256 {actual[:12]}..., expected "
                f"{expected[:12]}...).",
                "This converter builds that one model's architecture; other DeepMedic models need their own.",
            )
    config = (folder / CONFIG_FILE).read_text(encoding="utf-8", errors="replace")
    if CAPTK_MODEL_NAME not in config:
        raise ModelError(f"{folder / CONFIG_FILE} does not describe model {CAPTK_MODEL_NAME}.")
    return folder


def tf_interpreter(tf_python: str | None) -> str:
    """The interpreter with TensorFlow: ``tf_python``, else ``$RADASSIST_TF_PYTHON``.

    :raises ModelError: none given, or not an executable file.
    """
    chosen = tf_python or os.environ.get(TF_PYTHON_VARIABLE)
    if not chosen:
        raise ModelError("Reading a DeepMedic checkpoint needs a Python interpreter with TensorFlow.", _TF_HINT)
    found = shutil.which(chosen)
    if not found:
        raise ModelError(f"TensorFlow interpreter {chosen} not found or not executable.", _TF_HINT)
    return found


def dump_checkpoint(tf_python: str, checkpoint_prefix: Path, out_npz: Path, timeout_s: float = 900) -> str:
    """Run the dump script with ``tf_python`` (from an empty folder, so nothing of ours can shadow TensorFlow's
    imports); returns its one-line report.

    :raises ModelError: the interpreter failed (e.g. no TensorFlow), with its last line of error output.
    """
    script = Path(__file__).resolve().parents[1] / "deepmedic_checkpoint_dump.py"
    with tempfile.TemporaryDirectory(prefix="radassist-tf-") as folder:
        copy = Path(folder) / script.name
        shutil.copyfile(script, copy)
        environment = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""}
        environment.pop("PYTHONPATH", None)
        try:
            completed = subprocess.run(
                [tf_python, str(copy), str(checkpoint_prefix), str(out_npz)],
                cwd=folder,
                capture_output=True,
                text=True,
                timeout=timeout_s,
                env=environment,
            )
        except (OSError, subprocess.TimeoutExpired) as error:
            raise ModelError(f"Cannot run the TensorFlow interpreter {tf_python} ({error}).", _TF_HINT) from error
    if completed.returncode != 0 or not out_npz.is_file():
        lines = [line for line in (completed.stderr or completed.stdout).splitlines() if line.strip()]
        last = lines[-1].strip() if lines else f"exit status {completed.returncode}"
        hint = _TF_HINT if "tensorflow" in last.lower() else None
        raise ModelError(f"Reading the checkpoint with {tf_python} failed: {last}", hint)
    return completed.stdout.strip().splitlines()[-1] if completed.stdout.strip() else ""


def convert_deepmedic(
    ckpt_dir: str | os.PathLike[str],
    out: str | os.PathLike[str],
    tf_python: str | None = None,
    overwrite: bool = False,
    command: str = "radassist models convert-deepmedic",
) -> dict:
    """Convert CaPTk's DeepMedic checkpoint folder into the model folder ``out`` and return its card.

    :raises InputError: the folder or one of its files is missing.
    :raises ModelError: wrong checkpoint (sha256), no TensorFlow interpreter, conversion or export failure.
    :raises OutputError: ``out`` is refused (a folder of other files without ``overwrite``).
    """
    import numpy as np
    import torch

    from assistcore.atomic import result_directory
    from assistcore.brain import deepmedic_network
    from assistcore.models.card import validate_card_data
    from assistcore.models.weights import sha256_of

    folder = check_checkpoint_folder(ckpt_dir)
    interpreter = tf_interpreter(tf_python)
    config = deepmedic_network.CAPTK_BRAIN_TUMOR_CONFIG
    network_config = {"_target_": "assistcore.brain.deepmedic_network.DeepMedic", **config}
    with tempfile.TemporaryDirectory(prefix="radassist-deepmedic-") as scratch:
        npz = Path(scratch) / "variables.npz"
        tf_report = dump_checkpoint(interpreter, folder / "model.ckpt", npz)
        with np.load(npz) as stored:
            variables = {name: stored[name] for name in stored.files}
    network = deepmedic_network.DeepMedic(**config)
    try:
        network.load_state_dict(deepmedic_network.state_dict_from_checkpoint(variables, config), strict=True)
    except (KeyError, RuntimeError) as error:
        raise ModelError(f"The checkpoint's variables do not fit DeepMedic's architecture ({error}).") from error
    network.eval()
    with result_directory(out, "models convert-deepmedic", overwrite) as staging:
        torch.save(network.state_dict(), staging / "model.pt")
        weights = {
            "file": "model.pt",
            "sha256": sha256_of(staging / "model.pt"),
            "format": "state_dict",
            "size_bytes": (staging / "model.pt").stat().st_size,
        }
        program = deepmedic_network.export_deepmedic_onnx(network, staging / "model.onnx")
        shutil.copyfile(folder / LICENCE_FILE, staging / LICENCE_FILE)
        (staging / "NOTICE").write_text(notice_text(tf_report, command), encoding="utf-8")
        card = build_card(weights, program, network_config, command, tf_report)
        validate_card_data(card, f"{MODEL_ID} model card")
        (staging / "model_card.json").write_text(json.dumps(card, indent=2) + "\n", encoding="utf-8")
    return card
