"""The Station's app processes: starting one (unbound, waiting for the gateway to name its user), stopping one,
and how many this machine has memory for. The gateway (:mod:`radassist.station.gateway`) hands them out."""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import web

from assistcore.station.accounts import Account

from .app import READY_LINE

WORKER_START_TIMEOUT_S = 120.0
#: wslink's reaper in an app process: it exits after this long without any websocket. The gateway's own
#: websocket keeps it from firing while the gateway keeps the process; this is the backstop for the rest.
WORKER_REAPER_TIMEOUT_S = 300
#: what one app process needs with a case open (slicer-core, four sequences, segmentation, views, torch)
APP_PROCESS_BYTES = int(1.5 * 2**30)


@dataclass
class Worker:
    process: asyncio.subprocess.Process
    port: int
    key: str
    started_s: float
    stdout_drain: asyncio.Future | None = None
    keeper: asyncio.Task | None = None  # the gateway's own websocket that keeps wslink's reaper away

    @property
    def alive(self) -> bool:
        return self.process.returncode is None

    @property
    def pid(self) -> int:
        return self.process.pid


@dataclass
class Session:
    account: Account
    worker: Worker
    last_seen: float = field(default_factory=time.time)  # the browser's last request or websocket message
    sockets: set[web.WebSocketResponse] = field(default_factory=set)  # its browsers' open websockets


async def start_worker(worklist: Path, reaper_timeout_s: int = WORKER_REAPER_TIMEOUT_S) -> Worker:
    """Start one unbound app process and wait until it listens (its port comes on its standard output)."""
    started = time.perf_counter()
    key = secrets.token_urlsafe(32)
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "radassist.station.app",
        "--worklist",
        str(worklist),
        "--worker-key-stdin",
        "--reaper-timeout-s",
        str(int(reaper_timeout_s)),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        limit=1 << 20,
    )
    process.stdin.write(f"{key}\n".encode())
    await process.stdin.drain()

    async def wait_ready() -> int:
        while True:
            line = await process.stdout.readline()
            if not line:
                raise RuntimeError(f"the Station app process exited (code {await process.wait()}) before it was ready")
            if line.startswith(READY_LINE.encode()):
                return int(line.split()[1])

    port = await asyncio.wait_for(wait_ready(), WORKER_START_TIMEOUT_S)
    drain = asyncio.ensure_future(_drain(process.stdout))  # keep its later output from filling the pipe
    return Worker(process, port, key, time.perf_counter() - started, drain)


async def _drain(stream) -> None:
    while await stream.readline():
        pass


async def stop_worker(worker: Worker) -> None:
    if worker.keeper is not None:
        worker.keeper.cancel()
    if not worker.alive:
        return
    with contextlib.suppress(Exception):
        worker.process.stdin.close()  # the app stops its loop when its standard input closes
    try:
        await asyncio.wait_for(worker.process.wait(), 5.0)
    except asyncio.TimeoutError:
        worker.process.kill()
        await worker.process.wait()


def default_max_sessions(meminfo: Path = Path("/proc/meminfo")) -> int:
    """Signed-in users this machine has memory for now: MemAvailable / :data:`APP_PROCESS_BYTES`, at least 1."""
    available = None
    with contextlib.suppress(OSError, ValueError):
        for line in meminfo.read_text().splitlines():
            if line.startswith("MemAvailable:"):
                available = int(line.split()[1]) * 1024  # kB
    if available is None:  # not Linux: free physical memory, a lower bound of what is available
        with contextlib.suppress(AttributeError, ValueError, OSError):
            available = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    if available is None:
        return 4
    return max(1, int(available // APP_PROCESS_BYTES))
