"""The hierarchical generation pipeline: per image a local stage, a global stage, then a conversation stage.

* **local**: the model sees the image and its existing annotations (classes and boxes written by ``rsgpt4v.boxes``)
  and describes each object's fine-grained attributes and the spatial relations between objects.
* **global**: the model integrates the local output into one detailed description of the whole image.
* **conversation**: from the global and local outputs, ``turns`` question/answer pairs that need reasoning, of
  the configured question types.

Each reply is requested as JSON and validated (``rsgpt4v.generate.responses``); an invalid reply gets one repair
request (the reply and the reason sent back), after which the stage is done or failed with its reason. Images are
processed by ``concurrency`` workers, each taking the next image and running its remaining stages in order; every
finished stage is committed to the job store at once, so a killed run resumes where it stopped.
"""

from __future__ import annotations

import asyncio
import collections
import functools
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from rsgpt4v import boxes
from rsgpt4v.generate import templates
from rsgpt4v.generate.client import APIError, ChatClient, ClientConfig, Completion, image_data_url
from rsgpt4v.generate.responses import InvalidResponse, json_schema, parse_reply, validate
from rsgpt4v.generate.store import PENDING, STAGES, ImageItem, JobResult, JobStore, Prices, RunSummary

__all__ = ["GenerationConfig", "Pipeline", "build_messages", "dry_run", "generate", "stage_prompt", "summary_text"]

_BOX_FORMATS = {
    "pixel": "[x1, y1, x2, y2] in pixels (x1, y1 the top-left corner, x2, y2 the bottom-right corner)",
    "norm01": "[x1, y1, x2, y2] as fractions from 0 to 1 of the image width (x) and height (y), with two decimals "
    "(x1, y1 the top-left corner, x2, y2 the bottom-right corner)",
    "grid100": "{<x1><y1><x2><y2>} with integers from 0 to 100 as percent of the image width (x) and height (y) "
    "(x1, y1 the top-left corner, x2, y2 the bottom-right corner)",
    "grid1000": "<box>(x1,y1),(x2,y2)</box> with integers from 0 to 1000 as thousandths of the image width (x) and "
    "height (y) (x1, y1 the top-left corner, x2, y2 the bottom-right corner)",
}
_RESPONSE_FORMATS = ("json_schema", "json_object", "none")


@dataclass
class GenerationConfig:
    """What the pipeline asks for and how replies are checked.

    Args:
        turns: question/answer turns per conversation.
        question_types: conversation question types, name -> what such a question asks (the prompt lists them;
            replies must use these names).
        box_format: how boxes are written in prompts and read from replies (``rsgpt4v.boxes`` format, relative to
            the unpadded image, since the model sees the image as it is).
        templates: prompt templates by name overriding the defaults (see ``rsgpt4v.generate.templates``).
        max_tokens: completion budget of each request.
        temperature: sampling temperature.
        response_format: ``json_schema`` (strict schema per stage), ``json_object`` or ``none`` (prompt only), for
            servers that support less.
        min_words: fewest words of a global description.
        image_detail: the ``detail`` of image parts (``low``, ``high``, ``auto``), or None to send none.
        retry_failed: run stages that failed in an earlier run again (by default they stay failed).
    """

    turns: int = 6
    question_types: Mapping[str, str] = field(default_factory=lambda: dict(templates.DEFAULT_QUESTION_TYPES))
    box_format: str = "norm01"
    templates: Mapping[str, str] = field(default_factory=dict)
    max_tokens: int = 2048
    temperature: float = 0.2
    response_format: str = "json_schema"
    min_words: int = 30
    image_detail: str | None = None
    retry_failed: bool = False

    def __post_init__(self) -> None:
        if self.turns < 1:
            raise ValueError(f"`turns` must be at least 1, got {self.turns!r}.")
        if not self.question_types:
            raise ValueError("`question_types` is empty; give at least one question type.")
        if self.box_format not in _BOX_FORMATS:
            raise ValueError(f"Unknown `box_format` {self.box_format!r}; expected one of {', '.join(_BOX_FORMATS)}.")
        if self.response_format not in _RESPONSE_FORMATS:
            raise ValueError(
                f"Unknown `response_format` {self.response_format!r}; expected one of {', '.join(_RESPONSE_FORMATS)}."
            )
        templates.check_overrides(self.templates)


