"""``rsgpt4v push-model``: write the model card of a trained folder and upload it to the Hugging Face Hub.

    rsgpt4v push-model runs/moe-lora owner/rsgpt4v-llava-1.5-7b-moe-lora [--private] [--dataset owner/rsgpt4v]

The card (``hub_cards/model_card.md``) names the base model, the recipe (``rsgpt4v_recipe.json``), the data
configs, the evaluation table (``eval_report.json`` when ``rsgpt4v train --evaluate`` wrote one) and how to load
the model. The folder goes up in one commit, without the intermediate ``checkpoint-*`` folders.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rsgpt4v.hub import upload_folder
from rsgpt4v.training.command import DATA_FILE
from rsgpt4v.training.recipes import RECIPE_FILE, read_recipe

if TYPE_CHECKING:
    from huggingface_hub import HfApi

__all__ = ["MODEL_CARD_TEMPLATE", "UPLOAD_IGNORE", "add_arguments", "model_card", "push_model", "run"]

MODEL_CARD_TEMPLATE = "model_card.md"
UPLOAD_IGNORE = ["checkpoint-*/**", "checkpoint-*", "predictions/**", "runs/**", "training_args.bin", "*.lock"]


def _evaluation_rows(report: dict[str, Any]) -> list[tuple[str, str, str]]:
    rows: list[tuple[str, str, str]] = []
    for config, scores in report.items():
        if not isinstance(scores, dict):
            continue
        for metric, value in scores.items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                rows.append((config, metric, f"{value:.4f}" if isinstance(value, float) else str(value)))
            elif metric == "per_type" and isinstance(value, dict):
                rows += [(config, f"accuracy ({t})", f"{v['accuracy']:.4f}") for t, v in value.items()]
    return rows


def model_card(folder: str | Path, repo_id: str, datasets: list[str] | None = None) -> str:
    """Render the model card (``README.md`` text) of a folder written by ``rsgpt4v train`` or ``rsgpt4v merge``.

    Args:
        folder: the trained folder (adapter or full model, with ``rsgpt4v_recipe.json``).
        repo_id: the Hub repository the card is for (used in the loading snippet).
        datasets: Hub dataset ids the model was trained on (card metadata).

    Raises:
        FileNotFoundError: the folder has no recipe file (it was not written by ``rsgpt4v train``).
    """
    import jinja2

    from rsgpt4v.hub import template_dir
    from rsgpt4v.licences import RSGPT4V_CITATION

    folder = Path(folder)
    merge_record = _read_json(folder / "rsgpt4v_merge.json")
    recipe_folder = folder if (folder / RECIPE_FILE).is_file() else Path(merge_record.get("adapter", folder))
    recipe = read_recipe(recipe_folder)
    adapter_config = _read_json(folder / "adapter_config.json")
    adapter = bool(adapter_config)
    base = adapter_config.get("base_model_name_or_path") or merge_record.get("base_model") or _config_base(folder)
    report = _read_json(folder / "eval_report.json")
    data_configs = _read_json(folder / DATA_FILE).get("configs") or ["instruct"]
    kind = {
        "full": "A LLaVA-1.5 model fully fine-tuned (language model and projector)",
        "lora": "A LoRA adapter for LLaVA-1.5",
        "moe-lora": "A mixture-of-LoRA-experts (MoE-LoRA) adapter for LLaVA-1.5",
    }[recipe.name]
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(template_dir())),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,
    )
    return env.get_template(MODEL_CARD_TEMPLATE).render(
        library_name="peft" if adapter else "transformers",
        base_model=base or "unknown",
        tags=[recipe.name] + (["merged"] if merge_record else []),
        datasets=datasets or [],
        title=repo_id.split("/")[-1],
        kind_sentence=f"{kind}{' (merged into the base weights)' if merge_record else ''}, for remote-sensing images.",
        recipe=recipe,
        data_configs=", ".join(f"`{c}`" for c in data_configs),
        merged=bool(merge_record),
        merged_task=merge_record.get("task"),
        recipe_rows=[(k, v) for k, v in recipe.to_dict().items()],
        evaluation_rows=_evaluation_rows(report),
        adapter=adapter,
        task_routed=recipe.task_routed,
        repo_id=repo_id,
        citation=RSGPT4V_CITATION.strip(),
    )


def _read_json(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise ValueError(f"{path} is not valid JSON: {exc}") from exc
    return data if isinstance(data, dict) else {}


def _config_base(folder: Path) -> str | None:
    return _read_json(folder / "config.json").get("_name_or_path")


def push_model(
    folder: str | Path,
    repo_id: str,
    *,
    token: str | None = None,
    private: bool = False,
    datasets: list[str] | None = None,
    api: HfApi | None = None,
) -> str:
    """Write ``README.md`` (the model card) into ``folder`` and upload the folder as a model repository.

    Args:
        folder: a folder written by ``rsgpt4v train`` (adapter or full model) or ``rsgpt4v merge``.
        repo_id: the model repository, ``owner/name``.
        token: a Hub token; ``None`` uses the logged-in token or ``HF_TOKEN``.
        private: create the repository as private.
        datasets: Hub dataset ids to name in the card.
        api: the ``huggingface_hub.HfApi`` to call; a new one by default.

    Returns:
        The URL of the upload commit.

    Raises:
        FileNotFoundError: the folder holds neither ``adapter_config.json`` nor ``config.json``, or no recipe.
    """
    folder = Path(folder)
    if not (folder / "adapter_config.json").is_file() and not (folder / "config.json").is_file():
        raise FileNotFoundError(
            f"{folder} holds neither adapter_config.json nor config.json; push the folder written by "
            "`rsgpt4v train --out` or `rsgpt4v merge --out`."
        )
    (folder / "README.md").write_text(model_card(folder, repo_id, datasets), encoding="utf-8")
    return upload_folder(
        folder,
        repo_id,
        repo_type="model",
        commit_message="Upload rsgpt4v model",
        token=token,
        private=private,
        api=api,
        ignore_patterns=UPLOAD_IGNORE,
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``rsgpt4v push-model FOLDER REPO`` arguments to ``parser``."""
    parser.add_argument("folder", type=Path, help="folder written by `rsgpt4v train` or `rsgpt4v merge`")
    parser.add_argument("repo_id", help="the Hub model repository, owner/name")
    parser.add_argument("--private", action="store_true", help="create the repository as private")
    parser.add_argument("--dataset", action="append", dest="datasets", help="Hub dataset id trained on (repeatable)")
    parser.add_argument("--token", default=None, help="Hub token (default: the logged-in token or HF_TOKEN)")


def run(args: argparse.Namespace) -> int:
    """Run ``rsgpt4v push-model``; prints the commit URL."""
    print(push_model(args.folder, args.repo_id, token=args.token, private=args.private, datasets=args.datasets))
    return 0
