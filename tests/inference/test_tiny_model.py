from __future__ import annotations

import argparse

import pytest
import torch

from rsgpt4v.tiny_model import IMAGE_TOKEN, tiny_llava, tiny_processor, tiny_tokenizer
from rsgpt4v.tiny_model_command import add_arguments, run


def test_tokenizer_encodes_any_text_and_keeps_special_tokens():
    tok = tiny_tokenizer()
    assert [tok.unk_token_id, tok.bos_token_id, tok.eos_token_id, tok.pad_token_id] == [0, 1, 2, 3]
    image_id = tok.convert_tokens_to_ids(IMAGE_TOKEN)
    assert image_id == len(tok) - 1
    for text in ["There are two storage tanks.", "Ünïcödé 中文 🛰️ \t tabs\nnew lines", "x1=0.12, [3, 4]"]:
        ids = tok(text).input_ids
        assert ids[0] == tok.bos_token_id and tok.unk_token_id not in ids
        assert tok.decode(ids, skip_special_tokens=True) == text
    ids = tok(f"USER: {IMAGE_TOKEN}\nIs there a road?").input_ids
    assert ids.count(image_id) == 1
    # common remote-sensing words are single tokens thanks to the trained merges
    for word in (" building", " storage", " vehicles", " image"):
        assert len(tok(word, add_special_tokens=False).input_ids) == 1, word


def test_tokenizer_and_weights_are_deterministic():
    assert tiny_tokenizer().get_vocab() == tiny_tokenizer().get_vocab()
    (a, _), (b, _), (c, _) = tiny_llava(seed=0), tiny_llava(seed=0), tiny_llava(seed=1)
    for (name, pa), pb in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.equal(pa, pb), name
    assert any(not torch.equal(pa, pc) for pa, pc in zip(a.state_dict().values(), c.state_dict().values()))


def test_processor_expands_the_image_token_and_uses_the_llava_template():
    from PIL import Image

    processor = tiny_processor(image_size=64)  # patch 16: 16 image tokens
    chat = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "Q?"}]}]
    prompt = processor.apply_chat_template(chat, add_generation_prompt=True, tokenize=False)
    assert prompt == "USER: <image>\nQ? ASSISTANT:"
    batch = processor(images=[Image.new("RGB", (50, 70))], text=[prompt], return_tensors="pt")
    image_id = processor.tokenizer.convert_tokens_to_ids(IMAGE_TOKEN)
    assert int((batch["input_ids"] == image_id).sum()) == 16
    assert tuple(batch["pixel_values"].shape) == (1, 3, 64, 64)
    assert type(processor.image_processor).__name__ == "CLIPImageProcessorPil"


def test_bad_sizes_are_refused():
    with pytest.raises(ValueError, match="multiple of `patch_size`"):
        tiny_llava(image_size=32, patch_size=5)
    with pytest.raises(ValueError, match="hidden_size"):
        tiny_llava(hidden_size=30)
    with pytest.raises(ValueError, match="initializer_range"):
        tiny_llava(initializer_range=0)


def test_initializer_range_scales_the_language_side_only():
    (default, _), (wide, _) = tiny_llava(), tiny_llava(initializer_range=0.4)
    language = ("model.language_model.layers.0.self_attn.q_proj.weight", "lm_head.weight")
    for name in (*language, "model.multi_modal_projector.linear_1.weight"):
        assert default.get_parameter(name).std().item() == pytest.approx(0.02, rel=0.15), name
        assert wide.get_parameter(name).std().item() == pytest.approx(0.4, rel=0.15), name
    vision = "model.vision_tower.encoder.layers.0.self_attn.q_proj.weight"
    assert torch.equal(default.get_parameter(vision), wide.get_parameter(vision))  # CLIP's own initialisation


def test_tiny_model_command_writes_a_loadable_folder(tmp_path, capsys):
    from transformers import AutoModelForImageTextToText, AutoProcessor

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    argv = ["--out", str(tmp_path / "m"), "--image-size", "64", "--seed", "3", "--initializer-range", "0.1"]
    assert run(parser.parse_args(argv)) == 0
    assert "tiny random LLaVA" in capsys.readouterr().out
    model = AutoModelForImageTextToText.from_pretrained(tmp_path / "m")
    processor = AutoProcessor.from_pretrained(tmp_path / "m")
    assert type(model).__name__ == "LlavaForConditionalGeneration"
    assert model.config.vision_config.image_size == 64 and model.config.image_seq_length == 16
    assert processor.chat_template is not None and processor.tokenizer.pad_token == "<pad>"
    assert model.config.text_config.initializer_range == 0.1
    expected, _ = tiny_llava(image_size=64, seed=3, initializer_range=0.1)
    for name, value in expected.state_dict().items():
        assert torch.equal(value, model.state_dict()[name]), name
