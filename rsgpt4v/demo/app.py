"""The Gradio app: Explore the data, Ask the model, compare Evaluate reports; every event is a named API endpoint.

API (``gradio_client.Client(url).predict(..., api_name=NAME)``; full signatures in ``docs/demo.md``):

===================  ==================================================================  =========================
``/explore_select``  (config, split) -> split, source, question type menus + first record  Explore: choose data
``/record``          (config, split, source, question type, position) -> record            Explore: show record N
``/previous``        same inputs -> the record before (wraps around)                       Explore
``/next``            same inputs -> the record after (wraps around)                        Explore
``/random``          same inputs -> a random record of the selection                       Explore
``/record_by_id``    (config, split, id) -> record, filters reset                           Explore: by id
``/ask``             (image file, dataset record, task, text, chat) -> streamed answer      Ask
``/compare``         (report A, report B) -> summary, scores, per-type table, plot          Evaluate
===================  ==================================================================  =========================

A record is ``(annotated image, chat, fields, status, position)``. Bad input raises ``gr.Error`` with a message
that says what to do; an unexpected failure is logged on the server and reported in one line, never as a
traceback.
"""

from __future__ import annotations

import functools
import inspect
import logging
import random
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import gradio as gr

from rsgpt4v.demo.ask import ASK_TASKS, answer_boxes, ask_prompt, read_upload, stream_answer
from rsgpt4v.demo.compare import compare_reports, read_report
from rsgpt4v.demo.explore import ALL, DemoInputError, Explorer, display_image
from rsgpt4v.demo.settings import DemoSettings, resolve_settings

__all__ = ["API_NAMES", "build_demo"]

#: Every API endpoint of the demo (the ``api_name`` of its events).
API_NAMES: tuple[str, ...] = (
    "explore_select",
    "record",
    "previous",
    "next",
    "random",
    "record_by_id",
    "ask",
    "compare",
)
_TINY_MAX_NEW_TOKENS = 24
_MAX_NEW_TOKENS = 256
_log = logging.getLogger("rsgpt4v.demo")


