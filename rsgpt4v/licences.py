"""The one table of source datasets: licence, homepage, citation and whether commercial use is allowed.

This module is the single source of truth for licensing facts: the dataset card (``rsgpt4v.hub``), the
``rsgpt4v push`` licence warning, ``docs/licences.md`` (generated from :func:`licences_page`) and the source
adapters read it; nothing else restates a licence.

``commercial_use_ok`` is ``True`` only where the authors' stated licence allows commercial use. A licence that is
not stated, that restricts use to research, or whose images come from providers with non-commercial terms (Google
Earth, DOTA) counts as not allowing it, so ``rsgpt4v push`` warns about it. Where the evidence is second-hand the
``note`` says so. This table is a summary for users, not legal advice: check each homepage before redistributing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from rsgpt4v.schema import SOURCES, Source

__all__ = [
    "LICENCES",
    "RSGPT4V_CITATION",
    "SourceLicence",
    "hub_licence",
    "licence_for",
    "licence_table",
    "licences_page",
    "restricted",
]


@dataclass(frozen=True)
class SourceLicence:
    """Licensing facts of one source dataset.

    Attributes:
        source: the ``Source`` label (``ucm_captions``...).
        name: the dataset's usual name.
        licence: an SPDX-like id, or the exact words the authors use, or what is (not) stated.
        hub_id: the Hugging Face Hub ``license:`` id (``unknown`` where no licence is stated).
        homepage: where the authors publish the dataset (empty for data made by the user or by this library).
        citation: BibTeX of the paper(s) to cite (empty where there is none).
        commercial_use_ok: whether the stated licence allows commercial use.
        note: where the images come from and how sure the licence entry is.
    """

    source: str
    name: str
    licence: str
    hub_id: str
    homepage: str
    citation: str
    commercial_use_ok: bool
    note: str = ""


_QU_2016 = """@inproceedings{qu2016deep,
  title     = {Deep Semantic Understanding of High Resolution Remote Sensing Image},
  author    = {Qu, Bo and Li, Xuelong and Tao, Dacheng and Lu, Xiaoqiang},
  booktitle = {2016 International Conference on Computer, Information and Telecommunication Systems (CITS)},
  pages     = {1--5},
  year      = {2016},
  doi       = {10.1109/CITS.2016.7546397}
}"""

_NOT_STATED = "not stated by the authors"

_ENTRIES = (
    SourceLicence(
        source=Source.UCM_CAPTIONS.value,
        name="UCM-Captions",
        licence=f"{_NOT_STATED} (captions); images: UC Merced Land Use, USGS National Map imagery (public domain)",
        hub_id="unknown",
        homepage="https://github.com/201528014227051/RSICD_optimal",
        citation=_QU_2016
        + """
@inproceedings{yang2010bag,
  title     = {Bag-of-Visual-Words and Spatial Extensions for Land-Use Classification},
  author    = {Yang, Yi and Newsam, Shawn},
  booktitle = {Proceedings of the 18th SIGSPATIAL International Conference on Advances in Geographic
               Information Systems},
  pages     = {270--279},
  year      = {2010}
}""",
        commercial_use_ok=False,
        note="Images public domain (USGS, as listed by torchgeo); no licence is given for the captions.",
    ),
    SourceLicence(
        source=Source.SYDNEY_CAPTIONS.value,
        name="Sydney-Captions",
        licence=f"{_NOT_STATED}; images from Google Earth (Google Earth terms of use)",
        hub_id="unknown",
        homepage="https://github.com/201528014227051/RSICD_optimal",
        citation=_QU_2016
        + """
