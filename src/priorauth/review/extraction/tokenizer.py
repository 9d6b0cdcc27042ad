"""A fast regex tokenizer that also marks sentence starts.

spaCy's rule tokenizer costs ~2 ms for a 1.5 KB note on this machine and PyRuSH is slower still, so
the extractor builds the Doc itself: runs of letters/digits, decimals, and single symbols. Concept
phrases go through the same tokenizer (the medspaCy matchers call `nlp.tokenizer`), so both sides agree.
"""
from __future__ import annotations

import re

from spacy.tokens import Doc
from spacy.vocab import Vocab

_TOKEN = re.compile(r"\d+(?:\.\d+)+|[^\W_]+|\S")
_SENTENCE_END = frozenset(".!?")
_SURROGATES = re.compile("[\ud800-\udfff]")  # lone surrogates (from JSON escapes) cannot be UTF-8 encoded


class RegexTokenizer:
    def __init__(self, vocab: Vocab):
        self.vocab = vocab

    def __call__(self, text: str) -> Doc:
        text = _SURROGATES.sub("\ufffd", text)  # one char for one: offsets stay those of the original
        words: list[str] = []
        spaces: list[bool] = []
        starts: list[bool] = []
        position = 0
        break_pending = True
        for match in _TOKEN.finditer(text):
            begin, end = match.span()
            if begin > position:
                break_pending |= _add_whitespace(text[position:begin], words, spaces, starts)
            word = match.group()
            words.append(word)
            spaces.append(False)
            starts.append(break_pending or (_after_newline(text, begin) and not word[0].islower()))
            break_pending = word in _SENTENCE_END
            position = end
        if position < len(text):
            _add_whitespace(text[position:], words, spaces, starts)
        if starts:
            starts[0] = True
        return Doc(self.vocab, words=words, spaces=spaces, sent_starts=starts)


def _add_whitespace(gap: str, words: list[str], spaces: list[bool], starts: list[bool]) -> bool:
    """Attach one space to the previous token, keep any other whitespace as its own token.

    Returns True when the gap is a paragraph break (two newlines), which always ends a sentence."""
    if words and gap[0] == " ":
        spaces[-1] = True
        gap = gap[1:]
    if gap:
        words.append(gap)
        spaces.append(False)
        starts.append(not words[:-1])
    return gap.count("\n") >= 2


def _after_newline(text: str, begin: int) -> bool:
    """A line break starts a sentence unless the next line continues in lower case (a wrapped line)."""
    index = begin - 1
    while index >= 0 and text[index] in " \t\r":
        index -= 1
    return index >= 0 and text[index] == "\n"
