"""The engine of this tree against another checkout's, alternating in one run (CPU-time ratios).

For a change meant to leave the engine's speed alone (a refactor): each
round runs, in a fresh interpreter per tree and alternating which goes
first, the best CPU time of ``simulate`` on three models -- the workshop
preset for a year, the same with every mechanism on (``EVERYTHING_ON`` of
``bench_engine.py``), and the 250-unit retail chain for 8 weeks -- and
checks that both trees serve the same customers.  CPU time (not wall time)
keeps a busy machine's other work out of the ratio.  Target for a refactor:
``after / before <= 1.03``.

Run::

    git worktree add /tmp/engine_before <commit>
    python benchmarks/bench_engine_ab.py /tmp/engine_before --rounds 6
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]
MODELS = ("workshop", "everything", "retail_chain")

#: What one interpreter runs in a tree (given as argv[1]): prints a JSON object of best CPU seconds and customers.
_CHILD = r'''
import json, sys, time, warnings
sys.path.insert(0, sys.argv[1] + "/benchmarks")
from bench_engine import EVERYTHING_ON
import spchain
from spchain import preset, simulate
assert spchain.__file__.startswith(sys.argv[1]), spchain.__file__
warnings.simplefilter("ignore")
models = {"workshop": (preset("workshop"), 52, 3),
          "everything": (preset("workshop").override(EVERYTHING_ON), 52, 3),
          "retail_chain": (preset("retail_chain"), 8, 1)}
out = {}
for name, (params, weeks, repeats) in models.items():
    best = float("inf")
    for _ in range(repeats):
        started = time.process_time()
        result = simulate(params, horizon=weeks, seed=1)
        best = min(best, time.process_time() - started)
    out[name] = best
    out[name + "_served"] = float(result.field("served").sum())
print(json.dumps(out))
'''


def _one(tree: Path) -> dict:
    """Best CPU seconds of each model in a fresh interpreter importing spchain from ``tree``."""
    done = subprocess.run([sys.executable, "-c", _CHILD, str(tree)], capture_output=True, text=True,
                          env={"PYTHONPATH": str(tree), "PATH": "/usr/bin:/bin"}, cwd="/tmp", check=False)
    if done.returncode:
        raise SystemExit(f"the run in {tree} failed:\n{done.stderr}")
    return json.loads(done.stdout)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before", type=Path, help="the other checkout (e.g. a git worktree of the base commit)")
    parser.add_argument("--rounds", type=int, default=6, help="rounds, each running both trees (default 6)")
    args = parser.parse_args(argv)
    trees = {"before": args.before.resolve(), "after": HERE}
    runs = {"before": [], "after": []}
    for r in range(args.rounds):
        for name in ("before", "after") if r % 2 == 0 else ("after", "before"):
            runs[name].append(_one(trees[name]))
    print(f"CPU seconds, {args.rounds} rounds alternating; before = {trees['before']}, after = {trees['after']}")
    for model in MODELS:
        if runs["before"][0][model + "_served"] != runs["after"][0][model + "_served"]:
            print(f"   {model}: the trees serve different customers: not the same sample path")
        best = {k: min(run[model] for run in v) for k, v in runs.items()}
        median = {k: statistics.median(run[model] for run in v) for k, v in runs.items()}
        print(f"   {model:<13} best {best['before']:.3f} -> {best['after']:.3f} s "
              f"({best['after'] / best['before']:.3f}x); median {median['before']:.3f} -> {median['after']:.3f} s "
              f"({median['after'] / median['before']:.3f}x)  (target <= 1.03x)")


if __name__ == "__main__":
    main()
