"""The collator: per-turn token-level labels, splitting of long conversations, masked and too-long samples."""

from __future__ import annotations

import pytest
from PIL import Image

from rsgpt4v.training.collator import (
    IGNORE_INDEX,
    ConversationError,
    FullyMaskedError,
    LlavaCollator,
    SampleTooLongError,
)

# The chat template of the llava-hf/llava-1.5-*-hf checkpoints' processors: no EOS after answers, a space after
# every text, generation markers around assistant text.
LLAVA_HF_TEMPLATE = (
    "{% for message in messages %}{% if message['role'] != 'system' %}{{ message['role'].upper() + ': '}}{% endif %}"
    "{% for content in message['content'] | selectattr('type', 'equalto', 'image') %}{{ '<image>\n' }}{% endfor %}"
    "{% if message['role'] != 'assistant' %}{% for content in message['content'] | selectattr('type', 'equalto', "
    "'text') %}{{ content['text'] + ' '}}{% endfor %}{% else %}{% for content in message['content'] | "
    "selectattr('type', 'equalto', 'text') %}{% generation %}{{ content['text'] + ' '}}{% endgeneration %}"
    "{% endfor %}{% endif %}{% endfor %}{% if add_generation_prompt %}{{ 'ASSISTANT:' }}{% endif %}"
)
IMAGE_TOKENS = 16  # tiny model at 32 px, patch 8


def _row(turns, row_id="r/1", task=1, size=(40, 30)):
    conversations = []
    for k, (question, answer) in enumerate(turns):
        conversations.append({"from": "human", "value": ("<image>\n" if k == 0 else "") + question})
        if answer is not None:
            conversations.append({"from": "gpt", "value": answer})
    return {"id": row_id, "image": Image.new("RGB", size, (200, 30, 30)), "task": task, "conversations": conversations}


def _learned(tokenizer, batch, i=0):
    ids, labels = batch["input_ids"][i].tolist(), batch["labels"][i].tolist()
    return [t for t, label in zip(ids, labels) if label != IGNORE_INDEX]


def _learned_spans(labels):
    spans, start = [], None
    for i, label in enumerate([*labels, IGNORE_INDEX]):
        if label != IGNORE_INDEX and start is None:
            start = i
        elif label == IGNORE_INDEX and start is not None:
            spans.append((start, i))
            start = None
    return spans


def test_single_turn_learns_exactly_the_answer_and_eos(tiny):
    _, processor = tiny
    tok = processor.tokenizer
    batch = LlavaCollator(processor)([_row([("Is there a road?", "yes")])])
    ids = batch["input_ids"][0].tolist()
    assert tok.decode(_learned(tok, batch)) == " yes</s>"
    assert _learned(tok, batch) == tok(" yes", add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
    assert ids.count(processor.image_token_id) == IMAGE_TOKENS
    assert all(
        label == IGNORE_INDEX for t, label in zip(ids, batch["labels"][0].tolist()) if t == processor.image_token_id
    )
    assert batch["pixel_values"].shape == (1, 3, 32, 32)
    assert batch["attention_mask"].tolist() == [[1] * len(ids)]
    assert "task_ids" not in batch


def test_prompt_tokens_equal_the_predictors_prompt(tiny):
    """The context before an answer is tokenised as the Predictor tokenises the prompt at inference."""
    from rsgpt4v.images import prepare_image

    _, processor = tiny
    row = _row([("How many cars are there?", "3")])
    batch = LlavaCollator(processor)([row])
    prompt = processor.apply_chat_template(
        [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "How many cars are there?"}]}],
        add_generation_prompt=True,
        tokenize=False,
    )
    image = prepare_image(row["image"], "pad", processor.image_processor.image_mean)
    expected = processor(text=prompt, images=image)["input_ids"][0]
    assert batch["input_ids"][0].tolist()[: len(expected)] == list(expected)
    assert batch["labels"][0].tolist()[len(expected)] != IGNORE_INDEX


