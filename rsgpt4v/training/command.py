r"""``rsgpt4v train``: fine-tune a LLaVA checkpoint on a built config with a recipe, and optionally evaluate it.

    rsgpt4v train --recipe moe-lora --model llava-hf/llava-1.5-7b-hf --data ./rsgpt4v-data --config instruct \\
        --out runs/moe-lora [--max-steps N] [--learning-rate 1e-4 ...] [--evaluate vqa]
    rsgpt4v train --config-file run.yaml [--max-steps 10]

Every :class:`~rsgpt4v.training.recipes.Recipe` field is an option (``--lora-r``, ``--projector-lr``, ...); a YAML
file given with ``--config-file`` holds the same names as keys (``recipe: lora``, ``learning_rate: 1e-4``,
``out: runs/x``); options on the command line win over the file. The result loads with ``rsgpt4v predict --model
<base> --adapter OUT`` (adapter recipes) or ``--model OUT`` (``full``). Under ``accelerate launch`` or ``torchrun``
every process trains its share; a ``--streaming`` dataset is split over the processes with
``datasets.distributed.split_dataset_by_node``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from rsgpt4v.data import DEFAULT_PATH
from rsgpt4v.schema import CONFIGS, TASKS
from rsgpt4v.training.recipes import RECIPES, Recipe, recipe

__all__ = ["DATA_FILE", "TrainResult", "add_arguments", "evaluate_saved", "run", "train"]

DATA_FILE = "rsgpt4v_data.json"
"""Written next to the trained adapter or model: the data it was trained on (read by the model card)."""
_BOOL = {"true": True, "false": False, "yes": True, "no": False, "1": True, "0": False}


@dataclass(frozen=True)
class TrainResult:
    """What :func:`train` did.

    Attributes:
        out: the folder with the adapter (or full model), processor and recipe.
        recipe: the recipe used.
        global_step: optimizer steps done.
        train_loss: mean training loss reported by the Trainer.
        log_history: the Trainer's log history.
        collator_stats: rows, samples, split rows, truncated answers, skipped samples.
    """

    out: Path
    recipe: Recipe
    global_step: int
    train_loss: float
    log_history: list[dict[str, Any]]
    collator_stats: dict[str, int]


def _load_model(model: str, recipe_: Recipe, use_cpu: bool) -> tuple[Any, Any]:
    import torch
    from transformers import AutoModelForImageTextToText, AutoProcessor

    from rsgpt4v.inference import check_model_folder

    source = check_model_folder(model)
    cuda = torch.cuda.is_available() and not use_cpu
    dtype = torch.bfloat16 if recipe_.bf16 and cuda and torch.cuda.get_device_capability()[0] >= 8 else torch.float32
    processor = AutoProcessor.from_pretrained(source)
    loaded = AutoModelForImageTextToText.from_pretrained(source, dtype=dtype)
    return loaded, processor


def _dataset(data: str | Path, config: str, split: str, streaming: bool, limit: int | None, sources: Any) -> Any:
    from accelerate import PartialState

    from rsgpt4v.data import load

    ds = load(config, split, path=data, sources=sources, streaming=streaming)
    if streaming:
        state = PartialState()
        if state.num_processes > 1:
            from datasets.distributed import split_dataset_by_node

            ds = split_dataset_by_node(ds, rank=state.process_index, world_size=state.num_processes)
        return ds.take(limit) if limit is not None else ds
    return ds.select(range(min(limit, len(ds)))) if limit is not None else ds


def train(
    model: str | Path,
    data: str | Path,
    out: str | Path,
    recipe_: Recipe,
    *,
    config: str = "instruct",
    split: str = "train",
    sources: list[str] | None = None,
    streaming: bool = False,
    limit: int | None = None,
    resume: str | bool | None = None,
    use_cpu: bool = False,
    callbacks: list[Any] | None = None,
    **training_overrides: Any,
) -> TrainResult:
    """Train ``model`` on ``config``/``split`` of a build with ``recipe_``; save adapter/model, processor, recipe.

    Args:
        model: a LLaVA model folder (llava-hf layout) or Hub id.
        data: a built folder or Hub dataset id.
        out: output folder (checkpoints go in ``out/checkpoint-*``; the final save in ``out``).
        recipe_: the recipe (see :func:`rsgpt4v.training.recipes.recipe`).
        config: the config to train on (``instruct``: every task).
        split: the split to train on.
        sources: keep only rows of these sources.
        streaming: read the parquet files lazily (needs ``recipe_.max_steps``); split over processes by node.
        limit: use only the first ``limit`` rows.
        resume: a checkpoint folder, or `True` for the last checkpoint in ``out``.
        use_cpu: train on CPU even when a GPU is present.
        callbacks: extra ``TrainerCallback``s (e.g. :class:`~rsgpt4v.training.trainer.GenerationEvalCallback`).
        **training_overrides: ``TrainingArguments`` fields that win over the recipe's.

    Raises:
        ValueError: unknown config, ``streaming`` without ``max_steps``, a model that is not LLaVA.
    """
    from transformers import set_seed

    from rsgpt4v.training.collator import LlavaCollator
    from rsgpt4v.training.recipes import prepare_model
    from rsgpt4v.training.trainer import RSTrainer

    if config not in CONFIGS:
        raise ValueError(f"Unknown config {config!r}; expected one of {', '.join(CONFIGS)}.")
    if streaming and recipe_.max_steps < 1:
        raise ValueError("a streaming dataset has no length: give --max-steps (the number of optimizer steps).")
    out = Path(out)
    loaded, processor = _load_model(str(model), recipe_, use_cpu)
    dataset = _dataset(data, config, split, streaming, limit, sources)
    set_seed(recipe_.seed)  # the adapters' initialisation: reproducible, and the same on every process (FSDP)
    trainable = prepare_model(loaded, recipe_)
    collator = LlavaCollator(
        processor,
        max_length=recipe_.max_length,
        image_aspect=recipe_.image_aspect,  # type: ignore[arg-type]
        task_ids=recipe_.task_routed,
        skip_masked=recipe_.skip_masked,
    )
    overrides: dict[str, Any] = {"use_cpu": use_cpu, **training_overrides}
    if streaming:
        overrides.setdefault("accelerator_config", {"dispatch_batches": False, "split_batches": False})
    args = recipe_.training_arguments(out, **overrides)
    trainer = RSTrainer(
        model=trainable,
        args=args,
        train_dataset=dataset,
        data_collator=collator,
        processing_class=processor,
        recipe=recipe_,
        callbacks=callbacks,
    )
    result = trainer.train(resume_from_checkpoint=resume)
    if trainer.is_fsdp_enabled:  # with SHARDED_STATE_DICT the Trainer saves no weights: gather them on rank 0
        trainer.accelerator.state.fsdp_plugin.set_state_dict_type("FULL_STATE_DICT")
    trainer.save_model(str(out))
    if trainer.args.should_save:
        record = {"data": str(data), "configs": [config], "split": split, "sources": sources, "rows": limit}
        (out / DATA_FILE).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    return TrainResult(
        out=out,
        recipe=recipe_,
        global_step=result.global_step,
        train_loss=float(result.training_loss),
        log_history=list(trainer.state.log_history),
        collator_stats=dict(collator.stats),
    )


def evaluate_saved(
    model: str | Path,
    adapter: str | Path | None,
    data: str | Path,
    configs: list[str],
    out: str | Path,
    *,
    split: str = "test",
    limit: int | None = None,
    batch_size: int = 8,
    max_new_tokens: int = 64,
) -> dict[str, Any]:
    """Predict the ``split`` of each task config with a trained model and score it; writes ``eval_report.json``.

    Predictions go to ``out/predictions/<config>-<split>.jsonl`` (see ``rsgpt4v predict``). Scores: VQA accuracy
    per question type (``vqa``), Acc@IoU and mean IoU (``grounding``), BLEU/ROUGE-L/CIDEr-D without METEOR
    (``caption``); other configs get their predictions written and no score.
    """
    from rsgpt4v.inference import Predictor
    from rsgpt4v.predict import predict

    predictor = Predictor(model, adapter, batch_size=batch_size, max_new_tokens=max_new_tokens)
    folder = Path(out) / "predictions"
    folder.mkdir(parents=True, exist_ok=True)
    report: dict[str, Any] = {"model": str(model), "adapter": str(adapter) if adapter else None, "split": split}
    for config in configs:
        path = folder / f"{config}-{split}.jsonl"
        predict(predictor, data, config, split, path, limit=limit, progress=False)
        report[config] = _score(config, path, data, split, limit)
    (Path(out) / "eval_report.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return report


def _score(config: str, path: Path, data: str | Path, split: str, limit: int | None) -> dict[str, Any] | None:
    from itertools import islice

    from rsgpt4v.data import items, load
    from rsgpt4v.predictions import read_predictions

    predictions = {qid: p.text for qid, p in read_predictions(path).items()}
    chosen = list(islice(items(load(config, split, path=data)), limit))
    chosen = [i for i in chosen if i["question_id"] in predictions or i["answer"] is None]
    if config == "vqa":
        from rsgpt4v.evaluation.vqa import vqa_scores

        vqa = vqa_scores(predictions, chosen)
        return {"overall": vqa.overall, "average": vqa.average, "per_type": vqa.per_type, "scored": vqa.scored}
    if config == "grounding":
        from rsgpt4v.evaluation.grounding import grounding_scores

        return grounding_scores(predictions, chosen).summary()
    if config == "caption":
        from rsgpt4v.evaluation.caption import caption_report

        refs = {i["question_id"]: i["references"] for i in chosen}
        return dataclasses.asdict(caption_report(predictions, refs, meteor=False))
    return None


# -- command line ------------------------------------------------------------------------------------------------
def _recipe_option(name: str) -> str:
    return "--" + name.replace("_", "-")


def _boolean(value: str) -> bool:
    if value.lower() not in _BOOL:
        raise argparse.ArgumentTypeError(f"expected true or false, got {value!r}")
    return _BOOL[value.lower()]


def _typed(field_type: Any) -> Any:
    text = str(field_type)
    if "bool" in text:
        return _boolean
    if "int" in text and "None" in text:
        return lambda v: None if v.lower() == "none" else int(v)
    if "float" in text and "None" in text:
        return lambda v: None if v.lower() == "none" else float(v)
    if "int" in text:
        return int
    if "float" in text:
        return float
    return str


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``rsgpt4v train`` options (run, data, and one option per recipe field) to ``parser``."""
    parser.add_argument("--config-file", type=Path, help="YAML file of options (keys: option names with _)")
    parser.add_argument("--recipe", choices=RECIPES, help="training recipe (default: moe-lora)")
    parser.add_argument("--model", help="LLaVA model folder (llava-hf layout) or Hub id")
    parser.add_argument("--data", help=f"built folder or Hub dataset id (default: ./{DEFAULT_PATH})")
    parser.add_argument("--config", choices=CONFIGS, help="config to train on (default: instruct)")
    parser.add_argument("--split", help="split to train on (default: train)")
    parser.add_argument("--out", "--output-dir", dest="out", help="output folder")
    parser.add_argument("--sources", nargs="+", help="train only on rows of these sources")
    parser.add_argument("--limit", type=int, help="use only the first N rows")
    parser.add_argument("--streaming", action="store_true", default=None, help="stream the data (needs --max-steps)")
    parser.add_argument("--resume", nargs="?", const="last", help="resume from a checkpoint folder (or the last)")
    parser.add_argument("--cpu", action="store_true", default=None, help="train on CPU even if a GPU is present")
    parser.add_argument(
        "--evaluate", nargs="*", choices=TASKS, help="after training, predict and score these configs' test split"
    )
    parser.add_argument("--eval-limit", type=int, help="evaluate only the first N items of each config")
    group = parser.add_argument_group("recipe settings (default: the recipe's)")
    for f in fields(Recipe):
        if f.name == "name":
            continue
        nargs = "+" if "list" in str(f.type) else None
        group.add_argument(
            _recipe_option(f.name), dest=f.name, type=_typed(f.type), nargs=nargs, help=f.metadata["help"]
        )


