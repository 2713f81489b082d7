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
import ipaddress
import json
import math
import secrets
import time
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import urlsplit

from aiohttp import ClientSession, web

from assistcore.station.accounts import Account, Accounts

from .app import WORKER_KEY_HEADER
from .gateway_http import (
    CONTENT_SECURITY_POLICY,
    ENDED,
    HOP_BY_HOP,
    HTTP_MAX_BODY_BYTES,
    SIGN_IN_ATTEMPTS_PER_ADDRESS,
    SIGN_IN_ATTEMPTS_PER_NAME,
    SIGN_IN_MAX_BODY_BYTES,
    SIGN_IN_WINDOW_S,
    WS_MAX_BROWSER_MESSAGE_BYTES,
    WS_MAX_FRAME_BYTES,
    MessageSizeGuard,
    SlidingWindow,
    is_loopback,
    no_store,
    normal_origin,
    origin_hosts,
    proxy_websocket,
    refused_origin,
    see_other,
    sign_in_page,
)
from .gateway_sessions import SessionKeeping
from .workers import WORKER_REAPER_TIMEOUT_S, Session, Worker, default_max_sessions, start_worker, stop_worker

__all__ = [
    "COOKIE",
    "HTTP_MAX_BODY_BYTES",
    "SIGN_IN_MAX_BODY_BYTES",
    "WS_MAX_BROWSER_MESSAGE_BYTES",
    "WS_MAX_FRAME_BYTES",
    "Gateway",
    "MessageSizeGuard",
    "Session",
    "SlidingWindow",
    "Worker",
    "default_max_sessions",
    "is_loopback",
    "serve",
    "start_worker",
    "stop_worker",
]

COOKIE = "radassist_station_session"
#: After a sign-in takes the spare app process, wait this long before starting the next one: starting one
#: costs several CPU-seconds, which would otherwise compete with the new user's first case and strokes.
SPARE_RESTART_DELAY_S = 60.0
#: a session the browser has not used for this long is signed out (its app process stopped)
IDLE_SIGN_OUT_S = 8 * 3600.0
#: how often the gateway looks for idle sessions and for accounts that were disabled, deleted or changed: one
#: small SQLite query, so a disabled user's session ends within seconds at no noticeable cost
ACCOUNT_CHECK_PERIOD_S = 3.0


class Gateway(SessionKeeping):
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
        self.public_origins = {normal_origin(origin) for origin in public_origins}
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

    async def _launch_worker(self) -> Worker:
        worker = await start_worker(self.worklist, self.worker_reaper_timeout_s)
        worker.keeper = asyncio.ensure_future(self._keep(worker))
        return worker

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
        normal = normal_origin(origin)
        if normal in self.public_origins:
            return True
        parts = urlsplit(normal)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            return False  # "null" (sandboxed frames, local files) and anything odd
        hosts = {request.headers.get("Host", "").strip().lower()}
        if self._from_trusted_proxy(request):
            hosts.add(request.headers.get("X-Forwarded-Host", "").split(",")[0].strip().lower())
        hosts.discard("")
        return bool(origin_hosts(parts) & hosts)

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
            return see_other("/")
        reason = request.query.get("ended", "")
        message = ENDED[reason][1] if reason in ENDED else ""
        return web.Response(text=sign_in_page(message), content_type="text/html", headers=no_store())

    async def post_sign_in(self, request: web.Request) -> web.Response:
        if not self.origin_allowed(request):
            return refused_origin(request)
        if request.content_length is not None and request.content_length > SIGN_IN_MAX_BODY_BYTES:
            raise web.HTTPRequestEntityTooLarge(max_size=SIGN_IN_MAX_BODY_BYTES, actual_size=request.content_length)
        form = await request.post()
        username, password = str(form.get("username", ""))[:64], str(form.get("password", ""))
        address = self.client_address(request)
        wait_s = max(self.by_address.retry_after_s(address), self.by_name.retry_after_s(username.lower()))
        if wait_s > 0:
            seconds = math.ceil(wait_s)
            page = sign_in_page(f"Too many sign-in attempts; try again in {seconds} s.")
            headers = {**no_store(), "Retry-After": str(seconds)}
            return web.Response(status=429, text=page, content_type="text/html", headers=headers)
        self.by_address.add(address)
        self.by_name.add(username.lower())
        loop = asyncio.get_running_loop()
        account = await loop.run_in_executor(None, self.accounts.authenticate, username, password, address)
        if account is None:
            page = sign_in_page("Wrong user name or password (or too many attempts; wait 5 minutes).")
            return web.Response(status=401, text=page, content_type="text/html", headers=no_store())
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
                headers = {**no_store(), "Retry-After": "60"}
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
        response = see_other("/")
        secure = self.secure_cookies or self._https(request)
        response.set_cookie(COOKIE, token, httponly=True, samesite="Strict", path="/", secure=secure)
        return response

    async def sign_out(self, request: web.Request) -> web.Response:
        # the session cookie is SameSite=Strict, but pages on other ports of the same host are the same "site":
        # without this, an <img src=".../signout"> there would end the session and lose its unsaved edits
        if request.headers.get("Sec-Fetch-Site", "same-origin") not in ("same-origin", "none"):
            return see_other("/")
        await self._end_session(request.cookies.get(COOKIE, ""), "signed_out")
        response = see_other("/signin")
        response.del_cookie(COOKIE, path="/")
        return response

    # ----- the proxy -------------------------------------------------------------------------
    async def proxy(self, request: web.Request) -> web.StreamResponse:
        session = self._session(request)
        if session is None:
            reason = self._ended_reason(request)
            if request.method == "GET" and "text/html" in request.headers.get("Accept", ""):
                response = see_other(f"/signin?ended={reason}" if reason else "/signin")
                if reason:
                    response.del_cookie(COOKIE, path="/")
                return response
            text = ENDED[reason][1] if reason else "Sign in first."
            return web.Response(status=401, text=text, headers=no_store())
        reads_only = request.method in ("GET", "HEAD", "OPTIONS") and not request.headers.get("Upgrade")
        if not reads_only and not self.origin_allowed(request):  # websockets and anything that may change state
            return refused_origin(request)
        session.last_seen = time.time()
        target = f"http://127.0.0.1:{session.worker.port}{request.rel_url}"
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP}
        headers[WORKER_KEY_HEADER] = session.worker.key
        if request.headers.get("Upgrade", "").lower() == "websocket":
            return await proxy_websocket(self._client, request, target.replace("http://", "ws://", 1), session)
        async with self._client.request(
            request.method, target, headers=headers, data=await request.read(), allow_redirects=False
        ) as upstream:
            body = await upstream.read()
            out_headers = {k: v for k, v in upstream.headers.items() if k.lower() not in HOP_BY_HOP}
            if "Content-Encoding" in upstream.headers:
                out_headers["Content-Encoding"] = upstream.headers["Content-Encoding"]
            return web.Response(status=upstream.status, body=body, headers=out_headers)


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