def test_multi_turn_learns_each_answer_once(tiny):
    _, processor = tiny
    tok = processor.tokenizer
    turns = [("Is there a road?", "yes"), ("How many ponds?", "2"), ("Describe it.", "A dense residential area.")]
    batch = LlavaCollator(processor)([_row(turns)])
    labels = batch["labels"][0].tolist()
    spans = _learned_spans(labels)
    assert len(spans) == 3
    ids = batch["input_ids"][0].tolist()
    assert [tok.decode(ids[a:b]) for a, b in spans] == [" yes</s>", " 2</s>", " A dense residential area.</s>"]
    # nothing between the answers is learned: the next question is context
    assert "How many ponds?" in tok.decode(ids[spans[0][1] : spans[1][0]])


def test_llava_hf_template_without_eos_gets_eos_appended(tiny):
    _, processor = tiny
    processor.chat_template = LLAVA_HF_TEMPLATE
    tok = processor.tokenizer
    batch = LlavaCollator(processor)([_row([("Is there a road?", "no"), ("Count the cars.", "4")])])
    ids, labels = batch["input_ids"][0].tolist(), batch["labels"][0].tolist()
    assert [tok.decode(ids[a:b]) for a, b in _learned_spans(labels)] == [" no</s>", " 4</s>"]
    text = tok.decode(ids)
    assert "ASSISTANT: no</s> USER: Count the cars. ASSISTANT: 4</s>" in text


@pytest.mark.parametrize(
    "config", ["caption", "vqa", "grounding", "region_caption", "detail", "conversation", "instruct"]
)
def test_every_config_learns_exactly_its_gpt_turns(tiny, tiny_build, config):
    from rsgpt4v.data import load

    _, processor = tiny
    tok = processor.tokenizer
    collator = LlavaCollator(processor, max_length=100_000)
    ds = load(config, "train", path=tiny_build)
    rows = [ds[i] for i in range(min(4, len(ds)))]
    batch = collator(rows)
    assert batch["input_ids"].shape[0] == len(rows)
    for i, row in enumerate(rows):
        answers = [t["value"] for t in row["conversations"] if t["from"] == "gpt"]
        ids, labels = batch["input_ids"][i].tolist(), batch["labels"][i].tolist()
        spans = _learned_spans(labels)
        assert [tok.decode(ids[a:b]) for a, b in spans] == [f" {a}</s>" for a in answers], row["id"]
        assert ids.count(processor.image_token_id) == IMAGE_TOKENS


def test_long_conversation_is_split_between_turns_with_the_image_in_each(tiny):
    _, processor = tiny
    tok = processor.tokenizer
    turns = [(f"Is there a building number {k}?", "yes" if k % 2 else "no") for k in range(8)]
    full = LlavaCollator(processor)([_row(turns)])
    collator = LlavaCollator(processor, max_length=90, task_ids=True)
    batch = collator([_row(turns, task=1)])
    n = batch["input_ids"].shape[0]
    assert n > 1 and full["input_ids"].shape[1] > 90
    assert batch["attention_mask"].sum(1).max() <= 90
    learned = []
    for i in range(n):
        ids, labels = batch["input_ids"][i].tolist(), batch["labels"][i].tolist()
        assert ids.count(processor.image_token_id) == IMAGE_TOKENS
        assert tok.decode(ids).startswith("<s>USER: <image>")
        learned += [tok.decode(ids[a:b]) for a, b in _learned_spans(labels)]
    assert learned == [f" {a}</s>" for _, a in turns]
    assert batch["task_ids"].tolist() == [1] * n
    assert collator.stats["split_rows"] == 1 and collator.stats["samples"] == n


def test_split_sample_ids_name_their_turns(tiny):
    _, processor = tiny
    collator = LlavaCollator(processor, max_length=90)
    turns = [(f"Is there a building number {k}?", "yes") for k in range(8)]
    samples = collator.encode(_row(turns, row_id="synthetic/train/a.png/vqa"))
    assert samples[0].id.startswith("synthetic/train/a.png/vqa#turns=0-")
    assert samples[-1].id.endswith("-7")


