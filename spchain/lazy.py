"""Lazy attributes for spchain's packages, and the old flat module names.

``import spchain`` stays light (no SciPy, pandas or Matplotlib) because a
package's public names are imported only when first used (:pep:`562`).
Every package's ``__init__`` declares its names with :func:`attach`:

>>> __getattr__, __dir__, __all__ = attach(__name__, {"simulate": "engine.run"})

Modules that lived at ``spchain.<name>`` before the layer subpackages
(``spchain.plotting``, ``spchain.experiment``, ...) still import, with a
:class:`DeprecationWarning` that names the new home; :data:`MOVED` lists them.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
import warnings

__all__ = ["attach", "MOVED", "install_moved_modules"]

#: Old flat module -> its home in the layer subpackages (both under ``spchain.``).
MOVED = {
    "model": "engine.model", "units": "engine.units", "weekly": "engine.weekly",
    "streams": "engine.streams", "survey": "engine.survey", "run": "engine.run",
    "scenarios": "experiments.scenarios", "experiment": "experiments.experiment",
    "store": "experiments.store", "stats": "experiments.statistics",
    "analysis": "experiments.analysis", "sensitivity": "experiments.sensitivity",
    "selection": "experiments.selection", "optimise": "experiments.optimise",
    "fitresult": "fitting.result", "distributions": "fitting.distributions",
    "estimation": "fitting.estimation", "calibration": "fitting.calibration",
    "plotting": "viz.plotting", "diagram": "viz.diagram", "fitplots": "viz.fitplots",
    "sensplots": "viz.sensplots",
    "cli": "apps.cli", "scenario_file": "apps.scenario_file", "report": "apps.report",
    "report_html": "apps.report_html", "workshop": "apps.workshop", "webapp": "apps.webapp",
}


def attach(package: str, exports: dict[str, str | None]):
    """Lazy public names of a package.

    Parameters
    ----------
    package : str
        The package's ``__name__``.
    exports : dict
        Public name -> the submodule (relative to ``package``) that defines
        it; ``None`` for a name that is itself a submodule.

    Returns
    -------
    tuple
        ``(__getattr__, __dir__, __all__)`` for the package's namespace.
    """
    def __getattr__(name):
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        where = exports[name]
        if where is None:
            value = importlib.import_module(f"{package}.{name}")
        else:
            value = getattr(importlib.import_module(f"{package}.{where}"), name)
        setattr(sys.modules[package], name, value)
        return value

    def __dir__():
        return sorted(exports)

    return __getattr__, __dir__, sorted(name for name, where in exports.items() if where is not None)


class _MovedModuleFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Import ``spchain.<old>`` as its new module, with a DeprecationWarning."""

    def find_spec(self, fullname, path=None, target=None):
        package, _, rest = fullname.partition(".")
        if package != "spchain" or rest.partition(".")[0] not in MOVED:
            return None
        return importlib.util.spec_from_loader(fullname, self)

    def create_module(self, spec):
        old, _, below = spec.name.partition(".")[2].partition(".")
        new = "spchain." + MOVED[old] + ("." + below if below else "")
        if not below:
            warnings.warn(f"spchain.{old} has moved to {new}; import it from there "
                          f"(the old name will be removed in spchain 0.3)",
                          DeprecationWarning, stacklevel=_caller_level())
        return importlib.import_module(new)

    def exec_module(self, module):
        pass


def _caller_level() -> int:
    """The ``stacklevel`` of the user's import (:func:`warnings.warn` skips importlib's frames)."""
    frame, level = sys._getframe(1), 1
    while frame is not None and (frame.f_code.co_filename.startswith("<frozen")
                                 or frame.f_globals.get("__name__") == __name__):
        if not frame.f_code.co_filename.startswith("<frozen"):
            level += 1
        frame = frame.f_back
    return level


def install_moved_modules() -> None:
    """Let the old flat module names import (once per interpreter)."""
    if not any(isinstance(finder, _MovedModuleFinder) for finder in sys.meta_path):
        sys.meta_path.insert(0, _MovedModuleFinder())
