"""Segmentation: passages are turns, long ones split into whole-sentence windows."""

from __future__ import annotations

from narratives.ingest import read_document
from narratives.segment import segment, windows
from tests.conftest import DATA, GOOD_FILES


def test_long_report_paragraph_becomes_sentence_windows():
    doc = read_document(DATA / "report.txt")
    passages = segment(doc, max_words=120)
    assert [len(p.text.split()) for p in passages] == [37, 114, 96, 33, 37]
    assert passages[1].text.startswith("The project began with a period of listening.")
    assert passages[2].text.startswith("When partners asked why, they found that the small")
    assert passages[3].text.startswith("Partners said that the willingness to report this")


def test_every_passage_is_an_exact_span_and_ends_a_sentence():
    for name in GOOD_FILES:
        doc = read_document(DATA / name)
        passages = segment(doc, max_words=120)
        assert [p.seq for p in passages] == list(range(len(passages)))
        for p in passages:
            assert doc.text[p.start_char : p.end_char] == p.text
            assert len(p.text.split()) <= 120
            assert p.passage_id == f"{doc.document_id}-{p.seq:05d}"


def test_a_sentence_longer_than_the_window_stays_whole():
    text = "word " * 150 + "end. Short one."
    spans = windows(text.strip(), max_words=120)
    assert len(spans) == 2
    assert text.strip()[spans[0][0] : spans[0][1]].endswith("end.")


def test_windows_never_cut_inside_a_sentence():
    text = " ".join(f"Sentence number {i} has exactly seven words." for i in range(60))
    for s, e in windows(text, max_words=50):
        chunk = text[s:e]
        assert chunk.startswith("Sentence") and chunk.endswith("words.")
        assert len(chunk.split()) <= 50
