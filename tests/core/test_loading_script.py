import shutil
import subprocess
import sys
from pathlib import Path

import datasets
from helpers import records

from rsgpt4v.build import BuildInput, BuildOptions, build
from rsgpt4v.schema import CONFIGS

LOADER = Path(__file__).parents[2] / "loading_script" / "README.md"


def test_loader_yaml_matches_the_schema():
    """Fails when rsgpt4v.schema changes without regenerating loading_script/README.md."""
    fresh = subprocess.run(
        [sys.executable, "-m", "rsgpt4v.card_yaml"], capture_output=True, text=True, check=True
    ).stdout
    assert LOADER.read_text() == fresh, "regenerate: python -m rsgpt4v.card_yaml > loading_script/README.md"


def test_loader_yaml_loads_a_canonical_layout(tmp_path):
    def gen():
        yield from records("train", "a.png", seed=1)
        yield from records("test", "b.png", seed=2)

    out = tmp_path / "repo"
    build([BuildInput("hand", gen)], out, BuildOptions(progress=False))
    shutil.copy(LOADER, out / "README.md")
    assert sorted(datasets.get_dataset_config_names(str(out))) == sorted(CONFIGS)
    for config in CONFIGS:
        ds = datasets.load_dataset(str(out), config)
        expected = 6 if config == "instruct" else 1
        assert (ds["train"].num_rows, ds["test"].num_rows) == (expected, expected), config
