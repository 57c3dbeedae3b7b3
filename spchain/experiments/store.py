"""Results that survive: an SQLite store of finished runs and a manifest.

Each finished run is committed as it arrives, in its own transaction, to a
``runs`` table (the run's ``sums`` and ``department_sums`` arrays as
little-endian float64 bytes with their shapes, its seed and wall time),
next to a ``manifest`` table of JSON values: spchain version, the
experiment's definition and its hash, replications, warm-up, design,
platform and one entry per session (each call of
:meth:`~spchain.experiments.experiment.Experiment.run`) with its timings.

The database runs in WAL mode with ``synchronous=NORMAL``: a commit
survives the process being killed at any point (an operating-system crash
or power loss may lose the last few runs, never corrupt the file), and
other processes can read the store while a sweep writes to it.

A store belongs to one experiment definition -- the inputs that decide
every run's numbers: spchain version, the engine's sample-path version
(:data:`spchain.engine.model.SAMPLE_PATH_VERSION`), base parameters, scenarios,
horizon, seed and whether random numbers are common.  Opening it for
another definition raises :class:`StoreError` listing the differences; a
store written by an engine of another sample-path version is refused with
both versions named, since the same seeds now give other numbers (its
stored runs can still be loaded and analysed).  The number of replications
and the warm-up are not part of the definition: asking for more
replications extends a store, and the warm-up only affects the analysis.

A :class:`CalibrationStore` keeps :func:`spchain.fitting.calibration.calibrate`'s
simulated parameter points the same way: one ``points`` row per point
(its per-replication statistics), committed when the point's last run
finishes, next to the same kind of manifest.  A :class:`SensitivityStore`
keeps the outputs of :class:`spchain.experiments.sensitivity.SimulationModel`: one
``outputs`` row per (design point, replication), committed as the run
finishes.  All kinds share :class:`SQLiteStore`; each refuses the others'
files, naming what they hold.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

__all__ = ["StoreError", "SQLiteStore", "Store", "CalibrationStore", "SensitivityStore", "definition_hash",
           "point_id"]

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

_POINTS_SCHEMA = """
CREATE TABLE IF NOT EXISTS manifest (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS points (
    point TEXT PRIMARY KEY,
    theta TEXT NOT NULL,
    moments BLOB NOT NULL,
    moments_shape TEXT NOT NULL,
    n_runs INTEGER NOT NULL,
    wall_seconds REAL NOT NULL,
    session INTEGER NOT NULL,
    finished_at TEXT NOT NULL
);
"""

_OUTPUTS_SCHEMA = """
CREATE TABLE IF NOT EXISTS manifest (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS outputs (
    point TEXT NOT NULL,
    replication INTEGER NOT NULL,
    design_id INTEGER NOT NULL,
    point_values TEXT NOT NULL,
    output BLOB NOT NULL,
    output_shape TEXT NOT NULL,
    wall_seconds REAL NOT NULL,
    session INTEGER NOT NULL,
    finished_at TEXT NOT NULL,
    PRIMARY KEY (point, replication)
);
"""

#: The table that marks each kind of store, and what the kind is called in messages.
_KINDS = {"runs": "experiment", "points": "calibration", "outputs": "sensitivity"}


class StoreError(ValueError):
    """A store cannot be used: another experiment's, unreadable, or incomplete."""


def canonical_json(data) -> str:
    """Sorted, compact JSON: the same definition always gives the same text."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), allow_nan=True)


def definition_hash(definition: dict) -> str:
    """SHA-256 of the canonical JSON of an experiment definition."""
    return hashlib.sha256(canonical_json(definition).encode()).hexdigest()


def point_id(definition_hash: str, theta) -> str:
    """Key of one calibration point: SHA-256 of a definition hash and the exact parameter vector.

    Parameters
    ----------
    definition_hash : str
        :func:`definition_hash` of the calibration's definition.
    theta : sequence of float
        The free parameters' values; each enters as its exact
        :meth:`float.hex`, so two vectors share a key only when they are
        equal bit for bit.

    Returns
    -------
    str
        64 hexadecimal digits.
    """
    text = definition_hash + ":" + ",".join(float(v).hex() for v in theta)
    return hashlib.sha256(text.encode()).hexdigest()


def _array(blob: bytes, shape: str) -> np.ndarray:
    """A stored array: little-endian float64 ``blob`` with its JSON ``shape``, as a writable float array."""
    return np.frombuffer(blob, dtype="<f8").reshape(json.loads(shape)).astype(float)


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


class SQLiteStore:
    """What experiment and calibration stores share: an SQLite file in WAL mode, a manifest, sessions.

    Use :class:`Store` (an experiment's runs) or :class:`CalibrationStore`
    (a calibration's points).

    Parameters
    ----------
    path : str or Path
        The database file; created when missing.

    Raises
    ------
    StoreError
        If the file exists but is not an spchain store of this kind (a
        calibration store opened as an experiment store and vice versa are
        named as such).
    """

    _table = "runs"
    _schema = _SCHEMA
    #: Ends of the messages of :meth:`check` (``{path}``: the store's path).
    _stale = ("its runs cannot be resumed or extended. Analyse the stored runs with "
              "ExperimentResult.load({path!r}), or run into another store.")
    _advice = "Use another store, or Experiment.from_store({path!r}) to continue the stored one."

    def __init__(self, path):
        self.path = Path(path)
        kind = _KINDS[self._table]
        try:
            self._db = sqlite3.connect(self.path, timeout=60.0)
            tables = {r[0] for r in self._db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{self.path} is not an spchain {kind} store: {exc}") from None
        other = [_KINDS[t] for t in sorted(tables & set(_KINDS)) if t != self._table]
        if other and tables <= {"manifest", *_KINDS}:
            self._db.close()
            article = "an" if kind[0] in "aeiou" else "a"
            raise StoreError(f"{self.path} is an spchain {other[0]} store, not {article} {kind} store; "
                             f"choose another path")
        if tables - {"manifest", self._table} or (tables and "manifest" not in tables):
            self._db.close()
            raise StoreError(f"{self.path} is not an spchain {kind} store (it holds tables "
                             f"{sorted(tables)}); choose another path")
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        with self._db:
            self._db.executescript(self._schema)

    def close(self) -> None:
        """Close the connection; every committed run or point is already on disk."""
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
        """Refuse to add to the store unless it holds ``manifest``'s definition.

        A new store accepts any definition.

        Parameters
        ----------
        manifest : dict
            Must hold ``definition`` and ``definition_hash``.
        advice : str, optional
            What to do instead, ending the message for another definition;
            default: use another store or continue the stored experiment
            (calibration).

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
                f"(spchain.engine.model.SAMPLE_PATH_VERSION), so the same seeds give other numbers and "
                + self._stale.format(path=str(self.path)))
        if advice is None:
            advice = self._advice.format(path=str(self.path))
        raise StoreError(
            f"{self.path} holds another {_KINDS[self._table]} (definition hash "
            f"{stored['definition_hash'][:12]}, this one {manifest['definition_hash'][:12]}): "
            f"{_differences(stored.get('definition', {}), manifest['definition'])}. {advice}")

    def begin(self, manifest: dict, session: dict) -> int:
        """Claim the store for a definition and open a session; returns its number.

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


class Store(SQLiteStore):
    """An experiment's SQLite file: manifest plus one row per finished run.

    Parameters
    ----------
    path : str or Path
        The database file; created when missing.

    Raises
    ------
    StoreError
        If the file exists but is not an spchain experiment store.
    """

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
        sums = np.ascontiguousarray(sums, dtype="<f8")
        department_sums = np.ascontiguousarray(department_sums, dtype="<f8")
        with self._db:
            self._db.execute(
                "INSERT OR IGNORE INTO runs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (scenario, int(replication), str(int(seed)), sums.tobytes(), json.dumps(sums.shape),
                 department_sums.tobytes(), json.dumps(department_sums.shape), float(wall_seconds),
                 int(session), _now()))

    def runs(self):
        """Iterate ``(scenario, replication, sums, department_sums, wall_seconds)``."""
        rows = self._db.execute("SELECT scenario, replication, sums, sums_shape, department_sums, "
                                "department_shape, wall_seconds FROM runs")
        for scenario, replication, sums, sums_shape, department_sums, department_shape, wall in rows:
            yield scenario, replication, _array(sums, sums_shape), _array(department_sums, department_shape), wall

    def sessions_of_runs(self) -> dict:
        """``{(scenario, replication): (session, finished_at)}``: which session computed each run."""
        return {(s, r): (n, t) for s, r, n, t in
                self._db.execute("SELECT scenario, replication, session, finished_at FROM runs")}


class CalibrationStore(SQLiteStore):
    """A calibration's SQLite file: manifest plus one row per simulated parameter point.

    :func:`spchain.fitting.calibration.calibrate` writes each point when its last run
    finishes, in one transaction: a point is stored whole or not at all.  A
    row holds the point's key (:func:`point_id`), its parameter vector
    (exact, as :meth:`float.hex`), its statistics per replication (an array
    of shape ``(replications, statistics)``, little-endian float64), the
    number of runs and their wall time.

    Parameters
    ----------
    path : str or Path
        The database file; created when missing.

    Raises
    ------
    StoreError
        If the file exists but is not an spchain calibration store (an
        experiment store is named as such).
    """

    _table = "points"
    _schema = _POINTS_SCHEMA
    _stale = "its points cannot be reused. Calibrate into another store."
    _advice = ("Use another store, or calibrate with the stored definition "
               "(CalibrationStore({path!r}).manifest()['definition']) to resume it.")

    def get(self, point: str):
        """The stored statistics of a point, shape ``(replications, statistics)``, or None."""
        row = self._db.execute("SELECT moments, moments_shape FROM points WHERE point = ?", (point,)).fetchone()
        if row is None:
            return None
        return _array(*row)

    def put(self, point: str, theta, moments, *, n_runs: int, wall_seconds: float, session: int) -> None:
        """Commit one simulated point (a point already stored is kept as it is: points are deterministic).

        Parameters
        ----------
        point : str
            Its key, :func:`point_id`.
        theta : sequence of float
            The free parameters' values.
        moments : array_like
            Statistics per replication, shape ``(replications, statistics)``.
        n_runs, wall_seconds : int, float
            Runs simulated for the point and their wall time.
        session : int
            The session (:meth:`begin`) that simulated it.
        """
        moments = np.ascontiguousarray(moments, dtype="<f8")
        with self._db:
            self._db.execute(
                "INSERT OR IGNORE INTO points VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (point, json.dumps([float(v).hex() for v in theta]), moments.tobytes(), json.dumps(moments.shape),
                 int(n_runs), float(wall_seconds), int(session), _now()))

    def points(self):
        """Iterate ``(point, theta, moments, session)`` in the order they were stored."""
        rows = self._db.execute("SELECT point, theta, moments, moments_shape, session FROM points ORDER BY rowid")
        for point, theta, moments, shape, session in rows:
            yield point, [float.fromhex(v) for v in json.loads(theta)], _array(moments, shape), session

    def __len__(self) -> int:
        return self._db.execute("SELECT COUNT(*) FROM points").fetchone()[0]


class SensitivityStore(SQLiteStore):
    """A sensitivity analysis's SQLite file: manifest plus one row per (design point, replication).

    :class:`spchain.experiments.sensitivity.SimulationModel` writes each replication's
    output when its run finishes, in its own transaction.  A row is keyed by
    the point's key (:func:`point_id` of the definition hash and the point's
    factor values, paths included) and the replication; it also holds the
    point's id in its design, its values (exact, as :meth:`float.hex`), the
    output (a scalar or one value per window of weeks, little-endian
    float64), and the run's wall time.  Because a row is found by what the
    point *is*, never by its position in a design, outputs cannot be
    misordered, and a screening, a Sobol' design and a replication plan may
    share one store.

    Parameters
    ----------
    path : str or Path
        The database file; created when missing.

    Raises
    ------
    StoreError
        If the file exists but is not an spchain sensitivity store (an
        experiment or calibration store is named as such).
    """

    _table = "outputs"
    _schema = _OUTPUTS_SCHEMA
    _stale = "its outputs cannot be reused. Run the analysis into another store."
    _advice = ("Use another store, or a model with the stored definition "
               "(SensitivityStore({path!r}).manifest()['definition']) to resume it.")

    def get(self, point: str, replication: int):
        """The stored output of one replication at a point (a float64 array), or None."""
        row = self._db.execute("SELECT output, output_shape FROM outputs WHERE point = ? AND replication = ?",
                               (point, int(replication))).fetchone()
        if row is None:
            return None
        return _array(*row)

    def put(self, point: str, replication: int, output, *, design_id: int, values: dict,
            wall_seconds: float, session: int) -> None:
        """Commit one replication's output at a point (one already stored is kept: runs are deterministic).

        Parameters
        ----------
        point : str
            The point's key, :func:`point_id`.
        replication : int
            The replication's index (its seed follows from it).
        output : array_like
            The output: a scalar, or one value per window of weeks.
        design_id : int
            The point's id in the design that asked for it (for reading; the
            key is ``point``).
        values : dict
            The point's factor values by path.
        wall_seconds : float
            The run's wall time.
        session : int
            The session (:meth:`begin`) that simulated it.
        """
        output = np.asarray(output, dtype="<f8")  # a scalar keeps its shape () (ascontiguousarray makes it (1,))
        with self._db:
            self._db.execute(
                "INSERT OR IGNORE INTO outputs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (point, int(replication), int(design_id),
                 json.dumps({k: float(v).hex() for k, v in values.items()}, sort_keys=True),
                 output.tobytes(), json.dumps(output.shape), float(wall_seconds), int(session), _now()))

    def outputs(self):
        """Iterate ``(point, replication, design_id, values, output, session)`` in the order stored."""
        rows = self._db.execute("SELECT point, replication, design_id, point_values, output, output_shape, "
                                "session FROM outputs ORDER BY rowid")
        for point, replication, design_id, values, output, shape, session in rows:
            yield (point, replication, design_id, {k: float.fromhex(v) for k, v in json.loads(values).items()},
                   _array(output, shape), session)

    def __len__(self) -> int:
        return self._db.execute("SELECT COUNT(*) FROM outputs").fetchone()[0]
