"""Generate the reference tables of ``docs/model.md`` from the code.

Three blocks of ``docs/model.md`` are generated, each between a pair of
markers, so that the documentation cannot drift from the code unnoticed:

``<!-- params:start -->`` ... ``<!-- params:end -->``
    one row per numeric parameter, from :func:`spchain.params.describe`
    (path, default, unit, bounds, meaning, source);
``<!-- departments:start -->`` ... ``<!-- departments:end -->``
    the internal departments that ``Params()`` ships with;
``<!-- presets:start -->`` ... ``<!-- presets:end -->``
    every preset of :data:`spchain.presets.PRESETS`: description (with its
    sources), overrides and the load they imply.

Usage (from the repository root)::

    python docs/gen_params.py                      # print the parameter table
    python docs/gen_params.py --block presets      # print another block
    python docs/gen_params.py --check docs/model.md   # exit 1 if a block is stale
    python docs/gen_params.py --write docs/model.md   # rewrite the blocks in place
"""

from __future__ import annotations

import argparse
import math
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run from a checkout without installing
    sys.path.insert(0, str(ROOT))

from spchain.params import Params, describe  # noqa: E402
from spchain.presets import PRESETS, preset  # noqa: E402


def _cell(text) -> str:
    """Text safe inside a Markdown table cell."""
    return str(text).replace("|", "\\|").replace("\n", " ").strip()


def _num(value) -> str:
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return f"{value:g}"
    return str(value)


def params_table() -> str:
    """The parameter reference: one row per entry of ``describe()``."""
    lines = ["| path | default | unit | bounds | meaning | source |",
             "| --- | ---: | --- | --- | --- | --- |"]
    for row in describe():
        bounds = row["bounds"] or "—"
        if row["path"] == "customers.patience_minutes":
            bounds += " (inf allowed)"
        lines.append("| " + " | ".join(_cell(x) for x in (
            f"`{row['path']}`", _num(row["default"]), row["unit"], bounds, row["doc"], row["source"])) + " |")
    return "\n".join(lines)


def departments_table() -> str:
    """The departments of ``Params()`` (the defaults in the parameter table are per-field fallbacks)."""
    deps = Params().internal.departments
    lines = ["| department | `n_staff` | `service_time_hours` | `ftr_prob` | `sla_hours` | `wage_per_week` "
             "| `share` | `requests_to` (requests per staff per week) |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |"]
    for d in deps:
        to = ", ".join(f"`{k}`: {_num(v)}" for k, v in d.requests_to) or "—"
        lines.append(f"| `{d.name}` | {d.n_staff} | {_num(d.service_time_hours)} | {_num(d.ftr_prob)} | "
                     f"{_num(d.sla_hours)} | {_num(d.wage_per_week)} | {_num(d.share)} | {to} |")
    return "\n".join(lines)


def _load_line(p: Params) -> str:
    """Offered load and customer flows implied by ``p`` at reference satisfaction (start of run)."""
    org, wf, cu = p.organisation, p.workforce, p.customers
    lam = cu.n_customers * cu.visit_rate / org.hours_per_week        # arrivals per open hour and unit
    a = lam * wf.service_time_minutes / 60.0                        # offered load, Erlang
    occ = a / wf.n_employees
    churn = cu.n_customers * -math.expm1(-cu.base_churn_rate / 52.0)
    referrals = cu.n_customers * cu.referral_rate / 52.0
    return (f"Implied at reference satisfaction, per unit: {lam:.3g} arrivals per open hour, offered load "
            f"{a:.3g} Erlang on {wf.n_employees} positions (occupancy {occ:.0%} with every position filled "
            f"and fully skilled); customers in {cu.acquisition_rate + referrals:.3g}/week "
            f"(marketing {_num(cu.acquisition_rate)} + referrals {referrals:.3g}) vs churn {churn:.3g}/week.")


def presets_block() -> str:
    """Every preset: description, overrides and implied load."""
    out = []
    default = Params()
    out.append("#### `Params()` (no preset)\n")
    out.append("The defaults of the parameter table, with the departments above. " + _load_line(default) + "\n")
    for name, (description, overrides) in PRESETS.items():
        p = preset(name)
        out.append(f"#### `{name}`\n")
        out.append(description + "\n")
        rows = ["| parameter | preset | default |", "| --- | ---: | ---: |"]
        for path, value in overrides.items():
            rows.append(f"| `{path}` | {_num(value)} | {_num(default.get(path))} |")
        out.append("\n".join(rows) + "\n")
        out.append(_load_line(p) + "\n")
    return "\n".join(out).rstrip()


BLOCKS = {"params": params_table, "departments": departments_table, "presets": presets_block}


def _pattern(name):
    return re.compile(rf"(<!-- {name}:start -->)(.*?)(<!-- {name}:end -->)", re.S)


def check(path: Path) -> list[str]:
    """Names of the blocks of ``path`` that are missing or differ from the code."""
    text = path.read_text(encoding="utf-8")
    stale = []
    for name, make in BLOCKS.items():
        m = _pattern(name).search(text)
        if m is None:
            stale.append(f"{name} (markers <!-- {name}:start --> / <!-- {name}:end --> not found)")
        elif m.group(2).strip() != make().strip():
            stale.append(name)
    return stale


def write(path: Path) -> None:
    """Rewrite every block of ``path`` from the code."""
    text = path.read_text(encoding="utf-8")
    for name, make in BLOCKS.items():
        pat = _pattern(name)
        if not pat.search(text):
            raise SystemExit(f"{path}: markers for block {name!r} not found")
        body = make()
        text = pat.sub(lambda m: m.group(1) + "\n" + body + "\n" + m.group(3), text)
    path.write_text(text, encoding="utf-8")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--block", choices=sorted(BLOCKS), default="params", help="block to print (default: params)")
    ap.add_argument("--check", metavar="FILE", type=Path, help="exit 1 if a generated block in FILE is stale")
    ap.add_argument("--write", metavar="FILE", type=Path, help="rewrite the generated blocks of FILE")
    args = ap.parse_args(argv)
    if args.check:
        stale = check(args.check)
        if stale:
            print(f"{args.check}: stale generated block(s): {', '.join(stale)}; "
                  f"run: python docs/gen_params.py --write {args.check}", file=sys.stderr)
            return 1
        print(f"{args.check}: generated blocks are up to date")
        return 0
    if args.write:
        write(args.write)
        return 0
    print(BLOCKS[args.block]())
    return 0


if __name__ == "__main__":
    sys.exit(main())