def _box_text(bbox: list[float], item: ImageItem, fmt: str) -> str:
    return _encode(tuple(bbox), item.width, item.height, fmt)


@functools.lru_cache(maxsize=8192)
def _encode(bbox: tuple[float, ...], width: int, height: int, fmt: str) -> str:
    return boxes.encode(list(bbox), fmt, width=width, height=height, pad_to_square=False)


def _object_lines(objects: list[dict[str, Any]], item: ImageItem, fmt: str) -> str:
    return "\n".join(f"- {o['category']}, {_box_text(o['bbox'], item, fmt)}: {o['description']}" for o in objects)


def stage_prompt(stage: str, item: ImageItem, outputs: Mapping[str, Any], config: GenerationConfig) -> str:
    """The user prompt of ``stage`` for ``item``, given the outputs of its earlier stages."""
    fmt = config.box_format
    common: dict[str, Any] = {
        "width": item.width,
        "height": item.height,
        "source": item.source,
        "image_path": item.image_path,
    }
    if stage == "local":
        annotations = "\n".join(f"- {a['category']}: {_box_text(a['bbox'], item, fmt)}" for a in item.annotations)
        example = [item.width * 0.25, item.height * 0.1, item.width * 0.6, item.height * 0.45]
        return templates.render(
            "local",
            config.templates,
            **common,
            annotations=annotations or "(none: find and locate the objects yourself)",
            box_format=_BOX_FORMATS[fmt],
            box_example=_box_text(example, item, fmt),
        )
    local = outputs["local"]
    common["objects"] = _object_lines(local["objects"], item, fmt)
    common["relations"] = "\n".join(f"- {r}" for r in local["relations"]) or "(none given)"
    if stage == "global":
        return templates.render("global", config.templates, **common)
    kinds = "\n".join(f"- {name}: {what}" for name, what in config.question_types.items())
    return templates.render(
        "conversation",
        config.templates,
        **common,
        description=outputs["global"]["description"],
        turns=config.turns,
        question_types=kinds,
    )


def build_messages(
    stage: str, item: ImageItem, outputs: Mapping[str, Any], config: GenerationConfig, image_url: str
) -> list[dict[str, Any]]:
    """The chat messages of one stage request: the system prompt, then the stage prompt with the image."""
    image: dict[str, Any] = {"url": image_url}
    if config.image_detail:
        image["detail"] = config.image_detail
    return [
        {"role": "system", "content": templates.render("system", config.templates)},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": stage_prompt(stage, item, outputs, config)},
                {"type": "image_url", "image_url": image},
            ],
        },
    ]


@dataclass
class _Usage:
    requests: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0

    def add(self, completion: Completion) -> None:
        self.requests += completion.attempts
        self.prompt_tokens += completion.prompt_tokens
        self.completion_tokens += completion.completion_tokens