def test_one_turn_too_long_for_its_image_is_an_error_naming_the_row(tiny):
    _, processor = tiny
    collator = LlavaCollator(processor, max_length=IMAGE_TOKENS + 3)
    with pytest.raises(SampleTooLongError, match=r"row 'r/9'.*image tokens are never truncated"):
        collator([_row([("Is there a road in this image?", "yes")], row_id="r/9")])


def test_one_turn_with_a_long_answer_is_cut_in_the_answer(tiny):
    _, processor = tiny
    short = LlavaCollator(processor)([_row([("Describe.", "x")])])["input_ids"].shape[1]
    collator = LlavaCollator(processor, max_length=short + 2)
    batch = collator([_row([("Describe.", "a very long description of many buildings and roads")])])
    assert batch["input_ids"].shape[1] == short + 2
    assert batch["input_ids"][0].tolist().count(processor.image_token_id) == IMAGE_TOKENS
    assert collator.stats["truncated"] == 1


def test_fully_masked_sample_raises_with_its_id(tiny):
    _, processor = tiny
    with pytest.raises(FullyMaskedError, match=r"'floodnet/test/1.jpg/vqa' has no learned token"):
        LlavaCollator(processor)([_row([("How many buildings?", None)], row_id="floodnet/test/1.jpg/vqa")])


def test_fully_masked_sample_is_skipped_and_counted_on_request(tiny):
    _, processor = tiny
    collator = LlavaCollator(processor, skip_masked=True)
    batch = collator([_row([("How many buildings?", None)], row_id="a"), _row([("Road?", "yes")], row_id="b")])
    assert batch["input_ids"].shape[0] == 1
    assert collator.stats["skipped_masked"] == 1
    with pytest.raises(FullyMaskedError, match="none of the 1 rows"):
        collator([_row([("Road?", None)], row_id="c")])
    assert collator.stats["skipped_masked"] == 2


def test_task_ids_need_a_task(tiny):
    _, processor = tiny
    row = _row([("Road?", "yes")])
    row["task"] = None
    with pytest.raises(ConversationError, match="field 'task' is None"):
        LlavaCollator(processor, task_ids=True)([row])
    row["task"] = "grounding"
    assert LlavaCollator(processor, task_ids=True)([row])["task_ids"].tolist() == [2]


@pytest.mark.parametrize(
    ("conversations", "message"),
    [
        ([{"from": "gpt", "value": "yes"}], "gpt turn without a human turn"),
        ([{"from": "human", "value": "<image>\na"}, {"from": "human", "value": "b"}], "turns must alternate"),
        ([{"from": "system", "value": "x"}], "expected 'human' or 'gpt'"),
        ([{"from": "human", "value": "<image>\na <image>"}, {"from": "gpt", "value": "b"}], "outside the start"),
    ],
)
def test_malformed_conversations_are_clear_errors(tiny, conversations, message):
    _, processor = tiny
    row = {"id": "bad/1", "image": Image.new("RGB", (8, 8)), "task": 1, "conversations": conversations}
    with pytest.raises(ConversationError, match=message):
        LlavaCollator(processor)([row])


def test_image_bytes_rows_and_padding(tiny):
    import io

    _, processor = tiny
    buf = io.BytesIO()
    Image.new("RGB", (20, 10), (0, 255, 0)).save(buf, format="PNG")
    row = _row([("Road?", "yes")])
    row["image"] = {"bytes": buf.getvalue(), "path": None}
    long = _row([("How many buildings are there in the scene?", "twelve")])
    batch = LlavaCollator(processor, pad_to_multiple_of=8)([row, long])
    assert batch["input_ids"].shape[1] % 8 == 0
    pad = processor.tokenizer.pad_token_id
    short_len = int(batch["attention_mask"][0].sum())
    assert batch["input_ids"][0, short_len:].eq(pad).all() and batch["labels"][0, short_len:].eq(IGNORE_INDEX).all()


# -- the fast paths give what the reference paths give ----------------------------------------------------------


