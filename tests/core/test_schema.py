import pytest

from rsgpt4v.schema import (
    CONFIGS,
    QUESTION_TYPES,
    SOURCES,
    TASKS,
    Record,
    SchemaError,
    features,
)

# Label lists are stored as ClassLabel names in every published build: only ever append to them.
PINNED_SOURCES = (
    "ucm_captions", "sydney_captions", "rsicd", "rsitmd", "nwpu_captions", "rsvqa_lr", "rsvqa_hr", "floodnet",
    "rsivqa", "dior_rsvg", "synthetic", "custom",
)  # fmt: skip
PINNED_TASKS = ("caption", "vqa", "grounding", "region_caption", "detail", "conversation")
PINNED_QUESTION_TYPES = (
    "presence", "comp", "count", "rural_urban", "area", "yes_no", "simple_counting", "complex_counting",
    "condition_recognition", "number", "other", "unknown",
)  # fmt: skip


def test_label_lists_are_pinned_in_order():
    assert SOURCES[: len(PINNED_SOURCES)] == PINNED_SOURCES
    assert TASKS[: len(PINNED_TASKS)] == PINNED_TASKS
    assert QUESTION_TYPES[: len(PINNED_QUESTION_TYPES)] == PINNED_QUESTION_TYPES
    assert CONFIGS == (*PINNED_TASKS, "instruct")


def test_class_labels_use_the_pinned_lists():
    f = features("vqa")
    assert f["source"].names == list(PINNED_SOURCES)
    assert f["task"].names == list(PINNED_TASKS)
    assert f["qa"].feature["question_type"].names == list(PINNED_QUESTION_TYPES)


COMMON = ["id", "image", "image_path", "width", "height", "source", "origin", "task", "conversations"]


@pytest.mark.parametrize(
    "config, extra",
    [
        ("caption", ["question_id", "references"]),
        ("vqa", ["qa"]),
        ("grounding", ["objects"]),
        ("region_caption", ["objects"]),
        ("detail", ["question_id", "description", "objects"]),
        ("conversation", ["turn_question_ids"]),
        ("instruct", []),
    ],
)
def test_feature_columns(config, extra):
    assert list(features(config)) == COMMON + extra


def test_nested_fields():
    assert set(features("vqa")["qa"].feature) == {"question_id", "question", "answer", "question_type"}
    assert set(features("grounding")["objects"].feature) == {"question_id", "expression", "category", "bbox"}
    assert set(features("region_caption")["objects"].feature) == {"question_id", "description", "category", "bbox"}
    assert set(features("detail")["objects"].feature) == {"category", "bbox", "description"}
    bbox = features("grounding")["objects"].feature["bbox"]
    assert bbox.length == 4 and bbox.feature.dtype == "float32"
    assert features("conversation")["conversations"].feature["from"].dtype == "string"


def test_unknown_config():
    with pytest.raises(ValueError, match="Unknown config 'vqa2'"):
        features("vqa2")


def _rec(**kw):
    base = dict(task="grounding", source="dior_rsvg", split="train", image_path="DIOR-RSVG/JPEGImages/1.jpg",
                image_file="/x.jpg", question_id="7", text="the tank", bbox=(1.0, 2.0, 30.0, 40.0),
                width=100, height=100)  # fmt: skip
    base.update(kw)
    return Record(**base)


def test_valid_record_passes():
    _rec().validate()


@pytest.mark.parametrize(
    "kw, message",
    [
        ({"bbox": (10.0, 2.0, 5.0, 40.0)}, "degenerate"),
        ({"bbox": (1.0, 2.0, 130.0, 40.0)}, "outside the 100x100 image"),
        ({"bbox": (1.0, 2.0, 3.0)}, "4 finite numbers"),
        ({"text": "  "}, "'text'"),
        ({"task": "vqa", "question": "", "question_type": "presence"}, "'question' is empty"),
        ({"task": "vqa", "question": "Is it?", "question_type": "bogus"}, "question_type"),
        ({"task": "caption", "references": ["ok", ""]}, "references"),
        ({"source": "ucm"}, "'source' is 'ucm'"),
        ({"split": "dev"}, "'split' is 'dev'"),
        ({"image_file": None}, "image_bytes"),
    ],
)
def test_invalid_records_name_record_and_field(kw, message):
    with pytest.raises(SchemaError, match=message) as info:
        _rec(**kw).validate()
    assert "record '7'" in str(info.value)