class Pipeline:
    """Run the stages of many images against one client, writing every result to one job store.

    Args:
        client: an entered ``ChatClient``.
        store: the job store (images must have been added with ``JobStore.add_images``).
        config: prompts and checks.
        on_stage: called after each finished stage with ``(stage, ok, usage_tokens)`` (for progress bars).
    """

    def __init__(
        self,
        client: ChatClient,
        store: JobStore,
        config: GenerationConfig,
        on_stage: Callable[[str, bool, int], None] | None = None,
    ) -> None:
        self.client = client
        self.store = store
        self.config = config
        self.on_stage = on_stage
        self._formats = {stage: self._response_format(stage) for stage in STAGES}
        self._pending: list[JobResult] = []
        self._write_error: Exception | None = None

    def _response_format(self, stage: str) -> dict[str, Any] | None:
        if self.config.response_format == "none":
            return None
        if self.config.response_format == "json_object":
            return {"type": "json_object"}
        schema = json_schema(stage, list(self.config.question_types))
        return {"type": "json_schema", "json_schema": {"name": f"rsgpt4v_{stage}", "strict": True, "schema": schema}}

    def todo(self) -> list[tuple[ImageItem, dict[str, Any], list[str]]]:
        """The images with stages left to run: ``(item, outputs of done stages, stages to run)``."""
        jobs = self.store.jobs()
        work = []
        for item in self.store.images():
            states = jobs.get(item.image_id, {})
            outputs, stages = {}, []
            for stage in STAGES:
                state = states.get(stage, PENDING)
                if state.status == "done":
                    outputs[stage] = state.output
                elif state.status == "pending" or self.config.retry_failed:
                    stages.append(stage)
                else:
                    break  # a failed stage blocks the later ones
            if stages:
                work.append((item, outputs, stages))
        return work

    async def run(self, run_id: int, work: list[tuple[ImageItem, dict[str, Any], list[str]]]) -> None:
        """Run the given work with one worker per allowed concurrent request."""
        queue = collections.deque(work)

        async def worker() -> None:
            while queue:
                item, outputs, stages = queue.popleft()
                await self._image(run_id, item, dict(outputs), stages)

        workers = min(self.client.config.concurrency, len(work))
        try:
            await asyncio.gather(*(worker() for _ in range(workers)))
        finally:
            self._flush()
        if self._write_error is not None:
            raise self._write_error

    def _submit(self, result: JobResult) -> None:
        """Queue a finished job; the queue is committed in one transaction as soon as the event loop is free.

        Results that finish together share a commit (group commit), so the store keeps up with hundreds of requests
        per second; a stage counts as done only once committed, and a killed run loses at most the queued results.
        """
        if self._write_error is not None:
            raise self._write_error
        self._pending.append(result)
        if len(self._pending) == 1:
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        batch, self._pending = self._pending, []
        if batch and self._write_error is None:
            try:
                self.store.record_many(batch)
            except Exception as err:  # raised by the next _submit and at the end of run()
                self._write_error = err

    async def _image(self, run_id: int, item: ImageItem, outputs: dict[str, Any], stages: list[str]) -> None:
        try:
            image_url = image_data_url(item.image_file)
        except OSError as err:  # moved, deleted or unreadable since it was added: fail this image, not the run
            error = f"cannot read image {item.image_file}: {err}"
            self._submit(JobResult(run_id, item.image_id, stages[0], self.client.config.model, 0, 0, 0, None, error))
            if self.on_stage is not None:
                self.on_stage(stages[0], False, 0)
            return
        for stage in stages:
            output = await self._stage(run_id, item, stage, outputs, image_url)
            if output is None:
                return
            outputs[stage] = output

    async def _stage(
        self, run_id: int, item: ImageItem, stage: str, outputs: dict[str, Any], image_url: str
    ) -> dict[str, Any] | None:
        messages = build_messages(stage, item, outputs, self.config, image_url)
        usage = _Usage()
        output, error = None, None
        try:
            completion = await self._send(messages, stage, usage)
            try:
                output = self._check(stage, item, completion)
            except InvalidResponse as first:
                repair = templates.render("repair", self.config.templates, reason=str(first))
                messages += [
                    {"role": "assistant", "content": completion.content},
                    {"role": "user", "content": repair},
                ]
                completion = await self._send(messages, stage, usage)
                try:
                    output = self._check(stage, item, completion)
                except InvalidResponse as second:
                    error = f"invalid reply after one repair request: {second} (first reply: {first})"
        except APIError as err:
            usage.requests += err.attempts
            error = f"request failed: {err}"
        self._submit(
            JobResult(
                run_id,
                item.image_id,
                stage,
                self.client.config.model,
                usage.requests,
                usage.prompt_tokens,
                usage.completion_tokens,
                output,
                error,
            )
        )
        if self.on_stage is not None:
            self.on_stage(stage, error is None, usage.prompt_tokens + usage.completion_tokens)
        return output

    async def _send(self, messages: list[dict[str, Any]], stage: str, usage: _Usage) -> Completion:
        completion = await self.client.complete(
            messages,
            max_tokens=self.config.max_tokens,
            temperature=self.config.temperature,
            response_format=self._formats[stage],
        )
        usage.add(completion)
        return completion

    def _check(self, stage: str, item: ImageItem, completion: Completion) -> dict[str, Any]:
        data = parse_reply(completion.content, completion.finish_reason)
        return validate(
            stage,
            data,
            width=item.width,
            height=item.height,
            box_format=self.config.box_format,
            turns=self.config.turns,
            question_types=list(self.config.question_types),
            min_words=self.config.min_words,
        )


