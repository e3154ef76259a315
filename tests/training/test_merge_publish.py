"""`rsgpt4v merge` (LoRA, task-routed MoE-LoRA per task, token-routed refused) and `rsgpt4v push-model`."""

from __future__ import annotations

import json

import pytest
import torch

from rsgpt4v.training.command import train
from rsgpt4v.training.merging import merge
from rsgpt4v.training.publish import model_card, push_model
from rsgpt4v.training.recipes import recipe

CPU = dict(use_cpu=True, dataloader_num_workers=0, disable_tqdm=True)


def _train(model_dir, data, out, name, **overrides):
    settings = dict(
        lora_r=4,
        lora_alpha=8,
        per_device_train_batch_size=2,
        max_steps=2,
        save_steps=0,
        learning_rate=5e-2,
        dataloader_num_workers=0,
        gradient_checkpointing=False,
    )
    settings.update(overrides)
    return train(model_dir, data, out, recipe(name, **settings), config="instruct", **CPU)


def _batch(processor):
    from PIL import Image

    from rsgpt4v.training.collator import LlavaCollator

    row = {
        "id": "x",
        "image": Image.new("RGB", (32, 24), (10, 200, 40)),
        "task": 1,
        "conversations": [{"from": "human", "value": "<image>\nIs there a road?"}, {"from": "gpt", "value": "no"}],
    }
    batch = LlavaCollator(processor)([row])
    batch.pop("labels")
    return batch


def _logits(model, batch, task_ids=None):
    with torch.no_grad():
        if task_ids is None:
            return model(**batch).logits
        with model.route_tasks(torch.tensor(task_ids)):
            return model(**batch).logits


def _unmerged(model_dir, adapter):
    from peft import PeftModel
    from transformers import AutoModelForImageTextToText

    import rsgpt4v.moe_lora  # noqa: F401

    return PeftModel.from_pretrained(AutoModelForImageTextToText.from_pretrained(model_dir), str(adapter)).eval()


def test_lora_merge_loads_as_plain_llava_and_matches_the_adapter(tiny_model_dir, tiny_build, tmp_path):
    from transformers import AutoModelForImageTextToText, AutoProcessor

    adapter = tmp_path / "lora"
    _train(tiny_model_dir, tiny_build, adapter, "lora")
    out = merge(tiny_model_dir, adapter, tmp_path / "merged")
    assert (out / "config.json").is_file() and not (out / "adapter_config.json").exists()
    merged = AutoModelForImageTextToText.from_pretrained(out).eval()
    assert type(merged).__name__ == "LlavaForConditionalGeneration"
    batch = _batch(AutoProcessor.from_pretrained(out))
    expected = _logits(_unmerged(tiny_model_dir, adapter), batch)
    torch.testing.assert_close(_logits(merged, batch), expected, rtol=1e-4, atol=1e-5)
    base = AutoModelForImageTextToText.from_pretrained(tiny_model_dir).eval()
    assert not torch.allclose(_logits(base, batch), expected, atol=1e-4)  # the adapter did change the model
    assert json.loads((out / "rsgpt4v_merge.json").read_text())["peft_type"] == "LORA"


def test_task_routed_moe_lora_merges_per_task(tiny_model_dir, tiny_build, tmp_path):
    from transformers import AutoModelForImageTextToText, AutoProcessor

    adapter = tmp_path / "moe"
    _train(tiny_model_dir, tiny_build, adapter, "moe-lora", routing="task")
    batch = _batch(AutoProcessor.from_pretrained(tiny_model_dir))
    unmerged = _unmerged(tiny_model_dir, adapter)
    for task in ("vqa", 0):
        out = merge(tiny_model_dir, adapter, tmp_path / f"merged-{task}", task_id=str(task))
        merged = AutoModelForImageTextToText.from_pretrained(out).eval()
        index = 1 if task == "vqa" else 0
        torch.testing.assert_close(_logits(merged, batch), _logits(unmerged, batch, [index]), rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match="task-routed MoE-LoRA adapter: give the task"):
        merge(tiny_model_dir, adapter, tmp_path / "no-task")
    with pytest.raises(ValueError, match="neither a task index nor a task name"):
        merge(tiny_model_dir, adapter, tmp_path / "bad-task", task_id="segmentation")


def test_token_routed_moe_lora_cannot_be_merged(tiny_model_dir, tiny_build, tmp_path):
    adapter = tmp_path / "moe-token"
    _train(tiny_model_dir, tiny_build, adapter, "moe-lora", max_steps=1)
    with pytest.raises(ValueError, match="token-routed MoE-LoRA adapter.*cannot be merged"):
        merge(tiny_model_dir, adapter, tmp_path / "x")
    assert not (tmp_path / "x").exists()


class FakeApi:
    """Records the Hub calls instead of making them."""

    def __init__(self):
        self.calls = []

    def create_repo(self, repo_id, **kwargs):
        self.calls.append(("create_repo", repo_id, kwargs))

    def upload_folder(self, **kwargs):
        self.calls.append(("upload_folder", kwargs["repo_id"], kwargs))
        return type("Commit", (), {"commit_url": f"https://huggingface.co/{kwargs['repo_id']}/commit/abc"})()


def test_push_model_writes_the_card_and_uploads_the_folder(tiny_model_dir, tiny_build, tmp_path):
    adapter = tmp_path / "lora"
    _train(tiny_model_dir, tiny_build, adapter, "lora", max_steps=1)
    (adapter / "eval_report.json").write_text(
        json.dumps({"vqa": {"overall": 0.75, "per_type": {"presence": {"correct": 3, "total": 4, "accuracy": 0.75}}}})
    )
    api = FakeApi()
    url = push_model(adapter, "me/rs-lora", private=True, datasets=["me/rsgpt4v"], api=api)
    assert url == "https://huggingface.co/me/rs-lora/commit/abc"
    (create, repo, create_kwargs), (upload, repo2, upload_kwargs) = api.calls
    assert (create, repo, create_kwargs["repo_type"], create_kwargs["private"]) == (
        "create_repo",
        "me/rs-lora",
        "model",
        True,
    )
    assert upload_kwargs["folder_path"] == adapter and "checkpoint-*" in upload_kwargs["ignore_patterns"]
    card = (adapter / "README.md").read_text()
    assert f"base_model: {tiny_model_dir}" in card and "library_name: peft" in card and "- me/rsgpt4v" in card
    assert "| `lora_r` | 4 |" in card and "| vqa | accuracy (presence) | 0.7500 |" in card
    assert 'PeftModel.from_pretrained(base, "me/rs-lora")' in card and "`instruct`" in card


def test_model_card_of_a_full_model_and_missing_folders(tiny_model_dir, tmp_path):
    from rsgpt4v.training.recipes import recipe as make

    folder = tmp_path / "full"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"_name_or_path": "llava-hf/llava-1.5-7b-hf"}))
    make("full").save(folder)
    card = model_card(folder, "me/full")
    assert "library_name: transformers" in card and "fully fine-tuned" in card
    assert 'AutoModelForImageTextToText.from_pretrained("me/full"' in card and "No evaluation was recorded" in card
    with pytest.raises(FileNotFoundError, match="neither adapter_config.json nor config.json"):
        push_model(tmp_path, "me/x", api=FakeApi())
