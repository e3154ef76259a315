"""``rsgpt4v merge``: fold a trained adapter into its base model and write a plain ``llava-hf`` folder.

    rsgpt4v merge --model llava-hf/llava-1.5-7b-hf --adapter runs/lora --out merged/
    rsgpt4v merge --model llava-hf/llava-1.5-7b-hf --adapter runs/moe-task --task-id vqa --out merged-vqa/

The output has ``config.json``, ``model.safetensors`` and the processor files, loads with
``AutoModelForImageTextToText.from_pretrained`` and ``rsgpt4v predict --model``, and gives the outputs of the
unmerged model (for a task-routed MoE-LoRA adapter: of the model routed to that task). A LoRA adapter merges as is;
a task-routed MoE-LoRA adapter merges one task's expert mixture (``--task-id``, a task name or index); a
token-routed MoE-LoRA adapter cannot be merged (its mixture changes with every token): that is an error.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from rsgpt4v.schema import TASKS

__all__ = ["MERGE_FILE", "add_arguments", "merge", "run"]

MERGE_FILE = "rsgpt4v_merge.json"
"""Written into the merged folder: base model, adapter and task merged."""


def _task_index(task_id: str | int | None) -> int | None:
    if task_id is None or isinstance(task_id, int):
        return task_id
    if task_id.isdigit():
        return int(task_id)
    if task_id not in TASKS:
        raise ValueError(f"--task-id {task_id!r} is neither a task index nor a task name ({', '.join(TASKS)}).")
    return TASKS.index(task_id)


def _check_adapter(adapter: Path, task_id: int | None) -> dict[str, Any]:
    config_path = adapter / "adapter_config.json"
    if not config_path.is_file():
        raise FileNotFoundError(f"{config_path} does not exist; --adapter takes a folder written by `rsgpt4v train`.")
    config = json.loads(config_path.read_text(encoding="utf-8"))
    peft_type = config.get("peft_type")
    if peft_type == "MOELORA":
        if config.get("routing") == "token":
            raise ValueError(
                f"{adapter} is a token-routed MoE-LoRA adapter: its expert mixture depends on each token, so no "
                "single weight update reproduces it and it cannot be merged. Serve it unmerged (`rsgpt4v predict "
                "--adapter`), or train with `--routing task` and merge one task with --task-id."
            )
        if task_id is None:
            raise ValueError(
                f"{adapter} is a task-routed MoE-LoRA adapter: give the task to merge with --task-id "
                f"(a name from {', '.join(TASKS)} or its index)."
            )
    elif peft_type == "LORA":
        if task_id is not None:
            raise ValueError(f"{adapter} is a LoRA adapter; --task-id only applies to task-routed MoE-LoRA adapters.")
    else:
        raise ValueError(f"{adapter}: cannot merge a {peft_type!r} adapter; rsgpt4v merges LORA and MOELORA adapters.")
    return config


def merge(model: str | Path, adapter: str | Path, out: str | Path, task_id: str | int | None = None) -> Path:
    """Merge ``adapter`` into ``model`` and save the result with the processor to ``out``.

    Args:
        model: the base model folder or Hub id the adapter was trained on.
        adapter: the adapter folder (``rsgpt4v train`` output of the ``lora`` or ``moe-lora`` recipe).
        out: the folder to write.
        task_id: for a task-routed MoE-LoRA adapter, the task (index or name) whose mixture is merged.

    Returns:
        The output folder.

    Raises:
        ValueError: a token-routed MoE-LoRA adapter, a task-routed one without ``task_id``, ``task_id`` with a
            LoRA adapter, or an unknown adapter type.
        FileNotFoundError: ``adapter`` has no ``adapter_config.json``.
    """
    from peft import PeftModel
    from transformers import AutoModelForImageTextToText, AutoProcessor

    import rsgpt4v.moe_lora  # noqa: F401  (registers MOELORA)
    from rsgpt4v.inference import check_model_folder

    adapter = Path(adapter)
    index = _task_index(task_id)
    config = _check_adapter(adapter, index)
    source = check_model_folder(model)
    base = AutoModelForImageTextToText.from_pretrained(source, dtype="auto")
    peft_model = PeftModel.from_pretrained(base, str(adapter))
    merged = (
        peft_model.merge_and_unload(task_id=index)
        if config["peft_type"] == "MOELORA"
        else (peft_model.merge_and_unload())
    )
    processor_source = str(adapter) if (adapter / "processor_config.json").is_file() else source
    processor = AutoProcessor.from_pretrained(processor_source)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    merged.save_pretrained(out)
    processor.save_pretrained(out)
    record = {"base_model": str(model), "adapter": str(adapter), "peft_type": config["peft_type"], "task_id": index}
    if index is not None:
        record["task"] = TASKS[index] if 0 <= index < len(TASKS) else None
    (out / MERGE_FILE).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    return out


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``rsgpt4v merge`` options to ``parser``."""
    parser.add_argument("--model", required=True, help="base model folder or Hub id the adapter was trained on")
    parser.add_argument("--adapter", required=True, type=Path, help="adapter folder written by `rsgpt4v train`")
    parser.add_argument("--out", "--output-dir", dest="out", required=True, type=Path, help="folder to write")
    parser.add_argument(
        "--task-id", help=f"task-routed MoE-LoRA: the task to merge (index or name: {', '.join(TASKS)})"
    )


def run(args: argparse.Namespace) -> int:
    """Run ``rsgpt4v merge``; prints the output folder."""
    print(merge(args.model, args.adapter, args.out, args.task_id))
    return 0