def _progress_bar(total: int, enabled: bool) -> tuple[Any, Callable[[str, bool, int], None]]:
    from tqdm.auto import tqdm

    bar = tqdm(total=total, unit="stage", desc="generate", disable=not enabled, dynamic_ncols=True)
    start = time.monotonic()
    totals = {"ok": 0, "failed": 0, "tokens": 0}

    def update(stage: str, ok: bool, tokens: int) -> None:
        totals["ok" if ok else "failed"] += 1
        totals["tokens"] += tokens
        elapsed = max(time.monotonic() - start, 1e-9)
        bar.set_postfix(
            done=totals["ok"], failed=totals["failed"], tok_s=f"{totals['tokens'] / elapsed:.0f}", refresh=False
        )
        bar.update(1)

    return bar, update


def generate(
    images: Iterable[ImageItem],
    store_path: str,
    client_config: ClientConfig,
    config: GenerationConfig | None = None,
    *,
    prices: Prices | None = None,
    progress: bool = True,
) -> tuple[int, RunSummary]:
    """Generate local, global and conversation outputs for ``images`` into the job store at ``store_path``.

    Images already in the store are not added twice; stages already done are not run again, so calling this again
    after an interruption resumes the work.

    Args:
        images: the images to generate for.
        store_path: the SQLite job store (created if missing).
        client_config: the endpoint, model, key and limits.
        config: prompts and checks; defaults to ``GenerationConfig()``.
        prices: USD per million input/output tokens for the cost estimate.
        progress: show a progress bar with rates.

    Returns:
        The run id and the summary (store-wide statuses and failures, this run's usage and cost).
    """
    config = config or GenerationConfig()
    with JobStore(store_path) as store:
        store.add_images(images)
        run_id = store.start_run(client_config.model, client_config.url, prices or Prices())

        async def main() -> None:
            async with ChatClient(client_config) as client:
                pipeline = Pipeline(client, store, config)
                work = pipeline.todo()
                bar, pipeline.on_stage = _progress_bar(sum(len(stages) for *_, stages in work), progress)
                try:
                    await pipeline.run(run_id, work)
                finally:
                    bar.close()

        try:
            asyncio.run(main())
        finally:
            store.finish_run(run_id)
        return run_id, store.summary(run_id)


def dry_run(images: Iterable[ImageItem], config: GenerationConfig | None = None) -> Iterable[tuple[str, str, str]]:
    """Yield ``(image_id, stage, prompt)`` for every stage of each image, without sending anything.

    The global and conversation prompts depend on the model's earlier replies, so they are shown with placeholders.
    """
    config = config or GenerationConfig()
    for item in images:
        placeholder_box = [0.0, 0.0, float(item.width), float(item.height)]
        outputs = {
            "local": {
                "objects": [{"category": "<category>", "bbox": placeholder_box, "description": "<local reply>"}],
                "relations": ["<relation>"],
            },
            "global": {"description": "<global reply>"},
        }
        for stage in STAGES:
            yield item.image_id, stage, stage_prompt(stage, item, outputs, config)


def summary_text(summary: RunSummary, max_failures: int = 20) -> str:
    """A human-readable summary of a run."""
    data = summary.as_dict()
    lines = [
        f"done {data['done']}, failed {data['failed']}, pending {data['pending']} (stages in the store)",
        f"this run: {data['requests']} requests, {data['prompt_tokens']} prompt + {data['completion_tokens']} "
        f"completion tokens, estimated cost ${data['cost_usd']:.4f}",
    ]
    for failure in data["failures"][:max_failures]:
        lines.append(f"  failed {failure['image_id']} [{failure['stage']}]: {failure['reason']}")
    if len(data["failures"]) > max_failures:
        lines.append(f"  ... and {len(data['failures']) - max_failures} more failures (see the store's jobs table)")
    return "\n".join(lines)
