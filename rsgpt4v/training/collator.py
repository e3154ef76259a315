r"""The training collator: rows of a built config (image + ``conversations``) to LLaVA model inputs.

Labels are built per turn at the token level, never by splitting a rendered string and re-tokenising it (the cause
of LLaVA's "tokenization mismatch" and loss 0). The conversation goes through the processor's chat template; the
rendered text is cut only at the boundaries of the template's own renders of shorter prefixes of the same
conversation, so the pieces are exactly what the template produced:

* the *context* before answer ``k``: everything the template renders before it, up to and including the
  generation prompt (``"USER: <image>\nWhat is it? ASSISTANT:"`` for LLaVA-1.5), tokenised as one string, just as
  the Predictor tokenises a prompt at inference;
* the *answer* ``k``: the assistant text as the template renders it, up to its end-of-sequence token; when the
  template writes no end-of-sequence token (the ``llava-hf`` checkpoints' template), the tokenizer's
  ``eos_token_id`` is appended, as LLaVA-1.5 trains. Whitespace the template writes after an answer goes to the next
  context.

``input_ids`` are the concatenation of these pieces' ids (plus the tokenizer's own BOS/EOS framing), and ``labels``
equal ``input_ids`` on the answer pieces and ``-100`` everywhere else (instructions, image tokens, padding), so
what is learned is exactly the assistant tokens, whatever the tokenizer. Each ``<image>`` is expanded to the number
of image tokens the vision tower produces for the prepared image (the processor's own rule).

A conversation longer than ``max_length`` tokens is split between turns into several samples, each starting with
the image; a single turn that does not fit has its answer cut, never its image tokens or its instruction (that is an
:class:`SampleTooLongError`). A sample with no learned token (no assistant answer, or an answer cut away) raises
:class:`FullyMaskedError` naming the row id, or is skipped and counted in :attr:`LlavaCollator.stats` with
``skip_masked=True``. So a batch of ``B`` rows gives ``B`` samples or more (long conversations) or fewer (skipped).

Input rows (``datasets`` rows of any task config or ``instruct``):

* ``id`` (str): used in error messages;
* ``image``: a PIL image, or ``{"bytes": ..., "path": ...}`` (``datasets.Image(decode=False)``);
* ``conversations``: LLaVA turns ``[{"from": "human" | "gpt", "value": str}]``, the first human turn starting with
  ``<image>\n`` (added to the first human turn when no turn has it);
* ``task`` (int ClassLabel index or name): read only with ``task_ids=True``.

Output batch (``torch`` tensors, right-padded): ``input_ids`` and ``labels`` (``long``, ``(N, L)``),
``attention_mask`` (``long``, ``(N, L)``), ``pixel_values`` (``float32``, ``(N, 3, H, W)``: the image processor's
values for the prepared images, computed by :class:`rsgpt4v.pixels.PixelValues` as the Predictor's are) and, with
``task_ids=True``, ``task_ids`` (``long``, ``(N,)``: the index of the row's task in ``rsgpt4v.schema.TASKS``, the
task id of a task-routed MoE-LoRA adapter).
"""

from __future__ import annotations

import io
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from rsgpt4v.images import ImageAspect, prepare_image
from rsgpt4v.inference import processor_image_kwargs
from rsgpt4v.pixels import PixelValues
from rsgpt4v.rows import IMAGE_TOKEN
from rsgpt4v.schema import TASKS

__all__ = [
    "IGNORE_INDEX",
    "ConversationError",
    "EncodedSample",
    "FullyMaskedError",
    "LlavaCollator",
    "SampleTooLongError",
]

IGNORE_INDEX = -100
"""Label value of tokens that are not learned (``torch.nn.CrossEntropyLoss``'s ``ignore_index``)."""


class ConversationError(ValueError):
    """A row's ``conversations`` cannot be turned into a training sample."""


