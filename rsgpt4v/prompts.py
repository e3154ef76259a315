"""Instruction templates per task: named, versioned, with the RS-GPT4V test-split strings as defaults.

Every instruction the library writes into a conversation or sends to a model comes from a :class:`PromptTemplate`
in :data:`TEMPLATES`. The defaults reproduce, character for character, the instructions of the released RS-GPT4V
test split (caption, VQA, detail, conversation) and LLaVA-1.5's RefCOCO prompts (grounding, region caption) as
they appear in its released training mixture. A template may carry a pool of alternative phrasings that training
samples from when given a ``random.Random``; without one the output is deterministic. Change a template's text
only together with its ``version``, so that reports naming ``name@vN`` stay reproducible.
"""

from __future__ import annotations

import functools
import random
import string
from collections.abc import Mapping
from dataclasses import dataclass

from rsgpt4v.schema import TASKS, Task

__all__ = [
    "CAPTION_PROMPT",
    "DEFAULT_TEMPLATES",
    "DETAIL_PROMPT",
    "GROUNDING_PROMPT",
    "REGION_CAPTION_PROMPT",
    "TEMPLATES",
    "VQA_SUFFIX",
    "PromptTemplate",
    "get_template",
    "instruction",
    "register_template",
]

#: Caption instruction of every caption file of the RS-GPT4V test split.
CAPTION_PROMPT = "Provide a one-sentence caption for this remote sensing image."
#: Appended to the verbatim question in the RS-GPT4V VQA test split (LLaVA-1.5's short-answer format prompt).
VQA_SUFFIX = "\nAnswer the question using a single word or phrase."
#: Instruction of every line of the RS-GPT4V ``Detailed_Description`` test file.
DETAIL_PROMPT = "What are the key elements in this picture?"
#: LLaVA-1.5's RefCOCO grounding prompt; the box text answers it. The full stop is part of the released form.
GROUNDING_PROMPT = "Please provide the bounding box coordinate of the region this sentence describes: {expression}."
#: LLaVA-1.5's RefCOCO region-caption prompt; ``{box}`` is box text from :func:`rsgpt4v.boxes.encode`.
REGION_CAPTION_PROMPT = "Please provide a short description for this region: {box}."


@functools.lru_cache(maxsize=256)
def _pieces(text: str) -> tuple[tuple[str, str | None], ...]:
    """``(literal, field name)`` pairs of a format string, parsed once per text (the build renders millions)."""
    return tuple((literal, name) for literal, name, _, _ in string.Formatter().parse(text))


@functools.lru_cache(maxsize=256)
def _fields(text: str) -> tuple[str, ...]:
    return tuple(sorted({name for _, name in _pieces(text) if name is not None}))


