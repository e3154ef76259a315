"""Tests of the instruction templates: the released test split reproduced, snapshots, pools, errors.

Snapshot update procedure
-------------------------
``SNAPSHOTS`` below freezes the rendered instruction of one fixed record per task, literally. A failing snapshot
means a prompt changed, which changes training data and evaluation inputs. To change one deliberately:

1. edit the template in ``rsgpt4v/prompts.py`` and raise its ``version`` by one;
2. replace the expected string here (and the ``name@vN`` in ``VERSIONS``) by the new output, printed with
   ``python -c "from rsgpt4v.prompts import instruction; print(repr(instruction(...)))"``;
3. say in the commit message which prompt changed and why.

Never regenerate the strings from the code under test automatically: the literal text is the point.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

import pytest

from rsgpt4v.boxes import Box, encode
from rsgpt4v.prompts import (
    CAPTION_PROMPT,
    DEFAULT_TEMPLATES,
    DETAIL_PROMPT,
    GROUNDING_PROMPT,
    REGION_CAPTION_PROMPT,
    TEMPLATES,
    VQA_SUFFIX,
    PromptTemplate,
    get_template,
    instruction,
    register_template,
)
from rsgpt4v.schema import TASKS

SAMPLE = Path(__file__).parent / "data" / "rsgpt4v_test_sample"
CAPTION_FILES = ("UCM-Captions.jsonl", "Sydney-Captions.jsonl", "RSICD.jsonl", "NWPU-Captions.jsonl")

# One fixed record per task. The first four are real lines of the released test split (question_id 0 of each
# file); grounding and region_caption use a DIOR-RSVG-sized (800 x 800) image with a fixed box.
GROUNDING_BOX = Box(96.0, 120.0, 248.0, 260.0)
SNAPSHOTS = {
    "caption": ({}, "Provide a one-sentence caption for this remote sensing image."),
    "vqa": (
        {"question": "Is it a rural or an urban area"},
        "Is it a rural or an urban area\nAnswer the question using a single word or phrase.",
    ),
    "grounding": (
        {"expression": "the storage tank on the upper left"},
        "Please provide the bounding box coordinate of the region this sentence describes: "
        "the storage tank on the upper left.",
    ),
    "region_caption": (
        {"box": "[0.12, 0.15, 0.31, 0.33]"},
        "Please provide a short description for this region: [0.12, 0.15, 0.31, 0.33].",
    ),
    "detail": ({}, "What are the key elements in this picture?"),
    "conversation": (
        {"question": "Can you tell me what's happening on the left side of this image?"},
        "Can you tell me what's happening on the left side of this image?",
    ),
}
VERSIONS = {
    "caption": "rsgpt4v_caption@v1",
    "vqa": "rsgpt4v_vqa@v1",
    "grounding": "llava15_grounding@v1",
    "region_caption": "llava15_region_caption@v1",
    "detail": "rsgpt4v_detail@v1",
    "conversation": "rsgpt4v_conversation@v1",
}


def _lines(name: str) -> list[dict]:
    with open(SAMPLE / name, encoding="utf-8") as f:
        return [json.loads(line) for line in f]


# --- snapshots ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("task", TASKS)
def test_snapshot_of_one_fixed_record_per_task(task):
    fields, expected = SNAPSHOTS[task]
    assert instruction(task, **fields) == expected


def test_snapshot_covers_every_task_and_pins_versions():
    assert set(SNAPSHOTS) == set(TASKS) == set(DEFAULT_TEMPLATES)
    assert {task: get_template(DEFAULT_TEMPLATES[task]).key for task in TASKS} == VERSIONS


def test_region_caption_snapshot_box_is_the_codec_output():
    assert encode(GROUNDING_BOX, "norm01", width=800, height=800) == SNAPSHOTS["region_caption"][0]["box"]


def test_snapshot_records_are_the_first_lines_of_the_sample():
    assert _lines("RSVQA_LR.jsonl")[0]["text"] == SNAPSHOTS["vqa"][1]
    assert _lines("Conversation_Complex_Reasoning.jsonl")[0]["text"] == SNAPSHOTS["conversation"][1]
    assert _lines("UCM-Captions.jsonl")[0]["text"] == SNAPSHOTS["caption"][1]
    assert _lines("Detailed_Description.jsonl")[0]["text"] == SNAPSHOTS["detail"][1]


# --- the released RS-GPT4V test split is reproduced line by line ---------------------------------------------------


@pytest.mark.parametrize("name", CAPTION_FILES)
def test_caption_prompt_matches_every_released_caption_line(name):
    lines = _lines(name)
    assert lines and all(line["text"] == instruction("caption") == CAPTION_PROMPT for line in lines)


def test_vqa_prompt_matches_every_released_vqa_line():
    lines = _lines("RSVQA_LR.jsonl")
    assert len(lines) == 231
    for line in lines:
        assert line["text"].endswith(VQA_SUFFIX)
        question = line["text"][: -len(VQA_SUFFIX)]
        assert instruction("vqa", question=question) == line["text"]


def test_detail_prompt_matches_every_released_detail_line():
    lines = _lines("Detailed_Description.jsonl")
    assert lines and all(instruction("detail") == line["text"] == DETAIL_PROMPT for line in lines)


def test_conversation_prompt_is_the_question_verbatim():
    for line in _lines("Conversation_Complex_Reasoning.jsonl"):
        assert instruction("conversation", question=line["text"]) == line["text"]
    assert instruction("conversation", question="  spaces kept ") == "  spaces kept "


# --- LLaVA-1.5 prompts ----------------------------------------------------------------------------------------------


def test_llava_prompts_have_the_released_form():
    assert GROUNDING_PROMPT == (
        "Please provide the bounding box coordinate of the region this sentence describes: {expression}."
    )
    assert REGION_CAPTION_PROMPT == "Please provide a short description for this region: {box}."


def test_full_stop_of_a_value_is_not_doubled():
    assert instruction("grounding", expression="guy on right.") == (
        "Please provide the bounding box coordinate of the region this sentence describes: guy on right."
    )
    # only a full stop right before the template's own one is merged
    assert instruction("vqa", question="Is it?.") == "Is it?.\nAnswer the question using a single word or phrase."


# --- pools ----------------------------------------------------------------------------------------------------------


def test_pool_is_used_only_with_an_rng():
    template = get_template("rsgpt4v_caption")
    assert len(template.pool) == 3
    assert instruction("caption") == CAPTION_PROMPT
    drawn = {instruction("caption", rng=random.Random(seed)) for seed in range(200)}
    assert drawn == {template.template, *template.pool}


def test_pool_draw_is_deterministic_per_seed():
    expected = random.Random(7).choice((DETAIL_PROMPT, *get_template("rsgpt4v_detail").pool))
    assert [instruction("detail", rng=random.Random(7)) for _ in range(3)] == [expected] * 3


def test_template_without_pool_ignores_rng():
    assert instruction("vqa", question="Is there a road?", rng=random.Random(0)) == ("Is there a road?" + VQA_SUFFIX)


def test_custom_pool_template_by_object_and_by_name():
    custom = PromptTemplate(
        name="test_grounding_pool",
        version=2,
        task="grounding",
        template="Where is {expression}?",
        pool=("Locate {expression}.", "Give the box of {expression}."),
        source="test",
    )
    assert custom.fields == ("expression",)
    assert custom.key == "test_grounding_pool@v2"
    assert instruction("grounding", expression="the pool", template=custom) == "Where is the pool?"
    register_template(custom)
    try:
        drawn = {
            instruction("grounding", expression="the pool", template="test_grounding_pool", rng=random.Random(s))
            for s in range(100)
        }
        assert drawn == {"Where is the pool?", "Locate the pool.", "Give the box of the pool."}
        with pytest.raises(ValueError, match="already registered"):
            register_template(custom)
        replaced = PromptTemplate("test_grounding_pool", 3, "grounding", "Find {expression}.")
        assert register_template(replaced, replace=True) is replaced
        assert get_template("test_grounding_pool").version == 3
    finally:
        del TEMPLATES["test_grounding_pool"]


# --- errors ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("task", "kwargs", "error", "match"),
    [
        ("classification", {}, ValueError, "Unknown task 'classification'; expected one of caption, vqa"),
        ("vqa", {}, ValueError, r"needs `question`; pass instruction\('vqa', question=...\)"),
        ("grounding", {}, ValueError, "needs `expression`"),
        ("region_caption", {}, ValueError, "needs `box`"),
        ("conversation", {}, ValueError, "needs `question`"),
        ("vqa", {"question": ""}, ValueError, "`question` is empty"),
        ("caption", {"question": "What?"}, ValueError, "takes no fields, not `question`"),
        ("vqa", {"question": "Q?", "box": "[0.1, 0.1, 0.2, 0.2]"}, ValueError, r"takes \['question'\], not `box`"),
        ("region_caption", {"box": Box(1, 2, 3, 4)}, TypeError, "Encode the box first"),
        ("vqa", {"question": 3}, TypeError, "`question` must be a string, got int 3"),
        ("caption", {"template": "no_such_template"}, ValueError, "Unknown prompt template 'no_such_template'"),
        ("caption", {"template": "rsgpt4v_detail"}, ValueError, "is for task 'detail', not 'caption'"),
    ],
)
def test_instruction_errors_are_clear(task, kwargs, error, match):
    with pytest.raises(error, match=match):
        instruction(task, **kwargs)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"task": "captioning"}, "unknown task 'captioning'"),
        ({"version": 0}, "`version` must be an integer >= 1, got 0"),
        ({"version": True}, "`version` must be an integer >= 1"),
        ({"template": "Question: {}"}, "fields must be named"),
        ({"pool": ("No question here.",)}, r"has fields \(\), but the template has \('question',\)"),
    ],
)
def test_template_validation(kwargs, match):
    base = {"name": "bad", "version": 1, "task": "vqa", "template": "{question}"}
    with pytest.raises(ValueError, match=match):
        PromptTemplate(**{**base, **kwargs})


def test_registry_lists_every_default_and_is_frozen_per_template():
    for task, name in DEFAULT_TEMPLATES.items():
        assert TEMPLATES[name].task == task
        assert TEMPLATES[name].source
    with pytest.raises(AttributeError):
        TEMPLATES["rsgpt4v_caption"].template = "changed"  # type: ignore[misc]


def test_boxes_and_prompts_stay_light():
    code = (
        "import sys, rsgpt4v.boxes, rsgpt4v.prompts; "
        "heavy = [m for m in ('torch', 'datasets', 'transformers', 'numpy') if m in sys.modules]; "
        "print(heavy)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
