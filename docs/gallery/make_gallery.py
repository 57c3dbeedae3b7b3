"""Draw the images of docs/gallery.md: ``python docs/gallery/make_gallery.py``.

Each chart comes from the code shown next to it in the gallery, on small
seeded results, so the images are reproducible.  Takes about half a minute.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from spchain import Experiment, Scenario, one_at_a_time, preset, simulate  # noqa: E402
from spchain.viz import plotting as sp  # noqa: E402

HERE = Path(__file__).resolve().parent
DPI = 80


def save(obj, name):
    fig = obj if isinstance(obj, matplotlib.figure.Figure) else obj.figure
    sp.save_figure(fig, HERE / name, formats=("png",), dpi=DPI)
    plt.close(fig)
    print("wrote", HERE / f"{name}.png")


def main():
    from spchain.fitting.calibration import Target, calibrate
    from spchain.fitting.distributions import fit_distribution
    from spchain.fitting.estimation import fit_links
    from spchain.fitting.synthetic import structural_panel

    base = preset("workshop")
    result = Experiment(base, scenarios=[
        Scenario("baseline"),
        Scenario("invest", levers={"internal.tools_spend_per_week": 3000.0,
                                   "internal.departments.it.n_staff": 3}, at_week=13),
        Scenario("cut IT", levers={"internal.departments.it.n_staff": 1}, at_week=13)],
        n_replications=5, horizon=78, warmup=13, seed=2026).run()
    oat = Experiment(base, scenarios=one_at_a_time(levers={
        "internal.departments.it.n_staff": (1, 3), "workforce.pay_index": (0.95, 1.05),
        "internal.tools_spend_per_week": (0.0, 3000.0), "workforce.training_hours": (0.0, 3.0)}, at_week=13),
        n_replications=5, horizon=52, warmup=13, seed=7).run()
    run = simulate(base, horizon=52, seed=1)

    save(sp.plot_chain(result), "dashboard")
    save(sp.plot_chain_diagram(result, scenario="invest"), "chain_diagram")
    save(sp.plot_kpi(result, "turnover"), "kpi")
    save(sp.plot_kpi(run, "nps"), "kpi_run")
    save(sp.plot_comparison(result, "profit"), "comparison")
    save(sp.plot_comparison(result, "nps", kind="mean"), "comparison_mean")
    save(sp.plot_fan(result, "customer_satisfaction", scenario="invest"), "fan")
    save(sp.plot_tornado(oat, "profit"), "tornado")

    panel = structural_panel(n_units=50, n_periods=20, seed=1)
    links = fit_links(panel, unit_effects=False)
    save(sp.plot_chain_diagram(result, fit=links), "chain_diagram_fitted")
    save(sp.plot_fit(links, panel, equation="customer_satisfaction"), "fit_links")
    save(sp.plot_fit(links, panel, equation="customer_satisfaction", kind="residuals"), "fit_links_residuals")
    rng = np.random.default_rng(1)
    minutes = rng.gamma(4.0, 3.0, size=400)
    service = fit_distribution(minutes, target="workforce.service_time_minutes")
    save(sp.plot_fit(service, minutes), "fit_qq")
    save(sp.plot_fit(service, minutes, kind="density"), "fit_density")
    tenure, seen = rng.exponential(52 / 0.35, size=600), rng.uniform(0, 150, size=600)
    quits = fit_distribution(np.minimum(tenure, seen), censored=tenure > seen, target="workforce.base_quit_rate")
    save(sp.plot_fit(quits, np.minimum(tenure, seen), censored=tenure > seen, kind="survival"), "fit_survival")
    fit = calibrate(base, free={"customers.visit_rate": (0.15, 0.35), "customers.expected_quality": (0.6, 0.95)},
                    targets=[Target.mean("arrivals", 9000.0, sd=150.0), Target.mean("csat", 4.0, sd=0.03),
                             Target.mean("nps", 35.0, sd=3.0)],
                    horizon=8, n_replications=2, seed=1, method="least_squares", maxfev=20)
    save(sp.plot_fit(fit), "fit_calibration")
    sensitivity_charts()


def sensitivity_charts():
    """The charts of spchain.viz.sensplots: Morris, Sobol' (whole run and week by week), a selection."""
    from spchain import Scenario as S
    from spchain.experiments.selection import select_best
    from spchain.experiments.sensitivity import SimulationModel, morris, sobol
    from spchain.viz.sensplots import plot_morris, plot_selection, plot_sobol, plot_sobol_over_time

    base = preset("workshop")
    levers = {"economics.price_index": (0.9, 1.1), "internal.tools_spend_per_week": (0, 6000),
              "workforce.recognition": (0.0, 0.5), "workforce.training_hours": (0.0, 3.0)}
    model = SimulationModel(base, kpi="profit", horizon=26, seed=1)
    save(plot_morris(morris(model, levers, n_trajectories=6, n_replications=2, seed=1)), "morris")
    monthly = SimulationModel(base, kpi="profit", horizon=26, seed=1, window=4)
    res = sobol(monthly, levers, n=32, n_replications=2, seed=1)
    save(plot_sobol(res, window=-1), "sobol")
    save(plot_sobol_over_time(res), "sobol_over_time")
    plans = ([S("baseline")] + [S(f"recognition {v}", levers={"workforce.recognition": v}) for v in (0.3, 0.4, 0.5)]
             + [S(f"price {v}", levers={"economics.price_index": v}) for v in (1.02, 1.03)])
    chosen = select_best(base, plans, kpi="profit", delta=250.0, horizon=13, n0=6, seed=3)
    save(plot_selection(chosen), "selection")


if __name__ == "__main__":
    main()
