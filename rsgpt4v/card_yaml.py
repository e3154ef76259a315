"""The dataset card's YAML header (``configs:`` and ``dataset_info:``), generated from ``rsgpt4v.schema``.

``rsgpt4v build`` writes it with the exact shard files of a build; ``loading_script/README.md`` holds the
canonical form for the Hub repository (glob patterns per task and split), regenerated with
``python -m rsgpt4v.card_yaml > loading_script/README.md`` and checked against the schema by a test.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from rsgpt4v.schema import COMMON_COLUMNS, TASKS, features

__all__ = ["canonical_data_files", "metadata_yaml"]

#: Splits of the canonical Hub layout (the released RS-GPT4V has train and test).
CANONICAL_SPLITS = ("train", "test")


def metadata_yaml(
    data_files: Mapping[str, Mapping[str, Sequence[str] | str]],
    split_rows: Mapping[str, Mapping[str, int]] | None = None,
    license: str = "other",
) -> str:
    """Return the README YAML header (with its ``---`` fences) for the given data files.

    Args:
        data_files: config -> split -> file paths or a glob pattern, relative to the dataset root.
        split_rows: config -> split -> number of rows; ``None`` leaves split sizes out.
        license: the Hub licence id (``other`` when the sources' licences differ or are unstated).
    """
    from datasets import DatasetInfo, SplitDict, SplitInfo
    from datasets.info import DatasetInfosDict
    from datasets.utils.metadata import MetadataConfigs
    from huggingface_hub import DatasetCardData

    card = DatasetCardData(
        license=license,
        pretty_name="RS-GPT4V",
        task_categories=["image-to-text", "visual-question-answering", "object-detection"],
        language=["en"],
        tags=["remote-sensing", "instruction-tuning", "rsgpt4v"],
    )
    metadata, infos = MetadataConfigs(), DatasetInfosDict()
    for config in sorted(data_files):
        splits = sorted(data_files[config])
        entry: dict[str, Any] = {"data_files": [{"split": s, "path": data_files[config][s]} for s in splits]}
        if config == "instruct":
            entry["columns"] = list(COMMON_COLUMNS)
            entry["default"] = True
        metadata[config] = entry
        split_dict = None  # without sizes, no split list: datasets would reject the splits it finds
        if split_rows is not None:
            split_dict = SplitDict()
            for s in splits:
                split_dict.add(SplitInfo(name=s, num_examples=split_rows[config][s], num_bytes=0))
        infos[config] = DatasetInfo(config_name=config, features=features(config), splits=split_dict)
    metadata.to_dataset_card_data(card)
    infos.to_dataset_card_data(card)
    return f"---\n{card.to_yaml()}\n---\n"


def canonical_data_files(splits: Sequence[str] = CANONICAL_SPLITS) -> dict[str, dict[str, Any]]:
    """Glob patterns of the canonical layout: ``<task>/<split>-*`` and, for ``instruct``, the answered shards."""
    files: dict[str, dict[str, Any]] = {t: {s: f"{t}/{s}-*" for s in splits} for t in TASKS}
    files["instruct"] = {s: [f"{t}/{s}-0*" for t in TASKS] for s in splits}
    return files


if __name__ == "__main__":
    print(metadata_yaml(canonical_data_files()), end="")
    print(
        "\n# RS-GPT4V (Hub-side loader)\n\nThis YAML header is the dataset repository's loader: `datasets` 4+ runs "
        "no loading scripts, so\neach config is declared here with its parquet files and features. Generated "
        "from `rsgpt4v.schema`\nby `python -m rsgpt4v.card_yaml`; `rsgpt4v build` writes the same header with "
        "the exact shard\nfiles of a build.\n"
    )