@article{zhang2015saliency,
  title   = {Saliency-Guided Unsupervised Feature Learning for Scene Classification},
  author  = {Zhang, Fan and Du, Bo and Zhang, Liangpei},
  journal = {IEEE Transactions on Geoscience and Remote Sensing},
  volume  = {53},
  number  = {4},
  pages   = {2175--2184},
  year    = {2015}
}""",
        commercial_use_ok=False,
        note="Images of Sydney cut from Google Earth by Zhang et al. (2015).",
    ),
    SourceLicence(
        source=Source.RSICD.value,
        name="RSICD",
        licence=f"{_NOT_STATED}; images from Google Earth, Baidu Map, MapABC and Tianditu",
        hub_id="unknown",
        homepage="https://github.com/201528014227051/RSICD_optimal",
        citation="""@article{lu2017exploring,
  title   = {Exploring Models and Data for Remote Sensing Image Caption Generation},
  author  = {Lu, Xiaoqiang and Wang, Binqiang and Zheng, Xiangtao and Li, Xuelong},
  journal = {IEEE Transactions on Geoscience and Remote Sensing},
  volume  = {56},
  number  = {4},
  pages   = {2183--2195},
  year    = {2017},
  doi     = {10.1109/TGRS.2017.2776321}
}""",
        commercial_use_ok=False,
        note="The RSICD_optimal README asks users to cite the paper and names the image providers; no licence.",
    ),
    SourceLicence(
        source=Source.RSITMD.value,
        name="RSITMD",
        licence=_NOT_STATED,
        hub_id="unknown",
        homepage="https://github.com/xiaoyuan1996/AMFMN/tree/master/RSITMD",
        citation="""@article{yuan2022exploring,
  title   = {Exploring a Fine-Grained Multiscale Method for Cross-Modal Remote Sensing Image Retrieval},
  author  = {Yuan, Zhiqiang and Zhang, Wenkai and Fu, Kun and Li, Xuan and Deng, Chubo and Wang, Hongqi
             and Sun, Xian},
  journal = {IEEE Transactions on Geoscience and Remote Sensing},
  volume  = {60},
  pages   = {1--19},
  year    = {2022},
  doi     = {10.1109/TGRS.2021.3078451}
}""",
        commercial_use_ok=False,
        note="The RSITMD README asks users to cite the paper; no licence.",
    ),
    SourceLicence(
        source=Source.NWPU_CAPTIONS.value,
        name="NWPU-Captions",
        licence=f"{_NOT_STATED}; images: NWPU-RESISC45 (from Google Earth, no licence stated)",
        hub_id="unknown",
        homepage="https://github.com/HaiyanHuang98/NWPU-Captions",
        citation="""@article{cheng2022nwpu,
  title   = {{NWPU-Captions} Dataset and {MLCA-Net} for Remote Sensing Image Captioning},
  author  = {Cheng, Qimin and Huang, Haiyan and Xu, Yuan and Zhou, Yuzhuo and Li, Huanying and Wang, Zhongyuan},
  journal = {IEEE Transactions on Geoscience and Remote Sensing},
  volume  = {60},
  pages   = {1--19},
  year    = {2022},
  url     = {https://ieeexplore.ieee.org/document/9866055}
}""",
        commercial_use_ok=False,
        note="The repository holds the images only; torchgeo lists no licence for NWPU-RESISC45.",
    ),
    SourceLicence(
        source=Source.RSVQA_LR.value,
        name="RSVQA-LR",
        licence="CC-BY-4.0 (Zenodo record 6344334); questions derived from OpenStreetMap (ODbL-1.0)",
        hub_id="cc-by-4.0",
        homepage="https://rsvqa.sylvainlobry.com/",
        citation="""@article{lobry2020rsvqa,
  title   = {{RSVQA}: Visual Question Answering for Remote Sensing Data},
  author  = {Lobry, Sylvain and Marcos, Diego and Murray, Jesse and Tuia, Devis},
  journal = {IEEE Transactions on Geoscience and Remote Sensing},
  volume  = {58},
  number  = {12},
  pages   = {8555--8566},
  year    = {2020},
  doi     = {10.1109/TGRS.2020.2988782}
}""",
        commercial_use_ok=True,
        note="Sentinel-2 images. CC-BY-4.0 as third-party loaders report the Zenodo record; check the record.",
    ),
    SourceLicence(
        source=Source.RSVQA_HR.value,
        name="RSVQA-HR",
        licence="CC-BY-4.0 (Zenodo record 6344367); questions derived from OpenStreetMap (ODbL-1.0)",
        hub_id="cc-by-4.0",
        homepage="https://rsvqa.sylvainlobry.com/",
        citation="""@article{lobry2020rsvqa,
  title   = {{RSVQA}: Visual Question Answering for Remote Sensing Data},
  author  = {Lobry, Sylvain and Marcos, Diego and Murray, Jesse and Tuia, Devis},
  journal = {IEEE Transactions on Geoscience and Remote Sensing},
  volume  = {58},
  number  = {12},
  pages   = {8555--8566},
  year    = {2020},
  doi     = {10.1109/TGRS.2020.2988782}
}""",
        commercial_use_ok=True,
        note="USGS high-resolution orthoimagery. CC-BY-4.0 as third-party loaders report the Zenodo record.",
    ),
    SourceLicence(
        source=Source.FLOODNET.value,
        name="FloodNet (Track 2, VQA)",
        licence="CDLA-Permissive-1.0",
        hub_id="cdla-permissive-1.0",
        homepage="https://github.com/BinaLab/FloodNet-Challenge-EARTHVISION2021",
        citation="""@article{rahnemoonfar2021floodnet,
  title   = {{FloodNet}: A High Resolution Aerial Imagery Dataset for Post Flood Scene Understanding},
  author  = {Rahnemoonfar, Maryam and Chowdhury, Tashnim and Sarkar, Argho and Varshney, Debvrat and Yari, Masoud
             and Murphy, Robin Roberson},
  journal = {IEEE Access},
  volume  = {9},
  pages   = {89644--89654},
  year    = {2021},
  doi     = {10.1109/ACCESS.2021.3090981}
}""",
        commercial_use_ok=True,
        note="Licence stated in the BinaLab/FloodNet-Supervised_v1.0 README; the VQA questions were released "
        "through the EARTHVISION 2021 challenge (its CodaLab terms also apply).",
    ),
    SourceLicence(
        source=Source.RSIVQA.value,
        name="RSIVQA",
        licence=f"{_NOT_STATED}; images from UCM, Sydney, RSICD, HRRSD and DOTA (CC-BY-NC-4.0, academic use only)",
        hub_id="unknown",
        homepage="https://github.com/spectralpublic/RSIVQA",
        citation="""@article{zheng2021mutual,
  title   = {Mutual Attention Inception Network for Remote Sensing Visual Question Answering},
  author  = {Zheng, Xiangtao and Wang, Binqiang and Du, Xingqian and Lu, Xiaoqiang},
  journal = {IEEE Transactions on Geoscience and Remote Sensing},
  year    = {2021},
  doi     = {10.1109/TGRS.2021.3079918}
}""",
        commercial_use_ok=False,
        note="The repository ships question files only; the images are those of the five parent datasets.",
    ),
    SourceLicence(
        source=Source.DIOR_RSVG.value,
        name="DIOR-RSVG",
        licence=f"{_NOT_STATED}; images: DIOR (from Google Earth, no licence stated)",
        hub_id="unknown",
        homepage="https://github.com/ZhanYang-nwpu/RSVG-pytorch",
        citation="""@article{zhan2023rsvg,
  title   = {{RSVG}: Exploring Data and Models for Visual Grounding on Remote Sensing Data},
  author  = {Zhan, Yang and Xiong, Zhitong and Yuan, Yuan},
  journal = {IEEE Transactions on Geoscience and Remote Sensing},
  volume  = {61},
  pages   = {1--13},
  year    = {2023},
  doi     = {10.1109/TGRS.2023.3250471}
}
@article{li2020object,
  title   = {Object Detection in Optical Remote Sensing Images: A Survey and a New Benchmark},
  author  = {Li, Ke and Wan, Gang and Cheng, Gong and Meng, Liqiu and Han, Junwei},
  journal = {ISPRS Journal of Photogrammetry and Remote Sensing},
  volume  = {159},
  pages   = {296--307},
  year    = {2020}
}""",
        commercial_use_ok=False,
        note="The RSVG-pytorch README asks users to cite the paper; DIOR is acknowledged as the image source.",
    ),
    SourceLicence(
        source=Source.SYNTHETIC.value,
        name="rsgpt4v synthetic scenes",
        licence="Apache-2.0",
        hub_id="apache-2.0",
        homepage="",
        citation="",
        commercial_use_ok=True,
        note="Generated procedurally by rsgpt4v.synthetic; covered by the library's licence.",
    ),
    SourceLicence(
        source=Source.CUSTOM.value,
        name="custom data",
        licence="set by whoever supplied the data (unknown to rsgpt4v)",
        hub_id="unknown",
        homepage="",
        citation="",
        commercial_use_ok=False,
        note="Data you added yourself: state its licence in the card before publishing.",
    ),
)

#: Licence entry of every source, keyed by the ``Source`` value, in ``SOURCES`` order.
LICENCES: Mapping[str, SourceLicence] = MappingProxyType({e.source: e for e in _ENTRIES})

#: BibTeX of the RS-GPT4V paper whose data layout this library reproduces.
RSGPT4V_CITATION = """@article{xu2024rsgpt4v,
  title   = {{RS-GPT4V}: A Unified Multimodal Instruction-Following Dataset for Remote Sensing Image Understanding},
  author  = {Xu, Linrui and Zhao, Ling and Guo, Wang and Li, Qiujun and Long, Kewang and Zou, Kaiqi and Wang, Yuhan
             and Li, Haifeng},
  journal = {arXiv preprint arXiv:2406.12479},
  year    = {2024}
}"""


def licence_for(source: str | Source) -> SourceLicence:
    """Return the licence entry of a source.

    Args:
        source: a ``Source`` or its value (``"rsvqa_lr"``).

    Raises:
        ValueError: if ``source`` is not a known source.
    """
    key = source.value if isinstance(source, Source) else source
    try:
        return LICENCES[key]
    except KeyError:
        raise ValueError(f"Unknown source {key!r}; expected one of {', '.join(SOURCES)}.") from None


def _ordered(sources: Iterable[str | Source]) -> list[SourceLicence]:
    wanted = {licence_for(s).source for s in sources}
    return [e for e in LICENCES.values() if e.source in wanted]


def restricted(sources: Iterable[str | Source]) -> list[SourceLicence]:
    """Return the entries of ``sources`` whose licence does not allow commercial use, in ``SOURCES`` order."""
    return [e for e in _ordered(sources) if not e.commercial_use_ok]


def hub_licence(sources: Iterable[str | Source]) -> str:
    """Return the Hub ``license:`` id for a build made of ``sources``: their shared id, else ``other``."""
    ids = {e.hub_id for e in _ordered(sources)}
    return ids.pop() if len(ids) == 1 else "other"


def _cell(text: str) -> str:
    return text.replace("|", "\\|") if text else "—"


def licence_table(sources: Iterable[str | Source] | None = None) -> str:
    """Return the licence table as Markdown (every source, or only ``sources``), one row per source.

    Args:
        sources: the sources to list; ``None`` lists every source.
    """
    entries = list(LICENCES.values()) if sources is None else _ordered(sources)
    lines = [
        "| source | dataset | licence | commercial use | homepage |",
        "| --- | --- | --- | --- | --- |",
    ]
    for e in entries:
        home = f"<{e.homepage}>" if e.homepage else "—"
        ok = "yes" if e.commercial_use_ok else "**no / not stated**"
        lines.append(f"| `{e.source}` | {_cell(e.name)} | {_cell(e.licence)} | {ok} | {home} |")
    return "\n".join(lines) + "\n"


def licences_page() -> str:
    """Return the documentation page ``docs/licences.md`` (generated; a test keeps the file equal to it)."""
    parts = [
        "# Source licences\n",
        "\nEvery row of an rsgpt4v build records its `source`. Each source dataset keeps its own licence, and a "
        "build is only as open as the most restrictive source in it. `rsgpt4v push` warns when a build holds a "
        "source whose licence does not allow commercial use (or states no licence at all) unless you pass "
        "`--accept-licences`; the dataset card of every build lists the sources it holds, with this table.\n",
        "\n```bash\nrsgpt4v push ./rsgpt4v-data your-name/rs-instructions --private   # warns, then uploads\n"
        "rsgpt4v push ./rsgpt4v-data your-name/rs-instructions --accept-licences\n```\n",
        "\nThis table is a summary, not legal advice: check each homepage before you redistribute the data. It is "
        "generated from `rsgpt4v/licences.py`, the one place these facts are kept "
        "(`python -m rsgpt4v.licences > docs/licences.md`).\n\n",
        licence_table(),
        "\n## Notes and citations\n",
    ]
    for e in LICENCES.values():
        parts.append(f"\n### {e.name} (`{e.source}`)\n\n{e.note}\n")
        if e.citation:
            parts.append(f"\n```bibtex\n{e.citation}\n```\n")
    parts.append(f"\n## RS-GPT4V\n\n```bibtex\n{RSGPT4V_CITATION}\n```\n")
    return "".join(parts)


if __name__ == "__main__":
    print(licences_page(), end="")
