"""The Station's front door: sign-in, sessions, and one app process per signed-in user behind a proxy.

Only the gateway listens where browsers can reach it. Without a valid session cookie every address
answers with the sign-in page (or 401), so nothing of a case is viewable before sign-in. A successful
sign-in hands the user a worker process (:mod:`radassist.station.app`; one is kept started in advance so
that sign-in does not wait for slicer-core to import), tells it who signed in and proxies that user's
HTTP and websocket traffic to it, adding the worker's secret key, which the worker demands on every
request.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import json
import secrets
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import ClientSession, WSMsgType, web

from assistcore.station.accounts import Account, Accounts

from .app import READY_LINE, WORKER_KEY_HEADER

COOKIE = "radassist_station_session"
WORKER_START_TIMEOUT_S = 120.0
#: After a sign-in takes the spare app process, wait this long before starting the next one: starting one
#: costs several CPU-seconds, which would otherwise compete with the new user's first case and strokes.
SPARE_RESTART_DELAY_S = 60.0
#: a session the browser has not used for this long is signed out (its app process stopped)
IDLE_SIGN_OUT_S = 8 * 3600.0
IDLE_CHECK_PERIOD_S = 60.0
_HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailers",
    "transfer-encoding",
    "upgrade",
    "content-encoding",
    "content-length",
    "host",
    "cookie",
}


@dataclass
class Worker:
    process: asyncio.subprocess.Process
    port: int
    key: str
    started_s: float
    stdout_drain: asyncio.Future | None = None

    @property
    def alive(self) -> bool:
        return self.process.returncode is None


@dataclass
class Session:
    account: Account
    worker: Worker
    last_seen: float = field(default_factory=time.time)  # the browser's last request or websocket message


async def start_worker(worklist: Path) -> Worker:
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
    if not worker.alive:
        return
    with contextlib.suppress(Exception):
        worker.process.stdin.close()  # the app stops its loop when its standard input closes
    try:
        await asyncio.wait_for(worker.process.wait(), 5.0)
    except asyncio.TimeoutError:
        worker.process.kill()
        await worker.process.wait()


def sign_in_page(message: str = "") -> str:
    error = f'<p id="signin-error" class="error">{html.escape(message)}</p>' if message else ""
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>RadAssist Station: sign in</title>
<style>
body {{ font-family: sans-serif; background: #1e1e1e; color: #eee; display: flex; justify-content: center;
       align-items: center; height: 100vh; margin: 0; }}
form {{ background: #2b2b2b; padding: 2em; border-radius: 8px; width: 20em; }}
label, input, button {{ display: block; width: 100%; box-sizing: border-box; margin-top: .5em; }}
input {{ padding: .5em; }} button {{ padding: .6em; margin-top: 1.2em; }} .error {{ color: #ff8a80; }}
</style></head>
<body><form method="post" action="/signin">
<h2>RadAssist Station</h2>{error}
<label for="signin-username">User name</label>
<input id="signin-username" name="username" autocomplete="username" required autofocus>
<label for="signin-password">Password</label>
<input id="signin-password" name="password" type="password" autocomplete="current-password" required>
<button id="signin-submit" type="submit">Sign in</button>
<p style="font-size: .8em; color: #aaa">Demo models are trained on synthetic data: not for clinical use.</p>
</form></body></html>"""


