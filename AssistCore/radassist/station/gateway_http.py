"""The gateway's HTTP vocabulary: size and rate limits, why sessions end, the security headers, the sign-in page,
origin checks and the websocket pump between a browser and its app process (with wslink's message-size guard)."""

from __future__ import annotations

import asyncio
import html
import ipaddress
import time
from collections import deque

from aiohttp import ClientError, ClientSession, WSCloseCode, WSMsgType, web

from .app import WORKER_KEY_HEADER, WS_MAX_MESSAGE_BYTES

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
HOP_BY_HOP = {
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


def normal_origin(origin: str) -> str:
    return origin.strip().rstrip("/").lower()


def origin_hosts(parts) -> set[str]:
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


def refused_origin(request: web.Request) -> web.Response:
    origin = request.headers.get("Origin", "")
    text = (
        f"Refused: this request came from a page at {origin}, not from the Station's own address "
        "(behind a proxy, start the Station with --public-origin set to the address browsers use)."
    )
    return web.Response(status=403, text=text, headers=no_store())


def see_other(location: str) -> web.Response:
    return web.Response(status=303, headers={"Location": location, **no_store()})


def no_store() -> dict[str, str]:
    return {"Cache-Control": "no-store"}


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True  # (an empty host binds every interface: not loopback)
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


async def proxy_websocket(client: ClientSession, request: web.Request, target: str, session) -> web.WebSocketResponse:
    """Pump one browser websocket of ``session`` to its app process at ``target`` and back until either ends.

    Frames over :data:`WS_MAX_FRAME_BYTES` close the connection (1009) before aiohttp buffers them whole;
    messages the browser announces beyond :data:`WS_MAX_BROWSER_MESSAGE_BYTES` close it too.
    """
    # frames over the limit close the connection with 1009 before aiohttp buffers them whole
    browser = web.WebSocketResponse(max_msg_size=WS_MAX_FRAME_BYTES, autoping=True, heartbeat=30.0)
    await browser.prepare(request)
    session.sockets.add(browser)
    guard = MessageSizeGuard()
    headers = {WORKER_KEY_HEADER: session.worker.key}
    try:
        async with client.ws_connect(target, headers=headers, max_msg_size=WS_MAX_FRAME_BYTES) as worker:

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
