r"""PTB tokenisation in pure Python, giving the tokens of the Java tokenizer that the COCO caption evaluation runs.

``pycocoevalcap`` pipes every caption through ``edu.stanford.nlp.process.PTBTokenizer -preserveLines
-lowerCase`` (Stanford CoreNLP 3.4.1) and then drops the punctuation tokens in ``PUNCTUATIONS``. This module
re-implements the lexer rules that caption text meets, with the lexer's own conflict rule: at each position the
longest match wins and ties go to the rule listed first.

Covered: words (Unicode letters and digits, internal ``.``/``!``/``?`` as in ``runway.two``), numbers
(``1,000``, ``3.5``, ``.5``, ``3:30``, signed ``-5``), fractions and dates (``1/2``, ``24/7``, ``10/20/2020``),
slash compounds (``and/or``, ``km/h``; at most three parts), hyphenated words (``well-known``, ``50-60``,
``u.s.-based``), contractions (``do n't``, ``ca n't``, ``john 's``, ``they 're``), the assimilations
``cannot``, ``gonna``, ``gotta``, ``lemme``, ``gimme``, ``wanna``, ``dunno``, ``'tis``, ``'twas``, apostrophe
words (``o'clock``, ``l'eau``, ``'n'``), hashtags and ``@names``, acronyms and the lexer's abbreviation lists
(``u.s.``, ``e.g.``, ``a.``, ``etc.``, ``mr.``, ``st.``, ``no.`` before a number), brackets (``-lrb-``:
lower-cased, so ``pycocoevalcap`` does *not* remove them), quotes (all removed), dashes (``--``), ellipses,
``?!`` runs, currency (``£`` -> ``#``, ``€`` -> ``$``, ``¢`` -> ``cents``), ``&amp;``, simple SGML tags, URLs,
e-mail-like ``a@b.com`` and the characters the lexer deletes (zero-width and other format/control characters
split tokens; the soft hyphen joins them).

Not covered (text with these may tokenise differently from Java): SGML tags with attributes, phone numbers,
emoticons, the CP1252 characters U+0080-U+009F, and an acronym at the very end of a caption (``... plan b.``),
where Java's choice depends on the first word of the *next* caption in its input. Newline-like characters other
than ``\n`` (``\r``, U+2028, ...) count as spaces here; in ``pycocoevalcap`` they split the Java output into
extra lines and misalign its captions.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from functools import lru_cache

__all__ = ["PUNCTUATIONS", "coco_tokenize", "ptb_tokenize"]

#: The tokens ``pycocoevalcap``'s tokenizer removes after PTB tokenisation (compared case-sensitively).
PUNCTUATIONS: frozenset[str] = frozenset(
    ["''", "'", "``", "`", "-LRB-", "-RRB-", "-LCB-", "-RCB-", ".", "?", "!", ",", ":", "-", "--", "...", ";"]
)

# Java's letters: Python's word characters without digits, "_" and the other numerals (superscripts, fractions).
_L = "[^\\W\\d_\u00b2\u00b3\u00b9\u00bc-\u00be\u2070-\u209f\u2150-\u218f\u2460-\u24ff\u2776-\u2793]"
_AN = rf"(?:{_L}|\d)"  # a letter or a decimal digit
_APOS = "['\u2019]"
_APOSETC = "['\u2019`\u2018\u201b]"
_NUM = r"(?:\d*(?:[.:,]\d+)+|\d+(?:[.:,]\d+)*)"
_ACRO2 = r"[A-Za-z](?:\.[A-Za-z])+"
_ABBREV1 = (
    r"(?:jan|feb|mar|apr|jun|jul|aug|sep|sept|oct|nov|dec|mon|tue|tues|wed|thu|thurs|fri"
    r"|ala|ariz|(?-i:A)z|(?-i:A)rk|calif|colo|conn|ct|dak|(?-i:D)el|fla|ga|(?-i:I)ll|ind|kans?|ky|(?-i:L)a"
    r"|(?-i:M)ass|md|mich|minn|(?-i:M)iss|mo|mont|neb|nev|okla|(?-i:O)re|(?-i:P)a|penn|tenn|(?-i:T)ex|va|vt"
    r"|(?-i:W)ash|wisc?|wyo|inc|cos?|corp|pp?t[ye]s?|ltd|plc|rt|bancorp|bhd|assn|univ|intl|sys|tel|est|ext|sq"
    r"|jr|bros|(?:ed|ph)\.d|esq|etc|al|seq|bldg)\."
)
_ABBREV2 = (
    r"(?:mr|mrs|ms|mx|(?-i:M)iss|drs?|profs?|sens?|reps?|attys?|lt|col|gen|messrs|govs?|adm|rev|maj|sgt|cpl"
    r"|pvt|capt|ste?|ave|pres|lieut|hon|brig|co?mdr|pfc|spc|supts?|det|mt|ft|adj|adv|asst|assoc|ens|insp|mlle"
    r"|mme|msgr|sfc|sr|vs|(?-i:v)|alex|wm|jos|cie|a\.k\.a|cf|treas|ph|invt|elec|natl|m[ft]g|dept|blvd|rd)\."
)

_WORD = rf"{_L}(?:{_L}|\d)*(?:[.!?]{_L}(?:{_L}|\d)*)*"
_THING_PART = rf"(?:[dol]{_APOSETC}{_AN})?{_AN}+"
_THING = rf"(?:{_THING_PART}|[-+]?\d+(?:[.:,]\d+)*)(?:[-_\u058a\u2010\u2011]{_THING_PART})*"
# Before one of these words (case-sensitive first letter) an acronym ends a sentence: a one-letter acronym
# gives back its period ("A. The" -> "a", ".").
_SENTENCE_STARTS = (
    r"(?-i:A)bout|(?-i:A)ccording|(?-i:A)dditionally|(?-i:A)fter|(?-i:A)n|(?-i:A)|(?-i:A)s|(?-i:A)t|(?-i:B)ut"
    r"|(?-i:E)arlier|(?-i:H)e|(?-i:H)er|(?-i:H)ere|(?-i:H)owever|(?-i:I)f|(?-i:I)n|(?-i:I)t|(?-i:L)ast|(?-i:M)any"
    r"|(?-i:M)ore|(?-i:M)r\.|(?-i:M)s\.|(?-i:N)ow|(?-i:O)nce|(?-i:O)ne|(?-i:O)ther|(?-i:O)ur|(?-i:S)he|(?-i:S)ince"
    r"|(?-i:S)o|(?-i:S)ome|(?-i:S)uch|(?-i:T)hat|(?-i:T)he|(?-i:T)hen|(?-i:T)here|(?-i:T)hese|(?-i:T)hey|(?-i:T)his"
    r"|(?-i:W)e|(?-i:W)hen|(?-i:W)hile|(?-i:W)hat|(?-i:Y)et|(?-i:Y)ou"
)

# (name, pattern, trailing context). The trailing context counts for the longest-match comparison but is not
# part of the token, as in JFlex's ``r1/r2`` rules.
_RULES: list[tuple[str, str, str]] = [
    ("assim3", r"cannot|'twas|dunno", ""),
    ("assim2", rf"{_APOS}tis|gonna|gotta|lemme|gimme|wanna", ""),
    ("sgml", r"</?[A-Za-z][A-Za-z0-9_:.\-]*>", ""),
    ("dash", "[\u2013\u2014\u2015]|&(?:md|mdash|ndash);", ""),
    ("hyphens", "-{2,}", ""),
    ("amp", r"&amp;", ""),
    ("word", _WORD, rf"{_APOS}(?:[msd]|re|ve|ll)(?!{_L})"),
    ("word", rf"{_L}*[a-mo-z]", rf"n{_APOSETC}t"),
    ("word", _WORD, ""),
    (
        "apoword",
        rf"{_APOS}n{_APOS}?|[ldj]{_APOS}|{_APOS}em|(?-i:[A-HJ-XZn]){_APOSETC}{_L}{{2,}}|{_APOS}[2-9]0s|{_APOS}till?"
        rf"|{_L}+(?-i:[aeiouyAEIOUY]){_APOSETC}(?-i:[aeiouA-Z]){_L}*|{_APOS}cause",
        "",
    ),
    ("apoword2", rf"y{_APOS}", _L),
    ("url", r"(?:ftp|https?|mailto)://[^\s\"<>|(){}\[\]]+[^\s\"'<>|.!?(){},;:&\[\]-]", ""),
    ("email", r"[a-z0-9._%+-]+@[a-z0-9][a-z0-9.-]*[a-z0-9]", ""),
    ("twitter", rf"@[a-z_][a-z_0-9]*|#{_L}(?:(?:{_AN}|_)*{_AN})?", ""),
    ("redaux", rf"{_APOS}(?:[msd]|re|ve|ll)", "[^A-Za-z]"),
    ("redaux", rf"n{_APOSETC}t", ""),
    ("date", r"\d{1,2}[-/]\d{1,2}[-/]\d{2,4}", ""),
    ("number", rf"[-+]?{_NUM}", ""),
    ("frac", r"(?:\d{1,4}[- \u00a0])?\d{1,4}\\?/\d{1,4}", ""),
    ("thing", _THING, ""),
    ("word", rf"(?:{_WORD}|{_THING})\.", "[,;:\u3001]"),
    ("thinga", r"(?-i:[A-Z]+(?:(?:[+&]|&amp;)[A-Z]+)+)", ""),
    ("thing3", rf"{_AN}+(?:-{_L}+){{0,2}}(?:\\?/{_AN}+(?:-{_L}+){{0,2}}){{1,2}}", ""),
    ("hthing", rf"{_AN}(?:{_AN}|[.,])*(?:-(?:{_AN}+|{_ACRO2}\.))+", ""),
    ("abbrev", _ABBREV1, r"(?s:.{0,2})"),
    ("abbrev", _ABBREV2, ""),
    ("abbrev", r"(?:ca|figs?|prop|nos?|sects?|arts?|paras?|bldg|pp|op|(?-i:P)(?-i:t)|rs)\.", r"[ \t\u00a0]*\d"),
    ("abbrev", r"[A-Za-z](?:\.[A-Za-z])+\.", ""),
    ("abbrev", rf"[a-z]\.(?![ \t\u00a0]+(?:{_SENTENCE_STARTS})(?:[ \t\u00a0]|$))", ""),
    ("ldots", "\\.\\.\\.+|\u2026", ""),
    ("quote", "'", "[A-Za-z][^ \t\n\r\u00a0]"),
    ("redaux", rf"{_APOS}(?:[msd]|re|ve|ll)", ""),
    ("quote", "\"|&quot;|[`'\u2018\u2019]'|[`\u2018-\u201f\u2039\u203a\u00ab\u00bb]{1,2}|'", ""),
    ("bracket", r"[()\[\]{}]", ""),
    ("punct", r"[?!]+|[.,;:]", ""),
    ("dollar", r"(?-i:[A-Z]*\$)|#+", ""),
    ("runs", r"\*+|@+|_+", ""),
    ("currency", "[\u00a3\u20ac\u00a2\u00a4]", ""),
]
_COMPILED: list[tuple[str, re.Pattern[str], re.Pattern[str] | None]] = [
    (name, re.compile(pattern, re.IGNORECASE), re.compile(context, re.IGNORECASE) if context else None)
    for name, pattern, context in _RULES
]
_BRACKETS = {"(": "-LRB-", ")": "-RRB-", "[": "-LSB-", "]": "-RSB-", "{": "-LCB-", "}": "-RCB-"}
_CURRENCY = {"\u00a3": "#", "\u20ac": "$", "\u00a2": "cents", "\u00a4": "$"}
# Fast path: a run of ASCII letters or digits, or one , . ; : before a space or the end is a token by itself
# (no longer rule can match it), except the assimilations, which the full rules split.
_PLAIN = re.compile(r"(?:[A-Za-z]+|\d+(?! \d{1,4}\\?/\d)|[.,;:])(?= |$)")
_ASSIMILATIONS = frozenset({"cannot", "dunno", "gonna", "gotta", "lemme", "gimme", "wanna"})
_NEWLINES = str.maketrans({c: " " for c in "\r\x0b\x0c\x85\u2028\u2029\n"})


def _split_assimilation(text: str, tail: int) -> list[str]:
    return [text[:-tail], text[-tail:]]


_NORMALISE: dict[str, Callable[[str], list[str]]] = {
    "assim3": lambda t: _split_assimilation(t, 3),
    "assim2": lambda t: _split_assimilation(t, 2),
    "dash": lambda t: ["--"],
    "hyphens": lambda t: ["--" if len(t) in (3, 4) else t],
    "redaux": lambda t: [t.replace("\u2019", "'")],
    "amp": lambda t: ["&"],
    "ldots": lambda t: ["..."],
    "bracket": lambda t: [_BRACKETS[t]],
    "frac": lambda t: [t.replace(" ", "\u00a0")],
    "currency": lambda t: [_CURRENCY[t]],
}


def _quote(text: str, following: str) -> str:
    """The PTB form of a quote token: a backquote or two opening, ``'`` or ``''`` closing."""
    if text in ("``", "''", "`") or text[0] in "\u201a\u201e\u201f":
        return text
    double = len(text) == 2 or text[0] in '"\u201c\u201d\u00ab\u00bb' or text == "&quot;"
    if text[0] in "\u2018\u201c\u00ab\u2039\u201b":
        opening = True
    elif text[0] in "\u2019\u201d\u00bb\u203a":
        opening = False
    else:  # straight quotes: opening when a letter or digit follows
        opening = following.isalnum()
    if double:
        return "``" if opening else "''"
    return "`" if opening else "'"


