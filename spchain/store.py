"""Results that survive: an SQLite store of finished runs and a manifest.

Each finished run is committed as it arrives, in its own transaction, to a
``runs`` table (the run's ``sums`` and ``department_sums`` arrays as
little-endian float64 bytes with their shapes, its seed and wall time),
next to a ``manifest`` table of JSON values: spchain version, the
experiment's definition and its hash, replications, warm-up, design,
platform and one entry per session (each call of
:meth:`~spchain.experiment.Experiment.run`) with its timings.

The database runs in WAL mode with ``synchronous=NORMAL``: a commit
survives the process being killed at any point (an operating-system crash
or power loss may lose the last few runs, never corrupt the file), and
other processes can read the store while a sweep writes to it.

A store belongs to one experiment definition -- the inputs that decide
every run's numbers: spchain version, the engine's sample-path version
(:data:`spchain.model.SAMPLE_PATH_VERSION`), base parameters, scenarios,
horizon, seed and whether random numbers are common.  Opening it for
another definition raises :class:`StoreError` listing the differences; a
store written by an engine of another sample-path version is refused with
both versions named, since the same seeds now give other numbers (its
stored runs can still be loaded and analysed).  The number of replications
and the warm-up are not part of the definition: asking for more
replications extends a store, and the warm-up only affects the analysis.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

__all__ = ["StoreError", "Store", "definition_hash"]

FORMAT = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS manifest (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    scenario TEXT NOT NULL,
    replication INTEGER NOT NULL,
    seed TEXT NOT NULL,
    sums BLOB NOT NULL,
    sums_shape TEXT NOT NULL,
    department_sums BLOB NOT NULL,
    department_shape TEXT NOT NULL,
    wall_seconds REAL NOT NULL,
    session INTEGER NOT NULL,
    finished_at TEXT NOT NULL,
    PRIMARY KEY (scenario, replication)
);
"""


class StoreError(ValueError):
    """A store cannot be used: another experiment's, unreadable, or incomplete."""


