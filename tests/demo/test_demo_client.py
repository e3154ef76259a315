"""Every API endpoint of the default (offline) demo through gradio_client, against the app launched on loopback."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from rsgpt4v import prompts
from rsgpt4v.demo.app import API_NAMES

gradio_client = pytest.importorskip("gradio_client")
from gradio_client import Client, handle_file  # noqa: E402
from gradio_client.exceptions import AppError  # noqa: E402


@pytest.fixture(scope="module")
def client(served):
    return Client(served[1], verbose=False)


def test_every_documented_endpoint_is_served(client):
    named = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    assert sorted(named) == sorted(f"/{name}" for name in API_NAMES)


def test_the_page_says_it_runs_offline_on_the_sample_and_a_tiny_untrained_model(served, sample):
    import httpx

    page = httpx.get(served[1] + "config", timeout=30).text
    assert "tiny untrained demo model" in page and "synthetic sample" in page and str(sample) in page


def _fields(result):
    image, chat, fields, status, position = result
    return image, chat, fields, status, position


def test_explore_select_gives_menus_and_the_first_record(client, explorer):
    split, source, qtype, image, chat, fields, status, position = client.predict(
        "grounding", "train", api_name="/explore_select"
    )
    assert split["value"] == "train" and [c[0] for c in split["choices"]] == ["test", "train"]
    assert [c[0] for c in source["choices"]] == ["all", "synthetic"]
    assert qtype["visible"] is False
    assert position == 1 and fields["question_id"] == explorer.index("grounding", "train")[0].question_id
    assert len(image["annotations"]) == 1 and image["annotations"][0]["label"] == fields["category"]
    assert "record 1 of" in status


def test_record_previous_next_random(client, explorer):
    entries = explorer.index("vqa", "test")
    *_, fields, _, position = client.predict("vqa", "test", "all", "all", 3, api_name="/record")
    assert (position, fields["question_id"]) == (3, entries[2].question_id)
    *_, fields, _, position = client.predict("vqa", "test", "all", "all", 3, api_name="/next")
    assert (position, fields["question_id"]) == (4, entries[3].question_id)
    *_, position = client.predict("vqa", "test", "all", "all", 1, api_name="/previous")
    assert position == len(entries)
    *_, fields, _, position = client.predict("vqa", "test", "all", "count", 1, api_name="/random")
    assert fields["question_type"] == "count" and 1 <= position <= len(
        explorer.selection("vqa", "test", "all", "count")
    )


def test_record_by_id_and_an_unknown_id(client, explorer):
    target = explorer.index("conversation", "test")[4]
    result = client.predict("conversation", "test", target.question_id, api_name="/record_by_id")
    image, chat, fields, status, position, source, qtype = result
    assert fields["question_id"] == target.question_id and position == 5 and (source, qtype) == ("all", "all")
    assert chat[0]["role"] == "user"
    with pytest.raises(AppError, match="no record with id 'nope' in conversation/test"):
        client.predict("conversation", "test", "nope", api_name="/record_by_id")


def test_ask_vqa_about_a_dataset_record_matches_the_library_predictor(client, explorer, tiny_predictor):
    entry = explorer.index("vqa", "test")[0]
    answer, image, notes, chat = client.predict(
        None, entry.question_id, "VQA", "Is there a road?", [], api_name="/ask"
    )
    source = explorer.render("vqa", "test", 0).item["image"].convert("RGB")
    expected = tiny_predictor.ask(source, prompts.instruction("vqa", question="Is there a road?"))
    assert answer == expected and answer
    assert image["image"].endswith(".webp") and chat == []


def test_ask_every_task_on_an_upload(client, tmp_path):
    path = tmp_path / "scene.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (48, 64, 3), dtype=np.uint8)).save(path)
    for task, text in [
        ("caption", ""),
        ("grounding", "the red building"),
        ("region caption", "[4, 4, 30, 20]"),
        ("detailed description", ""),
    ]:
        answer, image, notes, chat = client.predict(handle_file(str(path)), "", task, text, [], api_name="/ask")
        assert isinstance(answer, str) and image["image"]
    answer, _, _, chat = client.predict(
        handle_file(str(path)), "", "multi-turn chat", "What is here?", [], api_name="/ask"
    )
    assert [m["role"] for m in chat] == ["user", "assistant"]
    assert chat[0]["content"] in ("What is here?", [{"type": "text", "text": "What is here?"}])
    _, _, _, chat = client.predict(handle_file(str(path)), "", "multi-turn chat", "And now?", chat, api_name="/ask")
    assert [m["role"] for m in chat] == ["user", "assistant"] * 2


@pytest.mark.parametrize(
    ("reference", "task", "text", "message"),
    [
        ("synthetic-000000-vqa-0", "VQA", "  ", "the question is empty"),
        ("../../etc/passwd", "VQA", "Is there a road?", "files outside the dataset are never read"),
        ("/etc/hostname", "caption", "", "files outside the dataset are never read"),
        ("", "caption", "", "no image: upload one"),
        ("synthetic-000000-vqa-0", "segment", "x", "'segment'.*not in the list of choices"),
        ("synthetic-000000-vqa-0", "region caption", "[1, 2]", "is not a pixel box"),
    ],
)
def test_ask_refuses_bad_input_with_a_message(client, reference, task, text, message):
    with pytest.raises(AppError, match=message) as info:
        client.predict(None, reference, task, text, [], api_name="/ask")
    assert "Traceback" not in str(info.value)


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("report.png", r"report\.png: cannot decode image.*Upload a JPEG, PNG, WebP or TIFF"),
        ("notes.txt", r"Invalid file type. Please upload a file that is one of these formats"),
    ],
)
def test_ask_refuses_a_non_image_upload(client, tmp_path, name, message):
    path = tmp_path / name
    path.write_text("not pixels")
    with pytest.raises(AppError, match=message) as info:
        client.predict(handle_file(str(path)), "", "caption", "", [], api_name="/ask")
    assert "Traceback" not in str(info.value)


def test_a_server_path_outside_the_upload_folder_is_refused(client):
    outside = {"path": "/etc/passwd", "meta": {"_type": "gradio.FileData"}, "orig_name": "passwd"}
    with pytest.raises(AppError) as info:
        client.predict(outside, "", "caption", "", [], api_name="/ask")
    assert "root:" not in str(info.value)


def test_ask_converts_a_16_bit_tiff_and_says_so(client, tmp_path):
    path = tmp_path / "dem.tif"
    Image.fromarray(np.random.default_rng(1).integers(0, 9000, (40, 40), dtype=np.uint16)).save(path, format="TIFF")
    answer, image, notes, _ = client.predict(handle_file(str(path)), "", "caption", "", [], api_name="/ask")
    assert "dem.tif (TIFF) was converted for display by the build's rule" in notes
    assert image["image"].endswith(".webp")


def test_malformed_boxes_in_an_answer_are_shown_as_text_with_a_note(client, monkeypatch):
    import rsgpt4v.demo.app as app

    reply = "a plane at [0.10, 0.20, 0.50, 0.60] and another at [0.3, 0.2, 0.1]"

    def fake_stream(predictor, image, prompt, history=(), task=None):
        yield reply[:10]
        yield reply

    monkeypatch.setattr(app, "stream_answer", fake_stream)
    answer, image, notes, _ = client.predict(
        None, "synthetic-000000-vqa-0", "grounding", "the plane", [], api_name="/ask"
    )
    assert answer == reply
    assert len(image["annotations"]) == 1
    assert "'[0.3, 0.2, 0.1]'" in notes and "shown as text only" in notes


@pytest.mark.slow
def test_twenty_concurrent_asks_complete_without_error(client, explorer, tiny_predictor):
    entries = explorer.index("vqa", "test")[:20]
    jobs = [client.submit(None, e.question_id, "VQA", "How many buildings?", [], api_name="/ask") for e in entries]
    answers = [job.result(timeout=600)[0] for job in jobs]
    prompt = prompts.instruction("vqa", question="How many buildings?")
    for k in (0, 19):
        position = explorer.find("vqa", "test", entries[k].question_id)
        image = explorer.render("vqa", "test", position).item["image"].convert("RGB")
        assert answers[k] == tiny_predictor.ask(image, prompt)
    assert len(answers) == 20 and all(isinstance(a, str) for a in answers)


def test_compare_two_reports_and_a_bad_file(client, reports, tmp_path):
    summary, scores, per_type, plot = client.predict(
        handle_file(str(reports[0])), handle_file(str(reports[1])), api_name="/compare"
    )
    assert "Scores are x 100" in summary
    assert scores["headers"] == ["config", "metric", "report.json", "report.json", "difference"][:2] + [
        "A: report.json",
        "B: report.json",
        "difference",
    ]
    rows = {(r[0], r[1]): r[2:] for r in scores["data"]}
    assert rows[("vqa", "overall")][0] == 100.0 and rows[("vqa", "overall")][2] < 0
    assert per_type["data"] and plot
    bad = tmp_path / "x.json"
    bad.write_text("[1, 2")
    with pytest.raises(AppError, match=r"x\.json is not valid JSON"):
        client.predict(handle_file(str(bad)), None, api_name="/compare")
    with pytest.raises(AppError, match="no report"):
        client.predict(None, None, api_name="/compare")