@dataclass(frozen=True)
class PromptTemplate:
    """One named, versioned instruction template.

    Args:
        name: stable identifier, the key in :data:`TEMPLATES`.
        version: positive integer, raised whenever the text of ``template`` or ``pool`` changes.
        task: the task it instructs (a value of :class:`rsgpt4v.schema.Task`).
        template: the default text, a ``str.format`` string whose fields (``{question}``, ``{expression}``,
            ``{box}``) are filled verbatim.
        pool: alternative phrasings with the same fields, sampled together with ``template`` during training
            when a ``random.Random`` is given.
        source: where the text comes from.

    Raises:
        ValueError: for an unknown task, a version below 1, an unnamed field (``{}``), or a pool entry whose
            fields differ from the template's.
    """

    name: str
    version: int
    task: str
    template: str
    pool: tuple[str, ...] = ()
    source: str = ""

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            known = ", ".join(TASKS)
            raise ValueError(f"Template {self.name!r}: unknown task {self.task!r}; expected one of {known}.")
        if isinstance(self.version, bool) or not isinstance(self.version, int) or self.version < 1:
            raise ValueError(f"Template {self.name!r}: `version` must be an integer >= 1, got {self.version!r}.")
        bad = [name for name in self.fields if not name.isidentifier()]
        if bad:
            raise ValueError(f"Template {self.name!r}: fields must be named like {{question}}, got {bad}.")
        for alternative in self.pool:
            if _fields(alternative) != self.fields:
                raise ValueError(
                    f"Template {self.name!r}: pool entry {alternative!r} has fields {_fields(alternative)}, "
                    f"but the template has {self.fields}; every phrasing must take the same fields."
                )

    @property
    def fields(self) -> tuple[str, ...]:
        """The names of the template's fields, sorted."""
        return _fields(self.template)

    @property
    def key(self) -> str:
        """``name@vN``, the identifier that reports record."""
        return f"{self.name}@v{self.version}"

    def render(self, values: Mapping[str, str], rng: random.Random | None = None) -> str:
        """Fill the template (or, with ``rng`` and a pool, a phrasing drawn from template + pool).

        Values are inserted verbatim, except that a value ending in ``.`` placed right before a ``.`` of the
        template does not produce ``..``.

        Args:
            values: one string per field.
            rng: source of randomness for drawing from the pool; ``None`` always uses ``template``.

        Raises:
            ValueError: if a field is missing or empty, or a value is given for a field the template lacks.
        """
        for name in self.fields:
            if name not in values:
                raise ValueError(
                    f"Template {self.key} (task {self.task}) needs `{name}`; pass instruction({self.task!r}, "
                    f"{name}=...)."
                )
            if not values[name]:
                raise ValueError(f"Template {self.key} (task {self.task}): `{name}` is empty.")
        extra = sorted(set(values) - set(self.fields))
        if extra:
            raise ValueError(
                f"Template {self.key} (task {self.task}) takes {list(self.fields) or 'no fields'}, "
                f"not {', '.join(f'`{name}`' for name in extra)}."
            )
        text = rng.choice((self.template, *self.pool)) if rng is not None and self.pool else self.template
        pieces = _pieces(text)
        out = []
        for i, (literal, name) in enumerate(pieces):
            out.append(literal)
            if name is None:
                continue
            value = values[name]
            following = pieces[i + 1][0] if i + 1 < len(pieces) else ""
            if following.startswith(".") and value.endswith("."):
                value = value[:-1]
            out.append(value)
        return "".join(out)


_RSGPT4V_TEST = "RS-GPT4V released test split (LLaVA eval JSONL), every line of the file"
_LLAVA665K = "LLaVA-1.5 training mixture llava_v1_5_mix665k.json, RefCOCO conversations"
_PROJECT = "pool written for rsgpt4v (not from the paper, whose training prompts are unpublished)"

#: Every registered template by name.
TEMPLATES: dict[str, PromptTemplate] = {
    t.name: t
    for t in (
        PromptTemplate(
            name="rsgpt4v_caption",
            version=1,
            task=Task.CAPTION.value,
            template=CAPTION_PROMPT,
            pool=(
                "Write a one-sentence caption for this remote sensing image.",
                "Describe this aerial image in one sentence.",
                "Summarize the content of this satellite or aerial image in a single sentence.",
            ),
            source=f"{_RSGPT4V_TEST}; pool: {_PROJECT}",
        ),
        PromptTemplate(
            name="rsgpt4v_vqa",
            version=1,
            task=Task.VQA.value,
            template="{question}" + VQA_SUFFIX,
            source=_RSGPT4V_TEST,
        ),
        PromptTemplate(
            name="rsgpt4v_detail",
            version=1,
            task=Task.DETAIL.value,
            template=DETAIL_PROMPT,
            pool=(
                "Describe this remote sensing image in detail.",
                "What objects and land-cover types does this image show, and how are they arranged?",
                "Give a detailed description of the scene in this aerial image.",
            ),
            source=f"{_RSGPT4V_TEST}; pool: {_PROJECT}",
        ),
        PromptTemplate(
            name="rsgpt4v_conversation",
            version=1,
            task=Task.CONVERSATION.value,
            template="{question}",
            source=_RSGPT4V_TEST,
        ),
        PromptTemplate(
            name="llava15_grounding",
            version=1,
            task=Task.GROUNDING.value,
            template=GROUNDING_PROMPT,
            source=_LLAVA665K,
        ),
        PromptTemplate(
            name="llava15_region_caption",
            version=1,
            task=Task.REGION_CAPTION.value,
            template=REGION_CAPTION_PROMPT,
            source=_LLAVA665K,
        ),
    )
}

