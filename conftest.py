"""Test collection settings shared by tests, doctests and notebooks."""

import matplotlib

matplotlib.use("Agg")  # no screen in CI; notebooks set their own inline backend

collect_ignore = ["spchain/__main__.py", "benchmarks", "build"]
