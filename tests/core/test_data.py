import pytest
from helpers import records

import rsgpt4v
from rsgpt4v.build import BuildInput, BuildOptions, build
from rsgpt4v.data import items, load, resolve_path, to_llava_json, to_trl


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    out = tmp_path_factory.mktemp("d") / "data"

    def gen():
        yield from records("train", "a.png", seed=1)
        yield from records("test", "b.png", seed=2, source="synthetic")

    build([BuildInput("hand", gen)], out, BuildOptions(progress=False))
    return out


def test_load_and_filter_by_source(folder):
    ds = rsgpt4v.load("vqa", path=folder)
    assert {s: d.num_rows for s, d in ds.items()} == {"train": 1, "test": 1}
    only = load("vqa", split="test", path=folder, sources=["custom"])
    assert only.num_rows == 0
    assert load("vqa", split="test", path=folder, sources=["synthetic"]).num_rows == 1
    streamed = load("caption", split="train", path=folder, streaming=True)
    assert [r["id"] for r in streamed] == ["custom/train/imgs/a.png/caption"]


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"config": "vqa2"}, "Unknown config 'vqa2'"),
        ({"config": "vqa", "split": "validation"}, "has no split 'validation'; it has"),
        ({"config": "vqa", "sources": ["ucm"]}, "Unknown source"),
    ],
)
def test_load_errors(folder, kwargs, message):
    with pytest.raises(ValueError, match=message):
        load(path=folder, **kwargs)


def test_resolve_path(folder, tmp_path):
    assert resolve_path(folder) == str(folder)
    assert resolve_path("owner/rs-gpt4v") == "owner/rs-gpt4v"
    with pytest.raises(FileNotFoundError, match="not a folder and not a Hub id"):
        resolve_path(tmp_path / "missing" / "deeper")


def test_items_per_task(folder):
    vqa = list(items(load("vqa", split="train", path=folder)))
    assert [(i["question_id"], i["answer"], i["question_type"]) for i in vqa] == [
        ("train-a.png-q1", "yes", "presence"),
        ("train-a.png-q2", "2", "count"),
    ]
    assert vqa[0]["prompt"] == "Is there a road?\nAnswer the question using a single word or phrase."
    assert vqa[0]["split"] == "train" and vqa[0]["source"] == "custom" and vqa[0]["task"] == "vqa"
    (cap,) = items(load("caption", split="train", path=folder))
    assert cap["references"] == ["a field.", "green land."] and cap["answer"] == "a field."
    (g,) = items(load("grounding", split="train", path=folder))
    assert g["bbox"] == [2.0, 3.0, 20.0, 15.0] and g["answer"] == "[0.05, 0.20, 0.50, 0.50]"
    assert g["prompt"].endswith("the red roof.")
    (r,) = items(load("region_caption", split="train", path=folder))
    assert r["answer"] == "a red roof" and "[0.05, 0.20, 0.50, 0.50]" in r["prompt"]
    (d,) = items(load("detail", split="train", path=folder))
    assert d["answer"] == "A field with a building." and d["objects"][0]["category"] == "building"
    turns = list(items(load("conversation", split="train", path=folder)))
    assert [t["turn"] for t in turns] == [0, 1]
    assert turns[1]["history"] == [("What is here?", "A building.")]
    assert turns[1]["prompt"] == "What colour is its roof?" and turns[1]["answer"] == "Red."
    assert len({t["question_id"] for t in turns}) == 2


def test_items_refuses_instruct(folder):
    with pytest.raises(ValueError, match="instruct rows hold no typed items"):
        list(items(load("instruct", split="train", path=folder)))


def test_conversions(folder):
    ds = load("conversation", split="train", path=folder)
    (rec,) = to_llava_json(ds)
    assert rec["image"] == "imgs/a.png" and rec["conversations"][0]["value"].startswith("<image>\n")
    trl = to_trl(ds[0])
    assert trl["messages"][0]["content"] == [{"type": "image"}, {"type": "text", "text": "What is here?"}]
    assert [m["role"] for m in trl["messages"]] == ["user", "assistant", "user", "assistant"]
    assert trl["images"][0].size == (40, 30)