def _clip_336():
    """LLaVA-1.5's image processor (336 px CLIP, PIL backend), as the benchmark uses it."""
    from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil

    return CLIPImageProcessorPil(
        size={"shortest_edge": 336},
        crop_size={"height": 336, "width": 336},
        image_mean=[0.48145466, 0.4578275, 0.40821073],
        image_std=[0.26862954, 0.26130258, 0.27577711],
    )


def _png_bytes(image):
    import io

    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


def _test_images():
    import io

    import numpy as np

    rng = np.random.default_rng(7)
    noise = [Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)) for h, w in ((256, 256), (37, 90))]
    grey = Image.fromarray(rng.integers(0, 256, (50, 40), dtype=np.uint8), mode="L")
    rgba = Image.fromarray(rng.integers(0, 256, (30, 30, 4), dtype=np.uint8), mode="RGBA")
    keyed = Image.new("RGB", (20, 20), (10, 20, 30))
    keyed.info["transparency"] = (10, 20, 30)  # an RGB PNG with a tRNS colour key: the processor composites it
    png = Image.open(io.BytesIO(_png_bytes(noise[0])))  # decoded lazily, as the collator's rows are
    return [png, *noise, grey, rgba, keyed]


@pytest.mark.parametrize("aspect", ["pad", "resize", "processor"])
@pytest.mark.parametrize("image_processor", ["clip336", "tiny"])
def test_pixel_values_equal_the_image_processors_bit_for_bit(tiny, aspect, image_processor):
    import torch

    from rsgpt4v.images import prepare_image
    from rsgpt4v.inference import processor_image_kwargs
    from rsgpt4v.pixels import PixelValues

    ip = _clip_336() if image_processor == "clip336" else tiny[1].image_processor
    kwargs = processor_image_kwargs(ip, aspect)
    images = [prepare_image(image, aspect, ip.image_mean) for image in _test_images()]
    pixels = PixelValues(ip, **kwargs)
    assert pixels.fast == (aspect != "processor")  # the processor's own resize + centre crop is not reproduced
    got = pixels(images)
    expected = ip(images=images, return_tensors="pt", **kwargs)["pixel_values"]
    assert got.dtype == expected.dtype == torch.float32 and got.shape == expected.shape
    assert torch.equal(got, expected)
    # the colour-keyed image is composited on white, as the processor does (its key colour is transparent)
    white = (1 - torch.tensor(ip.image_mean)) / torch.tensor(ip.image_std)
    assert torch.allclose(got[-1, :, 0, 0], white)


def test_pixel_values_leave_unknown_pipelines_to_the_image_processor():
    import torch
    from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil

    from rsgpt4v.pixels import PixelValues

    class Inverted(CLIPImageProcessorPil):
        def normalize(self, image, mean, std, **kwargs):
            return -super().normalize(image, mean, std, **kwargs)

    ip = Inverted(size={"height": 24, "width": 24}, do_center_crop=False)
    images = _test_images()[1:3]
    assert not PixelValues(ip).fast
    assert torch.equal(PixelValues(ip)(images), ip(images=images, return_tensors="pt")["pixel_values"])
    clip = CLIPImageProcessorPil(size={"height": 24, "width": 24}, do_center_crop=False)
    assert PixelValues(clip).fast and not PixelValues(clip, do_pad=True, pad_size={"height": 30, "width": 30}).fast
    assert not PixelValues(clip, do_rescale=False, do_normalize=False).fast  # uint8 output: the processor's
    rescaled = PixelValues(clip, do_normalize=False)
    assert rescaled.fast
    assert torch.equal(rescaled(images), clip(images=images, do_normalize=False, return_tensors="pt")["pixel_values"])


