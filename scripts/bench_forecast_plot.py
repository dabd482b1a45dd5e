"""Draw the forecast benchmark's curves: sensitivity against false alerts per patient-day.

Run in the benchmark's own venv (.venv-bench, which has matplotlib), by
scripts/bench_forecast.py: the curves come as JSON on standard input,
{input: {method: [[level, false alerts per patient-day, sensitivity %], ...]}},
and the PNG is written to the path on the command line. One panel per input; the point
at 55 mg/dL, the alert's default level, is marked on each curve. Each panel's false alerts
run up to the most any method gives at 70 mg/dL, at most MAX_FALSE.
"""

from __future__ import annotations

import json
import sys

import matplotlib as mpl

mpl.use("Agg")
import matplotlib.pyplot as plt

DEFAULT_LEVEL = 55
MAX_FALSE = 2.0  # false alerts per patient-day: the right of the curves is all hypos warned
SHOWN_UP_TO = 70  # mg/dL: each panel shows the false alerts of every method up to this level


def main() -> None:
    """Draw the curves read from standard input into the PNG named on the command line."""
    curves = json.load(sys.stdin)
    figure, axes = plt.subplots(1, len(curves), figsize=(6 * len(curves), 4.8), squeeze=False)
    for axis, (title, methods) in zip(axes[0], curves.items(), strict=True):
        for name, points in methods.items():
            (line,) = axis.plot([p[1] for p in points], [p[2] for p in points], label=name)
            at_default = [p for p in points if p[0] == DEFAULT_LEVEL]
            axis.plot(
                [p[1] for p in at_default], [p[2] for p in at_default], "o", color=line.get_color()
            )
        axis.set_title(title)
        axis.set_xlabel("false alerts per patient-day")
        axis.set_ylabel("hypos warned 10-30 min ahead (%)")
        widest = max(p[1] for points in methods.values() for p in points if p[0] <= SHOWN_UP_TO)
        axis.set_xlim(0, min(MAX_FALSE, 1.1 * widest))
        axis.set_ylim(0, 100)
        axis.grid(visible=True, alpha=0.3)
        axis.legend(title="level 40-100 mg/dL; dot: 55", fontsize="small")
    figure.tight_layout()
    figure.savefig(sys.argv[1], dpi=100)


if __name__ == "__main__":
    main()