def canonical_json(data) -> str:
    """Sorted, compact JSON: the same definition always gives the same text."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), allow_nan=True)


def definition_hash(definition: dict) -> str:
    """SHA-256 of the canonical JSON of an experiment definition."""
    return hashlib.sha256(canonical_json(definition).encode()).hexdigest()


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def _flatten(data, prefix="") -> dict:
    if isinstance(data, dict):
        items = data.items()
    elif isinstance(data, list):
        items = ((f"[{i}]", v) for i, v in enumerate(data))
    else:
        return {prefix: data}
    out = {}
    for key, value in items:
        name = f"{prefix}{key}" if str(key).startswith("[") or not prefix else f"{prefix}.{key}"
        out.update(_flatten(value, name))
    return out


def _differences(stored: dict, given: dict, limit=5) -> str:
    a, b = _flatten(stored), _flatten(given)
    missing = object()
    diffs = [f"{k}: stored {a.get(k, missing)!r}, given {b.get(k, missing)!r}".replace(
        repr(missing), "(absent)") for k in sorted(set(a) | set(b), key=str)
             if a.get(k, missing) != b.get(k, missing)]
    more = f"; and {len(diffs) - limit} more" if len(diffs) > limit else ""
    return "; ".join(diffs[:limit]) + more


class Store:
    """An experiment's SQLite file: manifest plus one row per finished run.

    Parameters
    ----------
    path : str or Path
        The database file; created when missing.

    Raises
    ------
    StoreError
        If the file exists but is not an spchain store.
    """

    def __init__(self, path):
        self.path = Path(path)
        try:
            self._db = sqlite3.connect(self.path, timeout=60.0)
            tables = {r[0] for r in self._db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{self.path} is not an spchain experiment store: {exc}") from None
        if tables - {"manifest", "runs"} or (tables and "manifest" not in tables):
            self._db.close()
            raise StoreError(f"{self.path} is not an spchain experiment store (it holds tables "
                             f"{sorted(tables)}); choose another path")
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        with self._db:
            self._db.executescript(_SCHEMA)

    def close(self) -> None:
        """Close the connection; every committed run is already on disk."""
        self._db.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # --------------------------------------------------------- manifest
    def manifest(self) -> dict:
        """Every manifest entry, decoded (empty for a new store)."""
        return {k: json.loads(v) for k, v in self._db.execute("SELECT key, value FROM manifest")}

    def _put_manifest(self, entries: dict) -> None:
        self._db.executemany("INSERT OR REPLACE INTO manifest (key, value) VALUES (?, ?)",
                             [(k, canonical_json(v)) for k, v in entries.items()])

    def check(self, manifest: dict, *, advice: str | None = None) -> None:
        """Refuse to add runs of ``manifest``'s experiment unless the store holds the same one.

        A new store accepts any experiment.

        Parameters
        ----------
        manifest : dict
            Must hold ``definition`` and ``definition_hash``.
        advice : str, optional
            What to do instead, ending the message for another definition;
            default: use another store or continue the stored experiment.

        Raises
        ------
        StoreError
            When the store was written by an engine of another sample-path
            version (naming the stored and the current version), or holds
            another definition (naming the differences).
        """
        stored = self.manifest()
        if "definition_hash" not in stored or stored["definition_hash"] == manifest["definition_hash"]:
            return
        old = stored.get("definition", {}).get("sample_path_version")
        new = manifest["definition"].get("sample_path_version")
        if old != new:
            written = ("an engine older than sample-path versions" if old is None
                       else f"an engine of sample-path version {old}")
            raise StoreError(
                f"{self.path} was written by {written}; this engine's sample-path version is {new} "
                f"(spchain.model.SAMPLE_PATH_VERSION), so the same seeds give other numbers and its runs "
                f"cannot be resumed or extended. Analyse the stored runs with "
                f"ExperimentResult.load({str(self.path)!r}), or run into another store.")
        if advice is None:
            advice = (f"Use another store, or Experiment.from_store({str(self.path)!r}) to continue "
                      f"the stored one.")
        raise StoreError(
            f"{self.path} holds another experiment (definition hash "
            f"{stored['definition_hash'][:12]}, this one {manifest['definition_hash'][:12]}): "
            f"{_differences(stored.get('definition', {}), manifest['definition'])}. {advice}")

    def begin(self, manifest: dict, session: dict) -> int:
        """Claim the store for an experiment and open a session; returns its number.

        ``manifest`` must hold ``definition`` and ``definition_hash``; on a
        store that already has a manifest the hashes must match, and the
        entries that may change (replications, warm-up...) are updated.
        ``platform`` stays the one the store was created on; each session
        records its own.

        Raises
        ------
        StoreError
            As :meth:`check`.
        """
        with self._db:
            self.check(manifest)
            stored = self.manifest()
            sessions = stored.get("sessions", [])
            number = len(sessions) + 1
            session = dict(session, session=number, started=_now(), platform=manifest.get("platform"))
            entries = dict(manifest, format=FORMAT, created=stored.get("created", _now()),
                           platform=stored.get("platform", manifest.get("platform")),
                           sessions=sessions + [session])
            self._put_manifest(entries)
        return number

    def end(self, number: int, info: dict) -> None:
        """Record the end of session ``number`` with ``info`` (timings, counts)."""
        with self._db:
            sessions = self.manifest().get("sessions", [])
            for s in sessions:
                if s.get("session") == number:
                    s.update(info, finished=_now())
            self._put_manifest({"sessions": sessions})

    # -------------------------------------------------------------- runs
    def finished(self) -> set:
        """``{(scenario, replication)}`` of every stored run."""
        return {(s, r) for s, r in self._db.execute("SELECT scenario, replication FROM runs")}

    def put(self, scenario: str, replication: int, *, seed: int, sums, department_sums,
            wall_seconds: float, session: int) -> None:
        """Commit one finished run.

        A run already stored is kept as it is (runs are deterministic, so two
        processes sweeping one store at once only duplicate work).
        """
        s = np.ascontiguousarray(sums, dtype="<f8")
        d = np.ascontiguousarray(department_sums, dtype="<f8")
        with self._db:
            self._db.execute(
                "INSERT OR IGNORE INTO runs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (scenario, int(replication), str(int(seed)), s.tobytes(), json.dumps(s.shape),
                 d.tobytes(), json.dumps(d.shape), float(wall_seconds), int(session), _now()))

    def runs(self):
        """Iterate ``(scenario, replication, sums, department_sums, wall_seconds)``."""
        rows = self._db.execute("SELECT scenario, replication, sums, sums_shape, department_sums, "
                                "department_shape, wall_seconds FROM runs")
        for scenario, rep, s, s_shape, d, d_shape, wall in rows:
            yield (scenario, rep,
                   np.frombuffer(s, dtype="<f8").reshape(json.loads(s_shape)).astype(float),
                   np.frombuffer(d, dtype="<f8").reshape(json.loads(d_shape)).astype(float), wall)

    def sessions_of_runs(self) -> dict:
        """``{(scenario, replication): (session, finished_at)}``: which session computed each run."""
        return {(s, r): (n, t) for s, r, n, t in
                self._db.execute("SELECT scenario, replication, session, finished_at FROM runs")}