class FullyMaskedError(ConversationError):
    """A sample has no learned token, so it would train nothing (and give a loss of 0 or NaN)."""


class SampleTooLongError(ConversationError):
    """The image tokens and instruction of one turn do not fit in ``max_length``; they are never truncated."""


@dataclass
class EncodedSample:
    """One training sample: token ids, labels and what the batch needs besides.

    Attributes:
        id: the row id, with ``#turns=a-b`` appended when the conversation was split.
        input_ids: token ids, image tokens expanded.
        labels: ``input_ids`` on learned tokens, ``IGNORE_INDEX`` elsewhere.
        image: the row's image, prepared (see :func:`rsgpt4v.images.prepare_image`).
        task_id: index of the row's task in ``rsgpt4v.schema.TASKS`` (``-1`` when unknown).
        truncated: the last answer was cut to fit ``max_length``.
    """

    id: str
    input_ids: list[int]
    labels: list[int]
    image: Any
    task_id: int
    truncated: bool = False


def _decode_image(image: Any, row_id: str) -> Any:
    from PIL import Image

    if isinstance(image, Image.Image):
        return image
    if isinstance(image, Mapping) and image.get("bytes"):
        return Image.open(io.BytesIO(image["bytes"]))
    if isinstance(image, Mapping) and image.get("path"):
        return Image.open(image["path"])
    raise ConversationError(f"row {row_id!r}: field 'image' is {type(image).__name__}; expected a PIL image or bytes.")


def _messages(conversations: Sequence[Mapping[str, str]], row_id: str) -> list[tuple[str, str]]:
    """(question, answer) pairs of a LLaVA conversation, image token removed; raises on malformed turn order."""
    pairs: list[tuple[str, str]] = []
    pending: str | None = None
    for k, turn in enumerate(conversations):
        speaker, value = turn.get("from"), turn.get("value")
        if not isinstance(value, str):
            raise ConversationError(f"row {row_id!r}: conversations[{k}].value is {value!r}; expected a string.")
        value = value.replace(f"{IMAGE_TOKEN}\n", "", 1) if k == 0 else value
        if IMAGE_TOKEN in value:
            raise ConversationError(
                f"row {row_id!r}: conversations[{k}] holds {IMAGE_TOKEN!r} outside the start of the first turn; "
                "a row has one image, given once at the start of the first human turn."
            )
        if speaker == "human":
            if pending is not None:
                raise ConversationError(
                    f"row {row_id!r}: conversations[{k}] is a human turn after an unanswered human turn; "
                    "turns must alternate human, gpt."
                )
            pending = value
        elif speaker == "gpt":
            if pending is None:
                raise ConversationError(
                    f"row {row_id!r}: conversations[{k}] is a gpt turn without a human turn before it."
                )
            pairs.append((pending, value))
            pending = None
        else:
            raise ConversationError(
                f"row {row_id!r}: conversations[{k}].from is {speaker!r}; expected 'human' or 'gpt'."
            )
    return pairs


_PLACEHOLDER = re.compile("\ue000[0-9]+[qa]\ue001")


def _placeholder(turn: int, side: str) -> str:
    """A text no conversation holds (private-use characters), standing for turn ``turn``'s question or answer."""
    return f"\ue000{turn}{side}\ue001"


def _chat(pairs: Sequence[tuple[str, str]]) -> list[dict[str, Any]]:
    chat: list[dict[str, Any]] = []
    for k, (question, answer) in enumerate(pairs):
        content: list[dict[str, Any]] = [{"type": "image"}] if k == 0 else []
        content.append({"type": "text", "text": question})
        chat.append({"role": "user", "content": content})
        chat.append({"role": "assistant", "content": [{"type": "text", "text": answer}]})
    return chat


def _compile_template(template: str) -> Any:
    """The chat template compiled as ``apply_chat_template`` compiles it, to be rendered directly.

    Same sandbox and ``{% generation %}`` extension; rendering directly skips the processor's wrapper, which costs
    ~1 ms per call.
    """
    from transformers.utils.chat_template_utils import _compile_jinja_template

    return _compile_jinja_template(template)