def _guard(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Turn every failure of a handler into a one-line ``gr.Error`` (input errors verbatim), never a traceback."""

    def message(exc: Exception) -> gr.Error:
        if isinstance(exc, gr.Error):
            return exc
        if isinstance(exc, (DemoInputError, ValueError, FileNotFoundError)):
            return gr.Error(str(exc))
        _log.exception("demo handler %s failed", fn.__name__)
        return gr.Error(f"Something went wrong ({type(exc).__name__}: {exc}). Details are in the server log.")

    if inspect.isgeneratorfunction(fn):

        @functools.wraps(fn)
        def generator(*args: Any) -> Iterator[Any]:
            try:
                yield from fn(*args)
            except Exception as exc:
                raise message(exc) from None

        return generator

    @functools.wraps(fn)
    def plain(*args: Any) -> Any:
        try:
            return fn(*args)
        except Exception as exc:
            raise message(exc) from None

    return plain


def _on_gpu(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``spaces.GPU`` on ZeroGPU Spaces; the function itself elsewhere (``spaces`` is a no-op off ZeroGPU)."""
    try:
        import spaces
    except ImportError:
        return fn
    return spaces.GPU(duration=120)(fn)


class _Model:
    """The predictor, loaded on first use (thread-safe): the given model, or the tiny untrained demo model."""

    def __init__(self, settings: DemoSettings, max_new_tokens: int | None) -> None:
        self.settings = settings
        self.max_new_tokens = max_new_tokens
        self._predictor: Any = None
        self._lock = threading.Lock()

    def warm_up(self) -> None:
        """Start loading the model in the background, so that the first question does not wait for all of it.

        ``transformers`` is imported here first: ``datasets`` looks into it when it hashes, and must never see it
        half imported by the loading thread.
        """
        import transformers  # noqa: F401

        threading.Thread(target=self._warm, name="rsgpt4v-demo-model", daemon=True).start()

    def _warm(self) -> None:
        try:
            self.get()
        except Exception:  # reported to the user by the first question, which loads it again
            _log.exception("loading the demo model failed")

    def get(self) -> Any:
        with self._lock:
            if self._predictor is None:
                self._predictor = self._load()
            return self._predictor

    def _load(self) -> Any:
        from rsgpt4v.inference import Predictor

        if self.settings.model is None:
            from rsgpt4v.tiny_model import tiny_llava

            model, processor = tiny_llava(image_size=32, seed=0)
            return Predictor(
                model, processor=processor, device="cpu", max_new_tokens=self.max_new_tokens or _TINY_MAX_NEW_TOKENS
            )
        return Predictor(
            self.settings.model, self.settings.adapter, max_new_tokens=self.max_new_tokens or _MAX_NEW_TOKENS
        )


def _box_format(data: str) -> str:
    """The build's box format (``build_report.json`` options), ``norm01`` when unknown."""
    from rsgpt4v.build import is_build, read_report

    if is_build(Path(data)):
        return str(read_report(Path(data)).get("options", {}).get("box_format") or "norm01")
    return "norm01"


def _history(chat: list[dict[str, Any]] | None) -> list[tuple[str, str]]:
    """``(question, answer)`` pairs of a chat in messages form (text parts only)."""

    def text(content: Any) -> str:
        if isinstance(content, str):
            return content
        parts = content if isinstance(content, list) else [content]
        return " ".join(p.get("text", "") if isinstance(p, dict) else str(p) for p in parts)

    pairs: list[tuple[str, str]] = []
    question = None
    for message in chat or []:
        if message.get("role") == "user":
            question = text(message.get("content"))
        elif message.get("role") == "assistant" and question is not None:
            pairs.append((question, text(message.get("content"))))
            question = None
    return pairs


def build_demo(
    data: str | Path | None = None,
    model: str | Path | None = None,
    adapter: str | Path | None = None,
    *,
    concurrency_limit: int = 1,
    max_new_tokens: int | None = None,
) -> gr.Blocks:
    """Build the demo (not launched). With nothing given it runs offline on the synthetic sample and a tiny model.

    Args:
        data: a built folder or Hub dataset id (default ``RSGPT4V_DATA``, else the synthetic sample, built on first
            start into the cache folder).
        model: a LLaVA-architecture model folder or Hub id (default ``RSGPT4V_MODEL``, else the tiny untrained
            demo model).
        adapter: a PEFT adapter (LoRA or MoE-LoRA) for ``model`` (default ``RSGPT4V_ADAPTER``).
        concurrency_limit: Ask requests run at once (the rest wait in the queue).
        max_new_tokens: answer length limit (default 256; 24 for the tiny model).

    Returns:
        The ``gr.Blocks``, with its queue set up; call ``.launch()``.

    Raises:
        FileNotFoundError: ``data`` is neither a folder nor a Hub id.
        ValueError: an adapter without a model, or data without task configs.
    """
    settings = resolve_settings(data, model, adapter)
    explorer = Explorer(settings.data)
    predictor = _Model(settings, max_new_tokens)
    predictor.warm_up()
    box_format = _box_format(settings.data)
    first_config = "vqa" if "vqa" in explorer.configs else explorer.configs[0]
    first_split = explorer.splits(first_config)[0]

    def record_outputs(config: str, split: str, source: str, qtype: str, position: float | None) -> tuple:
        selection = explorer.selection(config, split, source or ALL, qtype or ALL)
        if not selection:
            return None, [], {}, f"No record of {config}/{split} matches these filters.", 0
        pos = min(max(int(position or 1), 1), len(selection))
        shown = explorer.render(config, split, selection[pos - 1])
        fields = shown.fields
        status = (
            f"**{config} / {split}**: record {pos} of {len(selection)}; question_id `{fields['question_id']}`, "
            f"row `{fields['id']}`, {fields['width']}x{fields['height']} px"
        )
        return (shown.image, shown.boxes), shown.chat, fields, status, pos

    def menus(config: str, split: str) -> tuple[Any, Any, Any]:
        splits = explorer.splits(config)
        split = split if split in splits else splits[0]
        types = explorer.question_types(config, split)
        return (
            gr.update(choices=splits, value=split),
            gr.update(choices=[ALL, *explorer.sources(config, split)], value=ALL),
            gr.update(choices=[ALL, *types], value=ALL, visible=bool(types)),
        )

    @_guard
    def explore_select(config: str, split: str) -> tuple:
        split_menu, source_menu, type_menu = menus(config, split)
        return split_menu, source_menu, type_menu, *record_outputs(config, split_menu["value"], ALL, ALL, 1)

    @_guard
    def record(config: str, split: str, source: str, qtype: str, position: float | None) -> tuple:
        return record_outputs(config, split, source, qtype, position)

    def stepper(delta: int) -> Callable[..., tuple]:
        @_guard
        def step(config: str, split: str, source: str, qtype: str, position: float | None) -> tuple:
            n = len(explorer.selection(config, split, source or ALL, qtype or ALL))
            pos = (int(position or 1) - 1 + delta) % n + 1 if n else 1
            return record_outputs(config, split, source, qtype, pos)

        return step

    @_guard
    def random_record(config: str, split: str, source: str, qtype: str, position: float | None) -> tuple:
        n = len(explorer.selection(config, split, source or ALL, qtype or ALL))
        return record_outputs(config, split, source, qtype, random.randint(1, n) if n else 1)

    @_guard
    def record_by_id(config: str, split: str, ident: str) -> tuple:
        index = explorer.find(config, split, ident)
        return *record_outputs(config, split, ALL, ALL, index + 1), ALL, ALL

    @_on_gpu
    def generate(image: Any, prompt: str, history: list[tuple[str, str]], task: str) -> Iterator[str]:
        yield from stream_answer(predictor.get(), image, prompt, history, task)

    @_guard
    def ask(upload: str | None, reference: str, task_label: str, text: str, chat: list | None) -> Iterator[tuple]:
        if task_label not in ASK_TASKS:
            raise DemoInputError(f"unknown task {task_label!r}; choose one of {', '.join(ASK_TASKS)}.")
        task = ASK_TASKS[task_label]
        if upload:
            uploaded = read_upload(upload)
            image, notes = uploaded.image, uploaded.notes
        else:
            config, split, index = explorer.locate_image(reference)
            image, notes = explorer.render(config, split, index).item["image"].convert("RGB"), []
        prompt = ask_prompt(task, text, image.width, image.height, box_format)
        history = _history(chat) if task == "conversation" else []
        shown = display_image(image, [])
        answer = ""
        yield "", shown, "\n\n".join(notes), gr.skip()
        for answer in generate(image, prompt, history, task):
            yield answer, gr.skip(), gr.skip(), gr.skip()
        found = answer_boxes(answer, image.width, image.height)
        notes += found.notes
        if not found.boxes and task == "grounding":
            notes.append("The answer holds no box the codec can read.")
        new_chat = list(chat or [])
        if task == "conversation":
            new_chat += [{"role": "user", "content": text.strip()}, {"role": "assistant", "content": answer}]
        yield answer, display_image(image, found.boxes), "\n\n".join(notes), new_chat

    @_guard
    def compare(report_a: str | None, report_b: str | None) -> tuple:
        files = [f for f in (report_a, report_b) if f]
        if not files:
            raise DemoInputError("no report: upload the report.json written by `rsgpt4v evaluate --out DIR`.")
        result = compare_reports([(Path(f).name, read_report(f)) for f in files])
        import pandas as pd

        return (
            result.summary,
            pd.DataFrame(result.scores, columns=result.headers),
            pd.DataFrame(result.per_type, columns=result.type_headers),
            result.figure,
        )

    first = record_outputs(first_config, first_split, ALL, ALL, 1)
    first_types = explorer.question_types(first_config, first_split)
    with gr.Blocks(title="rsgpt4v: remote-sensing instruction data and models") as demo:
        gr.Markdown("# rsgpt4v demo\n" + "\n\n".join(settings.notices()), elem_id="notices")
        with gr.Tabs():
            with gr.Tab("Explore", id="explore"):
                with gr.Row():
                    config = gr.Dropdown(
                        explorer.configs,
                        value=first_config,
                        label="config",
                        allow_custom_value=True,
                        elem_id="explore-config",
                    )
                    split = gr.Dropdown(
                        explorer.splits(first_config), value=first_split, label="split", allow_custom_value=True
                    )
                    source = gr.Dropdown(
                        [ALL, *explorer.sources(first_config, first_split)],
                        value=ALL,
                        label="source",
                        allow_custom_value=True,
                    )
                    qtype = gr.Dropdown(
                        [ALL, *first_types],
                        value=ALL,
                        label="question type",
                        visible=bool(first_types),
                        allow_custom_value=True,
                    )
                with gr.Row():
                    position = gr.Number(value=first[4], label="record", precision=0, minimum=0)
                    previous_btn = gr.Button("Previous")
                    next_btn = gr.Button("Next")
                    random_btn = gr.Button("Random")
                    ident = gr.Textbox(label="record id (question_id or row id)", scale=2, elem_id="explore-id")
                    go_btn = gr.Button("Go to id", elem_id="explore-go")
                status = gr.Markdown(first[3], elem_id="explore-status")
                with gr.Row():
                    image = gr.AnnotatedImage(first[0], label="image and boxes", elem_id="explore-image")
                    chat_view = gr.Chatbot(first[1], label="conversation", elem_id="explore-chat")
                fields = gr.JSON(first[2], label="typed fields", elem_id="explore-fields")
            with gr.Tab("Ask", id="ask"):
                with gr.Row():
                    with gr.Column():
                        upload = gr.File(
                            label="upload an image (JPEG, PNG, WebP, TIFF)", file_types=["image", ".tif", ".tiff"]
                        )
                        reference = gr.Textbox(
                            label="or a dataset image: record id or image path", elem_id="ask-reference"
                        )
                        use_record = gr.Button("Use the record shown in Explore", size="sm", elem_id="ask-use-record")
                        task = gr.Radio(list(ASK_TASKS), value="VQA", label="task", elem_id="ask-task")
                        question = gr.Textbox(
                            label="question, expression or region [x1, y1, x2, y2]", elem_id="ask-question"
                        )
                        ask_btn = gr.Button("Ask", variant="primary", elem_id="ask-button")
                        clear_btn = gr.Button("Clear chat", size="sm")
                    with gr.Column():
                        answer = gr.Textbox(label="answer", elem_id="ask-answer", interactive=False)
                        answer_image = gr.AnnotatedImage(label="boxes in the answer", elem_id="ask-image")
                        ask_notes = gr.Markdown(elem_id="ask-notes")
                        chat = gr.Chatbot(label="multi-turn chat", elem_id="ask-chat")
            with gr.Tab("Evaluate", id="evaluate"):
                gr.Markdown("Load one or two `report.json` files written by `rsgpt4v evaluate --out DIR`.")
                with gr.Row():
                    report_a = gr.File(label="report A", file_types=[".json"], elem_id="report-a")
                    report_b = gr.File(label="report B (optional)", file_types=[".json"], elem_id="report-b")
                compare_btn = gr.Button("Compare", variant="primary", elem_id="compare-button")
                summary = gr.Markdown(elem_id="compare-summary")
                scores = gr.Dataframe(label="scores (x 100)", elem_id="compare-scores")
                per_type = gr.Dataframe(label="VQA accuracy per question type (x 100)")
                plot = gr.Plot(label="scores")

        shown = [image, chat_view, fields, status, position]
        filters = [config, split, source, qtype, position]
        # API events first: a private event reusing a handler would otherwise take its name. Explore events are
        # light, read-only and thread-safe: they skip the queue (one HTTP round trip instead of the queue's stream).
        fast = dict(queue=False)
        config.input(
            explore_select, [config, split], [split, source, qtype, *shown], api_name="explore_select", **fast
        )
        position.submit(record, filters, shown, api_name="record", **fast)
        previous_btn.click(stepper(-1), filters, shown, api_name="previous", **fast)
        next_btn.click(stepper(1), filters, shown, api_name="next", **fast)
        random_btn.click(random_record, filters, shown, api_name="random", **fast)
        go_btn.click(record_by_id, [config, split, ident], [*shown, source, qtype], api_name="record_by_id", **fast)
        split.input(explore_select, [config, split], [split, source, qtype, *shown], api_visibility="private", **fast)
        source.input(record, filters, shown, api_visibility="private", **fast)
        qtype.input(record, filters, shown, api_visibility="private", **fast)
        ident.submit(record_by_id, [config, split, ident], [*shown, source, qtype], api_visibility="private", **fast)
        use_record.click(None, fields, reference, js="(f) => (f && f.question_id) ? f.question_id : ''")
        ask_btn.click(
            ask,
            [upload, reference, task, question, chat],
            [answer, answer_image, ask_notes, chat],
            api_name="ask",
            concurrency_limit=concurrency_limit,
            concurrency_id="model",
        )
        clear_btn.click(lambda: [], None, chat, api_visibility="private")
        compare_btn.click(compare, [report_a, report_b], [summary, scores, per_type, plot], api_name="compare")
    demo.queue(max_size=256, default_concurrency_limit=8)
    return demo
