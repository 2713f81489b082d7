"""`radassist`: the command line. Each subcommand is a thin call into the assistcore API.

Exit codes: 0 success; 1 a RadAssist error (bad input, model problem), with one line on stderr;
2 wrong usage (argparse); 3 an unexpected internal error; 130 cancelled (Ctrl+C).
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import traceback
from collections.abc import Sequence
from typing import Any

from assistcore import __version__
from assistcore.errors import CancelledError, RadAssistError

#: Modules that add subcommands: each has ``register(subparsers, common)``. Assistants append theirs.
COMMAND_MODULES = (
    "radassist.cli.commands_info",
    "radassist.cli.commands_models",
    "radassist.cli.commands_deepmedic",
    "radassist.cli.commands_demo",
    "radassist.cli.commands_bench",
    "radassist.cli.commands_brain",
    "radassist.cli.commands_crm",
    "radassist.cli.commands_spine",
    "radassist.cli.commands_breast_us",
    "radassist.cli.commands_station",
    "radassist.cli.commands_report",
    "radassist.cli.commands_batch",
)

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_INTERNAL, EXIT_CANCELLED = 0, 1, 2, 3, 130


def common_options() -> argparse.ArgumentParser:
    """Options every subcommand accepts, also after the subcommand name (``radassist info --json``)."""
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument(
        "--json", action="store_true", default=argparse.SUPPRESS, help="machine-readable JSON on stdout"
    )
    parent.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks on errors")
    return parent


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="radassist",
        description="RadAssist: AI assistants for MRI reading and annotation (headless, on DICOM or NIfTI).",
        epilog="Demo models are trained on synthetic data: not for clinical use.",
    )
    parser.add_argument("--version", action="version", version=f"radassist {__version__}")
    parser.add_argument("--json", action="store_true", help="machine-readable JSON on stdout")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    common = common_options()
    for module_name in COMMAND_MODULES:
        importlib.import_module(module_name).register(subparsers, common)
    return parser


def emit(args: argparse.Namespace, payload: Any, text: str) -> None:
    """Print ``payload`` as JSON when ``--json`` was given, else the human-readable ``text``."""
    if getattr(args, "json", False):
        print(json.dumps(payload, indent=2, default=str))
    else:
        print(text)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    args.command_line = list(sys.argv[1:] if argv is None else argv)  # recorded in model cards and reports
    if not getattr(args, "handler", None):
        parser.print_help()
        return EXIT_USAGE
    try:
        return int(args.handler(args) or EXIT_OK)
    except CancelledError as error:
        print(f"radassist: cancelled: {error}", file=sys.stderr)
        return EXIT_CANCELLED
    except KeyboardInterrupt:
        print("radassist: interrupted", file=sys.stderr)
        return EXIT_CANCELLED
    except RadAssistError as error:
        if args.debug:
            traceback.print_exc()
        print(f"radassist: error: {error}", file=sys.stderr)
        return EXIT_ERROR
    except Exception as error:  # an unexpected failure: one line unless --debug
        if args.debug:
            traceback.print_exc()
        print(
            f"radassist: internal error: {type(error).__name__}: {error} "
            "(run again with --debug for the traceback and report it)",
            file=sys.stderr,
        )
        return EXIT_INTERNAL


if __name__ == "__main__":
    sys.exit(main())
