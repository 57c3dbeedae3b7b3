"""Charts: the only part of spchain that imports Matplotlib (when a chart is drawn).

:mod:`.plotting` draws runs and experiments (KPI series, dashboards, fans,
comparisons, tornadoes); :mod:`.diagram` the chain diagram; :mod:`.fitplots`
fit diagnostics; :mod:`.sensplots` sensitivity and selection charts.
"""
