"""The Station's front door: sign-in, sessions, and one app process per signed-in user behind a proxy.

Only the gateway listens where browsers can reach it. Without a valid session cookie every address
answers with the sign-in page (or 401), so nothing of a case is viewable before sign-in. A successful
sign-in hands the user a worker process (:mod:`radassist.station.app`; one is kept started in advance so
that sign-in does not wait for slicer-core to import), tells it who signed in and proxies that user's
HTTP and websocket traffic to it, adding the worker's secret key, which the worker demands on every
request.

Lifetime: a session lasts until its user signs out, until it has not been used for ``idle_sign_out_s``
(browser gone or not), or until its account is disabled, deleted or given another role. A browser that
disconnects (a closed laptop lid) and comes back within that time gets the same app process, and so its
scene and undo history, back. wslink, under trame, would stop an app process a few minutes after its last
websocket closed (its "reaper"); the gateway therefore holds one idle websocket of its own to every app
process it keeps, the spare included, so that the reaper only fires once the gateway has let go.

Limits: one app process per user (a second sign-in takes the first one over, and the first browser is told),
at most ``max_sessions`` signed-in users, websocket messages and HTTP bodies of bounded size, sign-in
attempts throttled per client address and per user name. Origins are checked on sign-in and on websocket
upgrades, and every response forbids framing.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import ipaddress
import json
import math
import os
import secrets
import sys
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from aiohttp import ClientError, ClientSession, WSCloseCode, WSMsgType, web

from assistcore.station.accounts import Account, Accounts

from .app import READY_LINE, WORKER_KEY_HEADER, WS_MAX_MESSAGE_BYTES

COOKIE = "radassist_station_session"
WORKER_START_TIMEOUT_S = 120.0
#: After a sign-in takes the spare app process, wait this long before starting the next one: starting one
#: costs several CPU-seconds, which would otherwise compete with the new user's first case and strokes.
SPARE_RESTART_DELAY_S = 60.0
#: a session the browser has not used for this long is signed out (its app process stopped)
IDLE_SIGN_OUT_S = 8 * 3600.0
#: how often the gateway looks for idle sessions and for accounts that were disabled, deleted or changed: one
#: small SQLite query, so a disabled user's session ends within seconds at no noticeable cost
ACCOUNT_CHECK_PERIOD_S = 3.0
#: wslink's reaper in an app process: it exits after this long without any websocket. The gateway's own
#: websocket keeps it from firing while the gateway keeps the process; this is the backstop for the rest.
WORKER_REAPER_TIMEOUT_S = 300
#: what one app process needs with a case open (slicer-core, four sequences, segmentation, views, torch)
APP_PROCESS_BYTES = int(1.5 * 2**30)
#: the largest websocket frame either side may send: wslink (trame) splits messages into chunks of at most
#: WS_MAX_MESSAGE_BYTES, plus room for its header. Bigger frames close that connection (code 1009).
WS_MAX_FRAME_BYTES = WS_MAX_MESSAGE_BYTES + 4096
#: the largest whole message (all its chunks) a browser may announce, and the most it may have announced but
#: not yet sent: wslink's un-chunker reserves the announced size up front, in the app process
WS_MAX_BROWSER_MESSAGE_BYTES = 32 * 2**20
#: HTTP request bodies (the trame client sends everything else over the websocket); bigger ones get 413
HTTP_MAX_BODY_BYTES = 2**20
SIGN_IN_MAX_BODY_BYTES = 16 * 2**10
#: sign-in attempts (right or wrong) allowed per client address and per user name within the window; the
#: lockout in the database (5 failures in 5 minutes) still applies on top
SIGN_IN_ATTEMPTS_PER_ADDRESS = 20
SIGN_IN_ATTEMPTS_PER_NAME = 10
SIGN_IN_WINDOW_S = 60.0
#: tokens of ended sessions are remembered this long, to tell a returning browser why it was signed out
ENDED_MEMORY_S = 24 * 3600.0
ENDED_MEMORY_ENTRIES = 10_000

#: why a session ended: (websocket close code, the message a returning browser is shown)
ENDED = {
    "elsewhere": (4001, "You signed in from another browser or tab; this one was signed out."),
    "signed_out": (4002, "You signed out."),
    "idle": (4002, "You were signed out after a long time without use."),
    "account": (4003, "Your account was disabled or changed; sign in again or ask an administrator."),
    "app_stopped": (4004, "Your Station app stopped; sign in again."),
}
#: every answer forbids being framed by another page; the trame client needs inline scripts and styles,
#: Vue's template compiler (eval), images from blob: and data: URLs and its websocket to this host
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self' 'unsafe-inline' 'unsafe-eval'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; font-src 'self' data:; worker-src 'self' blob:; connect-src 'self' {websockets}; "
    "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
)
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
_WSLINK_CHUNK_HEADER_BYTES = 12  # wslink.chunking: message id, offset, total size (little-endian uint32 each)


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


class SlidingWindow:
    """At most ``limit`` events per key within the last ``window_s`` seconds, in memory.

    A restart forgets it, which is acceptable: it only bounds the rate (and the argon2 work) of sign-in
    attempts; the lockout after failed attempts lives in the database.
    """

    def __init__(self, limit: int, window_s: float, clock=time.monotonic) -> None:
        self.limit = limit
        self.window_s = window_s
        self.clock = clock
        self._events: dict[str, deque[float]] = {}

    def retry_after_s(self, key: str) -> float:
        """0 if one more event is allowed now, else the seconds until it is."""
        events = self._events.get(key)
        if not events:
            return 0.0
        now = self.clock()
        while events and events[0] <= now - self.window_s:
            events.popleft()
        if len(events) < self.limit:
            return 0.0
        return events[0] + self.window_s - now

    def add(self, key: str) -> None:
        self._events.setdefault(key, deque()).append(self.clock())

    def prune(self) -> None:
        """Forget keys with no event in the window (so sprayed names and addresses do not pile up)."""
        cutoff = self.clock() - self.window_s
        for key in [key for key, events in self._events.items() if not events or events[-1] <= cutoff]:
            del self._events[key]


class MessageSizeGuard:
    """Mirrors wslink's un-chunker for one browser websocket, to refuse what would make the app process reserve
    too much memory: each chunk announces its whole message's size, which wslink allocates at once (up to
    4 GB for a signed-in client), so a few small frames could otherwise exhaust the server's memory."""

    def __init__(self, max_message_bytes: int = WS_MAX_BROWSER_MESSAGE_BYTES) -> None:
        self.max_message_bytes = max_message_bytes
        self._pending: dict[int, list[int]] = {}  # message id -> [announced size, bytes received]

    def accept(self, frame: bytes) -> bool:
        """False if the frame announces, alone or with the unfinished messages before it, too many bytes."""
        if len(frame) < _WSLINK_CHUNK_HEADER_BYTES:
            return True
        message_id = int.from_bytes(frame[0:4], "little")
        total = int.from_bytes(frame[8:12], "little")
        pending = self._pending.get(message_id)
        if pending is None:
            announced = total + sum(size for size, _received in self._pending.values())
            if announced > self.max_message_bytes:
                return False
            pending = self._pending[message_id] = [total, 0]
        pending[1] += len(frame) - _WSLINK_CHUNK_HEADER_BYTES
        if pending[1] >= pending[0]:
            del self._pending[message_id]
        return True


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
    """The aiohttp application in front of the workers. ``spare`` keeps one worker started in advance.

    :param max_sessions: signed-in users at a time (None: :func:`default_max_sessions`).
    :param public_origins: origins (``https://station.example.org``) browsers may use besides the Host they send.
    :param secure_cookies: mark the session cookie ``Secure`` (the Station is reached through HTTPS).
    :param trusted_proxies: addresses of reverse proxies whose ``X-Forwarded-For``/``-Proto``/``-Host`` count.
    """

    def __init__(
        self,
        worklist: Path,
        spare: bool = True,
        spare_delay_s: float = SPARE_RESTART_DELAY_S,
        idle_sign_out_s: float = IDLE_SIGN_OUT_S,
        *,
        max_sessions: int | None = None,
        account_check_period_s: float = ACCOUNT_CHECK_PERIOD_S,
        worker_reaper_timeout_s: int = WORKER_REAPER_TIMEOUT_S,
        public_origins: Iterable[str] = (),
        secure_cookies: bool = False,
        trusted_proxies: Iterable[str] = (),
        sign_in_attempts_per_address: int = SIGN_IN_ATTEMPTS_PER_ADDRESS,
        sign_in_attempts_per_name: int = SIGN_IN_ATTEMPTS_PER_NAME,
        sign_in_window_s: float = SIGN_IN_WINDOW_S,
    ) -> None:
        self.worklist = Path(worklist)
        self.idle_sign_out_s = idle_sign_out_s
        self.max_sessions = default_max_sessions() if max_sessions is None else max_sessions
        if self.max_sessions < 1:
            raise ValueError(f"max_sessions must be at least 1, got {self.max_sessions}")
        self.account_check_period_s = account_check_period_s
        self.worker_reaper_timeout_s = worker_reaper_timeout_s
        self.public_origins = {_normal_origin(origin) for origin in public_origins}
        self.secure_cookies = secure_cookies
        self.trusted_proxies = {ipaddress.ip_address(address) for address in trusted_proxies}
        self.by_address = SlidingWindow(sign_in_attempts_per_address, sign_in_window_s)
        self.by_name = SlidingWindow(sign_in_attempts_per_name, sign_in_window_s)
        self._housekeeping: asyncio.Task | None = None
        self.accounts = Accounts(self.worklist)
        self.sessions: dict[str, Session] = {}
        self.ended: dict[str, tuple[str, float]] = {}  # token -> (reason, when), see ENDED
        self._starting = 0  # sign-ins between the capacity check and their session (their worker is starting)
        self._user_locks: dict[str, asyncio.Lock] = {}
        self.keep_spare = spare
        self.spare_delay_s = spare_delay_s
        self._spare: asyncio.Task | None = None
        self._spare_launched = True
        self._client: ClientSession | None = None
        self.app = web.Application(client_max_size=HTTP_MAX_BODY_BYTES)
        self.app.add_routes(
            [
                web.get("/signin", self.get_sign_in),
                web.post("/signin", self.post_sign_in),
                web.get("/signout", self.sign_out),
                web.route("*", "/{tail:.*}", self.proxy),
            ]
        )
        self.app.on_response_prepare.append(self._security_headers)
        self.app.on_startup.append(self._startup)
        self.app.on_cleanup.append(self._cleanup)

    # ----- lifecycle -------------------------------------------------------------------------
    async def _startup(self, _app) -> None:
        self._client = ClientSession(auto_decompress=False)
        if self.keep_spare:
            self._spare = asyncio.ensure_future(self._launch_worker())
        self._housekeeping = asyncio.ensure_future(self._housekeep())

    async def _launch_worker(self) -> Worker:
        worker = await start_worker(self.worklist, self.worker_reaper_timeout_s)
        worker.keeper = asyncio.ensure_future(self._keep(worker))
        return worker

    async def _keep(self, worker: Worker) -> None:
        """Hold one idle websocket to ``worker`` for as long as the gateway keeps it.

        wslink counts websockets, not browsers: with this one open, its reaper never fires, so neither a
        session whose browser went away nor the spare is stopped behind the gateway's back. It reads (and
        drops) whatever comes, which also answers wslink's heartbeat pings.
        """
        url = f"ws://127.0.0.1:{worker.port}/ws"
        while worker.alive:
            with contextlib.suppress(ClientError, OSError, asyncio.TimeoutError):
                async with self._client.ws_connect(
                    url, headers={WORKER_KEY_HEADER: worker.key}, max_msg_size=WS_MAX_FRAME_BYTES
                ) as socket:
                    async for _message in socket:
                        pass
            await asyncio.sleep(1.0)

    async def _housekeep(self) -> None:
        while True:
            await asyncio.sleep(self.account_check_period_s)
            with contextlib.suppress(Exception):  # a locked or briefly missing database: try again next time
                await self.end_sessions_of_changed_accounts()
            await self.sign_out_idle_sessions()
            self._forget_old()

    async def end_sessions_of_changed_accounts(self) -> list[str]:
        """End the sessions whose account is now disabled, deleted or of another role; returns their users."""
        if not self.sessions:
            return []
        # only the sessions that existed when the query was made: one that starts while it runs (a user the
        # query did not ask about) is checked next time, not taken for a deleted account
        checked = dict(self.sessions)
        names = {session.account.username for session in checked.values()}
        loop = asyncio.get_running_loop()
        active = await loop.run_in_executor(None, self.accounts.active, names)
        changed = [
            token
            for token, session in checked.items()
            if token in self.sessions and active.get(session.account.username) != session.account
        ]
        return await self._end_sessions(changed, "account")

    async def sign_out_idle_sessions(self, now: float | None = None) -> list[str]:
        """Stop the app processes of sessions idle for longer than ``idle_sign_out_s``; returns their users.

        Unsaved edits of such a session are lost, as on sign-out: saves are explicit (and atomic).
        """
        now = time.time() if now is None else now
        idle = [token for token, session in self.sessions.items() if now - session.last_seen > self.idle_sign_out_s]
        return await self._end_sessions(idle, "idle")

    async def _end_sessions(self, tokens: list[str], reason: str) -> list[str]:
        """:meth:`_end_session` for each token still signed in; returns their users."""
        users = []
        for token in tokens:
            session = self.sessions.get(token)
            if session is not None:
                users.append(session.account.username)
                await self._end_session(token, reason)
        return users

    async def _end_session(self, token: str, reason: str, stop: bool = True) -> Session | None:
        """Forget the session, remember why (for its browser's next request), close its websockets with the
        reason and, unless ``stop`` is False (the worker goes on in another session), stop its app process."""
        session = self.sessions.pop(token, None)
        if session is None:
            return None
        self.ended[token] = (reason, time.time())
        code, message = ENDED[reason]
        for socket in list(session.sockets):
            with contextlib.suppress(Exception):
                await socket.close(code=code, message=message.encode()[:123])
        if stop:
            await stop_worker(session.worker)
            self._restore_spare()
        return session

    def _forget_old(self) -> None:
        cutoff = time.time() - ENDED_MEMORY_S
        for token in [token for token, (_reason, at) in self.ended.items() if at < cutoff]:
            del self.ended[token]
        while len(self.ended) > ENDED_MEMORY_ENTRIES:
            del self.ended[next(iter(self.ended))]
        self.by_address.prune()
        self.by_name.prune()

    async def _cleanup(self, _app) -> None:
        if self._housekeeping is not None:
            self._housekeeping.cancel()
        workers = [session.worker for session in self.sessions.values()]
        for session in self.sessions.values():
            for socket in list(session.sockets):
                with contextlib.suppress(Exception):
                    await socket.close(code=WSCloseCode.GOING_AWAY, message=b"The Station is stopping.")
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

    def _room_for_spare(self) -> bool:
        """A spare is worth its memory only if one more user may still sign in."""
        return len(self.sessions) + self._starting < self.max_sessions

    async def _take_worker(self) -> Worker:
        task, self._spare = self._spare, None
        if task is not None and not task.done() and not self._spare_launched:
            task.cancel()  # still waiting out its delay: start one now instead
            task = None
        worker = None
        if task is not None:
            with contextlib.suppress(Exception):
                worker = await task
        if worker is None or not worker.alive:
            worker = await self._launch_worker()
        if self.keep_spare and self._room_for_spare():  # (_starting counts the sign-in that takes this one)
            self._spare = asyncio.ensure_future(self._start_spare_later())
        return worker

    def _restore_spare(self) -> None:
        """After a session ended: start a spare again if there is none and there is room for another user."""
        if self.keep_spare and self._spare is None and self._room_for_spare():
            self._spare = asyncio.ensure_future(self._start_spare_later())

    async def _start_spare_later(self) -> Worker:
        self._spare_launched = False
        await asyncio.sleep(self.spare_delay_s)
        self._spare_launched = True  # from here on, cancelling would leave a process behind
        return await self._launch_worker()

    # ----- requests: who, from where, with which headers ----------------------------------------
    def _from_trusted_proxy(self, request: web.Request) -> bool:
        if not self.trusted_proxies or not request.remote:
            return False
        try:
            return ipaddress.ip_address(request.remote) in self.trusted_proxies
        except ValueError:
            return False

    def client_address(self, request: web.Request) -> str:
        """The browser's address: the peer, or behind a trusted proxy the last untrusted X-Forwarded-For hop."""
        remote = request.remote or ""
        if not self._from_trusted_proxy(request):
            return remote
        hops = [hop.strip() for hop in request.headers.get("X-Forwarded-For", "").split(",") if hop.strip()]
        for hop in reversed(hops):
            try:
                if ipaddress.ip_address(hop) not in self.trusted_proxies:
                    return hop
            except ValueError:
                return hop  # not an address: keep it as the key, it still separates this client from others
        return remote

    def _https(self, request: web.Request) -> bool:
        """Whether the browser reached the Station through HTTPS (told by a trusted proxy; the gateway itself
        serves plain HTTP)."""
        if request.secure:
            return True
        if self._from_trusted_proxy(request):
            proto = request.headers.get("X-Forwarded-Proto", "").split(",")[0].strip().lower()
            return proto == "https"
        return False

    def origin_allowed(self, request: web.Request) -> bool:
        """Whether the request comes from a page of the Station itself (or a non-browser client).

        Browsers send ``Origin`` on every form POST and websocket upgrade; it must name the host the browser
        used (its ``Host`` header; behind a trusted proxy also ``X-Forwarded-Host``) or a configured public
        origin. Without the check a page on another port or site could sign a visitor in (login CSRF) or open
        a websocket with their cookie. Requests without ``Origin`` come from other clients, which a page
        cannot drive with a visitor's cookie.
        """
        origin = request.headers.get("Origin")
        if origin is None:
            return True
        normal = _normal_origin(origin)
        if normal in self.public_origins:
            return True
        parts = urlsplit(normal)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            return False  # "null" (sandboxed frames, local files) and anything odd
        hosts = {request.headers.get("Host", "").strip().lower()}
        if self._from_trusted_proxy(request):
            hosts.add(request.headers.get("X-Forwarded-Host", "").split(",")[0].strip().lower())
        hosts.discard("")
        return bool(_origin_hosts(parts) & hosts)

    async def _security_headers(self, request: web.Request, response: web.StreamResponse) -> None:
        host = request.headers.get("Host", "").strip()
        websockets = f"ws://{host} wss://{host}" if host and all(c not in host for c in " ;,'\"") else ""
        response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY.format(websockets=websockets)
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "same-origin"

    # ----- sign-in ---------------------------------------------------------------------------
    def _session(self, request: web.Request) -> Session | None:
        token = request.cookies.get(COOKIE, "")
        session = self.sessions.get(token)
        if session is not None and not session.worker.alive:
            del self.sessions[token]
            self.ended[token] = ("app_stopped", time.time())
            self._restore_spare()
            return None
        return session

    def _ended_reason(self, request: web.Request) -> str | None:
        ended = self.ended.get(request.cookies.get(COOKIE, ""))
        return ended[0] if ended else None

    async def get_sign_in(self, request: web.Request) -> web.Response:
        if self._session(request) is not None:
            return _see_other("/")
        reason = request.query.get("ended", "")
        message = ENDED[reason][1] if reason in ENDED else ""
        return web.Response(text=sign_in_page(message), content_type="text/html", headers=_no_store())

    async def post_sign_in(self, request: web.Request) -> web.Response:
        if not self.origin_allowed(request):
            return _refused_origin(request)
        if request.content_length is not None and request.content_length > SIGN_IN_MAX_BODY_BYTES:
            raise web.HTTPRequestEntityTooLarge(max_size=SIGN_IN_MAX_BODY_BYTES, actual_size=request.content_length)
        form = await request.post()
        username, password = str(form.get("username", ""))[:64], str(form.get("password", ""))
        address = self.client_address(request)
        wait_s = max(self.by_address.retry_after_s(address), self.by_name.retry_after_s(username.lower()))
        if wait_s > 0:
            seconds = math.ceil(wait_s)
            page = sign_in_page(f"Too many sign-in attempts; try again in {seconds} s.")
            headers = {**_no_store(), "Retry-After": str(seconds)}
            return web.Response(status=429, text=page, content_type="text/html", headers=headers)
        self.by_address.add(address)
        self.by_name.add(username.lower())
        loop = asyncio.get_running_loop()
        account = await loop.run_in_executor(None, self.accounts.authenticate, username, password, address)
        if account is None:
            page = sign_in_page("Wrong user name or password (or too many attempts; wait 5 minutes).")
            return web.Response(status=401, text=page, content_type="text/html", headers=_no_store())
        # one sign-in per user at a time, so that two at once cannot both start an app process
        lock = self._user_locks.setdefault(account.username, asyncio.Lock())
        async with lock:
            return await self._start_session(request, account)

    async def _start_session(self, request: web.Request, account: Account) -> web.Response:
        own = self.sessions.get(request.cookies.get(COOKIE, ""))
        if own is not None and own.account.username != account.username:
            await self._end_session(request.cookies.get(COOKIE, ""), "signed_out")  # this browser changes user
        worker = None
        for token, session in list(self.sessions.items()):
            if session.account.username != account.username:
                continue
            # the user's app process goes on in the new session (its scene and undo history with it) unless
            # it was started for another role; the old browser is told it was signed in elsewhere
            keep = worker is None and session.account == account and session.worker.alive
            await self._end_session(token, "elsewhere", stop=not keep)
            if keep:
                worker = session.worker
        if worker is None:
            if len(self.sessions) + self._starting >= self.max_sessions:
                message = (
                    f"The Station is full: {len(self.sessions) + self._starting} people are signed in, the most this "
                    f"server allows (--max-sessions {self.max_sessions}). Try again when someone signs out."
                )
                headers = {**_no_store(), "Retry-After": "60"}
                page = sign_in_page(message)
                return web.Response(status=503, text=page, content_type="text/html", headers=headers)
            self._starting += 1
            try:
                worker = await self._take_worker()
            finally:
                self._starting -= 1
            worker.process.stdin.write(
                (json.dumps({"username": account.username, "role": account.role.value}) + "\n").encode()
            )
            await worker.process.stdin.drain()
        token = secrets.token_urlsafe(32)
        self.sessions[token] = Session(account, worker)
        response = _see_other("/")
        secure = self.secure_cookies or self._https(request)
        response.set_cookie(COOKIE, token, httponly=True, samesite="Strict", path="/", secure=secure)
        return response

    async def sign_out(self, request: web.Request) -> web.Response:
        # the session cookie is SameSite=Strict, but pages on other ports of the same host are the same "site":
        # without this, an <img src=".../signout"> there would end the session and lose its unsaved edits
        if request.headers.get("Sec-Fetch-Site", "same-origin") not in ("same-origin", "none"):
            return _see_other("/")
        await self._end_session(request.cookies.get(COOKIE, ""), "signed_out")
        response = _see_other("/signin")
        response.del_cookie(COOKIE, path="/")
        return response

    # ----- the proxy -------------------------------------------------------------------------
    async def proxy(self, request: web.Request) -> web.StreamResponse:
        session = self._session(request)
        if session is None:
            reason = self._ended_reason(request)
            if request.method == "GET" and "text/html" in request.headers.get("Accept", ""):
                response = _see_other(f"/signin?ended={reason}" if reason else "/signin")
                if reason:
                    response.del_cookie(COOKIE, path="/")
                return response
            text = ENDED[reason][1] if reason else "Sign in first."
            return web.Response(status=401, text=text, headers=_no_store())
        reads_only = request.method in ("GET", "HEAD", "OPTIONS") and not request.headers.get("Upgrade")
        if not reads_only and not self.origin_allowed(request):  # websockets and anything that may change state
            return _refused_origin(request)
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
        # frames over the limit close the connection with 1009 before aiohttp buffers them whole
        browser = web.WebSocketResponse(max_msg_size=WS_MAX_FRAME_BYTES, autoping=True, heartbeat=30.0)
        await browser.prepare(request)
        session.sockets.add(browser)
        guard = MessageSizeGuard()
        headers = {WORKER_KEY_HEADER: session.worker.key}
        try:
            async with self._client.ws_connect(target, headers=headers, max_msg_size=WS_MAX_FRAME_BYTES) as worker:

                async def pump(source, sink) -> None:
                    async for message in source:
                        if source is browser:
                            session.last_seen = time.time()
                        if message.type == WSMsgType.BINARY:
                            if source is browser and not guard.accept(message.data):
                                await browser.close(
                                    code=WSCloseCode.MESSAGE_TOO_BIG,
                                    message=f"messages are limited to {WS_MAX_BROWSER_MESSAGE_BYTES} bytes".encode(),
                                )
                                break
                            await sink.send_bytes(message.data)
                        elif message.type == WSMsgType.TEXT:
                            await sink.send_str(message.data)
                        else:
                            break

                tasks = [asyncio.ensure_future(pump(browser, worker)), asyncio.ensure_future(pump(worker, browser))]
                await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
                for task in tasks:
                    task.cancel()
                if worker.close_code == WSCloseCode.MESSAGE_TOO_BIG and not browser.closed:
                    await browser.close(code=WSCloseCode.INTERNAL_ERROR, message=b"the app sent an oversized message")
        except (ClientError, OSError) as error:
            await browser.close(code=WSCloseCode.INTERNAL_ERROR, message=f"app unreachable: {error}".encode()[:123])
        finally:
            session.sockets.discard(browser)
        await browser.close()
        return browser