#: The template each task uses when none is named.
DEFAULT_TEMPLATES: dict[str, str] = {
    Task.CAPTION.value: "rsgpt4v_caption",
    Task.VQA.value: "rsgpt4v_vqa",
    Task.GROUNDING.value: "llava15_grounding",
    Task.REGION_CAPTION.value: "llava15_region_caption",
    Task.DETAIL.value: "rsgpt4v_detail",
    Task.CONVERSATION.value: "rsgpt4v_conversation",
}


def get_template(name: str) -> PromptTemplate:
    """Return the registered template called ``name``.

    Raises:
        ValueError: if no template has that name (the message lists the known names).
    """
    try:
        return TEMPLATES[name]
    except KeyError:
        raise ValueError(f"Unknown prompt template {name!r}; known: {', '.join(sorted(TEMPLATES))}.") from None


def register_template(template: PromptTemplate, *, replace: bool = False) -> PromptTemplate:
    """Add a template to :data:`TEMPLATES` (e.g. a training pool of your own) and return it.

    Args:
        template: the template.
        replace: allow replacing a registered template of the same name.

    Raises:
        ValueError: if the name is taken and ``replace`` is false.
    """
    if template.name in TEMPLATES and not replace:
        raise ValueError(
            f"A prompt template named {template.name!r} is already registered; choose another name or pass "
            "`replace=True`."
        )
    TEMPLATES[template.name] = template
    return template


def instruction(
    task: Task | str,
    *,
    question: str | None = None,
    expression: str | None = None,
    box: str | None = None,
    template: PromptTemplate | str | None = None,
    rng: random.Random | None = None,
) -> str:
    r"""Return the instruction text of one item (without the ``<image>\n`` prefix of a first turn).

    Args:
        task: the item's task.
        question: the question (``vqa``, ``conversation``), inserted verbatim.
        expression: the referring expression (``grounding``).
        box: the region as box text from :func:`rsgpt4v.boxes.encode` (``region_caption``).
        template: a template or its registered name; default :data:`DEFAULT_TEMPLATES` ``[task]``.
        rng: draw the phrasing from the template's pool (training); ``None`` gives the default text.

    Raises:
        ValueError: for an unknown task or template, a template of another task, or a missing, empty or
            unused field.
        TypeError: if a field is not a string (e.g. a :class:`rsgpt4v.boxes.Box` instead of its text).

    >>> instruction("vqa", question="Is there a road?")
    'Is there a road?\nAnswer the question using a single word or phrase.'
    """
    name = task.value if isinstance(task, Task) else task
    if name not in TASKS:
        raise ValueError(f"Unknown task {task!r}; expected one of {', '.join(TASKS)}.")
    if template is None:
        template = DEFAULT_TEMPLATES[name]
    chosen = get_template(template) if isinstance(template, str) else template
    if chosen.task != name:
        raise ValueError(f"Template {chosen.key} is for task {chosen.task!r}, not {name!r}.")
    values = {}
    for name, value in (("question", question), ("expression", expression), ("box", box)):
        if value is None:
            continue
        if not isinstance(value, str):
            hint = " Encode the box first with rsgpt4v.boxes.encode(...)." if name == "box" else ""
            raise TypeError(f"`{name}` must be a string, got {type(value).__name__} {value!r}.{hint}")
        values[name] = value
    return chosen.render(values, rng)