def _is_symbol(ch: str) -> bool:
    """Single characters the lexer returns as a token of their own (its catch-all symbol rules)."""
    category = unicodedata.category(ch)
    if category[0] not in "SP" and category != "No":
        return False
    code = ord(ch)
    return code < 0x0800 or 0x2010 <= code <= 0x209F or 0x2100 <= code <= 0x2BFF or 0x3001 <= code <= 0x303F


def _is_space(ch: str) -> bool:
    return ch.isspace() or unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co", "Cn")


@lru_cache(maxsize=1 << 16)
def _tokenize_line(line: str) -> tuple[str, ...]:
    line = line.replace("\u00ad", "")
    tokens: list[str] = []
    pos, end = 0, len(line)
    while pos < end:
        ch = line[pos]
        if _is_space(ch):
            pos += 1
            continue
        plain = _PLAIN.match(line, pos)
        if plain and plain.group().lower() not in _ASSIMILATIONS:
            tokens.append(plain.group())
            pos = plain.end()
            continue
        best_len, best_size, best_name = 0, 0, ""
        for name, pattern, context in _COMPILED:
            match = pattern.match(line, pos)
            if not match or match.end() == pos:
                continue
            size = match.end() - pos
            total = size
            if context is not None:
                after = context.match(line, match.end())
                if not after:
                    continue
                total += after.end() - match.end()
            if total > best_len:
                best_len, best_size, best_name = total, size, name
        if best_size:
            text = line[pos : pos + best_size]
            if best_name == "quote":
                tokens.append(_quote(text, line[pos + best_size : pos + best_size + 1]))
            else:
                tokens.extend(_NORMALISE[best_name](text) if best_name in _NORMALISE else [text])
            pos += best_size
        else:
            if _is_symbol(ch):
                tokens.append(ch)
            pos += 1  # characters the lexer cannot tokenise are deleted
    return tuple(tokens)


def ptb_tokenize(text: str) -> list[str]:
    """PTB tokens of one caption, lower-cased, as ``PTBTokenizer -preserveLines -lowerCase`` prints them.

    Args:
        text: one caption; any newline characters are treated as spaces.

    Returns:
        The tokens, punctuation included (brackets as ``-lrb-``, quotes as ````` and ``''``).
    """
    return [t.lower() for t in _tokenize_line(text.translate(_NEWLINES))]


def coco_tokenize(text: str) -> str:
    """A caption as ``pycocoevalcap``'s ``PTBTokenizer`` returns it: PTB tokens without punctuation, space-joined.

    Args:
        text: one caption.
    """
    return " ".join(t for t in ptb_tokenize(text) if t not in PUNCTUATIONS)
