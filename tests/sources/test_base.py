from __future__ import annotations

import pytest
from source_fixtures import truncate, write_image

from rsgpt4v.schema import SOURCES
from rsgpt4v.sources import ADAPTERS, build_inputs, get_source
from rsgpt4v.sources.base import ImageInfo, ImageProbe, SourceFormatError, SourceNotFoundError, load_json, probe_image


@pytest.mark.parametrize("ext", [".tif", ".jpg", ".png"])
def test_probe_reads_size_from_header(tmp_path, ext):
    path = tmp_path / f"a{ext}"
    write_image(path, (30, 20))
    info = probe_image(str(path))
    assert info == ImageInfo(30, 20, {".tif": "TIFF", ".jpg": "JPEG", ".png": "PNG"}[ext])


@pytest.mark.parametrize("ext", [".tif", ".jpg", ".png"])
def test_probe_reports_truncated_images(tmp_path, ext):
    path = tmp_path / f"a{ext}"
    write_image(path, (64, 64))
    truncate(path, 0.6)
    reason = probe_image(str(path))
    assert isinstance(reason, str) and str(path) in reason
    assert "truncated" in reason or "undecodable" in reason


def test_probe_reports_missing_empty_and_garbage_files(tmp_path):
    assert probe_image(str(tmp_path / "none.tif")).startswith("image file not found")
    (tmp_path / "empty.jpg").write_bytes(b"")
    assert probe_image(str(tmp_path / "empty.jpg")).startswith("image file is empty")
    (tmp_path / "junk.jpg").write_bytes(b"not an image at all" * 10)
    assert probe_image(str(tmp_path / "junk.jpg")).startswith("undecodable image")


def test_image_probe_caches_per_path(tmp_path):
    path = tmp_path / "a.png"
    write_image(path, (5, 7))
    probe = ImageProbe()
    assert probe(str(path)) == ImageInfo(5, 7, "PNG")
    path.unlink()
    assert probe(str(path)) == ImageInfo(5, 7, "PNG")  # read once, not re-opened per item


def test_load_json_names_file_line_and_column(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text('{"images": [\n  {"filename": "1.tif",,}\n]}')
    with pytest.raises(SourceFormatError, match=r"bad\.json: malformed JSON at line 2, column 24"):
        load_json(path)


def test_load_json_can_refuse_repeated_keys(tmp_path):
    path = tmp_path / "dup.json"
    path.write_text('{"0": {"a": 1}, "0": {"a": 2}}')
    assert load_json(path) == {"0": {"a": 2}}
    with pytest.raises(SourceFormatError, match=r"dup\.json: key '0' appears twice"):
        load_json(path, unique_keys=True)


def test_registry_covers_every_legacy_source_and_release():
    legacy = set(SOURCES) - {"synthetic", "custom"}
    assert set(ADAPTERS) == legacy | {"release"}
    for name, cls in ADAPTERS.items():
        adapter = get_source(name)
        assert adapter.name == name
        assert adapter.licence and adapter.homepage.startswith("https://") and "@" in adapter.citation
        assert adapter.splits and set(adapter.splits) <= {"train", "val", "test", "test_phili"}
        assert "Folder structure" in (cls.__doc__ or "") and adapter.layout.strip()


def test_get_source_errors():
    with pytest.raises(ValueError, match="Unknown source 'ucm'.*ucm_captions"):
        get_source("ucm")
    with pytest.raises(ValueError, match="only used by rsivqa"):
        get_source("rsvqa_lr", image_roots={"ucm": "/x"})
    with pytest.raises(ValueError, match="Unknown RSIVQA parent.*aid"):
        get_source("rsivqa", image_roots={"aid": "/x"})


def test_missing_folder_names_it_and_shows_the_layout(tmp_path):
    with pytest.raises(SourceNotFoundError) as err:
        get_source("rsvqa_lr").check(tmp_path / "nowhere")
    message = str(err.value)
    assert "nowhere" in message and "LR_split_train_questions.json" in message and "Images_LR/" in message
    assert isinstance(err.value, FileNotFoundError)


def test_unknown_split_is_refused(tmp_path):
    with pytest.raises(ValueError, match="rsitmd has no split 'val'; its splits are train, test"):
        list(get_source("rsitmd").items(tmp_path, "val"))


def test_build_inputs_checks_sources_and_image_roots(tmp_path):
    with pytest.raises(SourceNotFoundError, match="dataset.json"):
        build_inputs({"ucm_captions": tmp_path})
    with pytest.raises(ValueError, match="--image-root is only used by the rsivqa source"):
        build_inputs({"ucm_captions": tmp_path}, {"ucm": tmp_path})