def _reference_batch(collator, processor, rows):
    """The batch built the slow way: every prefix of each conversation rendered, ids expanded token by token."""
    import torch

    from rsgpt4v.images import prepare_image
    from rsgpt4v.inference import processor_image_kwargs
    from rsgpt4v.training.collator import _decode_image, _messages

    tok = processor.tokenizer
    ids_rows, label_rows = [], []
    for row in rows:
        pieces = collator._cut(_messages(row["conversations"], row["id"]), row["id"])
        ids, labels = [tok.bos_token_id], [IGNORE_INDEX]
        for (_, learned), piece in zip(pieces, tok([t for t, _ in pieces], add_special_tokens=False)["input_ids"]):
            if learned:
                piece = piece if piece and piece[-1] == tok.eos_token_id else [*piece, tok.eos_token_id]
                ids += piece
                labels += piece
                continue
            for token in piece:
                n = collator._num_image_tokens if token == processor.image_token_id else 1
                ids += [token] * n
                labels += [IGNORE_INDEX] * n
        ids_rows.append(ids)
        label_rows.append(labels)
    length = max(map(len, ids_rows))
    batch = {
        "input_ids": torch.full((len(rows), length), tok.pad_token_id),
        "labels": torch.full((len(rows), length), IGNORE_INDEX),
        "attention_mask": torch.zeros((len(rows), length), dtype=torch.long),
    }
    for i, (ids, labels) in enumerate(zip(ids_rows, label_rows)):
        batch["input_ids"][i, : len(ids)] = torch.tensor(ids)
        batch["labels"][i, : len(ids)] = torch.tensor(labels)
        batch["attention_mask"][i, : len(ids)] = 1
    ip = processor.image_processor
    images = [prepare_image(_decode_image(row["image"], row["id"]), "pad", ip.image_mean) for row in rows]
    batch["pixel_values"] = ip(images=images, return_tensors="pt", **processor_image_kwargs(ip, "pad"))["pixel_values"]
    return batch


@pytest.mark.parametrize("template", ["rsgpt4v", "llava-hf"])
def test_batch_equals_the_reference_path(tiny, template):
    """Cached template pieces, numpy padding and looked-up pixels give exactly the slow path's batch."""
    import torch

    _, processor = tiny
    if template == "llava-hf":
        processor.chat_template = LLAVA_HF_TEMPLATE
    assert processor.tokenizer.bos_token_id is not None
    rows = [
        _row([("Is there a road?", "yes"), ("How many ponds?", "2"), ("Describe it.", "A dense area.")], "a"),
        _row([("What is it?", "an airport")], "b", size=(32, 32)),
        _row([(f"Count building {k}.", str(k)) for k in range(6)], "c", size=(17, 60)),
    ]
    rows[1]["image"] = {"bytes": _png_bytes(rows[1]["image"]), "path": None}
    collator = LlavaCollator(processor)
    batch = collator(rows)
    expected = _reference_batch(collator, processor, rows)
    assert batch.keys() == expected.keys()
    for key in expected:
        assert batch[key].dtype == expected[key].dtype, key
        assert torch.equal(batch[key], expected[key]), key


def test_training_and_prediction_see_the_same_pixels(tiny):
    """One image preparation: the Predictor's pixel values are the collator's for the same image."""
    import torch

    from rsgpt4v.inference import Predictor, messages

    model, processor = tiny
    image = _test_images()[2]
    predictor = Predictor(model, processor=processor, device="cpu")
    inputs = predictor.model_inputs([(image, messages("Is there a road?"))])
    batch = LlavaCollator(processor)([_row([("Is there a road?", "yes")], size=(8, 8)) | {"image": image}])
    assert torch.equal(inputs["pixel_values"], batch["pixel_values"])
    assert inputs["input_ids"][0].tolist().count(processor.image_token_id) == IMAGE_TOKENS


def test_collator_pickles_for_dataloader_workers(tiny):
    """DataLoader workers started with "spawn" or "forkserver" receive the collator pickled."""
    import pickle

    import torch

    _, processor = tiny
    collator = LlavaCollator(processor, task_ids=True)
    rows = [_row([("Is there a road?", "yes"), ("How many ponds?", "2")])]
    batch, again = collator(rows), pickle.loads(pickle.dumps(collator))(rows)
    assert all(torch.equal(batch[key], again[key]) for key in batch) and batch.keys() == again.keys()
