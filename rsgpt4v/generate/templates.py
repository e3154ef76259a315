"""Named prompt templates of the generation pipeline, written for overhead remote-sensing imagery.

Templates use ``string.Template`` placeholders (``${name}``), so JSON examples need no escaping. Override any of
them by name (``--template local=my_local.txt`` on the command line, or ``templates={"local": "..."}`` in
``GenerationConfig``); the placeholders each one may use are listed in ``PLACEHOLDERS``.
"""

from __future__ import annotations

from collections.abc import Mapping
from string import Template

__all__ = ["DEFAULT_QUESTION_TYPES", "PLACEHOLDERS", "TEMPLATES", "check_overrides", "render"]

SYSTEM = """\
You are an expert analyst of remote sensing imagery: satellite and aerial photographs seen from directly above. \
You describe only what is visible, use precise remote-sensing vocabulary (storage tank, expressway service area, \
toll station, baseball field, ground track field, harbour, dam, overpass, farmland, ...), count carefully, and say \
plainly when something cannot be determined from the image. You always reply with one JSON object and nothing else."""

LOCAL = """\
This is an overhead remote sensing image of ${width}x${height} pixels.

Existing annotations (category: bounding box):
${annotations}

Bounding boxes are written as ${box_format}, for example ${box_example}.

Task (local level): describe the objects of the image one by one.
- Include every annotated object above, keeping its category and its bounding box exactly as given.
- Add the other clearly visible, salient objects or regions (buildings, roads, vehicles, vegetation, water, bare \
land, ...) with a tight bounding box in the same format.
- For each object give its fine-grained visual attributes: colour, shape, size relative to the scene, surface or \
material, orientation, state (parked, docked, under construction, ...) and the count when it is a group.
- Then give the spatial relations between the objects: relative position (left of, above, next to, surrounding, \
between), alignment, distance and containment, naming objects by category and position. Use image directions \
(top, bottom, left, right): north is not necessarily up.

Return JSON: {"objects": [{"category": "...", "bbox": "<bounding box>", "description": "..."}], \
"relations": ["..."]}"""

GLOBAL = """\
Local, object-level descriptions of this ${width}x${height} remote sensing image (category, bounding box: \
description):
${objects}

Spatial relations:
${relations}

Task (global level): integrate all of this local information with what you see into one detailed description of \
the whole image, a single paragraph of 60 to 150 words: first the kind of scene (an industrial site, a port, a \
suburban residential area, ...), then the main objects with their counts and attributes, then their layout, the \
surroundings and what the place is used for. Keep the counts consistent with the local descriptions. Do not \
mention bounding boxes, coordinates, annotations or these instructions.

Return JSON: {"description": "..."}"""

CONVERSATION = """\
Detailed description of this ${width}x${height} remote sensing image:
${description}

Objects (category, bounding box: description):
${objects}

Task: write a conversation of exactly ${turns} question-and-answer turns between a person asking about the image \
and an assistant who sees it. Every question must need the image to be answered and should require reasoning, not \
only naming. Use these question types, each at least once as far as ${turns} turns allow, in any order:
${question_types}

Answers are complete sentences: confident where the image shows the answer, honest where it does not (say what is \
not visible or cannot be determined instead of guessing). Write as someone looking at the image: never mention \
the descriptions, annotations, bounding boxes or coordinates you were given; describe locations in words (in the \
upper left, along the road, ...).

Return JSON: {"turns": [{"type": "<question type>", "question": "...", "answer": "..."}]}"""

REPAIR = """\
Your previous reply could not be used: ${reason}
Reply again with only the corrected JSON object, in exactly the requested format."""

#: The default templates by name.
TEMPLATES: dict[str, str] = {
    "system": SYSTEM,
    "local": LOCAL,
    "global": GLOBAL,
    "conversation": CONVERSATION,
    "repair": REPAIR,
}

#: The placeholders each template may use.
PLACEHOLDERS: dict[str, frozenset[str]] = {
    "system": frozenset(),
    "local": frozenset({"width", "height", "source", "image_path", "annotations", "box_format", "box_example"}),
    "global": frozenset({"width", "height", "source", "image_path", "objects", "relations"}),
    "conversation": frozenset(
        {"width", "height", "source", "image_path", "objects", "relations", "description", "turns", "question_types"}
    ),
    "repair": frozenset({"reason"}),
}

#: Question types of the conversation stage and what each asks for (override with ``question_types``).
DEFAULT_QUESTION_TYPES: dict[str, str] = {
    "counting": "how many of some kind of object there are, counted carefully",
    "position": "where objects are and how they are arranged relative to each other",
    "attributes": "the colour, shape, size, material or condition of objects",
    "function": "what a facility or area is used for, and what in the image shows it",
    "reasoning": "an inference about activity, land use, traffic, season or what is likely happening",
    "counterfactual": "what would change if something in the scene were different (removed, flooded, doubled, ...)",
    "refusal": "something absent from the image or impossible to tell from it, answered honestly "
    "(e.g. 'Is there a swimming pool?' -> 'No, there is no swimming pool in this image.')",
}


def render(name: str, overrides: Mapping[str, str] | None = None, **fields: object) -> str:
    """Fill the template ``name`` (an override if given, else the default) with ``fields``.

    Raises:
        ValueError: if ``name`` is not a template, or the template uses a placeholder that ``name`` does not offer.
    """
    if name not in TEMPLATES:
        raise ValueError(f"Unknown prompt template {name!r}; the templates are {', '.join(TEMPLATES)}.")
    text = (overrides or {}).get(name, TEMPLATES[name])
    try:
        return Template(text).substitute(fields)
    except (KeyError, ValueError) as err:
        allowed = ", ".join(f"${{{p}}}" for p in sorted(PLACEHOLDERS[name])) or "none"
        raise ValueError(
            f"Prompt template {name!r} cannot be filled: bad placeholder {err}; it may use {allowed} "
            "(write a literal dollar sign as $$)."
        ) from None


def check_overrides(overrides: Mapping[str, str]) -> None:
    """Check user templates before a run: known names and only the placeholders each name offers.

    Raises:
        ValueError: naming the template and the bad name or placeholder.
    """
    for name in overrides:
        if name not in TEMPLATES:
            raise ValueError(f"Unknown prompt template {name!r}; the templates are {', '.join(TEMPLATES)}.")
        render(name, overrides, **dict.fromkeys(PLACEHOLDERS[name], ""))
