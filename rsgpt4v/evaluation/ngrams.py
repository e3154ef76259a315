"""Sentences as integer arrays and their n-gram counts, computed with numpy for a whole corpus at once.

The caption metrics score thousands of sentences; doing the n-gram bookkeeping per sentence in Python is what
makes the reference implementation slow. Here every token gets an integer id, every n-gram of order k is the
pair (id of its (k-1)-gram prefix, id of its last token) made unique with ``np.unique``, and the counts of each
(sentence, n-gram) pair come from one more ``np.unique``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import chain

import numpy as np

__all__ = ["NgramCounts", "TokenArrays", "encode", "encode_tokens", "ngram_counts"]

_SEP = "\x00"


@dataclass(frozen=True)
class TokenArrays:
    """A list of tokenised sentences flattened into integer arrays.

    Attributes:
        ids: token id of every token, sentence after sentence.
        sentence: the sentence index of every token.
        position: the position of every token within its sentence.
        lengths: the number of tokens of every sentence.
        starts: the offset of every sentence's first token in ``ids``.
    """

    ids: np.ndarray
    sentence: np.ndarray
    position: np.ndarray
    lengths: np.ndarray
    starts: np.ndarray


@dataclass(frozen=True)
class NgramCounts:
    """The n-gram counts of every sentence, one entry per distinct (sentence, n-gram) pair.

    Attributes:
        sentence: the sentence index of each entry (entries are grouped by order, then sorted by sentence).
        gram: a corpus-wide n-gram id (ids of different orders never collide).
        order: the n-gram order minus one (0 for unigrams).
        count: how often the n-gram occurs in the sentence.
        num_grams: the number of distinct n-grams over all orders.
    """

    sentence: np.ndarray
    gram: np.ndarray
    order: np.ndarray
    count: np.ndarray
    num_grams: int


def encode(sentences: Sequence[str]) -> TokenArrays:
    """Split sentences on whitespace (``str.split()``) and turn them into flat integer arrays.

    All sentences are split in one call on a joined string (a NUL token marks sentence ends), which is much
    faster than one ``split`` per sentence; text that itself contains NUL is split sentence by sentence.

    Args:
        sentences: the sentences.
    """
    joined = f" {_SEP} ".join(sentences)
    if joined.count(_SEP) != max(len(sentences) - 1, 0):
        return encode_tokens([s.split() for s in sentences])
    flat = joined.split()
    vocab = {word: k for k, word in enumerate(dict.fromkeys(flat))}
    ids = np.fromiter(map(vocab.__getitem__, flat), dtype=np.int64, count=len(flat))
    if _SEP in vocab:
        is_sep = ids == vocab[_SEP]
        ends = np.flatnonzero(is_sep)
        lengths = np.diff(np.concatenate(([-1], ends, [len(ids)]))) - 1
        ids = ids[~is_sep]
    else:
        lengths = np.array([len(ids)] * len(sentences), dtype=np.int64)
    return _arrays(ids, lengths.astype(np.int64))


def encode_tokens(sentences: Sequence[Sequence[str]]) -> TokenArrays:
    """Turn already tokenised sentences into flat integer arrays.

    Args:
        sentences: one sequence of tokens per sentence.
    """
    lengths = np.fromiter(map(len, sentences), dtype=np.int64, count=len(sentences))
    flat = list(chain.from_iterable(sentences))
    vocab = {word: k for k, word in enumerate(dict.fromkeys(flat))}
    return _arrays(np.fromiter(map(vocab.__getitem__, flat), dtype=np.int64, count=len(flat)), lengths)


def _arrays(ids: np.ndarray, lengths: np.ndarray) -> TokenArrays:
    starts = np.zeros(len(lengths), dtype=np.int64)
    np.cumsum(lengths[:-1], out=starts[1:])
    sentence = np.repeat(np.arange(len(lengths), dtype=np.int64), lengths)
    position = np.arange(len(ids), dtype=np.int64) - starts[sentence]
    return TokenArrays(ids=ids, sentence=sentence, position=position, lengths=lengths, starts=starts)


def ngram_counts(tokens: TokenArrays, n: int = 4) -> NgramCounts:
    """Count the n-grams of orders 1..n of every sentence.

    Args:
        tokens: the encoded sentences.
        n: the highest n-gram order.
    """
    num_tokens = len(tokens.ids)
    base = int(tokens.ids.max()) + 1 if num_tokens else 1
    remaining = tokens.lengths[tokens.sentence] - tokens.position  # tokens from here to the sentence end
    grams = tokens.ids  # n-gram id (of the current order) starting at each valid position
    valid = np.arange(num_tokens)
    parts: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []
    offset = 0
    for k in range(n):
        if k:
            keep = remaining[valid] > k
            valid = valid[keep]
            key = grams[keep] * base + tokens.ids[valid + k]
            uniq, grams = np.unique(key, return_inverse=True)
            num_local = len(uniq)
        else:
            num_local = base
        pair = tokens.sentence[valid] * num_local + grams
        pairs, counts = np.unique(pair, return_counts=True)
        sentence, local = np.divmod(pairs, num_local)
        parts.append((sentence, local + offset, np.full(len(pairs), k, dtype=np.int64), counts))
        offset += num_local
    sentence, gram, order, count = (np.concatenate(p) for p in zip(*parts))
    return NgramCounts(sentence=sentence, gram=gram, order=order, count=count, num_grams=offset)
