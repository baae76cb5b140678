"""PDF transcripts, rendered with fpdf2: the one module that imports it.

fpdf2 is pure Python (no Pango, Cairo or other system libraries, unlike WeasyPrint), so a
worker renders a PDF on any machine ``pip install`` reached. Participants write any Unicode,
so the text is set in DejaVu Sans (vendored in core/fonts, under its free licence: see
core/fonts/LICENSE): Latin, Greek, Cyrillic, symbols and many emoji. A character the font
has no glyph for (CJK, most emoji) is drawn as U+FFFD, never a crash.

Renders the documents ``core.exports`` builds: they are already what the reader may see
(an aggregated session's carry no identity); this module only lays them out.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fpdf import FPDF

FONTS = Path(__file__).resolve().parent / "fonts"
FONT, FONT_FILE = "DejaVu", FONTS / "DejaVuSans.ttf"
MISSING = "\ufffd"
ROLES = {"interviewer": "Interviewer", "participant": "Participant", "system": "System"}


class _Document(FPDF):
    def __init__(self, title: str):
        super().__init__(format="A4")
        self.set_title(title)
        self.set_creator("Parley")
        self.set_auto_page_break(auto=True, margin=15)
        self.add_font(FONT, "", str(FONT_FILE))
        self.set_font(FONT, size=10)
        self._glyphs = frozenset(self.fonts[FONT.lower()].cmap)
        self.alias_nb_pages()

    def footer(self) -> None:
        self.set_y(-12)
        self.set_font(FONT, size=8)
        self.cell(0, 5, f"{self.page_no()}/{{nb}}", align="C")

    def drawable(self, text: str) -> str:
        """The text with every character the font cannot draw (and every control character
        but a line break) as U+FFFD."""
        return "".join(ch if ch == "\n" or (ord(ch) >= 32 and ord(ch) in self._glyphs)
                       else MISSING for ch in str(text))

    def heading(self, text: str, size: int = 14) -> None:
        self.set_font(FONT, size=size)
        self.multi_cell(0, size * 0.5, self.drawable(text), new_x="LMARGIN", new_y="NEXT")
        self.set_font(FONT, size=10)
        self.ln(2)

    def fields(self, rows: list[tuple[str, Any]]) -> None:
        for label, value in rows:
            if value in (None, ""):
                continue
            self.set_text_color(90, 90, 90)
            self.cell(38, 5, self.drawable(label))
            self.set_text_color(0, 0, 0)
            self.multi_cell(0, 5, self.drawable(str(value)), new_x="LMARGIN", new_y="NEXT")
        self.ln(3)

    def turns(self, turns: list[dict[str, Any]]) -> None:
        for turn in turns:
            head = [ROLES.get(turn["role"], turn["role"])]
            if turn.get("created_at"):
                head.append(turn["created_at"])
            if turn.get("topic"):
                head.append(f"topic: {turn['topic']}")
            if turn.get("sentiment") is not None:
                head.append(f"sentiment {turn['sentiment']:+.2f}")
            self.set_font(FONT, size=8)
            self.set_text_color(90, 90, 90)
            self.multi_cell(0, 4, self.drawable(" · ".join(head)), new_x="LMARGIN",
                            new_y="NEXT")
            self.set_font(FONT, size=10)
            self.set_text_color(0, 0, 0)
            self.multi_cell(0, 5, self.drawable(turn["text"]), new_x="LMARGIN", new_y="NEXT")
            self.ln(2)


def _metadata_rows(meta: dict[str, Any]) -> list[tuple[str, Any]]:
    person = meta.get("person") or {}
    duration = meta.get("duration_seconds")
    return [
        ("Session", meta.get("session_name")), ("Session type", meta.get("session_type")),
        ("Participant", person.get("name")), ("Email", person.get("email")),
        ("Channel(s)", ", ".join(meta.get("channels") or [])),
        ("Started", meta.get("started_at")), ("Completed", meta.get("completed_at")),
        ("Duration", f"{duration / 60:.1f} min" if duration is not None else None),
        ("Status", meta.get("status")),
        ("Sentiment", _signed(meta.get("sentiment"))),
        ("Engagement", meta.get("engagement")),
    ]


def _signed(value: float | None) -> str | None:
    return None if value is None else f"{value:+.2f}"


def transcript(doc: dict[str, Any]) -> bytes:
    """One interview's transcript: a metadata header (the person only where the document
    names them), then each turn with its time, speaker, topic and sentiment."""
    meta = doc["metadata"]
    pdf = _Document(f"Interview transcript: {meta.get('session_name', '')}")
    pdf.add_page()
    pdf.heading("Interview transcript")
    pdf.fields(_metadata_rows(meta))
    pdf.turns(doc["turns"])
    return bytes(pdf.output())


def aggregated(session: dict[str, Any], docs: list[dict[str, Any]],
               withheld: str | None, *, first: int = 1) -> bytes:
    """An aggregated session's answers in one document: its released interviews, each
    without identity, time or channel, numbered in the order given (keyed by a secret), and
    why the rest are withheld."""
    pdf = _Document(f"Anonymous answers: {session.get('session_name', '')}")
    pdf.add_page()
    pdf.heading("Anonymous answers")
    pdf.fields([("Session", session.get("session_name")),
                ("Session type", session.get("session_type")),
                ("Responses", len(docs)), ("Withheld", withheld)])
    for n, doc in enumerate(docs, first):
        pdf.heading(f"Response {n}", size=12)
        pdf.turns(doc["turns"])
    return bytes(pdf.output())
