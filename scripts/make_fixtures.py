#!/usr/bin/env python
"""Regenerate the sample corpus (data/sample/) and the parser test corpus (tests/data/).

Everything is deterministic: fixed text, fixed timings, fixed document dates and
fixed zip timestamps, so re-running the script produces byte-identical files
(for a given python-docx / fpdf2 / Pillow version).

    .venv/bin/python scripts/make_fixtures.py

Dependencies: stdlib, python-docx, fpdf2 (and Pillow, which fpdf2 depends on).

All content is fictional. Places (Ashby Vale, Kelsham, Northmoor), organisations
and people are invented.

Format conventions the parser relies on (see tests/data/EXPECTED.md):
  * txt/md: one turn per paragraph, optional "[hh:mm:ss] " then "Speaker Name: text";
    a turn may continue over following lines until a blank line or the next label.
  * docx: "Speaker: text" paragraphs (bold label run), or a 2-column table whose
    first row is the header "Speaker | Text".
  * vtt: WEBVTT, Teams-style cue ids, <v Name>text</v>; consecutive cues of the same
    voice form one turn.
  * srt: numbered cues; first cue of a turn starts "Speaker: ", unlabeled cues
    continue the previous speaker.
  * pdf: text-based, core font (latin-1), footer "Page N".
Turn text never contains ':' so that wrapped lines cannot look like speaker labels.
"""

from __future__ import annotations

import csv
import hashlib
import io
import math
import re
import textwrap
import zipfile
from datetime import UTC, datetime
from pathlib import Path

from docx import Document
from fpdf import FPDF

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "data" / "sample"
TESTS = ROOT / "tests" / "data"
BAD = TESTS / "bad"

FIXED_DT = datetime(2024, 1, 1, 9, 0, 0, tzinfo=UTC)
ZIP_DT = (2024, 1, 1, 9, 0, 0)
MANIFEST_HEADER = ["file", "title", "place", "project", "wave", "date", "role"]
WORDS_PER_SECOND = 2.5

# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------


def turns_from_block(block: str) -> list[tuple[str, str]]:
    """Parse an authoring block: paragraphs 'Speaker: text' separated by blank lines."""
    turns = []
    for para in re.split(r"\n\s*\n", block.strip()):
        para = " ".join(line.strip() for line in para.splitlines())
        speaker, text = para.split(": ", 1)
        turns.append((speaker.strip(), text.strip()))
    return turns


def check_text(text: str, *, latin1: bool = False) -> None:
    for bad in (":", "<", ">", "&", "-->"):
        assert bad not in text, f"forbidden {bad!r} in: {text[:80]}"
    if latin1:
        text.encode("latin-1")


def check_turns(turns, *, latin1=False):
    for speaker, text in turns:
        check_text(text, latin1=latin1)
        assert ":" not in speaker
    for (a, _), (b, _) in zip(turns, turns[1:], strict=False):
        assert a != b, f"consecutive turns by {a}; VTT/SRT would merge them"


def n_words(text: str) -> int:
    return len(text.split())


def timed(turns, start=3.0, gap=1.0):
    """Attach deterministic start/end times (seconds) to turns."""
    out, t = [], start
    for speaker, text in turns:
        dur = max(2.0, round(n_words(text) / WORDS_PER_SECOND, 1))
        out.append((speaker, text, t, t + dur))
        t = math.ceil(t + dur + gap)
    return out


def hms(sec: float) -> str:
    s = int(sec)
    return f"{s // 3600:02d}:{s % 3600 // 60:02d}:{s % 60:02d}"


def ts(sec: float, sep: str) -> str:
    ms = int(round(sec * 1000))
    h, ms = divmod(ms, 3_600_000)
    m, ms = divmod(ms, 60_000)
    s, ms = divmod(ms, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}{sep}{ms:03d}"


def split_cues(text: str, max_words: int = 16) -> list[str]:
    """Split a turn into subtitle-sized chunks, preferring sentence boundaries."""
    chunks = []
    for sent in re.split(r"(?<=[.!?])\s+", text.strip()):
        words = sent.split()
        if not words:
            continue
        parts = math.ceil(len(words) / max_words)
        size = math.ceil(len(words) / parts)
        for i in range(0, len(words), size):
            chunks.append(" ".join(words[i : i + size]))
    return chunks


def guid(*parts: str) -> str:
    h = hashlib.md5("|".join(parts).encode()).hexdigest()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"


