"""Segment: turns -> passages, the units that are embedded and coded.

A turn of at most `max_words` words is one passage. A longer turn (a long answer, a report
paragraph) is split into windows of whole sentences of at most `max_words` words each; a
single sentence longer than that stays whole rather than being cut mid-sentence.
"""

from __future__ import annotations

from functools import lru_cache

from narratives.records import Document, Passage, Turn


@lru_cache(maxsize=1)
def _sentencizer():
    import spacy  # imported here: the CLI's --help should not pay for it

    nlp = spacy.blank("en")
    nlp.add_pipe("sentencizer")
    return nlp


def _words(text: str) -> int:
    return len(text.split())


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """Character spans of the sentences in `text`, trailing whitespace excluded."""
    doc = _sentencizer()(text)
    spans = []
    for sent in doc.sents:
        start, end = sent.start_char, sent.end_char
        while end > start and text[end - 1].isspace():
            end -= 1
        if end > start:
            spans.append((start, end))
    return spans


def windows(text: str, max_words: int) -> list[tuple[int, int]]:
    """Spans of consecutive whole sentences, each at most `max_words` words where possible."""
    if _words(text) <= max_words:
        return [(0, len(text))]
    result: list[tuple[int, int]] = []
    start = end = None
    count = 0
    for s, e in sentence_spans(text):
        n = _words(text[s:e])
        if start is not None and count + n > max_words:
            result.append((start, end))
            start = None
        if start is None:
            start, count = s, 0
        end = e
        count += n
    if start is not None:
        result.append((start, end))
    return result


def _passages_of_turn(doc: Document, turn: Turn, seq: int, max_words: int) -> list[Passage]:
    body = doc.text[turn.start_char : turn.end_char]
    out = []
    for s, e in windows(body, max_words):
        start, end = turn.start_char + s, turn.start_char + e
        out.append(
            Passage(
                passage_id=f"{doc.document_id}-{seq + len(out):05d}",
                document_id=doc.document_id,
                seq=seq + len(out),
                speaker=turn.speaker,
                is_interviewer=turn.is_interviewer,
                text=doc.text[start:end],
                start_char=start,
                end_char=end,
                start_time=turn.start_time,
                end_time=turn.end_time,
                page=turn.page,
            )
        )
    return out


def segment(doc: Document, max_words: int = 120) -> list[Passage]:
    """The passages of one document, in order, numbered from 0."""
    passages: list[Passage] = []
    for turn in doc.turns:
        passages.extend(_passages_of_turn(doc, turn, len(passages), max_words))
    return passages
