"""RSIVQA (Zheng et al. 2021): 111,693 question-answer lines over images of UCM, Sydney, RSICD, DOTA and HRRSD."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

from rsgpt4v.schema import Record, Rejection
from rsgpt4v.sources.base import ImageProbe, SourceAdapter, SourceFormatError, SourceNotFoundError, load_json
from rsgpt4v.sources.captions import KarpathyCaptions
from rsgpt4v.sources.rsicd import RSICD
from rsgpt4v.sources.sydney_captions import SydneyCaptions
from rsgpt4v.sources.ucm_captions import UCMCaptions

__all__ = ["PARENTS", "RSIVQA", "hrrsd_split", "question_type"]

_LAYOUT = """\
RSIVQA/                       (the RSIVQA/ folder of https://github.com/spectralpublic/RSIVQA)
  UCM/ucm_vqa.txt  UCM/ucm_res.txt     <image>:<question>?<answer> per line; images of UCM-Captions
  Sydney/sydney_vqa.txt                images of Sydney-Captions
  AID/rsicd_vqa.txt                    images of RSICD (despite the folder name)
  HRRSD/opt_val_vqa.txt                images of HRRSD (names without extension: .jpg)
  DOTA/dota_train_vqa2.txt  DOTA/dota_val_vqa2.txt    images of DOTA v1.0 (names without extension: .png)
Images come from the parent datasets, given with --image-root PARENT=DIR:
  ucm=<UCM_captions root>  sydney=<Sydney_captions root>  rsicd=<RSICD root>   (as their adapters expect)
  dota=<DOTA root with train/images/ and val/images/>  hrrsd=<HRRSD root with JPEGImages/ or OPT2017/JPEGImages/>
"""
#: The annotation files: (relative path, parent dataset).
FILES: tuple[tuple[str, str], ...] = (
    ("UCM/ucm_vqa.txt", "ucm"),
    ("UCM/ucm_res.txt", "ucm"),
    ("Sydney/sydney_vqa.txt", "sydney"),
    ("AID/rsicd_vqa.txt", "rsicd"),
    ("HRRSD/opt_val_vqa.txt", "hrrsd"),
    ("DOTA/dota_train_vqa2.txt", "dota"),
    ("DOTA/dota_val_vqa2.txt", "dota"),
)
#: Parent datasets whose own split files decide the split of an RSIVQA image.
_CAPTION_PARENTS: dict[str, type[KarpathyCaptions]] = {"ucm": UCMCaptions, "sydney": SydneyCaptions, "rsicd": RSICD}
#: Every parent name accepted by ``--image-root``.
PARENTS: tuple[str, ...] = ("ucm", "sydney", "rsicd", "dota", "hrrsd")
_DOTA_SPLITS = {"DOTA/dota_train_vqa2.txt": ("train", "train"), "DOTA/dota_val_vqa2.txt": ("val", "test")}
_HRRSD_DIRS = ("JPEGImages", "OPT2017/JPEGImages", ".")
_NUMBER_WORDS = frozenset(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
    "seventeen eighteen nineteen twenty thirty forty fifty sixty seventy eighty ninety hundred".split()
)


def question_type(answer: str) -> str:
    """RSIVQA has no question types: ``yes_no`` for yes/no answers, ``number`` for numeric ones, else ``other``."""
    word = answer.strip().lower()
    if word in ("yes", "no"):
        return "yes_no"
    if word.isdigit() or word in _NUMBER_WORDS:
        return "number"
    return "other"


def hrrsd_split(stem: str) -> str:
    """HRRSD images have no parent split: a stable hash of the name gives train/val/test 80/10/10."""
    bucket = int(hashlib.sha256(stem.encode()).hexdigest(), 16) % 10
    return "train" if bucket < 8 else ("val" if bucket == 8 else "test")


#: Locates an image of a parent: (image key) -> (absolute file, release-relative path, split) or a reason.
_Locator = Callable[[str], "tuple[str, str, str] | str"]


class RSIVQA(SourceAdapter):
    """RSIVQA: 111,693 ``<image>:<question>?<answer>`` lines (37,264 images, 91 questions, 574 answers).

    Dataset format: plain text files (see the layout); split each line on the first ``:`` and then the first
    ``?``. The question keeps its ``?``; both parts are stripped of surrounding spaces (DOTA and HRRSD lines have a
    space after the colon) and kept otherwise verbatim, template artefacts included (``the  in this picture``,
    ``i cannot see it``). RSIVQA ships no images: each subset's images come from its parent dataset, whose root is
    given per parent (``image_roots``, from ``--image-root PARENT=DIR``).

    Split rule (RSIVQA has no split of its own): an image of UCM, Sydney or RSICD takes the split its parent's
    caption JSON gives it (the parent root is that dataset's folder, with its annotation file); DOTA train images
    go to ``train`` and DOTA val images to ``test``; HRRSD images go by ``hrrsd_split`` (a sha256 of the name,
    80/10/10). Question types follow the answer (``question_type``). Items without a parent root, or whose
    image the parent does not list, are rejected with the reason.

    Folder structure::

        RSIVQA/
          UCM/ucm_vqa.txt  UCM/ucm_res.txt  Sydney/sydney_vqa.txt  AID/rsicd_vqa.txt
          HRRSD/opt_val_vqa.txt  DOTA/dota_train_vqa2.txt  DOTA/dota_val_vqa2.txt

    Each line becomes one VQA record (no own id: the build numbers them ``<row id>#<k>``); ``image_path`` is the
    parent's path (``UCM_captions/imgs/1.tif``, ``RSICD/RSICD_images/00433.jpg``, ``DOTA/train/images/P0000.png``,
    ``HRRSD/JPEGImages/00001.jpg``).

    If you use this dataset in your research, please cite Zheng et al., "Mutual Attention Inception Network for
    Remote Sensing Visual Question Answering", IEEE TGRS 2022.

    Args:
        image_roots: parent name (``ucm``, ``sydney``, ``rsicd``, ``dota``, ``hrrsd``) -> its root folder.

    Raises:
        ValueError: for an unknown parent name.
    """

    name = "rsivqa"
    splits = ("train", "val", "test")
    layout = _LAYOUT

    def __init__(self, image_roots: Mapping[str, str | Path] | None = None) -> None:
        unknown = sorted(set(image_roots or {}) - set(PARENTS))
        if unknown:
            raise ValueError(
                f"Unknown RSIVQA parent(s) {', '.join(unknown)} in --image-root; expected {', '.join(PARENTS)}."
            )
        self.image_roots = {k: Path(os.path.abspath(v)) for k, v in (image_roots or {}).items()}

    def _files(self, root: Path, split: str | None) -> list[tuple[str, tuple[str, ...]]]:
        return [(f"the {parent} question file", (rel,)) for rel, parent in FILES]

    def check(self, root: str | Path, split: str | None = None) -> None:
        """Verify the RSIVQA text files and every given parent root (a caption parent needs its annotation file).

        Raises:
            SourceNotFoundError: naming the missing file or folder and showing the expected layout.
            ValueError: if ``split`` is not one of ``splits``.
        """
        super().check(root, split)
        for parent, parent_root in self.image_roots.items():
            if parent in _CAPTION_PARENTS:
                try:
                    _CAPTION_PARENTS[parent]().check(parent_root)
                except SourceNotFoundError as exc:
                    note = f"(This folder was given to rsivqa as --image-root {parent}=DIR.)"
                    raise SourceNotFoundError(f"{exc}\n{note}") from None
            elif not parent_root.is_dir():
                missing = f"the {parent} image root {parent_root} (--image-root {parent}=DIR)"
                raise self._not_found(Path(root), [missing])

    def items(self, root: str | Path, split: str) -> Iterator[Record | Rejection]:
        self.check(root, split)
        root = Path(os.path.abspath(root))
        probe = ImageProbe()
        caption_parents: dict[str, _Locator] = {}
        for rel, parent in FILES:
            locate = self._locator(rel, parent, caption_parents)
            path = root / rel
            with open(path, encoding="utf-8") as f:
                for lineno, line in enumerate(f, 1):
                    if line.strip():
                        yield from self._line(split, path, f"{rel}:{lineno}", line.rstrip("\r\n"), locate, probe)

    def _line(
        self, split: str, path: Path, key: str, line: str, locate: _Locator, probe: ImageProbe
    ) -> Iterator[Record | Rejection]:
        image, colon, rest = line.partition(":")
        question, mark, answer = rest.partition("?")
        image, question, answer = image.strip(), question.strip(), answer.strip()
        located = locate(image) if colon and image else "malformed line; expected <image>:<question>?<answer>"
        if isinstance(located, str):
            # The line's split is unknown: it is reported once, under ``train``.
            if split == "train":
                yield self._reject(split, path, key, located, "vqa")
            return
        image_file, image_path, image_split = located
        if image_split != split:
            return
        info = probe(image_file)
        if not mark:
            reason = "malformed line; expected <image>:<question>?<answer>"
        elif isinstance(info, str):
            reason = info
        elif not question:
            reason = "answer without a question"
        elif not answer:
            reason = "question without an answer"
        else:
            yield Record(
                task="vqa",
                source=self.name,
                split=split,
                image_path=image_path,
                image_file=image_file,
                width=info.width,
                height=info.height,
                question=question + "?",
                answer=answer,
                question_type=question_type(answer),
            )
            return
        yield self._reject(split, path, key, reason, "vqa")

    def _locator(self, rel: str, parent: str, caption_parents: dict[str, _Locator]) -> _Locator:
        root = self.image_roots.get(parent)
        if root is None:
            reason = f"no image root for parent dataset {parent!r}: pass --image-root {parent}=DIR"
            return lambda image: reason
        if parent in _CAPTION_PARENTS:
            if parent not in caption_parents:  # ucm has two files: read its annotation file once
                caption_parents[parent] = _caption_parent(_CAPTION_PARENTS[parent](), root)
            return caption_parents[parent]
        if parent == "dota":
            folder, split = _DOTA_SPLITS[rel]
            return lambda image: (
                str(root / folder / "images" / f"{image}.png"),
                f"DOTA/{folder}/images/{image}.png",
                split,
            )
        image_dir = next((root / d for d in _HRRSD_DIRS if (root / d).is_dir()), root)
        return lambda image: (str(image_dir / f"{image}.jpg"), f"HRRSD/JPEGImages/{image}.jpg", hrrsd_split(image))


def _caption_parent(adapter: KarpathyCaptions, root: Path) -> _Locator:
    """Locate images of a caption parent through its annotation file (which also gives each image's split)."""
    ann = adapter._find(root, f"the {adapter.title} annotation file", adapter.annotation_names)
    image_dir = adapter._find(root, f"the {adapter.title} image folder", adapter.image_dirs)
    data = load_json(ann)
    if not isinstance(data, dict) or not isinstance(data.get("images"), list):
        raise SourceFormatError(f"{ann}: expected a JSON object with an 'images' list (Karpathy caption format).")
    splits = {e.get("filename"): e.get("split") for e in data["images"] if isinstance(e, dict)}

    def locate(image: str) -> tuple[str, str, str] | str:
        split = splits.get(image)
        if split is None:
            return f"image {image!r} is not listed in {ann}, so its split is unknown"
        return str(image_dir / image), adapter.release_prefix + image, split

    return locate
