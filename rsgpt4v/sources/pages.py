"""The documentation pages of the sources, generated from the adapters (``docs/sources/``).

Each page is made from its adapter's docstring, ``layout`` and the licence facts of ``rsgpt4v.licences``, so the
pages cannot drift from the code; a test keeps ``docs/sources/`` equal to what this module writes
(``python -m rsgpt4v.sources.pages docs/sources``).
"""

from __future__ import annotations

import inspect
import sys
from pathlib import Path

from rsgpt4v.licences import licence_table
from rsgpt4v.sources import ADAPTERS

__all__ = ["index_page", "source_page", "write_pages"]

#: What each source yields, for the index table.
_TASKS = {
    "ucm_captions": "caption",
    "sydney_captions": "caption",
    "rsicd": "caption",
    "rsitmd": "caption",
    "nwpu_captions": "caption",
    "rsvqa_lr": "vqa",
    "rsvqa_hr": "vqa",
    "floodnet": "vqa",
    "rsivqa": "vqa",
    "dior_rsvg": "grounding, region_caption",
    "release": "caption, vqa, grounding, detail, conversation",
}


def source_page(name: str) -> str:
    """The Markdown page of one source: description, expected layout, usage, licence and citation.

    Raises:
        ValueError: for an unknown source name.
    """
    if name not in ADAPTERS:
        raise ValueError(f"Unknown source {name!r}; expected one of {', '.join(ADAPTERS)}.")
    cls = ADAPTERS[name]
    doc = inspect.cleandoc(cls.__doc__ or "")
    summary, _, body = doc.partition("\n")
    folder = cls.layout.splitlines()[0].split("  ")[0].strip().rstrip("/")
    root = f"'/data/{folder}'" if " " in folder else f"/data/{folder}"
    command = f"rsgpt4v build --source {name}={root} --out ./rsgpt4v-data"
    if name == "rsivqa":
        command += " \\\n    --image-root ucm=/data/UCM_captions --image-root rsicd=/data/RSICD"
    splits = ", ".join(f"`{s}`" for s in cls.splits)
    parts = [
        f"# {cls.title} (`{name}`)\n\n{summary}\n",
        f"\n{body.strip()}\n" if body.strip() else "",
        f"\nSplits: {splits}. Tasks produced: {_TASKS[name]}.\n",
        f"\n## Expected layout\n\n```text\n{cls.layout.rstrip()}\n```\n",
        f"\n## Build\n\n```bash\n{command}\n```\n",
        "\nA missing file or folder stops the build with an error that names it and shows the layout above. Items "
        "that cannot be used (a missing or broken image, an empty caption, a bad box, an answer without a question) "
        "are rejected with their reason and counted in `build_report.json`.\n",
        f"\n## Licence\n\n{cls.licence}. Homepage: <{cls.homepage}>. "
        "All sources side by side: [Source licences](../licences.md).\n",
        f"\n## Citation\n\n```bibtex\n{cls.citation}\n```\n",
    ]
    return "".join(parts)


def index_page() -> str:
    """The index of the source pages with the licence table of the ten legacy sources."""
    rows = "\n".join(
        f"| [{cls.title}]({name}.md) | `{name}` | {_TASKS[name]} | {', '.join(cls.splits)} |"
        for name, cls in ADAPTERS.items()
    )
    legacy = [name for name in ADAPTERS if name != "release"]
    return (
        "# Sources\n\n"
        "rsgpt4v reads the ten datasets RS-GPT4V unifies, each in the layout its authors publish, and the authors' "
        "released RS-GPT4V files (`release`). Pass each folder as `--source NAME=PATH` to `rsgpt4v build`; RSIVQA "
        "also needs its parent datasets' images (`--image-root PARENT=DIR`). In Python, "
        "`rsgpt4v.sources.get_source(name).items(root, split)` yields one typed `Record` per item (a caption "
        "image, a question, an expression, a conversation turn) or a `Rejection` with its reason.\n\n"
        "| dataset | `--source` | tasks | splits |\n| --- | --- | --- | --- |\n"
        f"{rows}\n\n"
        "## Licences\n\n"
        "Generated from `rsgpt4v/licences.py`; notes and citations are on [Source licences](../licences.md).\n\n"
        f"{licence_table(legacy)}"
    )


def write_pages(folder: str | Path) -> list[Path]:
    """Write ``index.md`` and one ``<name>.md`` per source into ``folder``; return the paths written."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = [folder / "index.md"]
    written[0].write_text(index_page())
    for name in ADAPTERS:
        path = folder / f"{name}.md"
        path.write_text(source_page(name))
        written.append(path)
    return written


if __name__ == "__main__":
    for path in write_pages(sys.argv[1] if len(sys.argv) > 1 else "docs/sources"):
        print(path)
