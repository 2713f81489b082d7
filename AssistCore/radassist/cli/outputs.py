"""The ``--out``/``--overwrite`` pair every command that writes a result folder takes (one wording, one rule)."""

from __future__ import annotations

import argparse

OVERWRITE_HELP = (
    "write into an existing folder that is not an earlier result of this command; files RadAssist did not "
    "write are kept, never replaced or removed"
)


def add_output_arguments(parser: argparse.ArgumentParser, what: str, required: bool = False) -> None:
    """Add ``--out`` (``what`` describes the folder) and ``--overwrite`` to ``parser``."""
    parser.add_argument(
        "--out",
        required=required,
        help=f"{what}: a new or empty folder, or an earlier result of this command (its files are replaced)",
    )
    parser.add_argument("--overwrite", action="store_true", help=OVERWRITE_HELP)
