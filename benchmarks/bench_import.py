"""Import time of spchain, before and after the layer subpackages, side by side in one run.

Each statement runs in a fresh interpreter (``python -c ...``, the same
Python and virtual environment for both trees, the working directory a
temporary folder so that only ``PYTHONPATH`` decides which spchain is
imported), repeated ``--repeats`` times with the trees and statements
interleaved, so drifts in machine speed hit both alike.  Reported, best and
median of each: the seconds the statement takes inside the interpreter
(``time.perf_counter`` around it: the import cost itself) and the wall time
of the whole process (what a user waits for, interpreter start-up
included; ``python -c pass`` is that start-up alone), and the ratios
before / after.

The statements:

* ``import spchain``: what every user pays;
* ``import spchain; spchain.simulate``: the first run of a script;
* the modules a worker process of an experiment loads
  (``spchain.engine.run`` and ``spchain.experiments.experiment``; before the
  move ``spchain.run`` and ``spchain.experiment``).

"Before" is the commit before the move (``dd0d19d`` by default), checked out
with ``git worktree add --detach`` into ``--before-dir`` when that folder is
missing.

Run: ``python benchmarks/bench_import.py`` (``--quick`` for a smoke run).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: Statement label -> (code in the tree after the move, code in the tree before it).
STATEMENTS = {
    "python -c pass": ("pass", "pass"),
    "import spchain": ("import spchain", "import spchain"),
    "import spchain; spchain.simulate": ("import spchain; spchain.simulate", "import spchain; spchain.simulate"),
    "a worker's modules": ("import spchain.engine.run, spchain.experiments.experiment",
                           "import spchain.run, spchain.experiment"),
}
#: What the heavy optional imports look like in each tree after ``import spchain``.
PROBE = ("import sys, spchain; print(len(sys.modules), "
         "' '.join(m for m in ('scipy', 'pandas', 'matplotlib') if m in sys.modules) or '-')")


def before_tree(directory: Path, commit: str) -> Path:
    """The checkout of ``commit`` in ``directory`` (made with ``git worktree add`` if missing)."""
    if not (directory / "spchain" / "__init__.py").is_file():
        # forget a checkout whose folder was deleted (a cleaned /tmp), then check it out again
        subprocess.run(["git", "-C", str(ROOT), "worktree", "prune"], check=True)
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(directory), commit],
                       check=True, capture_output=True, text=True)
    return directory


#: Runs a statement and prints the seconds it took inside the interpreter.
TIMED = "import time; _start = time.perf_counter(); {code}; print(time.perf_counter() - _start)"


def run_once(code: str, tree: Path, cwd: str) -> tuple[float, float]:
    """(seconds of ``code`` inside a fresh interpreter, wall seconds of the whole process), ``tree`` on the path."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", TIMED.format(code=code)], env=env, cwd=cwd, check=True,
                          capture_output=True, text=True)
    wall = time.perf_counter() - start
    return float(done.stdout.split()[-1]), wall


def measure(trees: dict[str, Path], repeats: int) -> dict[tuple[str, str], list[tuple[float, float]]]:
    """(inside, wall) seconds per (statement, tree), ``repeats`` fresh interpreters each, interleaved."""
    times = {(label, name): [] for label in STATEMENTS for name in trees}
    with tempfile.TemporaryDirectory() as cwd:
        for name, tree in trees.items():  # one warm-up each: the OS caches the files, Python writes .pyc
            for after, before in STATEMENTS.values():
                run_once(after if name == "after" else before, tree, cwd)
        for _ in range(repeats):
            for label, (after, before) in STATEMENTS.items():
                for name, tree in trees.items():
                    times[label, name].append(run_once(after if name == "after" else before, tree, cwd))
    return times


def probe(tree: Path) -> str:
    """Modules loaded by ``import spchain`` and which of SciPy, pandas, Matplotlib are among them."""
    with tempfile.TemporaryDirectory() as cwd:
        done = subprocess.run([sys.executable, "-c", PROBE], env={**os.environ, "PYTHONPATH": str(tree)},
                              cwd=cwd, check=True, capture_output=True, text=True)
    n_modules, heavy = done.stdout.split(maxsplit=1)
    return f"{n_modules} modules in sys.modules, heavy: {heavy.strip()}"


def report(times, repeats: int) -> None:
    """Print best and median of each statement per tree, inside the interpreter and wall, and the ratios."""
    print(f"fresh interpreters, {repeats} repeats each; seconds, best and median")
    print(f"{'statement':<34}{'tree':<8}{'inside':>9}{'median':>9}{'wall':>9}{'median':>9}")
    best = {}
    for label in STATEMENTS:
        for name in ("before", "after"):
            inside, wall = zip(*times[label, name])
            best[label, name] = min(inside), min(wall)
            print(f"{label:<34}{name:<8}{min(inside):9.4f}{statistics.median(inside):9.4f}"
                  f"{min(wall):9.3f}{statistics.median(wall):9.3f}")
        if label != "python -c pass":
            (inside_before, wall_before), (inside_after, wall_after) = best[label, "before"], best[label, "after"]
            print(f"{'':<34}before/after: {inside_before / inside_after:.1f}x inside, "
                  f"{wall_before / wall_after:.1f}x wall")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 repeats, for a smoke test")
    parser.add_argument("--repeats", type=int, default=15, help="fresh interpreters per statement and tree")
    parser.add_argument("--before-commit", default="dd0d19d", help="the commit before the move")
    parser.add_argument("--before-dir", type=Path, default=Path(tempfile.gettempdir()) / "spchain_before",
                        help="where that commit is (or will be) checked out")
    args = parser.parse_args(argv)
    repeats = 3 if args.quick else args.repeats
    trees = {"before": before_tree(args.before_dir, args.before_commit), "after": ROOT}
    print(f"Python {sys.version.split()[0]} ({sys.executable}); before: {args.before_commit} in "
          f"{trees['before']}, after: {ROOT}")
    for name, tree in trees.items():
        print(f"  import spchain ({name}): {probe(tree)}")
    report(measure(trees, repeats), repeats)


if __name__ == "__main__":
    main()