class LlavaCollator:
    """Turn rows with an image and LLaVA ``conversations`` into a LLaVA training batch (see the module docstring).

    Args:
        processor: the model's ``LlavaProcessor`` (tokenizer, image processor, chat template).
        max_length: most tokens per sample (image tokens included); longer conversations are split between turns.
            `None`: the tokenizer's ``model_max_length`` when it is below 1,000,000, else no limit.
        image_aspect: ``pad`` (LLaVA-1.5), ``resize`` or ``processor``; the same preparation as the Predictor's.
        task_ids: add ``task_ids`` (each row's task index) to the batch, for a task-routed MoE-LoRA adapter.
        skip_masked: skip samples without a learned token and count them in :attr:`stats` instead of raising
            :class:`FullyMaskedError`.
        pad_to_multiple_of: pad the sequence length to a multiple of this.

    Attributes:
        stats: counters over all batches: ``rows``, ``samples``, ``split_rows`` (rows split into several samples),
            ``truncated`` (answers cut to fit), ``skipped_masked``.
    """

    def __init__(
        self,
        processor: Any,
        *,
        max_length: int | None = None,
        image_aspect: ImageAspect = "pad",
        task_ids: bool = False,
        skip_masked: bool = False,
        pad_to_multiple_of: int | None = None,
    ) -> None:
        tokenizer = processor.tokenizer
        if max_length is None:
            limit = getattr(tokenizer, "model_max_length", None)
            max_length = int(limit) if isinstance(limit, int) and limit < 1_000_000 else None
        if max_length is not None and max_length < 1:
            raise ValueError(f"`max_length` must be a positive integer or None, got {max_length!r}.")
        if getattr(processor, "chat_template", None) is None:
            raise ValueError(
                "the processor has no chat template; save the model's processor with its template (llava-hf "
                "checkpoints have one) or set `processor.chat_template`."
            )
        if tokenizer.eos_token_id is None:
            raise ValueError("the tokenizer has no eos_token_id; the collator appends it to every answer.")
        self.processor = processor
        self.tokenizer = tokenizer
        self.max_length = max_length
        self.image_aspect: ImageAspect = image_aspect
        self.task_ids = task_ids
        self.skip_masked = skip_masked
        self.pad_to_multiple_of = pad_to_multiple_of
        self.image_token_id = tokenizer.convert_tokens_to_ids(getattr(processor, "image_token", IMAGE_TOKEN))
        self.pad_token_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        self._mean = getattr(processor.image_processor, "image_mean", None)
        self._pixels = PixelValues(
            processor.image_processor, **processor_image_kwargs(processor.image_processor, image_aspect)
        )
        framed = tokenizer("a", add_special_tokens=True)["input_ids"]
        bare = tokenizer("a", add_special_tokens=False)["input_ids"]
        start = next(i for i in range(len(framed)) if framed[i : i + len(bare)] == bare)
        self._prefix, self._suffix = framed[:start], framed[start + len(bare) :]
        self._num_image_tokens = self._image_token_count()
        self._template = _compile_template(processor.chat_template)
        self._template_vars = dict(tokenizer.special_tokens_map)
        self._skeletons: dict[int, list[tuple[str, bool]]] = {}
        self.stats: Counter[str] = Counter()

    def __getstate__(self) -> dict[str, Any]:
        # The compiled template holds local functions, which do not pickle; DataLoader workers started with "spawn"
        # or "forkserver" get the collator pickled, so it is compiled again on unpickling.
        state = dict(self.__dict__)
        del state["_template"]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._template = _compile_template(self.processor.chat_template)

    def _image_token_count(self) -> int:
        """Image tokens per ``<image>`` for the prepared size (``LlavaProcessor.replace_image_token``'s rule)."""
        size = self._pixels.kwargs.get("size") or {}
        height, width = size.get("height"), size.get("width")
        if height is None:
            crop = getattr(self.processor.image_processor, "crop_size", None) or {}
            height, width = crop.get("height"), crop.get("width")
        patch = getattr(self.processor, "patch_size", None)
        if height is None or not patch:
            raise ValueError(
                f"cannot tell how many image tokens {type(self.processor).__name__} produces (patch_size={patch}, "
                f"image size {height}x{width}); use a LlavaProcessor with patch_size set."
            )
        count = (height // patch) * (width // patch) + int(getattr(self.processor, "num_additional_image_tokens", 0))
        if getattr(self.processor, "vision_feature_select_strategy", None) == "default":
            count -= 1
        return count

    # -- text ---------------------------------------------------------------------------------------------------
    def _render(self, chat: list[dict[str, Any]], generation_prompt: bool) -> str:
        return self._template.render(messages=chat, add_generation_prompt=generation_prompt, **self._template_vars)

    def _cut(self, pairs: Sequence[tuple[str, str]], row_id: str) -> list[tuple[str, bool]]:
        """Cut the rendered conversation into alternating (context, False) and (answer, True) pieces.

        Renders every prefix of the conversation with and without the generation prompt (``2 n`` renders).
        """
        chat = _chat(pairs)
        eos = self.tokenizer.eos_token
        pieces: list[tuple[str, bool]] = []
        done = ""  # the rendered text consumed so far
        for k in range(len(pairs)):
            prompt = self._render(chat[: 2 * k + 1], True)
            full = self._render(chat[: 2 * k + 2], False)
            if not prompt.startswith(done) or not full.startswith(prompt):
                raise ConversationError(
                    f"row {row_id!r}: the chat template does not render turn {k} as an extension of the earlier "
                    "turns (with and without the generation prompt), so answers cannot be located token by token. "
                    "Use a template whose renders of a conversation's prefixes are prefixes of each other."
                )
            answer = full[len(prompt) :]
            cut = answer.rfind(eos) + len(eos) if eos and eos in answer else len(answer.rstrip())
            pieces.append((prompt[len(done) :], False))
            pieces.append((answer[:cut], True))
            done = prompt + answer[:cut]
        return pieces

    def _pieces(self, pairs: Sequence[tuple[str, str]], row_id: str) -> list[tuple[str, bool]]:
        """The pieces of :meth:`_cut`, computed once per number of turns on placeholder texts.

        The cut of an ``n``-turn conversation whose texts are unique placeholders is cached; a row's pieces are
        that skeleton with the row's texts put in. This is only valid when the template copies texts unchanged,
        so the row's own full render (one render, as a plain script does) must equal the filled-in pieces; if it
        does not (a template that edits or inspects texts), the row is cut with :meth:`_cut`.
        """
        texts = {_placeholder(k, side): text for k, pair in enumerate(pairs) for side, text in zip("qa", pair)}
        skeleton = self._skeletons.get(len(pairs))
        if skeleton is None:
            blank = [(_placeholder(k, "q"), _placeholder(k, "a")) for k in range(len(pairs))]
            skeleton = self._skeletons[len(pairs)] = self._cut(blank, row_id)
        pieces = [(_PLACEHOLDER.sub(lambda m: texts[m.group(0)], text), learned) for text, learned in skeleton]
        if not self._render(_chat(pairs), False).startswith("".join(text for text, _ in pieces)):
            return self._cut(pairs, row_id)
        return pieces

    def _assemble(
        self, pieces: Sequence[tuple[str, bool]], ids: Sequence[Sequence[int]], row_id: str
    ) -> tuple[list[int], list[int]]:
        eos_id = self.tokenizer.eos_token_id
        input_ids, labels = list(self._prefix), [IGNORE_INDEX] * len(self._prefix)
        images = 0
        for (_, learned), piece in zip(pieces, ids):
            if learned:
                input_ids += piece
                labels += piece
                if not piece or piece[-1] != eos_id:
                    input_ids.append(eos_id)
                    labels.append(eos_id)
                continue
            if self.image_token_id not in piece:
                input_ids += piece
                labels += [IGNORE_INDEX] * len(piece)
                continue
            for token in piece:
                if token == self.image_token_id:
                    images += 1
                    input_ids += [token] * self._num_image_tokens
                    labels += [IGNORE_INDEX] * self._num_image_tokens
                else:
                    input_ids.append(token)
                    labels.append(IGNORE_INDEX)
        if images != 1:
            raise ConversationError(
                f"row {row_id!r}: the rendered conversation holds {images} image tokens; expected exactly one "
                "(check that the chat template writes the image token for {'type': 'image'} content)."
            )
        input_ids += self._suffix
        labels += [IGNORE_INDEX] * len(self._suffix)
        return input_ids, labels

    def _encode_pairs(self, pairs: Sequence[tuple[str, str]], row_id: str) -> tuple[list[int], list[int]]:
        pieces = self._pieces(pairs, row_id)
        ids = self.tokenizer([text for text, _ in pieces], add_special_tokens=False)["input_ids"]
        return self._assemble(pieces, ids, row_id)

    def _fit(self, input_ids: list[int], labels: list[int], row_id: str) -> tuple[list[int], list[int], bool]:
        """Cut a one-turn sample's answer to ``max_length``; the image tokens and instruction are never cut."""
        if self.max_length is None or len(input_ids) <= self.max_length:
            return input_ids, labels, False
        first_learned = next((i for i, label in enumerate(labels) if label != IGNORE_INDEX), len(labels))
        if first_learned > self.max_length or first_learned == self.max_length:
            raise SampleTooLongError(
                f"row {row_id!r}: the image tokens and the instruction of one turn need {first_learned} tokens, "
                f"which leaves no room for the answer within max_length={self.max_length}; image tokens are never "
                "truncated. Raise max_length, shorten the instruction, or use a smaller image size."
            )
        return input_ids[: self.max_length], labels[: self.max_length], True

    def encode(self, row: Mapping[str, Any]) -> list[EncodedSample]:
        """Encode one row into one sample, or several when its conversation is longer than ``max_length``.

        Raises:
            ConversationError: malformed ``conversations`` or ``image``.
            FullyMaskedError: a sample has no learned token (unless ``skip_masked``; then it is left out and
                counted in ``stats["skipped_masked"]``).
            SampleTooLongError: one turn's image tokens and instruction exceed ``max_length``.
        """
        row_id = str(row.get("id", "<no id>"))
        pairs = _messages(row["conversations"], row_id)
        task_id = self._task_id(row, row_id)
        image = prepare_image(_decode_image(row["image"], row_id), self.image_aspect, self._mean)
        self.stats["rows"] += 1
        if not pairs:
            return self._masked(row_id, "it has no answered turn (no gpt turn after a human turn)")
        input_ids, labels = self._encode_pairs(pairs, row_id)
        if self.max_length is None or len(input_ids) <= self.max_length:
            chunks = [(0, len(pairs), input_ids, labels)]
        else:
            chunks = self._split(pairs, row_id)
            self.stats["split_rows"] += len(chunks) > 1
        samples = []
        for start, stop, chunk_ids, chunk_labels in chunks:
            sample_id = row_id if len(chunks) == 1 else f"{row_id}#turns={start}-{stop - 1}"
            chunk_ids, chunk_labels, truncated = self._fit(chunk_ids, chunk_labels, sample_id)
            if chunk_labels.count(IGNORE_INDEX) == len(chunk_labels):
                samples += self._masked(sample_id, "its answers are empty")
                continue
            self.stats["truncated"] += truncated
            samples.append(EncodedSample(sample_id, chunk_ids, chunk_labels, image, task_id, truncated))
        self.stats["samples"] += len(samples)
        return samples

    def _split(self, pairs: Sequence[tuple[str, str]], row_id: str) -> list[tuple[int, int, list[int], list[int]]]:
        """Greedy split between turns: each chunk holds as many consecutive turns as fit, the image first."""
        assert self.max_length is not None
        chunks = []
        start = 0
        while start < len(pairs):
            best = (start + 1, *self._encode_pairs(pairs[start : start + 1], row_id))
            for stop in range(start + 2, len(pairs) + 1):
                ids, labels = self._encode_pairs(pairs[start:stop], row_id)
                if len(ids) > self.max_length:
                    break
                best = (stop, ids, labels)
            chunks.append((start, *best))
            start = best[0]
        return chunks

    def _masked(self, sample_id: str, why: str) -> list[EncodedSample]:
        if not self.skip_masked:
            raise FullyMaskedError(
                f"sample {sample_id!r} has no learned token: {why}. It would train nothing; fix or drop the row, "
                "or pass skip_masked=True (--skip-masked) to skip such samples and count them."
            )
        self.stats["skipped_masked"] += 1
        return []

    def _task_id(self, row: Mapping[str, Any], row_id: str) -> int:
        task = row.get("task")
        if isinstance(task, int) and not isinstance(task, bool) and 0 <= task < len(TASKS):
            return task
        if isinstance(task, str) and task in TASKS:
            return TASKS.index(task)
        if self.task_ids:
            raise ConversationError(
                f"row {row_id!r}: field 'task' is {task!r}; a task-routed adapter needs each row's task "
                f"(a name from {', '.join(TASKS)} or its index)."
            )
        return -1

    # -- batch --------------------------------------------------------------------------------------------------
    def __call__(self, rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        """Collate rows into a batch (see the module docstring for the keys).

        Raises:
            FullyMaskedError: every row of the batch was skipped (with ``skip_masked``) or a sample has no learned
                token.
        """
        samples = [sample for row in rows for sample in self.encode(row)]
        if not samples:
            raise FullyMaskedError(
                f"none of the {len(rows)} rows of the batch gave a sample with a learned token (all skipped: "
                f"{[str(r.get('id')) for r in rows][:5]}); filter such rows out of the dataset."
            )
        return self.collate(samples)

    def collate(self, samples: Sequence[EncodedSample]) -> dict[str, Any]:
        """Pad encoded samples and prepare their images into one batch of tensors."""
        import numpy as np
        import torch

        length = max(len(s.input_ids) for s in samples)
        if self.pad_to_multiple_of:
            length = -(-length // self.pad_to_multiple_of) * self.pad_to_multiple_of
        # Filled through numpy: ``torch.tensor`` of nested lists costs ~10x more.
        input_ids = np.full((len(samples), length), self.pad_token_id, dtype=np.int64)
        labels = np.full((len(samples), length), IGNORE_INDEX, dtype=np.int64)
        for i, sample in enumerate(samples):
            input_ids[i, : len(sample.input_ids)] = sample.input_ids
            labels[i, : len(sample.labels)] = sample.labels
        lengths = np.array([len(s.input_ids) for s in samples])
        batch: dict[str, Any] = {
            "input_ids": torch.from_numpy(input_ids),
            "attention_mask": torch.from_numpy((np.arange(length) < lengths[:, None]).astype(np.int64)),
            "labels": torch.from_numpy(labels),
            "pixel_values": self._pixels([s.image for s in samples]),
        }
        if self.task_ids:
            batch["task_ids"] = torch.tensor([s.task_id for s in samples], dtype=torch.long)
        return batch

    def length(self, row: Mapping[str, Any]) -> int:
        """The number of tokens of a row's conversation (image tokens included), for length-grouped sampling."""
        row_id = str(row.get("id", "<no id>"))
        pairs = _messages(row["conversations"], row_id)
        return len(self._encode_pairs(pairs, row_id)[0]) if pairs else 0
