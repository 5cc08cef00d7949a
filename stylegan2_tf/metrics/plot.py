"""Metric curves of a run: ``<run_dir>/metric-<name>.png``, each result against kimg, rewritten after every evaluation.

The points come from ``metric-<name>.jsonl`` (one JSON object per evaluation, written by ``report_metric``); the
kimg of a line is its ``kimg`` field or, for lines written by ``calc_metrics.py``, the number in the snapshot name
``network-snapshot-KKKKKK``. Lines computed with random feature-network weights are left out. When the run trained
with augmentation, its strength p (``Progress/augment`` in ``stats.jsonl``) is drawn beside the curve, on a second
axis.
"""

from __future__ import annotations

import io
import json
import os
import re
from typing import Dict, List, Optional, Tuple

from stylegan2_tf.atomic_io import atomic_write_bytes

__all__ = ["read_metric_log", "read_stat_series", "plot_metric", "line_kimg"]

_SNAPSHOT_KIMG = re.compile(r"network-snapshot-(\d+)")


def line_kimg(record: Dict) -> Optional[float]:
    if record.get("kimg") is not None:
        return float(record["kimg"])
    m = _SNAPSHOT_KIMG.search(str(record.get("snapshot_pkl") or ""))
    return float(m.group(1)) if m else None


def read_metric_log(path: str) -> Dict[str, List[Tuple[float, float]]]:
    """{result key: [(kimg, value), ...] sorted by kimg} from a metric JSONL file (later lines win at equal kimg)."""
    series: Dict[str, Dict[float, float]] = {}
    with open(path, encoding="utf-8") as f:
        for raw in f:
            raw = raw.strip()
            if not raw:
                continue
            try:
                rec = json.loads(raw)
            except ValueError:
                continue  # a line cut by a crash must not stop the plot
            kimg = line_kimg(rec)
            if kimg is None or rec.get("random_weights"):
                continue
            for key, value in rec.get("results", {}).items():
                series.setdefault(key, {})[kimg] = float(value)
    return {k: sorted(v.items()) for k, v in series.items()}


def read_stat_series(path: str, key: str) -> List[Tuple[float, float]]:
    """[(kimg, value), ...] of one key of a run's stats.jsonl (ticks that lack it are skipped)."""
    points = []
    if not os.path.isfile(path):
        return points
    with open(path, encoding="utf-8") as f:
        for raw in f:
            try:
                rec = json.loads(raw)
            except ValueError:
                continue
            if key in rec and rec.get("kimg") is not None:
                points.append((float(rec["kimg"]), float(rec[key])))
    return points


def plot_metric(run_dir: str, metric: str) -> Optional[str]:
    """Draw ``metric-<metric>.png`` from ``metric-<metric>.jsonl``; returns its path (None: nothing to plot)."""
    src = os.path.join(run_dir, f"metric-{metric}.jsonl")
    if not os.path.isfile(src):
        return None
    series = read_metric_log(src)
    if not series:
        return None
    import matplotlib
    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure  # the object API: no global pyplot state

    fig = Figure(figsize=(6.4, 4.0), dpi=100)
    ax = fig.add_subplot(1, 1, 1)
    for key, points in series.items():
        xs, ys = zip(*points)
        ax.plot(xs, ys, marker="o", markersize=3, label=f"{key} (last {ys[-1]:.4g} @ {xs[-1]:g} kimg)")
    ax.set_xlabel("kimg")
    ax.set_ylabel(metric)
    ax.set_title(f"{os.path.basename(os.path.abspath(run_dir))}: {metric}")
    ax.grid(True, alpha=0.3)
    augment = read_stat_series(os.path.join(run_dir, "stats.jsonl"), "Progress/augment")
    if augment:
        ax_p = ax.twinx()
        xs, ys = zip(*augment)
        ax_p.plot(xs, ys, color="tab:gray", linewidth=1, label=f"augment p (last {ys[-1]:.3f})")
        ax_p.set_ylabel("augment p")
        ax_p.set_ylim(bottom=0)
        ax_p.legend(fontsize=8, loc="upper center")
    ax.legend(fontsize=8)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    out = os.path.join(run_dir, f"metric-{metric}.png")
    atomic_write_bytes(out, buf.getvalue())
    return out
