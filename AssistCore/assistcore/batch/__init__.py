"""Batch pre-labelling of a cases folder through one assistant: the pure part (no Dask, no torch).

- :mod:`.cases`: which cases a folder holds for an assistant, and what each one's inputs are;
- :mod:`.ledger`: content hashes of the inputs, the per-case run record that makes a rerun skip finished
  cases, and the lock that keeps two batches out of one output folder;
- :mod:`.summary`: the summary table and each assistant's uncertainty for the worklist.

The distributed run itself (Dask) is ``radassist.batch_run``; the command is ``radassist batch``.
"""

from __future__ import annotations

#: The assistants a batch can run, as the command line names them.
ASSISTANTS = ("brain", "spine", "crm", "breast-us")