class Gateway:
    """The aiohttp application in front of the workers. ``spare`` keeps one worker started in advance."""

    def __init__(
        self,
        worklist: Path,
        spare: bool = True,
        spare_delay_s: float = SPARE_RESTART_DELAY_S,
        idle_sign_out_s: float = IDLE_SIGN_OUT_S,
    ) -> None:
        self.worklist = Path(worklist)
        self.idle_sign_out_s = idle_sign_out_s
        self._idle_check: asyncio.Task | None = None
        self.accounts = Accounts(self.worklist)
        self.sessions: dict[str, Session] = {}
        self.keep_spare = spare
        self.spare_delay_s = spare_delay_s
        self._spare: asyncio.Task | None = None
        self._spare_launched = True
        self._client: ClientSession | None = None
        self.app = web.Application()
        self.app.add_routes(
            [
                web.get("/signin", self.get_sign_in),
                web.post("/signin", self.post_sign_in),
                web.get("/signout", self.sign_out),
                web.route("*", "/{tail:.*}", self.proxy),
            ]
        )
        self.app.on_startup.append(self._startup)
        self.app.on_cleanup.append(self._cleanup)

    # ----- lifecycle -------------------------------------------------------------------------
    async def _startup(self, _app) -> None:
        self._client = ClientSession(auto_decompress=False)
        if self.keep_spare:
            self._spare = asyncio.ensure_future(start_worker(self.worklist))
        self._idle_check = asyncio.ensure_future(self._check_idle_sessions())

    async def _check_idle_sessions(self) -> None:
        while True:
            await asyncio.sleep(IDLE_CHECK_PERIOD_S)
            await self.sign_out_idle_sessions()

    async def sign_out_idle_sessions(self, now: float | None = None) -> list[str]:
        """Stop the app processes of sessions idle for longer than ``idle_sign_out_s``; returns their users.

        Unsaved edits of such a session are lost, as on sign-out: saves are explicit (and atomic).
        """
        now = time.time() if now is None else now
        idle = [token for token, session in self.sessions.items() if now - session.last_seen > self.idle_sign_out_s]
        users = []
        for token in idle:
            session = self.sessions.pop(token)
            users.append(session.account.username)
            await stop_worker(session.worker)
        return users

    async def _cleanup(self, _app) -> None:
        if self._idle_check is not None:
            self._idle_check.cancel()
        workers = [session.worker for session in self.sessions.values()]
        if self._spare is not None:
            if self._spare.done() and not self._spare.cancelled() and self._spare.exception() is None:
                workers.append(self._spare.result())
            else:
                self._spare.cancel()
        await asyncio.gather(*(stop_worker(worker) for worker in workers), return_exceptions=True)
        if self._client is not None:
            await self._client.close()

    async def spare_ready(self) -> float:
        """Wait for the spare worker; returns its start-up seconds."""
        worker = await self._spare
        return worker.started_s

    async def _take_worker(self) -> Worker:
        task, self._spare = self._spare, None
        if task is not None and not task.done() and not self._spare_launched:
            task.cancel()  # still waiting out its delay: start one now instead
            task = None
        worker = await task if task is not None else None
        if worker is None or not worker.alive:
            worker = await start_worker(self.worklist)
        if self.keep_spare:
            self._spare = asyncio.ensure_future(self._start_spare_later())
        return worker

    async def _start_spare_later(self) -> Worker:
        self._spare_launched = False
        await asyncio.sleep(self.spare_delay_s)
        self._spare_launched = True  # from here on, cancelling would leave a process behind
        return await start_worker(self.worklist)

    # ----- sign-in ---------------------------------------------------------------------------
    def _session(self, request: web.Request) -> Session | None:
        token = request.cookies.get(COOKIE)
        session = self.sessions.get(token or "")
        if session is not None and not session.worker.alive:
            del self.sessions[token]
            return None
        return session

    async def get_sign_in(self, request: web.Request) -> web.Response:
        if self._session(request) is not None:
            return _see_other("/")
        return web.Response(text=sign_in_page(), content_type="text/html", headers=_no_store())

    async def post_sign_in(self, request: web.Request) -> web.Response:
        form = await request.post()
        username, password = str(form.get("username", "")), str(form.get("password", ""))
        loop = asyncio.get_running_loop()
        account = await loop.run_in_executor(None, self.accounts.authenticate, username, password, request.remote or "")
        if account is None:
            page = sign_in_page("Wrong user name or password (or too many attempts; wait 5 minutes).")
            return web.Response(status=401, text=page, content_type="text/html", headers=_no_store())
        worker = await self._take_worker()
        worker.process.stdin.write(
            (json.dumps({"username": account.username, "role": account.role.value}) + "\n").encode()
        )
        await worker.process.stdin.drain()
        old = self.sessions.pop(request.cookies.get(COOKIE, ""), None)
        if old is not None:
            await stop_worker(old.worker)
        token = secrets.token_urlsafe(32)
        self.sessions[token] = Session(account, worker)
        response = _see_other("/")
        response.set_cookie(COOKIE, token, httponly=True, samesite="Strict", path="/")
        return response

    async def sign_out(self, request: web.Request) -> web.Response:
        session = self.sessions.pop(request.cookies.get(COOKIE, ""), None)
        if session is not None:
            await stop_worker(session.worker)
        response = _see_other("/signin")
        response.del_cookie(COOKIE, path="/")
        return response

    # ----- the proxy -------------------------------------------------------------------------
    async def proxy(self, request: web.Request) -> web.StreamResponse:
        session = self._session(request)
        if session is None:
            if request.method == "GET" and "text/html" in request.headers.get("Accept", ""):
                return _see_other("/signin")
            return web.Response(status=401, text="Sign in first.", headers=_no_store())
        session.last_seen = time.time()
        target = f"http://127.0.0.1:{session.worker.port}{request.rel_url}"
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP_BY_HOP}
        headers[WORKER_KEY_HEADER] = session.worker.key
        if request.headers.get("Upgrade", "").lower() == "websocket":
            return await self._proxy_websocket(request, target.replace("http://", "ws://", 1), session)
        async with self._client.request(
            request.method, target, headers=headers, data=await request.read(), allow_redirects=False
        ) as upstream:
            body = await upstream.read()
            out_headers = {k: v for k, v in upstream.headers.items() if k.lower() not in _HOP_BY_HOP}
            if "Content-Encoding" in upstream.headers:
                out_headers["Content-Encoding"] = upstream.headers["Content-Encoding"]
            return web.Response(status=upstream.status, body=body, headers=out_headers)

    async def _proxy_websocket(self, request: web.Request, target: str, session: Session) -> web.WebSocketResponse:
        browser = web.WebSocketResponse(max_msg_size=0, autoping=True)
        await browser.prepare(request)
        headers = {WORKER_KEY_HEADER: session.worker.key}
        async with self._client.ws_connect(target, headers=headers, max_msg_size=0) as worker:

            async def pump(source, sink) -> None:
                async for message in source:
                    if source is browser:
                        session.last_seen = time.time()
                    if message.type == WSMsgType.BINARY:
                        await sink.send_bytes(message.data)
                    elif message.type == WSMsgType.TEXT:
                        await sink.send_str(message.data)
                    else:
                        break

            tasks = [asyncio.ensure_future(pump(browser, worker)), asyncio.ensure_future(pump(worker, browser))]
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in tasks:
                task.cancel()
        await browser.close()
        return browser


