"""Benchmarks run their measurement in a fresh interpreter, so that its imports, first-case cost and peak memory
(``ru_maxrss``) are its own and not the caller's."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any


def _literal(value: Any) -> str:
    return f"Path({str(value)!r})" if isinstance(value, Path) else repr(value)


def call_in_fresh_interpreter(module: str, function: str, *arguments: Any) -> Any:
    """``module.function(*arguments)`` in a new Python process; its JSON-serialisable result.

    Arguments are paths, strings, numbers or None (written into the child's code as literals).
    """
    code = (
        f"import json; from pathlib import Path; import {module} as m; "
        f"print(json.dumps(m.{function}({', '.join(_literal(value) for value in arguments)})))"
    )
    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(completed.stdout.strip().splitlines()[-1])