def _options(args: argparse.Namespace) -> dict[str, Any]:
    """Command-line values over the YAML file's (``None`` on the command line means: not given)."""
    given = {k: v for k, v in vars(args).items() if v is not None}
    if args.config_file is None:
        return given
    import yaml

    path = Path(args.config_file)
    try:
        loaded = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ValueError(f"cannot read config file {path}: {exc}") from exc
    if not isinstance(loaded, dict):
        raise ValueError(f"{path}: expected a mapping of option names to values, got {type(loaded).__name__}.")
    known = {a for a in vars(args) if a not in ("func", "command", "progress", "no_progress", "config_file")}
    loaded = {k.replace("-", "_"): v for k, v in loaded.items()}
    if "output_dir" in loaded:
        loaded["out"] = loaded.pop("output_dir")
    unknown = sorted(set(loaded) - known)
    if unknown:
        raise ValueError(f"{path}: unknown option(s) {', '.join(unknown)}; valid: {', '.join(sorted(known))}.")
    return {**loaded, **given}


def run(args: argparse.Namespace) -> int:
    """Run ``rsgpt4v train`` from parsed arguments; prints the result and (with ``--evaluate``) the scores."""
    options = _options(args)
    for required in ("model", "out"):
        if not options.get(required):
            raise ValueError(f"--{required} is required (on the command line or in --config-file).")
    recipe_fields = {f.name for f in fields(Recipe)} - {"name"}
    chosen = recipe(options.get("recipe", "moe-lora"), **{k: v for k, v in options.items() if k in recipe_fields})
    resume = options.get("resume")
    result = train(
        options["model"],
        options.get("data", DEFAULT_PATH),
        options["out"],
        chosen,
        config=options.get("config", "instruct"),
        split=options.get("split", "train"),
        sources=options.get("sources"),
        streaming=bool(options.get("streaming")),
        limit=options.get("limit"),
        resume=True if resume == "last" else resume,
        use_cpu=bool(options.get("cpu")),
    )
    print(
        json.dumps(
            {
                "out": str(result.out),
                "recipe": chosen.name,
                "steps": result.global_step,
                "train_loss": round(result.train_loss, 6),
                "samples": result.collator_stats,
            }
        )
    )
    configs = options.get("evaluate")
    if configs:
        adapter = result.out if chosen.adapter else None
        model = options["model"] if chosen.adapter else result.out
        report = evaluate_saved(
            model, adapter, options.get("data", DEFAULT_PATH), configs, result.out, limit=options.get("eval_limit")
        )
        print(json.dumps(report, indent=2))
    return 0
