"""``spchain workshop serve``: a room of teams playing the chain in their browsers.

The facilitator starts one server (:func:`serve`) on a laptop; teams on the
same network join a session with a code, set their levers each round
(a quarter of :data:`spchain.apps.workshop.QUARTER` weeks) and submit; the
facilitator closes the round, the server simulates it for every team from
its saved state (:mod:`spchain.apps.webapp.sim`), and the leaderboard and the
debrief follow.  Everything is stored in SQLite (:mod:`spchain.apps.webapp.state`)
as it happens, so a restart loses nothing.

Needs the ``workshop`` extra (Starlette and uvicorn): ``pip install
"spchain[workshop]"``.
"""

from __future__ import annotations

__all__ = ["create_app", "serve", "urls"]


def create_app(db, *, workers: int = 1):
    """The workshop's ASGI app on a SQLite file; see :func:`spchain.apps.webapp.app.create_app`."""
    from .app import create_app as _create

    return _create(db, workers=workers)


def urls(host: str, port: int, admin_token: str) -> dict:
    """The addresses to tell people: ``{"admin": ..., "join": ...}``.

    Parameters
    ----------
    host : str
        The address the server binds to; ``0.0.0.0`` (every interface) is
        shown as this machine's name, which the room's laptops can reach.
    port : int
    admin_token : str
        The store's admin token (:attr:`spchain.apps.webapp.state.WorkshopStore.admin_token`).
    """
    import socket

    shown = socket.gethostname() if host in ("0.0.0.0", "::") else host
    shown = f"[{shown}]" if ":" in shown else shown
    base = f"http://{shown}:{port}"
    return {"admin": f"{base}/admin/{admin_token}", "join": f"{base}/"}


def serve(db, *, host: str = "127.0.0.1", port: int = 8000, workers: int = 1, stream=None) -> None:
    """Run the workshop server until interrupted, printing where it listens.

    Parameters
    ----------
    db : str or Path
        SQLite file of the workshop (created if missing; reopened after a restart).
    host : str
        Address to bind: ``127.0.0.1`` for this machine only, the laptop's
        address on the room's network (or ``0.0.0.0``) for the teams.
    port : int
        TCP port.
    workers : int
        Processes that simulate a round (2 on a 2-core laptop plays 30 teams
        in about half the time).
    stream : file, optional
        Where to print the addresses; default ``sys.stdout``.
    """
    import sys

    try:
        import uvicorn
    except ImportError:  # pragma: no cover - depends on the installation
        raise ImportError('spchain workshop serve needs the workshop extra: pip install "spchain[workshop]"') from None
    stream = stream or sys.stdout
    app = create_app(db, workers=workers)
    links = urls(host, port, app.state.store.admin_token)
    print(f"spchain workshop: listening on http://{host}:{port} (database {db})", file=stream)
    print(f"  facilitator (keep private): {links['admin']}", file=stream)
    print(f"  teams join at:              {links['join']}", file=stream)
    stream.flush()
    uvicorn.run(app, host=host, port=port, log_level="warning")
