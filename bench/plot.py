"""bench/throughput.png: how each throughput and the drains' memory grow with the rows drained."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # a file, never a window: the bench runs headless
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import FuncFormatter, NullFormatter  # noqa: E402


def draw(path: Path, sizes: list[int], rates: dict[str, list[float]], peak_rss: dict[str, list[float]],
         rss_target: float, title: str) -> None:
    """Left: rows/s against N for each curve; right: peak RSS against N, with the target line."""
    figure, (left, right) = plt.subplots(1, 2, figsize=(13, 5))
    for label, values in rates.items():  # the pipeline's drains solid, what they are measured against dashed
        left.plot(sizes, values, marker="o", label=label, linestyle="-" if "drain" in label else "--")
    # log y as well: the JVM tools run up to ten times faster than the rest, which would flatten them
    left.set(xscale="log", yscale="log", xlabel="rows drained, N", ylabel="rows/s (median, log scale)",
             title="Throughput")
    # 200,000 rather than 2×10^5; between the powers of ten only 2 and 5 are labelled, to stay legible
    left.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:,.0f}"))
    left.yaxis.set_minor_formatter(FuncFormatter(lambda value, _: f"{value:,.0f}" if f"{value:.0e}"[0] in "25" else ""))
    for label, values in peak_rss.items():
        right.plot(sizes, values, marker="o", label=label)
    right.axhline(rss_target, color="red", linestyle="--", label=f"consumer target ≤ {rss_target:.0f} MB")
    right.set(xscale="log", xlabel="rows drained, N", ylabel="peak RSS, MB", title="Memory", ylim=(0, None))
    for axes in (left, right):
        axes.set_xticks(sizes, [f"{n:,}" for n in sizes])  # the measured sizes, not powers of ten
        axes.xaxis.set_minor_formatter(NullFormatter())
        axes.grid(True, which="both", alpha=0.3)
        axes.legend(fontsize="small")
    figure.suptitle(title)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
