"""Meeting exports: WebVTT (with `<v Speaker>` voice tags, as Teams and Zoom write) and SRT.

Consecutive cues of one speaker are merged into one turn. The document text is rebuilt as
`Speaker: text` paragraphs so passages can point into it like into any transcript.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from narratives.ingest.text import LABEL, parse_timestamp
from narratives.records import Turn

TIMING = re.compile(
    r"^\s*(?P<start>(?:\d+:)?\d{1,2}:\d{2}[.,]\d{1,3})\s+-->\s+"
    r"(?P<end>(?:\d+:)?\d{1,2}:\d{2}[.,]\d{1,3})(?:\s.*)?$"
)
VOICE = re.compile(r"<v(?:\.[\w.-]+)?\s+([^>]+)>")
TAG = re.compile(r"</?[^>]*>")


class CaptionError(ValueError):
    """A caption file that breaks its format."""


@dataclass
class _Cue:
    speaker: str | None
    text: str
    start: float
    end: float


def _blocks(text: str) -> list[tuple[int, list[str]]]:
    """(first line number, lines) of each blank-line separated block."""
    blocks: list[tuple[int, list[str]]] = []
    current: list[str] = []
    first = 0
    for number, line in enumerate(text.split("\n"), start=1):
        if line.strip():
            if not current:
                first = number
            current.append(line.rstrip())
        elif current:
            blocks.append((first, current))
            current = []
    if current:
        blocks.append((first, current))
    return blocks


def _cue_from_block(first: int, lines: list[str]) -> tuple[str, str, list[str]]:
    for i, line in enumerate(lines[:2]):
        if m := TIMING.match(line):
            return m.group("start"), m.group("end"), lines[i + 1 :]
    raise CaptionError(f"cue at line {first} has no valid timing line ('00:00:01.000 --> ...')")


def _payload(lines: list[str]) -> tuple[str | None, str]:
    raw = " ".join(line.strip() for line in lines)
    speaker = None
    if m := VOICE.search(raw):
        speaker = m.group(1).strip()
    body = re.sub(r"\s+", " ", TAG.sub("", raw)).strip()
    if speaker is None and (m := LABEL.match(body)):
        speaker = m.group("speaker").strip()
        body = body[m.start("rest") :]
    return speaker, body


def cues_from_vtt(text: str) -> list[_Cue]:
    lines = text.lstrip("\ufeff").split("\n", 1)
    if not lines[0].startswith("WEBVTT"):
        raise CaptionError("missing the 'WEBVTT' header on the first line")
    cues = []
    for first, block in _blocks(text)[1:]:
        if block[0].startswith(("NOTE", "STYLE", "REGION")):
            continue
        start, end, payload = _cue_from_block(first, block)
        speaker, body = _payload(payload)
        if body:
            cues.append(_Cue(speaker, body, parse_timestamp(start), parse_timestamp(end)))
    return cues


def cues_from_srt(text: str) -> list[_Cue]:
    cues = []
    for first, block in _blocks(text.lstrip("\ufeff")):
        start, end, payload = _cue_from_block(first, block)
        speaker, body = _payload(payload)
        if body:
            cues.append(_Cue(speaker, body, parse_timestamp(start), parse_timestamp(end)))
    return cues


def transcript_from_cues(cues: list[_Cue]) -> tuple[str, list[Turn]]:
    """The rebuilt document text and its turns, merging consecutive cues of one speaker.

    A cue with no speaker continues the previous cue's speaker (SRT files name a speaker
    only when it changes)."""
    if not cues:
        raise CaptionError("has no cues with text")
    merged: list[_Cue] = []
    for cue in cues:
        speaker = (
            cue.speaker if cue.speaker is not None else (merged[-1].speaker if merged else None)
        )
        if merged and merged[-1].speaker == speaker:
            merged[-1].text += " " + cue.text
            merged[-1].end = cue.end
        else:
            merged.append(_Cue(speaker, cue.text, cue.start, cue.end))
    parts: list[str] = []
    turns: list[Turn] = []
    pos = 0
    for cue in merged:
        label = f"{cue.speaker}: " if cue.speaker else ""
        start = pos + len(label)
        parts.append(label + cue.text)
        turns.append(Turn(cue.speaker, start, start + len(cue.text), cue.start, cue.end))
        pos += len(label) + len(cue.text) + 2
    return "\n\n".join(parts), turns
