from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from rsgpt4v.inference import AdapterError, ModelNotFoundError, Predictor, messages, processor_image_kwargs
from rsgpt4v.schema import TASKS

QUESTIONS = [
    "Is there a road?",
    "How many storage tanks are in the image? Answer with a number, please.",
    "Hi",
    "Provide a one-sentence caption for this remote sensing image.",
    "What colour is the roof of the building in the top left?",
]


def _images(n: int) -> list[Image.Image]:
    rng = np.random.default_rng(0)
    return [Image.fromarray(rng.integers(0, 256, (24 + 6 * i, 32, 3), dtype=np.uint8)) for i in range(n)]


def _batch():
    return [(image, messages(q)) for image, q in zip(_images(len(QUESTIONS)), QUESTIONS)]


def test_left_padded_batches_give_the_answers_of_single_items(predictor):
    batched = predictor.generate(_batch())
    predictor.batch_size = 1
    try:
        single = predictor.generate(_batch())
    finally:
        predictor.batch_size = 4
    assert batched == single
    assert len(batched) == len(QUESTIONS) and all(isinstance(t, str) for t in batched)
    assert len(set(batched)) > 1  # different inputs, different outputs: the image and prompt reach the model


def test_model_inputs_are_left_padded(predictor):
    inputs = predictor.model_inputs(_batch())
    mask = inputs["attention_mask"]
    assert (mask[:, -1] == 1).all()  # every prompt ends at the right edge
    assert (mask[:, 0] == 0).any()  # shorter prompts are padded on the left
    pad = predictor.processor.tokenizer.pad_token_id
    assert ((inputs["input_ids"] == pad) == (mask == 0)).all()
    assert predictor.generation_kwargs()["do_sample"] is False


def test_generation_is_deterministic_across_loads(tiny_dir, predictor):
    again = Predictor(tiny_dir, max_new_tokens=6, batch_size=2, device="cpu")
    assert again.generate(_batch()) == predictor.generate(_batch())
    assert predictor.settings["decoding"] == "greedy" and predictor.settings["image_aspect"] == "pad"
    assert predictor.settings["dtype"] == "float32"


def test_image_aspect_changes_the_pixels_the_model_sees(tiny_dir):
    wide = [(Image.fromarray(np.tile(np.arange(64, dtype=np.uint8)[None, :, None] * 4, (16, 1, 3))), messages("Q?"))]
    answers = {
        aspect: Predictor(tiny_dir, max_new_tokens=8, image_aspect=aspect, device="cpu").generate(wide)[0]
        for aspect in ("pad", "resize", "processor")
    }
    assert len(set(answers.values())) == 3, answers


def test_processor_image_kwargs(predictor):
    ip = predictor.processor.image_processor
    assert processor_image_kwargs(ip, "pad") == {"size": {"height": 32, "width": 32}, "do_center_crop": False}
    assert processor_image_kwargs(ip, "resize") == processor_image_kwargs(ip, "pad")
    assert processor_image_kwargs(ip, "processor") == {}
    with pytest.raises(ValueError, match="Unknown image aspect 'crop'"):
        processor_image_kwargs(ip, "crop")


def test_messages_with_history():
    chat = messages("Q3", [("Q1", "A1"), ("Q2", "A2")])
    assert [m["role"] for m in chat] == ["user", "assistant", "user", "assistant", "user"]
    assert chat[0]["content"][0] == {"type": "image"}
    assert all(part["type"] == "text" for m in chat[1:] for part in m["content"])
    with pytest.raises(ValueError, match="earlier turn 0 .* has no answer"):
        messages("Q2", [("Q1", None)])


def test_history_is_in_the_prompt(predictor):
    rendered = predictor._render(messages("Q2", [("Q1", "A1")]))
    assert rendered == "USER: <image>\nQ1 ASSISTANT: A1</s> USER: Q2 ASSISTANT:"