def write_bytes(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def write_text(path: Path, text: str) -> None:
    write_bytes(path, text.encode("utf-8"))


def normalise_zip(data: bytes) -> bytes:
    """Rewrite a zip with fixed timestamps/attributes so output is byte-stable."""
    src = zipfile.ZipFile(io.BytesIO(data))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            zi = zipfile.ZipInfo(info.filename, date_time=ZIP_DT)
            zi.compress_type = zipfile.ZIP_DEFLATED
            zi.external_attr = 0o644 << 16
            dst.writestr(zi, src.read(info.filename))
    return buf.getvalue()


def make_zip(members: dict[str, str]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, content in members.items():
            zi = zipfile.ZipInfo(name, date_time=ZIP_DT)
            zi.compress_type = zipfile.ZIP_DEFLATED
            zi.external_attr = 0o644 << 16
            z.writestr(zi, content)
    return buf.getvalue()


def junk(n: int, seed: str) -> bytes:
    """Deterministic pseudo-random bytes (sha256 counter mode)."""
    out = bytearray()
    i = 0
    while len(out) < n:
        out += hashlib.sha256(f"{seed}:{i}".encode()).digest()
        i += 1
    return bytes(out[:n])


# ---------------------------------------------------------------------------
# renderers
# ---------------------------------------------------------------------------


def render_txt(turns, *, timestamps=True, wrap=None, title=None, eol="\n") -> str:
    paras = []
    if title:
        paras.append(f"# {title}")
    for speaker, text, start, _ in timed(turns):
        line = (f"[{hms(start)}] " if timestamps else "") + f"{speaker}: {text}"
        if wrap:
            line = "\n".join(
                textwrap.wrap(line, width=wrap, break_long_words=False, break_on_hyphens=False)
            )
        paras.append(line)
    return eol.join((eol + eol).join(paras).split("\n")) + eol


def render_vtt(turns, file_key: str, *, first_utterance=10) -> str:
    lines = ["WEBVTT", ""]
    for ti, (speaker, text, start, _) in enumerate(timed(turns)):
        t = start
        uid = guid(file_key, str(ti))
        for ci, chunk in enumerate(split_cues(text)):
            dur = max(1.5, round(n_words(chunk) / WORDS_PER_SECOND, 1))
            lines += [
                f"{uid}/{first_utterance + ti}-{ci}",
                f"{ts(t, '.')} --> {ts(t + dur, '.')}",
                f"<v {speaker}>{chunk}</v>",
                "",
            ]
            t += dur
    return "\n".join(lines)


def two_lines(text: str, limit: int = 46) -> str:
    if len(text) <= limit:
        return text
    words = text.split()
    best, best_diff = 1, None
    for i in range(1, len(words)):
        diff = abs(len(" ".join(words[:i])) - len(" ".join(words[i:])))
        if best_diff is None or diff < best_diff:
            best, best_diff = i, diff
    return " ".join(words[:best]) + "\n" + " ".join(words[best:])


def render_srt(turns) -> str:
    lines, n = [], 1
    for speaker, text, start, _ in timed(turns):
        t = start
        for ci, chunk in enumerate(split_cues(text)):
            dur = max(1.5, round(n_words(chunk) / WORDS_PER_SECOND, 1))
            body = two_lines(f"{speaker}: {chunk}" if ci == 0 else chunk)
            for bl in body.splitlines():
                assert not bl.strip().isdigit()
            lines += [str(n), f"{ts(t, ',')} --> {ts(t + dur, ',')}", body, ""]
            n += 1
            t += dur
    return "\n".join(lines)


def _new_document(title: str) -> Document:
    doc = Document()
    cp = doc.core_properties
    cp.title = title
    cp.author = "Systems Leadership evaluation team"
    cp.last_modified_by = "Systems Leadership evaluation team"
    cp.created = FIXED_DT.replace(tzinfo=None)
    cp.modified = FIXED_DT.replace(tzinfo=None)
    cp.last_printed = FIXED_DT.replace(tzinfo=None)
    cp.revision = 1
    cp.comments = ""
    return doc


def _save_document(doc: Document) -> bytes:
    buf = io.BytesIO()
    doc.save(buf)
    return normalise_zip(buf.getvalue())


def render_docx_paragraphs(turns, title: str) -> bytes:
    doc = _new_document(title)
    doc.add_heading(title, level=1)
    for speaker, text in turns:
        p = doc.add_paragraph()
        label = p.add_run(f"{speaker}:")
        label.bold = True
        p.add_run(f" {text}")
    return _save_document(doc)


def render_docx_table(turns, title: str) -> bytes:
    doc = _new_document(title)
    doc.add_heading(title, level=1)
    table = doc.add_table(rows=1, cols=2)
    table.style = "Table Grid"
    hdr = table.rows[0].cells
    for cell, label in zip(hdr, ("Speaker", "Text"), strict=False):
        cell.text = ""
        cell.paragraphs[0].add_run(label).bold = True
    for speaker, text in turns:
        row = table.add_row().cells
        row[0].text = speaker
        row[1].text = text
    return _save_document(doc)


class ReportPDF(FPDF):
    def footer(self):
        self.set_y(-15)
        self.set_font("Helvetica", "", 9)
        self.cell(0, 10, f"Page {self.page_no()}", align="C")


def _new_pdf(title: str) -> ReportPDF:
    pdf = ReportPDF(format="A4")
    pdf.set_creation_date(FIXED_DT)
    pdf.set_title(title)
    pdf.set_author("Systems Leadership evaluation team")
    pdf.set_creator("scripts/make_fixtures.py")
    pdf.set_auto_page_break(auto=True, margin=22)
    pdf.set_margins(22, 22, 22)
    return pdf


def render_pdf(title: str, subtitle: str | None, sections, *, break_before=()) -> bytes:
    """sections: list of (heading, [paragraphs]); headings in break_before start a new page."""
    pdf = _new_pdf(title)
    pdf.add_page()
    check_text(title, latin1=True)
    pdf.set_font("Helvetica", "B", 16)
    pdf.multi_cell(0, 8, title, new_x="LMARGIN", new_y="NEXT")
    if subtitle:
        check_text(subtitle, latin1=True)
        pdf.set_font("Helvetica", "", 11)
        pdf.multi_cell(0, 6, subtitle, new_x="LMARGIN", new_y="NEXT")
    for heading, paras in sections:
        if heading in break_before:
            pdf.add_page()
        else:
            pdf.ln(4)
        check_text(heading, latin1=True)
        pdf.set_font("Helvetica", "B", 12)
        pdf.multi_cell(0, 7, heading, new_x="LMARGIN", new_y="NEXT")
        pdf.ln(1)
        pdf.set_font("Helvetica", "", 11)
        for para in paras:
            check_text(para, latin1=True)
            pdf.multi_cell(0, 5.5, para, new_x="LMARGIN", new_y="NEXT")
            pdf.ln(3)
    return bytes(pdf.output())


def render_scanned_pdf() -> bytes:
    """A valid PDF whose only page is an image of 'text' (grey bars): nothing to extract."""
    from PIL import Image, ImageDraw

    img = Image.new("L", (620, 877), 250)
    draw = ImageDraw.Draw(img)
    y = 70
    for i in range(28):
        width = 480 - (i * 37) % 160
        draw.rectangle([70, y, 70 + width, y + 9], fill=90 + (i * 13) % 40)
        y += 24 if i % 7 != 6 else 40
    pdf = FPDF(format="A4")  # plain FPDF: no "Page N" footer, so no text at all
    pdf.set_creation_date(FIXED_DT)
    pdf.set_creator("scanner")
    pdf.add_page()
    pdf.image(img, x=0, y=0, w=210, h=297)
    return bytes(pdf.output())


def write_manifest(path: Path, rows) -> None:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(MANIFEST_HEADER)
    for row in rows:
        w.writerow([row[k] for k in MANIFEST_HEADER])
    write_text(path, buf.getvalue())


# ---------------------------------------------------------------------------
# SAMPLE CORPUS content (data/sample/)
# ---------------------------------------------------------------------------

ASHBY_BASELINE = turns_from_block("""
Interviewer: Thanks for making time, Helen. For the recording, could you start by saying who you are and what your role is?

Dr Helen Marsh: Of course. I'm Helen Marsh, I'm the director of public health for Ashby Vale Council, and I've been in post for just over three years. Before that I was a consultant in public health in a neighbouring county, and before that I trained as a GP, so I've seen the system from a few different angles. On this project I'm the senior sponsor from the council side, alongside the chief operating officer at Ashby General Hospital and the director of adult social care.

Interviewer: And can you describe the project in a few sentences?

Dr Helen Marsh: The project is called Home First. It's about getting older people home from hospital quickly and safely, with the right support around them, rather than waiting in a hospital bed for a care package or a care home place. On paper it's a discharge project. In practice it's about whether the hospital, the council, the community trust and the care providers can act like one system for a person in their eighties who just wants to go home. We have about eighteen months of funding through the Better Care Fund and a small amount from the programme itself, which mostly pays for the enabler's time.

Interviewer: Why does this matter to you personally?

Dr Helen Marsh: My grandmother spent the last six weeks of her life in a hospital bed she didn't need to be in. She was waiting for an assessment, and then for a care agency, and then for a second assessment because the first one was out of date. Nobody was unkind, everyone was doing their job, but she lost her confidence and her mobility and she never went home. I think about her a lot when I sit in meetings about flow and bed occupancy. For me this is about dignity. People should not have to tell their story five times to five different professionals, and they should not lose their independence because our systems don't talk to each other. That's what gets me out of bed, frankly, more than any target.

Interviewer: How is the work organised at the moment?

Dr Helen Marsh: We have a project group of about twelve people that meets every other Thursday at the civic centre, and a smaller steering group that meets monthly. Our enabler, Tom Reid, joined us in January and he facilitates most of the sessions. There's a shared drive, a risk log, the usual things. We report quarterly to the Health and Wellbeing Board. The first formal milestone is in June, when we are supposed to have a pilot running on two wards.

Interviewer: What have you done so far to understand the problem?

Dr Helen Marsh: The most useful thing we did was very simple. Tom suggested that, before anybody designed anything, we should go and watch. So four of us, me, the deputy chief nurse, a social work team manager and a home care provider, spent two full days in the discharge lounge and on one of the elderly care wards. We didn't carry clipboards, we just sat with patients and families and listened. I heard a daughter describe ringing seven different numbers to find out when her dad was coming home. I watched a physiotherapist and a social worker assess the same man on the same morning, twenty minutes apart, asking him almost the same questions. You don't see that from a dashboard. I also noticed how much the ward staff were carrying, and how rarely anyone asked them what they thought would help.

Interviewer: And what about the data?

Dr Helen Marsh: We had plenty of data, that was never the problem. The problem was that each organisation had its own version and its own explanation. So we pulled it together for the first time. When we looked across the hospital and council records, about forty per cent of the people who were medically fit but still in a bed were waiting for a package of home care, and most of the rest were waiting for an assessment of some kind. Then we asked why, and then why again. Why are people waiting for home care? Because the agencies can't recruit. Why can't they recruit? Partly pay, but partly because our commissioning gives them fifteen minute visits scattered across the borough, which nobody wants to do. So a hospital discharge problem turned out to be partly a commissioning problem in the council, which is my own organisation. That was uncomfortable, but it was useful.

Interviewer: How have the different organisations responded to that?

Dr Helen Marsh: Carefully, I'd say. There's a history here. Five years ago there was a very public row between the council and the hospital about delayed discharges and who should be fined for them, and people still remember it. So a lot of my energy has gone into building relationships before we build anything else. I started having a cup of tea with the chief nurse every fortnight, no agenda, no papers. We talk about what's worrying us. I've also tried to make sure the care providers are in the room as equals, not as people we commission and then blame. At the first workshop one of the home care managers said she had never been invited to a meeting with the hospital in eleven years. That told me a lot. Tom has been very good at helping people say what they actually think, and I try to back people publicly when they take a risk in saying something difficult.

Interviewer: Have there been setbacks?

Dr Helen Marsh: Yes. Our second workshop fell apart, honestly. The hospital sent a different set of people who hadn't been at the first one, the data we promised wasn't ready, and it turned into forty minutes of people defending their own organisations. I went home that night thinking the whole thing might not work. But we reflected on it with Tom the next morning and agreed to keep going, smaller and slower. We also had a difficult moment with our cabinet member, who wanted a quick win before the elections. I had to tell him that there wasn't going to be one by May, and that if we rushed it we would just move the queue from the hospital to the community. That was not a comfortable conversation, but I think it was the right one.

Interviewer: What are you planning to do next?

Dr Helen Marsh: We're going to pilot what we're calling a single conversation. On two wards, from June, one trusted assessor will do one assessment with the person and their family, and the council and the hospital and the providers have agreed in principle to accept it. We're also going to test block-booking some home care in one area of the borough, so that carers have proper rounds rather than scattered visits. We'll measure the time from medically fit to home, but we'll also go back and ask the families what it felt like. If it works we'll spread it, and if it doesn't we'll stop it and learn why.

Interviewer: How do you explain the project to people who aren't involved?

Dr Helen Marsh: I've stopped talking about flow and delayed transfers of care, because nobody outside the NHS knows what those words mean. I tell the story of the daughter ringing seven numbers. Then I say our job is to make it one number, and then no numbers, because someone rings her. That seems to land with councillors and with staff. Tom has encouraged us to collect a few of those stories as we go, with permission, so that we can show what is changing in human terms and not just in bed days.

Interviewer: Is there anything else about the wider context I should know?

Dr Helen Marsh: Only that Ashby Vale is quite a mixed place. We've got the town centre, which is relatively young and fairly deprived, and then a big rural area to the east where a lot of older people live a long way from services. Travel times for home carers out there can be forty minutes each way. The hospital also serves two other council areas, so about a third of its patients are not ours, which complicates things. And we are going through a restructure in adult social care at the moment, which will finish in the autumn.

Interviewer: Thank you, that's really helpful. We'll come back in about a year for the follow-up conversation.

Dr Helen Marsh: That would be great. I hope we'll have something to show you.
""")

ASHBY_FOLLOWUP = turns_from_block("""
Interviewer: Thanks both for joining. It's about a year since we last spoke. Helen, could you start by reminding us where the project was then and where it is now?

Dr Helen Marsh: A year ago we had a lot of goodwill, a lot of data and no pilot. We had just come through a difficult workshop and I wasn't sure the hospital would stay with us. Now the single conversation has been running on two wards since last June, and it spread to a third ward in November. The time from someone being medically fit to being at home has come down from an average of nine days to just under five on those wards. More importantly, when we ring families afterwards, they say they knew who to call.

Interviewer: Tom, from your side as the enabler, what has your role been?

Tom Reid: My job is mostly to help people have the conversations they need to have and would otherwise avoid. In the early months that meant a lot of one-to-one conversations, sitting with ward sisters, with home care managers, with the social work team, and asking what they'd need in order to trust an assessment done by somebody from another organisation. A lot of what I heard was fear, not resistance. Social workers were worried they'd be held accountable for a decision they hadn't made. Ward staff were worried about being blamed if someone was readmitted. Once you hear that, the problem looks different. It's not that people don't want to change, it's that nobody has given them permission.

Interviewer: How did you address that?

Tom Reid: We brought the three team managers together every Monday morning for half an hour, just to look at the previous week's discharges and talk through anything that had gone wrong. No blame, just learning. After about six weeks they started ringing each other directly rather than escalating. That was the turning point, I think. The relationships did the work the policy couldn't.

Dr Helen Marsh: I'd add that Tom was very careful to let the managers own it. It would have been easy for me or the chief nurse to step in and say this is how it's going to work, and it would have fallen over the minute we stopped paying attention. I've learned to hold back more. The chief nurse and I still have our fortnightly cup of tea, and that trust has been tested a few times.

Interviewer: Tested how?

Dr Helen Marsh: In September we had a readmission that got into the local paper. An elderly man was discharged under the new process and was back in hospital four days later with a fall. There was a lot of pressure, internally and from one of the opposition councillors, to pause the pilot. I had to stand up at the scrutiny committee and say that we would review the case properly, but that we would not stop a process that was working for most people because of one case. That was hard. The review, when it came, showed the fall had nothing to do with the discharge process, but I didn't know that when I stood up. I just had to trust the work and the people doing it.

Interviewer: What did the review teach you?

Dr Helen Marsh: It made us ask a better question. We'd been measuring how fast people got home, and we hadn't been measuring how well they were doing two weeks later. So now we follow up everyone at fourteen days, and we look at readmissions alongside the speed. We've also started asking why the third ward took so much longer to get going than the first two. The answer, when we dug into it, was that the ward manager had been on long-term sick leave and nobody had explained the change to the acting manager. That's a system lesson, not an individual one. Spread depends on people, not on the process document.

Interviewer: Did the home care commissioning change go ahead?

Tom Reid: Partly. The council tested block contracts in the eastern villages from September, with two providers covering defined rounds instead of scattered fifteen minute calls. Staff turnover in those two providers has dropped, and they've been able to take on people from hospital within forty-eight hours most weeks. The council's procurement team were nervous about it at first, and it took three rounds of conversations and a legal opinion before they'd sign it off. Now they're writing the whole-borough tender on the same model.

Dr Helen Marsh: And that's a real change in how my own organisation works, which I said last time was uncomfortable. We changed the way we commission, we changed the job description for trusted assessors, and the hospital changed its discharge policy. Those are the things that will outlast the project.

Interviewer: How do you talk about the project now?

Dr Helen Marsh: We've started using a phrase that came from one of the families, which is "home is the best ward". It's on the posters on the wards now. And we made a short film with three families, which we showed at the Health and Wellbeing Board. I've never seen that board so quiet. People who'd been arguing about budgets for years were just listening. I think the story has done more to get the other two councils interested than any of our data.

Tom Reid: The film also changed things for staff. The ward teams saw themselves in it as people who'd made a difference, rather than as the bottleneck. Morale matters for spread.

Interviewer: Helen, what's been difficult for you personally?

Dr Helen Marsh: Honestly, staying patient. I'm someone who likes to fix things, and this work asks you to hold back and let other people find the answer. There were weeks when nothing seemed to move. What kept me going was going back to the wards every month and talking to patients. Every time I do that I learn something I didn't know, usually something small and practical, like the fact that people were being sent home without a key safe fitted.

Interviewer: What happens next, logistically?

Tom Reid: The programme funding for my role ends in May. The council and the hospital have agreed to jointly fund a part-time improvement lead from June, and I'll do a handover over about six weeks. The project group will move to monthly meetings and become part of the integrated care partnership's ageing well workstream. The evaluation report is due at the end of March.

Interviewer: Are the other councils that use Ashby General involved now?

Tom Reid: Both of them have asked to join, which is a big change from a year ago. We've been careful not to just hand them a toolkit, because the toolkit isn't what made it work here. Instead we brought their team managers onto our wards for a day, so they could sit in on the Monday huddle and talk to the staff themselves. Millbrook starts its own pilot in April, and they've already changed one thing we would never have thought of, which is that their trusted assessor visits the home before the person leaves hospital.

Interviewer: Helen, has your own view of leadership changed over the year?

Dr Helen Marsh: A great deal. I used to think my job was to have the answer and then persuade people of it. Now I think it's much more about asking the right question, getting the right people in the room and protecting them while they work it out. I'm more willing to say I don't know in public, which would have frightened me a few years ago. And I've realised how much of my authority comes from turning up, from being on the wards and at the huddles, rather than from my job title.

Interviewer: Is there anything you'd do differently?

Tom Reid: I'd have brought the care providers in even earlier. They understood the problem better than anybody and we wasted two months designing things without them.

Dr Helen Marsh: And I'd have brought residents into the steering group from the start, not just as people we interviewed. We've got two family carers on it now and they keep us honest. It's their system, really, not ours.

Interviewer: Thank you both.
""")

KELSHAM_BASELINE = turns_from_block("""
Interviewer: Thank you for agreeing to talk to us, Grace. Can you start by describing your role?

Grace Adeyemi: I'm the enabler for the Kelsham project, which means I'm employed through the Systems Leadership programme but I work alongside the local partners three days a week. My background is in community development. I spent ten years at a housing association in Kelsham running tenant engagement, so I know the estates and a lot of the people. That's useful, but it also means I have to be careful, because people know me in a particular role and I'm doing something different now.

Interviewer: And the project itself?

Grace Adeyemi: The project is about social isolation and loneliness, particularly among older people and carers. It's called Kelsham Connected. The partners are Kelsham Borough Council, the primary care network, Kelsham Community Network, which is the umbrella body for the voluntary sector, the housing association and the library service. The original proposal talked about a befriending service, but I think we've already moved on from that.

Interviewer: Why have you moved on?

Grace Adeyemi: Because we went and listened. In the first two months I had something like forty conversations, not interviews, just conversations. I went to the bus station cafe, the launderette on Mill Street, the barbers, the bookmakers, the Polish shop, the mosque, the bowls club. I asked people who they talked to in a week. What I heard was that loneliness in Kelsham isn't one thing. For some older men on the Brookside estate it's about losing their work and then losing their wife, and they'd never walk into something called a lunch club. For carers it's about never getting an hour to themselves. For some of the newer families it's language. A befriending service would have reached a very small number of those people.

Interviewer: What did you do with what you heard?

Grace Adeyemi: We put it next to the data. The council's public health team gave us the GP practice data on people flagged as living alone, and the housing association had data on tenancies where there'd been a bereavement. When we mapped them together there were three streets where both were really concentrated, and none of those streets had a single community activity within half a mile. So we started asking why. Why is there nothing there? The answer was partly that the community centre closed in 2018, and partly that the grants process favours groups that already exist and already know how to fill in forms. So the system was funding the places that already had things and not the places that had nothing. That was a real lightbulb moment for the partners.

Interviewer: How have the partners responded to you as an enabler?

Grace Adeyemi: It's been mixed, honestly. The voluntary sector were very welcoming, partly because they know me. The council were polite but a bit wary, I think they thought I was there to evaluate them. The primary care network was hard to reach at first, because the GPs are under so much pressure. What's worked is going to them rather than expecting them to come to us. I went to the practice managers' meeting and just listened for the first half hour, and then asked one question, which was what their receptionists hear from lonely patients. That opened it right up. One practice manager said her receptionists take the same calls from the same twenty people every week, and they don't know what to do with them. Now she's one of our strongest supporters. I'm trying to build trust by doing what I say I'll do, however small. If I say I'll send a note by Friday, it goes by Friday.

Interviewer: What matters to you in this work?

Grace Adeyemi: I grew up in Kelsham. My mum was a carer for my nan for nine years, and I watched her become more and more isolated, even though she was surrounded by people who loved her. Nobody asked how she was. So for me this is personal. I believe that connection is a basic need, not a nice extra, and I believe the people who live here know more about what would help than any of us do. I want the project to be done with people, not to them. If we end up with another service that people are referred into, I'll feel we've failed.

Interviewer: Have there been difficulties so far?

Grace Adeyemi: Quite a few. The council's lead officer for the project left in February and it took six weeks to find a replacement, so we lost momentum. And there was a very tense meeting in March where the chair of one of the voluntary groups accused the council of using the project to cover for cuts. She had a point, to be fair. I didn't try to smooth it over. I said it out loud, that the trust isn't there yet and we have to earn it, and I asked the council to respond honestly. It was uncomfortable, but afterwards two people told me it was the first honest meeting they'd been in for years. I've had weeks where I've wondered if we're getting anywhere, but I keep going back to the conversations at the launderette. Those people haven't gone away.

Interviewer: What are the next steps?

Grace Adeyemi: We're going to try three small things over the summer rather than one big service. First, a men's breakfast in the bowls pavilion on Brookside, run by two retired men who came forward. Second, the library is going to pilot a carers' hour, where carers can drop in and someone sits with the person they care for. Third, the practices are going to test a simple referral, where receptionists can pass a name to the community network, with consent, and someone calls back within a week. We'll see what works and stop what doesn't. I'm also pushing the council to change the small grants form so that a group of residents without a constitution can apply. That's a process change, but it could matter more than anything else.

Interviewer: How will you know whether any of it is working?

Grace Adeyemi: That's something we're still working out, honestly. I'm wary of counting the wrong things. It would be easy to count how many people come to the breakfast, but that doesn't tell you whether anyone feels less alone. So we're going to ask a very simple question when people first get involved and again a few months later, and we're going to keep listening to the receptionists, because if the same twenty people stop ringing every week that tells us something. I've also asked the public health team to help us think about what the data can and can't tell us, rather than just handing us a dashboard. Their analyst came out with me to the launderette one morning, which I don't think she'd ever done before.

Interviewer: Who else do you want involved?

Grace Adeyemi: Residents, in the actual decisions. At the moment there are no residents on the partnership board, and I think that's a problem. I've suggested we start with two places on the working group for people who've been part of the pilots, with expenses paid and the meetings moved to the evening so people who work can come. The deputy chief executive was a bit nervous about it, but she's agreed to try it for six months.

Interviewer: How do you describe the project to people?

Grace Adeyemi: I try not to use the word loneliness, because nobody wants to be called lonely. I talk about Kelsham being a place where everyone has someone to say good morning to. That seems to work with residents and with councillors. When I talk to the partners I tell the story of the receptionists and the twenty callers, because everyone recognises it.

Interviewer: Practically, how is your time organised?

Grace Adeyemi: I'm in Kelsham Tuesday to Thursday. I'm based at the Community Network office on the High Street, which is handy because it's next to the bus station. There's a partnership board every six weeks, chaired by the deputy chief executive of the council, and a working group that meets fortnightly. I also have supervision with the programme's regional lead once a month, and there are the national learning sets every quarter, which are in Birmingham.

Interviewer: Thank you, Grace. We'll be in touch about the follow-up next spring.

Grace Adeyemi: Lovely, thank you.
""")

KELSHAM_FOLLOWUP = turns_from_block("""
Interviewer: Thanks both for joining the call. Could you each introduce yourselves for the recording?

Grace Adeyemi: I'm Grace Adeyemi, I'm the enabler for Kelsham Connected, and I've been working with the partners for about eighteen months now.

Marcus Bell: I'm Marcus Bell, I'm the chief executive of Kelsham Community Network, which supports about a hundred and forty voluntary and community groups across the borough. I've been on the partnership board since the start.

Interviewer: When we spoke to Grace last spring, you were about to try three small pilots. What happened?

Grace Adeyemi: Two of them worked and one didn't. The men's breakfast on Brookside started with six men in July and now has about thirty regulars. It's completely run by residents. They've added a walking group and a repair session on Thursdays. The GP referral route also worked, once we'd simplified it. Receptionists have passed on about two hundred names, and the network calls everybody back within five working days. The carers' hour at the library didn't work. Hardly anyone came.

Interviewer: Why do you think the carers' hour didn't work?

Grace Adeyemi: We asked the carers, which we should have done first. The time was wrong, it was during school pickup, and lots of carers didn't want to leave the person they care for with a stranger. So it wasn't the idea that was wrong, it was the design. We've redesigned it with a carers' group, and it now runs on Saturday mornings with volunteers the families already know from church and the mosque. It's early, but it's much busier.

Marcus Bell: I'll be honest, there was pressure to just quietly drop it. Nobody likes reporting a failure to the board. But Grace insisted that we write it up properly and present it, and I backed her. I think that actually built credibility with the council. It showed we weren't just selling success stories.

Interviewer: Marcus, how has the relationship between the voluntary sector and the council changed?

Marcus Bell: A year ago the relationship was pretty transactional, and frankly quite bruised. There'd been cuts to grants and people felt they'd been told rather than asked. What's changed is that we now sit down together before decisions are made, not after. The council's commissioner for prevention comes to our network meetings every quarter, and she listens. The small grants form was changed in October, so residents' groups without a formal constitution can apply with the network as a host. That came straight from the conversations Grace had been having.

Grace Adeyemi: And the trust has gone both ways. The council shared their budget position with the network before it was public, which they'd never have done before. That meant the network could plan rather than react.

Interviewer: What do you each personally care about in this work?

Marcus Bell: For me it's about fairness. The places with the least always get the least, because they haven't got people with the time and the know-how to apply for funding. I've spent twenty years trying to change that, and this is the first time I've felt the system actually shift a bit.

Grace Adeyemi: For me it's still what I said last year, that people here know what they need. The breakfast club proves it. None of us would have designed it the way the men did.

Interviewer: Have there been other setbacks?

Grace Adeyemi: In the autumn the primary care network went through a merger, and for about three months we lost our main contact and the referrals dropped off. I kept going to the practice managers' meetings even when it wasn't on anyone's agenda, because I didn't want the relationships to go cold. In January it picked up again.

Marcus Bell: And funding is always a worry. The breakfast club's room is free until the summer, and after that we don't know. We haven't given up on it, though. We've got a meeting with the housing association next week about the pavilion.

Interviewer: How do you measure whether it's working?

Grace Adeyemi: We've used a short wellbeing question with people when they first get a call and again three months later, and about two thirds say they feel less alone. But honestly the more useful evidence has been listening to the receptionists. They say the same twenty callers aren't ringing every week any more. One of them said to me, I've got my lunch break back. That told me more than the survey.

Interviewer: And how are you telling the story of the project now?

Marcus Bell: We made a little booklet called Good Morning Kelsham, with photos and quotes from the men's breakfast and the carers. We gave it to every councillor. The leader of the council quoted it in the budget speech, which was a first.

Grace Adeyemi: And the council has written the neighbourhood approach into its new prevention strategy, which runs to 2028. That's the thing I'm proudest of, because it means it doesn't depend on me.

Interviewer: Grace, how has your role as enabler changed over the eighteen months?

Grace Adeyemi: At the start I was doing a lot of the running myself, booking rooms, chasing people, writing things up. Now I mostly step back. I've had to resist the temptation to fix things, because every time I fix something it becomes my thing and not theirs. When the council and the network disagreed about where the connector post should sit, I didn't take sides. I asked them each to say what they were actually worried about, and it turned out they were worried about the same thing, which was the post being swallowed by one organisation's priorities. Once that was said out loud they agreed on joint line management within a fortnight.

Interviewer: Marcus, what would you say to another place starting this work?

Marcus Bell: Start by going out and listening, not by writing a service specification. And be prepared to be uncomfortable, because people will tell you things about your own organisation that you won't like. The other thing is to give it time. Nothing much happened in the first six months that you could put on a slide, but that was when the trust was being built, and everything since has depended on it.

Interviewer: What are the arrangements for the next few months?

Marcus Bell: The partnership board meets again in April. Grace's contract with the programme ends in June and the network is hosting a community connector post from July, funded by the council for two years. We're recruiting now. The interview panel includes two of the men from the breakfast club.

Interviewer: Thank you both, that's been really helpful.

Grace Adeyemi: Thanks, it's been good to reflect.

Marcus Bell: Thank you, bye.
""")

NORTHMOOR_BASELINE = turns_from_block("""
Interviewer: Thanks for making time between surgeries. Could you introduce yourself?

Dr Priya Nair: I'm Priya Nair, I'm a GP partner at Northmoor Health Centre, and I'm the clinical lead for health inequalities in the primary care network. I've worked in Northmoor for about twelve years. I'm also the GP representative on the Northmoor Good Food partnership, which is the project you're looking at.

Interviewer: What's the project trying to do?

Dr Priya Nair: It's about food poverty, and increasingly about the link between food poverty and poor health, including obesity and type two diabetes. The partners are the council, the primary care network, Northmoor Food Partnership, which coordinates the food banks and community pantries, two housing providers, and the local schools. The idea is to move from emergency food towards longer term solutions, like affordable food, cooking skills, and getting people the income they're entitled to.

Interviewer: Why did you get involved?

Dr Priya Nair: Because I was seeing it every day and feeling helpless. I'd have a mum in front of me with a child whose weight was a concern, and I'd be giving advice about fruit and vegetables, and she'd tell me she'd been skipping meals so the kids could eat. It felt dishonest to carry on giving the same advice. I believe health care should deal with the causes of ill health, not just the consequences, and in Northmoor one of the biggest causes is that people simply don't have enough money. I think we have a duty to say that out loud.

Interviewer: What have you learned about the problem so far?

Dr Priya Nair: The most important learning came from a listening exercise the food partnership ran in the winter. Volunteers at the pantries asked people, with permission, about their week. I went along to two sessions. I sat and had a cup of tea and mostly kept quiet, which is hard for a GP. People told us that the bus to the big supermarket costs four pounds return, so they shop at the corner shop where everything costs more. They told us their prepayment meters meant they couldn't afford to cook things that take a long time. Those are not things you learn in a ten minute appointment.

Interviewer: And did the data tell you anything different?

Dr Priya Nair: We looked at our own practice data. We ran a search for patients with a food bank referral in the last year and compared them with the whole practice list. They were three times as likely to have diabetes and twice as likely to have depression. But when we asked why so many of them had been to the food bank repeatedly, the answer wasn't food. It was benefits problems, sanctions, delays with universal credit, debt. So the question changed from how do we feed people to why are people running out of money, and what can the system do about that.

Interviewer: How are the partners working together?

Dr Priya Nair: It's early days. There's a lot of goodwill, but there's also a history of the voluntary sector feeling used by statutory services. The food banks have said for years that they were becoming part of the welfare state without any say or funding. I've tried to go to their meetings rather than expecting them to come to ours, and to listen more than I talk. Janet Okonkwo, who runs the food partnership, and I now speak most weeks, and I think there's real trust building. Our enabler, Sunita Rao, has been very good at creating spaces where the council officers and the volunteers can talk as equals. At one session she had everyone swap roles and describe the problem from the other person's point of view, which sounds a bit cheesy but actually worked.

Interviewer: Have there been obstacles?

Dr Priya Nair: Yes, plenty. Some of my GP colleagues think this isn't our job, and I've had to argue quite hard at the primary care network board for time and a small amount of money. One of the partners said to me that we're doctors, not social workers. I understand that, the workload is enormous, but I don't think we can afford to look away. I've also had a couple of months where I was ready to step back, when the council's lead changed and everything stalled. I'm still here, though.

Interviewer: What are you planning to do?

Dr Priya Nair: We're going to pilot a money advice worker in the health centre two days a week, starting in September. When a GP or a nurse picks up that someone is struggling, they can book them straight in, same building, no separate referral. Citizens Advice will provide the worker and the council has found the funding for a year. We're also changing our own template so that clinicians ask about food and money as a routine question at diabetes reviews. That's a small change, but it makes it normal to ask.

Interviewer: Where do the schools fit in?

Dr Priya Nair: That's an area where we're still learning. The school nurses have been weighing children in reception and year six for years and sending a letter home if the child is overweight. When we asked parents about it at the pantry, a lot of them said the letter made them feel judged, and some had stopped opening post from the school altogether. So we started asking why we were sending letters at all, and what the letter was supposed to achieve. One of the head teachers also told us that some children arrive on a Monday morning hungry, having had very little over the weekend. So the school end of it is as much about food and money as it is about weight. We're going to test a different approach with two primary schools in the autumn, where the school nurse invites the family for a conversation instead of sending a letter, and the conversation includes the offer of a benefits check.

Interviewer: What have you learned about yourself so far?

Dr Priya Nair: That I can't do this from the consulting room. I've had to get much more comfortable with not being the expert in the room. At the pantry I'm just another volunteer pouring tea, and people talk to me differently there. I've also learned that I get impatient, and that impatience doesn't help, because the voluntary sector have been let down by people like me who arrive full of enthusiasm and disappear after six months.

Interviewer: How do you talk about the project with colleagues?

Dr Priya Nair: I tell them about the mum who was skipping meals. Then I say that the best prescription for her wasn't on the formulary, it was a benefits check. That usually gets a reaction. I've also started presenting the data at the practice meetings, the three times as likely figure, because doctors respond to numbers.

Interviewer: Is there anything else about Northmoor we should know?

Dr Priya Nair: Northmoor is an old mill town. It's got a population of about sixty thousand, and four of our neighbourhoods are in the most deprived ten per cent nationally. There's a big retail park on the ring road, but it's hard to get to without a car. The health centre has about fourteen thousand patients. We're also a training practice, so we have registrars, which helps with capacity a bit.

Interviewer: Thank you very much.

Dr Priya Nair: Thank you, it's been good to talk it through.
""")

NORTHMOOR_FOLLOWUP = turns_from_block("""
Interviewer: Thank you both for coming in. Could you introduce yourselves?

Janet Okonkwo: I'm Janet Okonkwo. I'm the coordinator of Northmoor Food Partnership, which brings together the four food banks, six community pantries and a couple of community cafes in the town. I've been doing this job for seven years, and I've been part of the Good Food project since it started.

Dave Hollins: I'm Dave Hollins. I live on the Greenhill estate and I volunteer at the pantry at St Mark's. I started going there as a member about three years ago, when I lost my job, and now I help run it on Tuesdays and Fridays.

Interviewer: Janet, what has changed over the last year?

Janet Okonkwo: Quite a lot. The money advice worker started at the health centre in September, and in the first six months she saw just over three hundred people and found, on average, about two thousand pounds a year in unclaimed income for each household. We've also moved three of the food banks to a pantry model, where people pay a few pounds a week as members and choose their own food. And we've got a cash first leaflet now, agreed by the council, the food partnership and the job centre, so that anybody who comes to us gets signposted to money advice before they get a food parcel.

Interviewer: Why the move to pantries?

Janet Okonkwo: Dignity, mainly. People told us over and over again that queuing for a parcel made them feel like a charity case. I believe people have the right to choose what they eat. A pantry is a shop you're a member of, not a handout.

Dave Hollins: That's right. The first time I went to the food bank I sat in the car for twenty minutes before I could go in. At the pantry you're a member, you pay your few pounds, you choose your own tins. It sounds small, but it's the difference between feeling like you're part of something and feeling ashamed.

Interviewer: Dave, how did you go from being a member to volunteering?

Dave Hollins: Janet asked me, really. She'd noticed I always stayed behind to chat and help stack the shelves, and she asked if I'd come to a planning meeting. I said I'm not a meetings person. She said that's exactly why we need you. So I went, and it turned out they actually listened. Now I'm on the steering group of the Good Food partnership, which I never thought I'd be, sitting round a table with a GP and people from the council.

Interviewer: What's it like being on the steering group, Dave?

Dave Hollins: Strange at first. I didn't understand half the words they were using, all the acronyms. Janet would ring me the day before and go through the papers with me, which helped a lot. Now I just say when something won't work on the estate. For example, the council wanted to put the money advice leaflets in the library, and I said nobody on Greenhill goes to the library, put them in the chip shop and the launderette and the bookies. They did, and the calls to the advice line went up the next month. Sometimes it just needs somebody who lives there to say it.

Interviewer: Janet, what have you learned about working with the statutory partners?

Janet Okonkwo: That trust is built in small ways. A year ago the food banks felt like the council's dumping ground. What changed it was the council's head of financial inclusion coming to the pantries herself, serving on a Friday morning, and then changing the way the council's hardship fund works because of what she saw. And Priya at the health centre has been a real champion. She rings me when something's not working rather than sending an email. We disagree sometimes, but we disagree as partners now. I've also had to learn to listen differently. We run a members' forum every two months now, and the members tell us things we'd never have thought of. They told us the pantry opening hours excluded anyone in work, so we opened on Thursday evenings, and now a third of our new members are working families.

Interviewer: What about setbacks?

Janet Okonkwo: The big one was in the autumn, when our biggest food supplier cut our allocation by half. For a few weeks it looked like two of the pantries would have to close. I spent a lot of nights on the phone. We went to the local supermarkets, the council and two local businesses, and in the end we got through it, but it was touch and go. I think the old me would have given up on the pantry model and gone back to parcels because they're cheaper, but we stuck with it because it's the right thing.

Dave Hollins: There was a time I nearly packed it in as well. I had some health problems last winter and I felt like I was letting people down. But the others covered my shifts and kept me in the loop, and I came back. That's what the pantry does, really. It keeps people connected.

Interviewer: How are you using evidence now?

Janet Okonkwo: Better than we used to. We used to count parcels, and that's all we counted. Now we look at how many people are still coming after six months, because if the money advice is working, that number should fall. And it is falling, slowly. We've also started asking why certain postcodes have much higher use than others. When we looked, two of them are next to a housing development where the rent went up sharply last year. So we took that to the housing provider, and they've agreed to do proactive benefits checks with their tenants.

Interviewer: What happened with the cooking course in the schools?

Janet Okonkwo: It didn't work, at least not at first. We ran it as a six week course after school and only four families came. So we went and asked the parents at the school gate why, and they said they didn't have time to cook a meal and then go to a class about cooking a meal. So we turned it round. Now it's a family tea on a Wednesday, the families cook together in the school kitchen and then eat it together, and they take the leftovers home. Twenty families came last week. The school nurse comes along too, so families can talk to her about their children's weight without a letter landing on the doormat.

Interviewer: Dave, what difference has the project made to the estate?

Dave Hollins: People talk about food differently. It used to be a secret, whether you were using the food bank. Now the pantry is just where you shop on a Tuesday, and the cafe next door does a cooking session where the kids make their own tea. I tell people it's not about handouts, it's about neighbours looking after each other. That's how I describe it when I go and talk to schools.

Janet Okonkwo: We've also been telling the story to the council. We took three members to the cabinet meeting in January and they spoke for five minutes each. The leader said afterwards it was the most useful thing he'd heard all year. The council has now put cash first into its anti-poverty strategy.

Interviewer: Is there anything practical we should know about the next phase?

Janet Okonkwo: The programme funding ends in the summer. The money advice worker is funded until next March by the council and the integrated care board. We're applying to the National Lottery for a three-year grant for the pantry network, and we'll hear in July. The steering group meets on the first Wednesday of every month at the town hall.

Interviewer: Thank you both very much.
""")

NORTHMOOR_REPORT_TITLE = "Northmoor Good Food"
NORTHMOOR_REPORT_SUBTITLE = "Systems Leadership Programme - project report, June 2024"
NORTHMOOR_REPORT = [
    (
        "1. Summary",
        [
            "Northmoor Good Food is a partnership between Northmoor Metropolitan Borough Council, the Northmoor primary care network, Northmoor Food Partnership, two housing providers and local schools. It set out in late 2022 to reduce reliance on emergency food and to address the link between food insecurity, obesity and long-term conditions. This report describes what the partnership did over eighteen months, what changed, and what the partners learned about leading change across organisational boundaries. It draws on partner interviews, the members' forum, practice data and the project's own monitoring.",
        ],
    ),
    (
        "2. Background",
        [
            "Northmoor is a former mill town of around sixty thousand people. Four of its neighbourhoods are among the most deprived ten per cent in England. Before the project, the four food banks in the town had seen demand rise by more than half in three years. Local GP data showed that people referred to a food bank were around three times as likely to have type two diabetes as the practice population, and childhood obesity at age eleven was well above the national average. Partners agreed that emergency food was necessary but was not a solution, and that the causes of food insecurity lay mostly in income, housing costs and access to affordable food.",
            "The partnership was supported by a programme enabler, Sunita Rao, who worked with partners for two days a week. Her role was to convene, to help partners look at the problem together and to create the conditions for new ways of working, rather than to manage the project.",
        ],
    ),
    (
        "3. What we did",
        [
            "The partnership began by listening. During the winter of 2022 volunteers at the pantries held more than one hundred and twenty conversations with people using emergency food, and partners joined these sessions in person. Residents described the cost of the bus to the retail park, the cost of cooking on prepayment meters, and the shame many felt in queuing for a parcel. These accounts were set alongside council and practice data, which showed that repeat use of food banks was driven mainly by benefit delays, sanctions and debt rather than by a lack of food.",
            "Partners then asked why the existing system kept producing the same results. Three answers stood out. First, advice services were located away from where people already went. Second, referral routes treated food as the problem rather than income. Third, the people most affected had little say in how services were designed.",
            "In response the partnership tested three changes. A money advice worker from Citizens Advice was based at Northmoor Health Centre two days a week from September 2023, with clinicians able to book appointments directly. Three food banks converted to a membership pantry model in which members pay a small weekly fee and choose their own food. A cash first leaflet was agreed by the council, the food partnership and the job centre so that people would be offered money advice before a food parcel. The primary care network also added routine questions about food and money to diabetes and child health reviews.",
        ],
    ),
    (
        "4. What changed",
        [
            "In its first six months the money advice service saw just over three hundred people and identified an average of around two thousand pounds a year in unclaimed income per household. The proportion of pantry members still using emergency food after six months has fallen from roughly one in two to one in three. Pantry opening hours were extended to Thursday evenings after members raised the issue, and a third of new members are now working families. One housing provider has started proactive benefit checks for tenants in two postcodes where pantry use was highest.",
            "Some changes were less visible but may last longer. The council has written a cash first approach into its anti-poverty strategy. The primary care network has agreed to keep food and money questions in its templates. Residents now sit on the steering group, and the members' forum meets every two months and reports directly to it.",
            "Not everything worked. A planned healthy cooking course in two secondary schools attracted few families and was redesigned with parents as an after-school family tea session, which has been better attended. In autumn 2023 a reduction in supplies from the main food supplier put two pantries at risk of closure. Partners responded by approaching local supermarkets and businesses and by drawing on the council's hardship fund for a short period.",
        ],
    ),
    (
        "5. Leadership learning",
        [
            "Partners identified several lessons about leadership in a complex system. Spending time listening to residents, and to frontline staff, changed the question the partnership was trying to answer. Looking at shared data and repeatedly asking why exposed causes that no single organisation could see on its own. Trust between the statutory and voluntary sectors grew through small, consistent actions, such as senior officers volunteering at pantries and partners picking up the phone rather than sending formal letters.",
            "Partners also spoke about persistence. There were periods when the project stalled, including when key staff changed and when supplies were cut, and progress depended on individuals continuing to turn up and hold the partnership together. Several partners said that the most influential moment of the project was when members of the pantries spoke at the council's cabinet meeting in January 2024. Telling the story in residents' own words did more to shift the council's position than any report.",
        ],
    ),
    (
        "6. The enabler role",
        [
            "Partners were asked what difference the enabler role had made. Most said that its value lay in being independent of any one organisation. The enabler was able to ask questions that a council officer or a GP could not easily ask, to bring people together who would not otherwise have met, and to hold up a mirror when partners slipped back into old habits. She deliberately avoided taking ownership of actions, so that changes would belong to the partners and would continue after the programme.",
            "Some partners found this frustrating at first and expected the enabler to act as a project manager. Over time they came to see the role differently. One council officer described it as having someone whose job was to notice what everyone else was too busy to see. Partners recommended that future projects agree the purpose of the role with all partners at the start and review it every six months.",
        ],
    ),
    (
        "7. Next steps",
        [
            "Programme funding for the enabler role ends in July 2024. The money advice service is funded until March 2025 by the council and the integrated care board, and the partnership will use its monitoring data to make the case for permanent funding. The food partnership has applied for a three-year grant to sustain the pantry network, with a decision expected in July. The steering group will continue to meet monthly and will report to the Northmoor Health and Wellbeing Board twice a year.",
            "The partnership would like to thank the members of the pantries, the volunteers and the staff of all the partner organisations who gave their time to this work, and in particular the residents who spoke at the cabinet meeting and at the members' forum.",
        ],
    ),
]

SAMPLE_FILES = [
    dict(
        file="ashby_vale_baseline_dph.txt",
        kind="txt",
        turns=ASHBY_BASELINE,
        title="Ashby Vale Home First - baseline interview with the director of public health",
        place="Ashby Vale",
        project="Home First",
        wave="baseline",
        date="2023-03-14",
        role="director of public health",
    ),
    dict(
        file="ashby_vale_followup_dph_enabler.docx",
        kind="docx_table",
        turns=ASHBY_FOLLOWUP,
        title="Ashby Vale Home First - follow-up interview with the director of public health and the enabler",
        place="Ashby Vale",
        project="Home First",
        wave="follow-up",
        date="2024-02-27",
        role="director of public health",
    ),
    dict(
        file="kelsham_baseline_enabler.md",
        kind="md",
        turns=KELSHAM_BASELINE,
        title="Kelsham Connected - baseline interview with the place enabler",
        place="Kelsham",
        project="Kelsham Connected",
        wave="baseline",
        date="2023-04-05",
        role="enabler",
    ),
    dict(
        file="kelsham_followup_meeting.vtt",
        kind="vtt",
        turns=KELSHAM_FOLLOWUP,
        title="Kelsham Connected - follow-up conversation with the enabler and the voluntary sector lead (Teams)",
        place="Kelsham",
        project="Kelsham Connected",
        wave="follow-up",
        date="2024-03-19",
        role="enabler",
    ),
    dict(
        file="northmoor_baseline_gp.srt",
        kind="srt",
        turns=NORTHMOOR_BASELINE,
        title="Northmoor Good Food - baseline interview with a GP partner",
        place="Northmoor",
        project="Northmoor Good Food",
        wave="baseline",
        date="2023-05-18",
        role="GP",
    ),
    dict(
        file="northmoor_followup_vcs.docx",
        kind="docx_paragraphs",
        turns=NORTHMOOR_FOLLOWUP,
        title="Northmoor Good Food - follow-up interview with the food partnership coordinator and a resident volunteer",
        place="Northmoor",
        project="Northmoor Good Food",
        wave="follow-up",
        date="2024-04-09",
        role="voluntary sector lead",
    ),
    dict(
        file="northmoor_followup_report.pdf",
        kind="pdf",
        turns=None,
        title="Northmoor Good Food - Systems Leadership project report",
        place="Northmoor",
        project="Northmoor Good Food",
        wave="follow-up",
        date="2024-06-28",
        role="report",
    ),
]


def build_sample() -> None:
    SAMPLE.mkdir(parents=True, exist_ok=True)
    for spec in SAMPLE_FILES:
        path = SAMPLE / spec["file"]
        turns, kind = spec["turns"], spec["kind"]
        if turns is not None:
            check_turns(turns, latin1=(kind == "pdf"))
        if kind == "txt":
            write_text(path, render_txt(turns, timestamps=True, wrap=100))
        elif kind == "md":
            write_text(path, render_txt(turns, timestamps=False, title=spec["title"]))
        elif kind == "vtt":
            write_text(path, render_vtt(turns, spec["file"]))
        elif kind == "srt":
            write_text(path, render_srt(turns))
        elif kind == "docx_table":
            write_bytes(path, render_docx_table(turns, spec["title"]))
        elif kind == "docx_paragraphs":
            write_bytes(path, render_docx_paragraphs(turns, spec["title"]))
        elif kind == "pdf":
            write_bytes(
                path,
                render_pdf(NORTHMOOR_REPORT_TITLE, NORTHMOOR_REPORT_SUBTITLE, NORTHMOOR_REPORT),
            )
    write_manifest(SAMPLE / "manifest.csv", SAMPLE_FILES)


# ---------------------------------------------------------------------------
# TEST CORPUS content (tests/data/) - small, exact
# ---------------------------------------------------------------------------

T_INTERVIEW_TXT = (
    "[00:00:03] Interviewer: Thanks for joining. Can you tell me about your role in Ashby Vale?\n"
    "\n"
    "[00:00:09] Dr Helen Marsh: I'm the director of public health for Ashby Vale Council. "
    "I lead our work on joining up health and social care for older people.\n"
    "\n"
    "[00:00:21] Interviewer: What have you learned from residents so far?\n"
    "\n"
    "[00:00:26] Dr Helen Marsh: We sat in the discharge lounge for two days and listened to families.\n"
    "They told us they had repeated their story five times, so we are piloting one assessment with a £40,000 budget.\n"
    "\n"
    "[00:00:44] Interviewer: Thank you, that's really helpful.\n"
)

T_INTERVIEW_MD = (
    "# Kelsham Connected - baseline interview\n"
    "\n"
    "Interviewer: What does loneliness look like in Kelsham?\n"
    "\n"
    "Grace Adeyemi: Mostly it is hidden. Older men living alone on the Brookside estate rarely come to anything we organise.\n"
    "\n"
    "Interviewer: What did you try first?\n"
    "\n"
    "Grace Adeyemi: We asked the barbers and the bookmakers what they noticed, and we ran a pilot breakfast in the bowls pavilion.\n"
)

T_REPORT_PARAS = [
    "Kelsham Connected is a partnership between Kelsham Borough Council, the local primary care network "
    "and Kelsham Community Network. This interim report summarises progress in the first year of the "
    "project and the leadership behaviours that partners described.",
    "The project began with a period of listening. The enabler held around forty informal conversations "
    "in places where people already gathered, including the launderette, the barbers, the bus station café "
    "and the bowls club. Residents described loneliness in many different ways. Older men on the Brookside "
    "estate talked about the loss of work and of a partner. Carers talked about never having an hour to "
    "themselves. Newer arrivals talked about language and about not knowing where to go for help. Partners "
    "then set these accounts alongside practice data on people living alone and housing data on recent "
    "bereavements. Three streets stood out, and none of them had a community activity within half a mile. "
    "When partners asked why, they found that the small grants process favoured established groups that "
    "already knew how to apply. The council changed the grants form so that residents without a "
    "constitution could apply with the community network as host. Two retired men started a breakfast club "
    "in the bowls pavilion, which grew from six to thirty regulars over the summer. GP receptionists began "
    "passing names to the community network, and every person was called back within five working days. A "
    "carers' hour at the library attracted very few people and was redesigned with carers themselves. "
    "Partners said that the willingness to report this failure openly strengthened trust with the council, "
    "and that the enabler's persistence kept the work going when the council's lead officer left in the "
    "spring.",
    "The next phase will focus on sustaining the neighbourhood approach after programme funding ends. The "
    "council has written the approach into its prevention strategy, and a community connector post will be "
    "hosted by the network from July.",
]

T_DOCX_TITLE = "Northmoor Good Food - follow-up interview"
T_DOCX_TURNS = [
    ("Interviewer", "What has changed at the pantries this year?"),
    (
        "Janet Okonkwo",
        "Three food banks became membership pantries, so people now choose their own food.",
    ),
    ("Interviewer", "Why did that matter?"),
    (
        "Janet Okonkwo",
        "Dignity. Members told us that queuing for a parcel made them feel ashamed, and we listened.",
    ),
]

T_TABLE_TITLE = "Northmoor Good Food - baseline interview"
T_TABLE_TURNS = [
    ("Interviewer", "Why did you get involved in the project?"),
    (
        "Dr Priya Nair",
        "I was seeing families skip meals every week, and giving diet advice felt dishonest.",
    ),
    ("Interviewer", "What did the practice data show?"),
    (
        "Dr Priya Nair",
        "Patients referred to a food bank were three times as likely to have diabetes, so we asked why.",
    ),
]

# (cue id or None, start, end, voice, text)
T_VTT_CUES = [
    ("11-0", 0.5, 4.2, "Interviewer", "Thanks both for joining. What happened with the pilots?"),
    ("12-0", 4.8, 9.1, "Grace Adeyemi", "Two of them worked and one didn't."),
    (
        "12-1",
        9.1,
        14.6,
        "Grace Adeyemi",
        "The men's breakfast on Brookside grew from six to thirty regulars.",
    ),
    (
        "12-2",
        14.6,
        19.0,
        "Grace Adeyemi",
        "The carers' hour at the library didn't work, so we redesigned it with carers.",
    ),
    (
        "13-0",
        19.7,
        24.3,
        "Marcus Bell",
        "I backed Grace when she insisted on reporting the failure to the board.",
    ),
    ("14-0", 25.0, 27.4, "Interviewer", "How has the relationship with the council changed?"),
    (
        None,
        28.0,
        33.5,
        "Grace Adeyemi",
        "We now sit down together before decisions are made, not after.",
    ),
]

# (start, end, [text lines])
T_SRT_CUES = [
    (1.0, 4.0, ["Interviewer: Thanks for joining. How is the money advice pilot going?"]),
    (4.5, 9.0, ["Dr Priya Nair: It started in September at the health centre,"]),
    (9.0, 13.5, ["two days a week, with direct booking from clinicians."]),
    (14.0, 17.0, ["Interviewer: What surprised you?"]),
    (
        17.5,
        23.0,
        [
            "Dr Priya Nair: How much unclaimed income there was.",
            "About two thousand pounds a year per household.",
        ],
    ),
]

T_PDF_TITLE = "Ashby Vale Home First - Interim Report"
T_PDF_PAGES = [
    (
        "Background",
        [
            "Home First is a partnership between Ashby Vale Council, Ashby General Hospital and local home care "
            "providers. It aims to help older people leave hospital quickly and safely, with the right support "
            "at home. Before the project, families told us they had to repeat their story to as many as five "
            "different professionals.",
        ],
    ),
    (
        "Early results",
        [
            "A single trusted assessment was piloted on two wards from June. The average time from being "
            "medically fit to arriving home fell from nine days to just under five. Ward staff, social workers "
            "and care providers now meet every Monday to learn from the previous week.",
        ],
    ),
]

# Encoding fixtures share one tiny transcript (text identical across the three files).
ENC_TURNS = [
    ("Interviewer", "Where do people meet in Kelsham now?"),
    (
        "Renée Dubois",
        "Honestly, it’s the café – “really” it is. People come for a coffee and stay for the conversation.",
    ),
    ("Interviewer", "And who comes?"),
    ("Renée Dubois", "Older men who live alone, and carers who need an hour’s break."),
]

TEST_MANIFEST = [
    dict(
        file="interview.txt",
        title="Ashby Vale Home First - baseline interview (test)",
        place="Ashby Vale",
        project="Home First",
        wave="baseline",
        date="2023-03-14",
        role="director of public health",
    ),
    dict(
        file="interview.md",
        title="Kelsham Connected - baseline interview (test)",
        place="Kelsham",
        project="Kelsham Connected",
        wave="baseline",
        date="2023-04-05",
        role="enabler",
    ),
    dict(
        file="report.txt",
        title="Kelsham Connected - interim report (test)",
        place="Kelsham",
        project="Kelsham Connected",
        wave="follow-up",
        date="2024-03-01",
        role="report",
    ),
    dict(
        file="interview.docx",
        title="Northmoor Good Food - follow-up interview (test)",
        place="Northmoor",
        project="Northmoor Good Food",
        wave="follow-up",
        date="2024-04-09",
        role="voluntary sector lead",
    ),
    dict(
        file="table_interview.docx",
        title="Northmoor Good Food - baseline interview, table layout (test)",
        place="Northmoor",
        project="Northmoor Good Food",
        wave="baseline",
        date="2023-05-18",
        role="GP",
    ),
    dict(
        file="meeting.vtt",
        title="Kelsham Connected - follow-up meeting (test)",
        place="Kelsham",
        project="Kelsham Connected",
        wave="follow-up",
        date="2024-03-19",
        role="enabler",
    ),
    dict(
        file="meeting.srt",
        title="Northmoor Good Food - follow-up interview, subtitles (test)",
        place="Northmoor",
        project="Northmoor Good Food",
        wave="follow-up",
        date="2024-04-10",
        role="GP",
    ),
    dict(
        file="report.pdf",
        title="Ashby Vale Home First - interim report (test)",
        place="Ashby Vale",
        project="Home First",
        wave="follow-up",
        date="2024-02-01",
        role="report",
    ),
    dict(
        file="utf8_bom.txt",
        title="Kelsham Connected - resident interview, UTF-8 with BOM (test)",
        place="Kelsham",
        project="Kelsham Connected",
        wave="follow-up",
        date="2024-03-20",
        role="resident",
    ),
    dict(
        file="utf16.txt",
        title="Kelsham Connected - resident interview, UTF-16 LE (test)",
        place="Kelsham",
        project="Kelsham Connected",
        wave="follow-up",
        date="2024-03-20",
        role="resident",
    ),
    dict(
        file="cp1252.txt",
        title="Kelsham Connected - resident interview, Windows-1252 (test)",
        place="Kelsham",
        project="Kelsham Connected",
        wave="follow-up",
        date="2024-03-20",
        role="resident",
    ),
]


def enc_transcript(eol: str) -> str:
    return eol.join(f"{s}: {t}{eol}" for s, t in ENC_TURNS)


def build_tests() -> dict:
    TESTS.mkdir(parents=True, exist_ok=True)
    BAD.mkdir(parents=True, exist_ok=True)
    info = {}

    write_text(TESTS / "interview.txt", T_INTERVIEW_TXT)
    write_text(TESTS / "interview.md", T_INTERVIEW_MD)
    for p in T_REPORT_PARAS:
        check_text(p)
    write_text(TESTS / "report.txt", "\n\n".join(T_REPORT_PARAS) + "\n")

    docx_bytes = render_docx_paragraphs(T_DOCX_TURNS, T_DOCX_TITLE)
    write_bytes(TESTS / "interview.docx", docx_bytes)
    write_bytes(TESTS / "table_interview.docx", render_docx_table(T_TABLE_TURNS, T_TABLE_TITLE))

    vtt = ["WEBVTT", ""]
    for cid, start, end, voice, text in T_VTT_CUES:
        if cid is not None:
            vtt.append(f"{guid('meeting.vtt', cid.split('-')[0])}/{cid}")
        vtt += [f"{ts(start, '.')} --> {ts(end, '.')}", f"<v {voice}>{text}</v>", ""]
    write_text(TESTS / "meeting.vtt", "\n".join(vtt))

    srt = []
    for n, (start, end, lines) in enumerate(T_SRT_CUES, 1):
        srt += [str(n), f"{ts(start, ',')} --> {ts(end, ',')}", *lines, ""]
    write_text(TESTS / "meeting.srt", "\n".join(srt))

    write_bytes(
        TESTS / "report.pdf",
        render_pdf(T_PDF_TITLE, None, T_PDF_PAGES, break_before={T_PDF_PAGES[1][0]}),
    )

    # encodings
    write_bytes(TESTS / "utf8_bom.txt", enc_transcript("\n").encode("utf-8-sig"))
    write_bytes(TESTS / "utf16.txt", b"\xff\xfe" + enc_transcript("\r\n").encode("utf-16-le"))
    write_bytes(TESTS / "cp1252.txt", enc_transcript("\r\n").encode("cp1252"))

    # bad cases
    write_bytes(BAD / "empty.txt", b"")
    write_bytes(BAD / "whitespace.txt", b"   \n\n\t  \n    \n\n")
    jb = bytearray(junk(2048, "binary_junk"))
    for i in range(0, len(jb), 37):
        jb[i] = 0
    write_bytes(BAD / "binary_junk.txt", bytes(jb))
    write_text(
        BAD / "not_really.pdf",
        "This is not a PDF file.\nIt is a plain text note that was saved with the wrong extension.\n",
    )
    write_bytes(BAD / "corrupt.docx", docx_bytes[:300])
    write_bytes(
        BAD / "corrupt.pdf",
        b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Length 2048 /Filter /FlateDecode >>\nstream\n"
        + junk(400, "corrupt_pdf"),
    )
    write_text(
        BAD / "broken.vtt",
        "00:00:01.000 -> 00:00:04.000\n<v Interviewer>Hello, can you hear me?</v>\n\n"
        "00:00:05,000 --> \n<v Grace Adeyemi>Yes I can\n\n"
        "0:0:9 --> later\nThis cue has no voice tag and no valid timing.\n",
    )
    write_bytes(
        BAD / "notes.xlsx",
        make_zip(
            {
                "[Content_Types].xml": '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"/>',
                "xl/workbook.xml": '<?xml version="1.0" encoding="UTF-8"?><workbook/>',
                "xl/worksheets/sheet1.xml": '<?xml version="1.0" encoding="UTF-8"?><worksheet><sheetData/></worksheet>',
            }
        ),
    )
    write_bytes(
        BAD / "slides.pptx",
        make_zip(
            {
                "[Content_Types].xml": '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"/>',
                "ppt/presentation.xml": '<?xml version="1.0" encoding="UTF-8"?><presentation/>',
            }
        ),
    )
    write_bytes(BAD / "scanned.pdf", render_scanned_pdf())

    write_manifest(TESTS / "manifest.csv", TEST_MANIFEST)
    return info


# ---------------------------------------------------------------------------
# EXPECTED.md (generated from the same data so it cannot drift)
# ---------------------------------------------------------------------------


def _turn_table(rows) -> list[str]:
    out = ["| # | speaker | interviewer | start | text |", "|---|---|---|---|---|"]
    for i, (speaker, start, text) in enumerate(rows, 1):
        out.append(
            f"| {i} | {speaker} | {'yes' if speaker == 'Interviewer' else 'no'} | {start or '-'} | {text} |"
        )
    return out


def _secs(x: float) -> str:
    return f"{x:g}"


def build_expected() -> None:
    L = [
        "# tests/data - expected parse results",
        "",
        "Generated by `scripts/make_fixtures.py`; do not edit by hand.",
        "",
        "Conventions: a *turn* is one speaker's contiguous speech. `interviewer` = speaker label is exactly "
        "`Interviewer`. Turn text is the label-stripped text with internal line breaks joined by a single space. "
        "Times are seconds from the start (txt `[hh:mm:ss]`, vtt/srt cue start of the turn's first cue). "
        "Word counts are `len(text.split())`.",
        "",
    ]

    # interview.txt
    rows = []
    for para in T_INTERVIEW_TXT.strip().split("\n\n"):
        m = re.match(r"\[(\d\d):(\d\d):(\d\d)\] ([^:]+): (.*)", para, re.S)
        h, mi, s, spk, text = m.groups()
        rows.append(
            (
                spk,
                f"{hms(int(h) * 3600 + int(mi) * 60 + int(s))} ({int(h) * 3600 + int(mi) * 60 + int(s)} s)",
                " ".join(text.split("\n")),
            )
        )
    L += [
        "## interview.txt",
        "",
        f"UTF-8 (no BOM), LF. {len(rows)} turns. Speakers in order: {', '.join(r[0] for r in rows)}. "
        "Interviewer turns: 1, 3, 5. Turn 4 is written over 2 lines (joined with one space). "
        "Turn 4 contains a non-ASCII `£`.",
        "",
    ]
    L += _turn_table(rows) + [""]

    # interview.md
    rows = [
        (s, None, t)
        for s, t in (p.split(": ", 1) for p in T_INTERVIEW_MD.strip().split("\n\n")[1:])
    ]
    L += [
        "## interview.md",
        "",
        f"First line is the heading `# Kelsham Connected - baseline interview` (title, not a turn). "
        f"No timestamps. {len(rows)} turns. Speakers: {', '.join(r[0] for r in rows)}. Interviewer turns: 1, 3.",
        "",
    ]
    L += _turn_table(rows) + [""]

    # report.txt
    L += [
        "## report.txt",
        "",
        f"UTF-8, no speaker labels, {len(T_REPORT_PARAS)} paragraphs separated by blank lines "
        "(each paragraph is a single line). Paragraph 2 contains `café`.",
        "",
        "| paragraph | words | sentences |",
        "|---|---|---|",
    ]
    sents_by_para = [re.split(r"(?<=[.!?])\s+", p) for p in T_REPORT_PARAS]
    for i, (p, ss) in enumerate(zip(T_REPORT_PARAS, sents_by_para, strict=False), 1):
        L.append(f"| {i} | {n_words(p)} | {len(ss)} |")
    long_s = sents_by_para[1]
    L += [
        "",
        f"Paragraph 2 has {n_words(T_REPORT_PARAS[1])} words (> 120) and must be split into sentence "
        f"windows of at most 120 words. Its {len(long_s)} sentences have word counts "
        f"{[n_words(s) for s in long_s]} (longest {max(n_words(s) for s in long_s)}, so whole-sentence windows "
        "are always possible).",
    ]
    windows, cur = [], []
    for s in long_s:
        if cur and sum(map(n_words, cur)) + n_words(s) > 120:
            windows.append(cur)
            cur = []
        cur.append(s)
    windows.append(cur)
    L += [
        f"Greedy packing of whole sentences (no overlap, max 120 words) gives {len(windows)} windows of "
        f"{[sum(map(n_words, w)) for w in windows]} words, starting with the sentences:"
    ]
    for w in windows:
        L.append(f'- "{w[0]}"')
    L += [
        "",
        "With paragraphs 1 and 3 kept whole, that is "
        f"{len(windows) + 2} passages in total under greedy packing.",
        "",
    ]

    # docx
    L += [
        "## interview.docx",
        "",
        f"Heading 1 paragraph `{T_DOCX_TITLE}` (title, not a turn), then one paragraph per turn: a bold run "
        "`Speaker:` (colon inside the bold run) followed by a normal run ` text`. No timestamps. "
        f"{len(T_DOCX_TURNS)} turns. Interviewer turns: 1, 3.",
        "",
    ]
    L += _turn_table([(s, None, t) for s, t in T_DOCX_TURNS]) + [""]
    L += [
        "## table_interview.docx",
        "",
        f"Heading 1 paragraph `{T_TABLE_TITLE}` (title), then one 2-column table (style Table Grid). "
        "Row 1 is the header `Speaker | Text` (bold) and is not a turn. Speaker cells have no colon. "
        f"{len(T_TABLE_TURNS)} turns. Interviewer turns: 1, 3.",
        "",
    ]
    L += _turn_table([(s, None, t) for s, t in T_TABLE_TURNS]) + [""]

    # vtt
    merged = []
    for _cid, start, end, voice, text in T_VTT_CUES:
        if merged and merged[-1][0] == voice:
            merged[-1][3] = end
            merged[-1][4].append(text)
        else:
            merged.append([voice, start, None, end, [text]])
    L += [
        "## meeting.vtt",
        "",
        f"WEBVTT, {len(T_VTT_CUES)} cues, Teams-style ids `<guid>/<n>-<m>` on all cues except the last one "
        "(no id, still valid). Voice tags `<v Name>text</v>`. 3 distinct speakers (Interviewer, Grace Adeyemi, "
        "Marcus Bell). Cues 2-4 are one Grace Adeyemi utterance and merge into one turn; Grace's second turn "
        f"(last cue) is separate because other speakers intervene. {len(merged)} turns. Interviewer turns: 1, 4.",
        "",
        "| # | speaker | interviewer | start | end | text |",
        "|---|---|---|---|---|---|",
    ]
    for i, (v, s, _, e, texts) in enumerate(merged, 1):
        L.append(
            f"| {i} | {v} | {'yes' if v == 'Interviewer' else 'no'} | {_secs(s)} | {_secs(e)} | {' '.join(texts)} |"
        )
    L.append("")

    # srt
    merged = []
    for start, end, lines in T_SRT_CUES:
        m = re.match(r"([^:]+): (.*)", lines[0])
        if m:
            merged.append([m.group(1), start, end, [m.group(2), *lines[1:]]])
        else:
            merged[-1][2] = end
            merged[-1][3] += lines
    L += [
        "## meeting.srt",
        "",
        f"{len(T_SRT_CUES)} numbered cues. Cue 3 has no label and continues Dr Priya Nair (cue 2). "
        "Cue 5 has two text lines (second line unlabeled, same speaker). "
        f"{len(merged)} turns. Interviewer turns: 1, 3.",
        "",
        "| # | speaker | interviewer | start | end | text |",
        "|---|---|---|---|---|---|",
    ]
    for i, (v, s, e, texts) in enumerate(merged, 1):
        L.append(
            f"| {i} | {v} | {'yes' if v == 'Interviewer' else 'no'} | {_secs(s)} | {_secs(e)} | {' '.join(texts)} |"
        )
    L.append("")

    # pdf
    L += [
        "## report.pdf",
        "",
        "Text-based PDF (fpdf2, Helvetica), A4, exactly 2 pages, no speaker labels. Each page has the footer "
        "`Page N` (should be stripped, not a passage). Line breaks inside paragraphs come from layout "
        "wrapping, so compare with whitespace collapsed.",
        "",
    ]
    L += [
        f"- Page 1: title `{T_PDF_TITLE}`, heading `{T_PDF_PAGES[0][0]}`, paragraph:",
        f'  "{T_PDF_PAGES[0][1][0]}"',
        f"- Page 2: heading `{T_PDF_PAGES[1][0]}`, paragraph:",
        f'  "{T_PDF_PAGES[1][1][0]}"',
        "",
    ]

    # encodings
    L += [
        "## Encoding fixtures (utf8_bom.txt, utf16.txt, cp1252.txt)",
        "",
        "All three decode to the same transcript (no timestamps, 4 turns: Interviewer, Renée Dubois, "
        "Interviewer, Renée Dubois; interviewer turns 1, 3).",
        "",
        "- `utf8_bom.txt`: UTF-8 with BOM `EF BB BF`, LF line endings.",
        "- `utf16.txt`: UTF-16 LE with BOM `FF FE`, CRLF line endings (as Windows Notepad writes).",
        "- `cp1252.txt`: Windows-1252, no BOM, CRLF line endings; invalid as UTF-8 "
        "(bytes 0x92 0x93 0x94 0x96 0xE9).",
        "",
        "Exact decoded text of turn 2 (after stripping the label; identical in all three):",
        "",
        "```",
        ENC_TURNS[1][1],
        "```",
        "",
        "Code points to check: "
        + ", ".join(f"`{c}` U+{ord(c):04X}" for c in "’“”–é")
        + ". Speaker of turn 2 is `Renée Dubois` "
        "(`é` U+00E9). Turn 4 text: `" + ENC_TURNS[3][1] + "`.",
        "",
    ]

    # bad
    L += [
        "## bad/ - every file must be rejected (error, not an empty document)",
        "",
        "| file | why |",
        "|---|---|",
        "| bad/empty.txt | 0 bytes |",
        "| bad/whitespace.txt | only spaces, tabs and newlines |",
        "| bad/binary_junk.txt | 2048 deterministic pseudo-random bytes with NULs (every 37th byte is 0x00); not text |",
        "| bad/not_really.pdf | plain ASCII text with a .pdf extension (no `%PDF` header) |",
        "| bad/corrupt.docx | first 300 bytes of tests/data/interview.docx: truncated zip, no central directory |",
        "| bad/corrupt.pdf | `%PDF-1.4` header, start of one object/stream, then 400 bytes of garbage; no xref, trailer or `%%EOF` |",
        "| bad/broken.vtt | no `WEBVTT` header, malformed timing lines (`->`, missing end time, `0:0:9 --> later`), unclosed voice tag |",
        "| bad/notes.xlsx | unsupported format (minimal OOXML zip) |",
        "| bad/slides.pptx | unsupported format (minimal OOXML zip) |",
        "| bad/scanned.pdf | valid 1-page PDF containing only an image (grey bars); no extractable text |",
        "",
        "## manifest.csv",
        "",
        "Header `"
        + ",".join(MANIFEST_HEADER)
        + "`; one row per good file above (11 rows), none for bad/.",
        "",
    ]
    write_text(TESTS / "EXPECTED.md", "\n".join(L))


def main() -> None:
    build_sample()
    build_tests()
    build_expected()
    print(f"wrote {SAMPLE.relative_to(ROOT)} and {TESTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
