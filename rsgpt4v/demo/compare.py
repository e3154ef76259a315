"""The Evaluate tab's logic: read one or two ``rsgpt4v evaluate`` reports and lay them side by side.

A report is the ``report.json`` that ``rsgpt4v.evaluation.report.write_report`` writes: ``results`` maps each
scored config to its ``scores`` (fractions), and VQA results carry ``per_type`` accuracies, grounding results
their ``ious``. Tables show scores x 100 with a difference column; the figure has one panel per config.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rsgpt4v.demo.explore import DemoInputError

__all__ = ["Comparison", "compare_reports", "read_report"]


def read_report(path: str | Path) -> dict[str, Any]:
    """Read a report JSON written by ``rsgpt4v evaluate``.

    Raises:
        DemoInputError: the file is unreadable, not JSON, or JSON without the report's ``results``.
    """
    path = Path(path)
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise DemoInputError(
            f"{path.name} is not a text file; upload the report.json of `rsgpt4v evaluate`."
        ) from None
    except json.JSONDecodeError as exc:
        raise DemoInputError(
            f"{path.name} is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg}); upload the "
            "report.json written by `rsgpt4v evaluate`."
        ) from None
    except OSError as exc:
        raise DemoInputError(f"{path.name}: cannot read the file ({exc.strerror or exc}).") from None
    results = report.get("results") if isinstance(report, dict) else None
    if not isinstance(results, dict) or not all(isinstance(r, dict) and "scores" in r for r in results.values()):
        raise DemoInputError(
            f"{path.name} is JSON but not an rsgpt4v evaluation report (it needs 'results' with 'scores' per "
            "config); upload the report.json written by `rsgpt4v evaluate --out DIR`."
        )
    return report


@dataclass
class Comparison:
    """What the Evaluate tab shows: a summary, the scores table, the per-question-type table and a figure."""

    summary: str
    headers: list[str]
    scores: list[list[Any]]
    type_headers: list[str]
    per_type: list[list[Any]]
    figure: Any


def _pct(value: Any) -> float | None:
    return None if value is None else round(100 * float(value), 2)


def _diff_row(values: list[float | None]) -> list[float | None]:
    if len(values) == 2 and None not in values:
        return [*values, round(values[1] - values[0], 2)]
    return values


def compare_reports(reports: Sequence[tuple[str, dict[str, Any]]]) -> Comparison:
    """Lay one or two named reports side by side (the second minus the first in the ``difference`` column).

    Raises:
        DemoInputError: no report, or more than two.
    """
    if not 1 <= len(reports) <= 2:
        raise DemoInputError("load one or two report files (report.json of `rsgpt4v evaluate`).")
    names = [name for name, _ in reports]
    if len(names) == 2 and names[0] == names[1]:
        names = [f"A: {names[0]}", f"B: {names[1]}"]
    extra = ["difference"] if len(reports) == 2 else []
    configs = list(dict.fromkeys(c for _, r in reports for c in r["results"]))
    scores: list[list[Any]] = []
    per_type: list[list[Any]] = []
    for config in configs:
        results = [r["results"].get(config, {}) for _, r in reports]
        metrics = list(dict.fromkeys(m for res in results for m in res.get("scores", {})))
        for metric in metrics:
            scores.append([config, metric, *_diff_row([_pct(res.get("scores", {}).get(metric)) for res in results])])
        types = list(dict.fromkeys(t for res in results for t in res.get("per_type", {})))
        for qtype in types:
            values = [_pct(res.get("per_type", {}).get(qtype, {}).get("accuracy")) for res in results]
            per_type.append([config, qtype, *_diff_row(values)])
    lines = []
    for name, report in zip(names, (r for _, r in reports)):
        preds = report.get("predictions", {})
        model = ", ".join(map(str, preds.get("model_ids") or [])) or "model not recorded"
        data = report.get("data", {})
        lines.append(
            f"- **{name}**: {model}; data `{data.get('path', '?')}` split `{data.get('split', '?')}`; "
            f"configs {', '.join(report['results'])}; rsgpt4v {report.get('rsgpt4v_version', '?')}"
        )
    return Comparison(
        summary="Scores are x 100.\n\n" + "\n".join(lines),
        headers=["config", "metric", *names, *extra],
        scores=scores,
        type_headers=["config", "question type", *names, *extra],
        per_type=per_type,
        figure=_figure(names, [r for _, r in reports], configs),
    )


def _figure(names: list[str], reports: list[dict[str, Any]], configs: list[str]) -> Any:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    fig = Figure(figsize=(max(6, 4.5 * len(configs)), 3.8), layout="constrained")
    axes = fig.subplots(1, len(configs), squeeze=False)[0]
    width = 0.8 / len(reports)
    for ax, config in zip(axes, configs):
        results = [r["results"].get(config, {}) for r in reports]
        metrics = list(dict.fromkeys(m for res in results for m in res.get("scores", {})))
        for k, (name, res) in enumerate(zip(names, results)):
            values = [100 * float(res.get("scores", {}).get(m) or 0.0) for m in metrics]
            ax.bar([i + k * width for i in range(len(metrics))], values, width, label=name)
        ax.set_xticks([i + 0.4 - width / 2 for i in range(len(metrics))], metrics, rotation=30, ha="right")
        ax.set_title(config)
        ax.set_ylabel("score x 100")
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncols=len(reports), fontsize="small")
    return fig