def _see_other(location: str) -> web.Response:
    return web.Response(status=303, headers={"Location": location, **_no_store()})


def _no_store() -> dict[str, str]:
    return {"Cache-Control": "no-store"}


def is_loopback(host: str) -> bool:
    import ipaddress

    if host == "localhost":
        return True  # (an empty host binds every interface: not loopback)
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def serve(
    worklist: Path, host: str, port: int, started: float, on_ready=None, idle_sign_out_s: float = IDLE_SIGN_OUT_S
) -> None:
    """Run the gateway until interrupted; prints the address once the first worker is ready."""

    async def main() -> None:
        gateway = Gateway(worklist, idle_sign_out_s=idle_sign_out_s)
        runner = web.AppRunner(gateway.app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, host, port)
        await site.start()
        listening = time.perf_counter() - started
        worker_seconds = await gateway.spare_ready()
        ready = time.perf_counter() - started
        shown_host = f"[{host}]" if ":" in host else host
        print(
            f"RadAssist Station at http://{shown_host}:{port}/ (listening after {listening:.1f} s, "
            f"ready after {ready:.1f} s; the first app process took {worker_seconds:.1f} s)",
            flush=True,
        )
        if on_ready is not None:
            on_ready(ready)
        try:
            await asyncio.Event().wait()
        finally:
            await runner.cleanup()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())
