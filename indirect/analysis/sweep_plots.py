"""Metric against swept value at the end of the sweep experiments (conf/experiment/sweep_*.yaml).

:class:`SweepPlot` is a Hydra callback the sweep experiments install, so
``python train_eval.py -m experiment=sweep_dims`` ends with ``sweep_<param>.png`` in the
multirun folder; ``scripts/plot_sweep.py`` and ``scripts/report.py --sweep-param`` redraw it
from any multirun folder. Numeric and categorical parameters (n_components, backbone) are both
drawn by :func:`indirect.reporting.plot_sweep`.
"""
from __future__ import annotations

import logging
from pathlib import Path

from hydra.experimental.callback import Callback

from indirect.reporting import SweepError, plot_sweep
from indirect.reporting.figures import SweepPlotted

log = logging.getLogger(__name__)


def plot_swept(multirun_dir, param: str, out_png=None, method: str = "indirect",
               metrics=None) -> tuple[Path, SweepPlotted]:
    """Draw ``sweep_<param>.png`` (default: in the multirun folder); returns (path, what it drew)."""
    multirun_dir = Path(multirun_dir)
    out_png = Path(out_png) if out_png else multirun_dir / f"sweep_{param.replace('.', '_')}.png"
    return out_png, plot_sweep(multirun_dir, param, out_png, method=method, metrics=metrics)


class SweepPlot(Callback):
    """Hydra callback: after the last job of a multirun, plot the metrics against ``param``."""

    def __init__(self, param: str, method: str = "indirect"):
        self.param, self.method = param, method

    def on_multirun_end(self, config, **kwargs) -> None:
        sweep_dir = Path(str(config.hydra.sweep.dir))
        try:
            out_png, plotted = plot_swept(sweep_dir, self.param, method=self.method)
        except SweepError as error:  # the jobs' results are on disk; only the figure is lost
            log.error("sweep plot not drawn: %s", error)
            return
        log.info("%s: %d value(s) of %s", out_png, plotted.n_values, self.param)
        for note in plotted.notes:   # as under the figure: a partial sweep is said so, not drawn as if complete
            log.warning("%s", note)
