"""The gateway's sessions over time: the spare app process, housekeeping (idle sessions, changed accounts) and
ending sessions. A base class of :class:`radassist.station.gateway.Gateway`, which owns the state it uses
(``sessions``, ``ended``, ``accounts``, the spare task, the HTTP client) and starts workers (``_launch_worker``)."""

from __future__ import annotations

import asyncio
import contextlib
import time

from aiohttp import ClientError, ClientSession, WSCloseCode

from .app import WORKER_KEY_HEADER
from .gateway_http import ENDED, WS_MAX_FRAME_BYTES
from .workers import Session, Worker, stop_worker

#: tokens of ended sessions are remembered this long, to tell a returning browser why it was signed out
ENDED_MEMORY_S = 24 * 3600.0
ENDED_MEMORY_ENTRIES = 10_000


class SessionKeeping:
    """Spare worker, housekeeping and the end of sessions, for :class:`~radassist.station.gateway.Gateway`."""

    async def _startup(self, _app) -> None:
        self._client = ClientSession(auto_decompress=False)
        if self.keep_spare:
            self._spare = asyncio.ensure_future(self._launch_worker())
        self._housekeeping = asyncio.ensure_future(self._housekeep())

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