def _normal_origin(origin: str) -> str:
    return origin.strip().rstrip("/").lower()


def _origin_hosts(parts) -> set[str]:
    """The Host header values that name the same place as an origin: with and without its scheme's default
    port (browsers leave default ports out of both, but proxies and clients differ)."""
    default = {"http": 80, "https": 443}[parts.scheme]
    try:
        port = parts.port
    except ValueError:
        return {parts.netloc}
    if port is None:
        return {parts.netloc, f"{parts.netloc}:{default}"}
    if port == default:
        return {parts.netloc, parts.netloc.rsplit(":", 1)[0]}
    return {parts.netloc}


def _refused_origin(request: web.Request) -> web.Response:
    origin = request.headers.get("Origin", "")
    text = (
        f"Refused: this request came from a page at {origin}, not from the Station's own address "
        "(behind a proxy, start the Station with --public-origin set to the address browsers use)."
    )
    return web.Response(status=403, text=text, headers=_no_store())


def _see_other(location: str) -> web.Response:
    return web.Response(status=303, headers={"Location": location, **_no_store()})


def _no_store() -> dict[str, str]:
    return {"Cache-Control": "no-store"}


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True  # (an empty host binds every interface: not loopback)
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def serve(worklist: Path, host: str, port: int, started: float, on_ready=None, **gateway_options) -> None:
    """Run the gateway until interrupted; prints the address once the first worker is ready.

    ``gateway_options`` are :class:`Gateway`'s keyword arguments (idle_sign_out_s, max_sessions, ...).
    """

    async def main() -> None:
        gateway = Gateway(worklist, **gateway_options)
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
            f"ready after {ready:.1f} s; the first app process took {worker_seconds:.1f} s; "
            f"up to {gateway.max_sessions} signed-in users)",
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
