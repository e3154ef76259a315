from __future__ import annotations

from pathlib import Path

import pytest

from rsgpt4v.sources import ADAPTERS
from rsgpt4v.sources.pages import index_page, source_page, write_pages

DOCS = Path(__file__).parents[2] / "docs" / "sources"


@pytest.mark.parametrize("name", list(ADAPTERS))
def test_committed_page_equals_the_generated_one(name):
    assert (DOCS / f"{name}.md").read_text() == source_page(name), "run: python -m rsgpt4v.sources.pages docs/sources"


def test_index_lists_every_source_and_one_licence_table():
    page = (DOCS / "index.md").read_text()
    assert page == index_page()
    for name, cls in ADAPTERS.items():
        assert f"]({name}.md)" in page
        if name != "release":
            assert f"| `{name}` | {cls.title} |" in page
    assert page.count("| source | dataset | licence |") == 1


def test_page_holds_layout_licence_and_citation(tmp_path):
    written = write_pages(tmp_path)
    assert len(written) == len(ADAPTERS) + 1
    page = (tmp_path / "rsvqa_hr.md").read_text()
    assert "USGS_split_test_phili_questions.json" in page and "test_phili" in page
    assert ADAPTERS["rsvqa_hr"].licence in page and "@article{lobry2020rsvqa" in page
    assert "--image-root ucm=" in (tmp_path / "rsivqa.md").read_text()
    with pytest.raises(ValueError, match="Unknown source 'x'"):
        source_page("x")