def test_model_and_adapter_errors(tmp_path, tiny_dir):
    with pytest.raises(ModelNotFoundError, match="does not exist"):
        Predictor(tmp_path / "nowhere")
    with pytest.raises(AdapterError, match="full model folder .* --model"):
        Predictor(tiny_dir, adapter=tiny_dir)
    with pytest.raises(AdapterError, match="does not exist"):
        Predictor(tiny_dir, adapter=tmp_path / "no-adapter")
    (tmp_path / "empty").mkdir()
    with pytest.raises(AdapterError, match="no adapter_config.json"):
        Predictor(tiny_dir, adapter=tmp_path / "empty")
    with pytest.raises(ModelNotFoundError, match="no config.json"):
        Predictor(tmp_path / "empty")
    with pytest.raises(ValueError, match="batch_size"):
        Predictor(tiny_dir, batch_size=0)


def _save_adapter(tiny_dir, out, config):
    from peft import get_peft_model
    from transformers import AutoModelForImageTextToText

    import rsgpt4v.moe_lora  # noqa: F401

    base = AutoModelForImageTextToText.from_pretrained(tiny_dir)
    get_peft_model(base, config).save_pretrained(out)
    return out


def test_lora_adapter_loads_and_changes_the_answers(tmp_path, tiny_dir, predictor):
    from peft import LoraConfig

    config = LoraConfig(r=4, lora_alpha=64, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
    adapter = _save_adapter(tiny_dir, tmp_path / "lora", config)
    adapted = Predictor(tiny_dir, adapter, max_new_tokens=6, device="cpu")
    assert adapted.adapter_id == str(adapter) and not adapted.task_routed
    assert adapted.generate(_batch()) != predictor.generate(_batch())
    # the adapter folder is refused as a model, with the fix in the message
    with pytest.raises(ModelNotFoundError, match="PEFT adapter .* --adapter"):
        Predictor(adapter)


def test_task_routed_moe_lora_needs_and_uses_the_task(tmp_path, tiny_dir):
    from rsgpt4v.moe_lora import MoELoraConfig

    config = MoELoraConfig(r=4, lora_alpha=64, num_experts=3, top_k=1, routing="task", init_lora_weights=False)
    adapter = _save_adapter(tiny_dir, tmp_path / "moe", config)
    adapted = Predictor(tiny_dir, adapter, max_new_tokens=4, device="cpu")
    assert adapted.task_routed
    batch = _batch()[:2]
    with pytest.raises(AdapterError, match="routes its experts by task"):
        adapted.generate(batch)
    by_name = {task: adapted.generate(batch, tasks=[task, task]) for task in ("caption", "vqa", "grounding")}
    assert adapted.generate(batch, tasks=[TASKS.index("vqa")] * 2) == by_name["vqa"]
    assert len({tuple(v) for v in by_name.values()}) > 1
    mixed = adapted.generate(batch, tasks=["caption", "vqa"])
    assert mixed == [by_name["caption"][0], by_name["vqa"][1]]
    with pytest.raises(ValueError, match="unknown task 'map'"):
        adapted.generate(batch, tasks=["map", "vqa"])
    # a loaded PEFT model (e.g. the model being trained) is recognised as task-routed too
    wrapped = Predictor(adapted.model, processor=adapted.processor, max_new_tokens=4)
    assert wrapped.task_routed and wrapped.generate(batch, tasks=["vqa", "vqa"]) == by_name["vqa"]


def test_dtype_and_loaded_model(tiny_dir, predictor):
    import torch

    half = Predictor(tiny_dir, dtype="bfloat16", max_new_tokens=3, device="cpu")
    assert half.dtype == torch.bfloat16 and half.settings["dtype"] == "bfloat16"
    assert len(half.generate(_batch()[:2])) == 2
    # a loaded model with its processor gives what the folder gives
    same = Predictor(predictor.model, processor=predictor.processor, max_new_tokens=6)
    assert same.generate(_batch()[:2]) == predictor.generate(_batch()[:2])
