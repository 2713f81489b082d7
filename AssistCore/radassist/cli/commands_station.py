"""`radassist serve` (the Station web app) and `radassist users` (its accounts)."""

from __future__ import annotations

import argparse
import sys


def register(subparsers, common: argparse.ArgumentParser) -> None:
    serve = subparsers.add_parser(
        "serve",
        parents=[common],
        help="RadAssist Station: the assistants and the Segment Editor in a browser, behind a sign-in",
        description="Start the Station and print its address. Accounts: `radassist users add`.",
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default: this machine only)")
    serve.add_argument("--port", type=int, default=8080)
    serve.add_argument("--worklist", help="worklist database (default: worklist.db in --cases)")
    serve.add_argument("--cases", help="folder with one sub-folder per case; new ones join the worklist")
    serve.add_argument(
        "--idle-minutes",
        type=float,
        default=480.0,
        help="sign out a browser session unused for this long (default 480: a working day)",
    )
    serve.add_argument(
        "--max-sessions",
        type=int,
        help="most users signed in at a time, one app process each (default: available memory / 1.5 GB, at least 1)",
    )
    serve.add_argument(
        "--public-origin",
        action="append",
        default=[],
        metavar="URL",
        help="address browsers use when it differs from the Host they send, e.g. https://station.example.org "
        "behind a reverse proxy (sign-in and websockets from other origins are refused); repeatable",
    )
    serve.add_argument(
        "--secure-cookies",
        action="store_true",
        help="mark the session cookie Secure (browsers then send it over HTTPS only): use behind an HTTPS proxy",
    )
    serve.add_argument(
        "--trusted-proxy",
        action="append",
        default=[],
        metavar="ADDRESS",
        help="address of a reverse proxy whose X-Forwarded-For/-Proto/-Host headers are believed (client address "
        "for throttling and the sign-in log; X-Forwarded-Proto: https makes the cookie Secure); repeatable",
    )
    serve.add_argument(
        "--allow-remote",
        action="store_true",
        help="allow --host to be an address other machines reach (put an HTTPS reverse proxy in front)",
    )
    serve.set_defaults(handler=run_serve)

    users = subparsers.add_parser("users", parents=[common], help="Station accounts: add, list, password, disable")
    actions = users.add_subparsers(dest="users_action", metavar="ACTION", required=True)
    add = actions.add_parser("add", parents=[common], help="add an account")
    add.add_argument("username")
    add.add_argument("--role", required=True, choices=["annotator", "reviewer", "admin"])
    add.add_argument("--worklist", required=True)
    add.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    add.set_defaults(handler=run_users_add)
    password = actions.add_parser("passwd", parents=[common], help="set an account's password")
    password.add_argument("username")
    password.add_argument("--worklist", required=True)
    password.add_argument("--password-stdin", action="store_true")
    password.set_defaults(handler=run_users_passwd)
    disable = actions.add_parser("disable", parents=[common], help="stop an account from signing in")
    disable.add_argument("username")
    disable.add_argument("--worklist", required=True)
    disable.add_argument("--enable", action="store_true", help="allow it again")
    disable.set_defaults(handler=run_users_disable)
    listing = actions.add_parser("list", parents=[common], help="accounts and roles")
    listing.add_argument("--worklist", required=True)
    listing.set_defaults(handler=run_users_list)


def _read_password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\n")
    import getpass

    first = getpass.getpass("Password: ")
    if getpass.getpass("Again: ") != first:
        from assistcore.errors import InputError

        raise InputError("The two passwords differ.")
    return first


def run_users_add(args: argparse.Namespace) -> int:
    from assistcore.station.accounts import Accounts

    from .main import emit

    account = Accounts(args.worklist).add(args.username, _read_password(args), args.role)
    emit(
        args,
        {"username": account.username, "role": account.role.value},
        f"added {account.username} ({account.role.value})",
    )
    return 0


def run_users_passwd(args: argparse.Namespace) -> int:
    from assistcore.station.accounts import Accounts

    from .main import emit

    Accounts(args.worklist).set_password(args.username, _read_password(args))
    emit(args, {"username": args.username}, f"password of {args.username} changed")
    return 0


def run_users_disable(args: argparse.Namespace) -> int:
    from assistcore.station.accounts import Accounts

    from .main import emit

    Accounts(args.worklist).set_disabled(args.username, not args.enable)
    state = "enabled" if args.enable else "disabled"
    emit(args, {"username": args.username, "state": state}, f"{args.username} {state}")
    return 0


def run_users_list(args: argparse.Namespace) -> int:
    from assistcore.metrics import format_table
    from assistcore.station.accounts import Accounts

    from .main import emit

    rows = Accounts(args.worklist).list()
    emit(args, rows, format_table([{k: r[k] for k in ("username", "role", "disabled")} for r in rows]) or "no accounts")
    return 0


def run_serve(args: argparse.Namespace) -> int:
    import time
    from pathlib import Path

    from assistcore.brain.worklist import Worklist
    from assistcore.errors import InputError
    from assistcore.station.accounts import Accounts

    from ..station.cases import register_case_folders
    from ..station.gateway import is_loopback, serve

    started = time.perf_counter()
    _check_serve_options(args)
    if not is_loopback(args.host):
        if not args.allow_remote:
            raise InputError(
                f"--host {args.host} would let other machines reach the Station.",
                "Add --allow-remote to mean it (and put an HTTPS reverse proxy in front), or keep 127.0.0.1.",
            )
        print(
            f"WARNING: the Station listens on {args.host}: other machines can reach its sign-in page. "
            "Traffic is plain HTTP; serve it through an HTTPS reverse proxy.",
            file=sys.stderr,
            flush=True,
        )
    if not args.worklist and not args.cases:
        raise InputError("Give --worklist DB, --cases DIR, or both.")
    worklist_path = Path(args.worklist) if args.worklist else Path(args.cases) / "worklist.db"
    worklist = Worklist(worklist_path)
    if args.cases:
        added = register_case_folders(worklist, args.cases)
        if added:
            print(f"added {len(added)} case(s) from {args.cases}: {', '.join(added)}", flush=True)
    if not Accounts(worklist_path).list():
        raise InputError(
            f"No accounts in {worklist_path}.",
            f"Add one first: radassist users add NAME --role admin --worklist {worklist_path}",
        )
    serve(
        worklist_path.resolve(),
        args.host,
        args.port,
        started,
        idle_sign_out_s=60.0 * args.idle_minutes,
        max_sessions=args.max_sessions,
        public_origins=args.public_origin,
        secure_cookies=args.secure_cookies,
        trusted_proxies=args.trusted_proxy,
    )
    return 0


def _check_serve_options(args: argparse.Namespace) -> None:
    """Refuse bad limits and addresses before anything is touched. :raises InputError: the first bad one."""
    import ipaddress
    from urllib.parse import urlsplit

    from assistcore.errors import InputError

    if args.idle_minutes <= 0:
        raise InputError(f"--idle-minutes must be positive, got {args.idle_minutes}.")
    if args.max_sessions is not None and args.max_sessions < 1:
        raise InputError(f"--max-sessions must be at least 1, got {args.max_sessions}.")
    for origin in args.public_origin:
        parts = urlsplit(origin)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.path not in ("", "/"):
            raise InputError(
                f"--public-origin {origin!r} is not an origin.",
                "Give scheme and host only, e.g. https://station.example.org",
            )
    for address in args.trusted_proxy:
        try:
            ipaddress.ip_address(address)
        except ValueError as error:
            raise InputError(f"--trusted-proxy {address!r} is not an IP address.") from error
