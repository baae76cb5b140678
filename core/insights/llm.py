"""The LLM insights engine (``OPENAI_*``): map-reduce over a session's passages, in prompts
whose size does not grow with the number of interviews.

- **Map:** the passages (participant turns: redacted, and in aggregated sessions already
  name-scrubbed) go in batches cut by size (``MAP_CHARS``), not by a number of interviews;
  an interview stays in one batch unless it alone is bigger. The model sees an opaque id
  (``p1``…, new in every batch), the topic and the text: never a name, an email, a turn or
  interview id, a group (in named sessions the participants' names are scrubbed from the
  texts too). It answers themes (label, description, HR signal, the passage ids
  it appears in, up to 2 quotes), a note per topic, and the questions asked back.
- **Reduce:** a tree of bounded merges. Each reduce prompt holds the findings of at most
  ``REDUCE_FANIN`` children, each capped (``KEPT_THEMES``, ``KEPT_QUESTIONS``, short
  texts), so no prompt past the map grows with the session; the model answers which input
  themes each merged theme is made of, and Parley unites their cited passages.
- **Summary:** one prompt with the final patterns, topic notes and candidate quotes: the
  health paragraph, 3–5 key quotes (ids of quotes already verified) and actions tied to
  pattern ids or topics.

Parley, not the model, counts: a theme's participants are the interviews of the passages it
cites; sentiment, group slices and the tone figures come from the corpus. A quote is kept
only when its text is verbatim in the passage it cites (the gate checks again). Every call is
a strict JSON-schema completion (``core.interviewer.llm``: short timeout, one retry); a
call that fails — transport, HTTP error, timeout, invalid JSON, schema mismatch — hands that
step to the offline engine (a map batch: its passages analysed offline, with those of the
other failed batches; a reduce: merged by signal and label; the summary: the extractive
one) and says so in ``Result.fallbacks``.
After ``BREAKER`` failures in a row, or ``RUN_SECONDS`` into the run, the model is not asked
again in that run.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from statistics import fmean
from typing import Literal, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from core import privacy
from core.config import Settings, get_settings
from core.insights import offline, prompts, words
from core.insights.corpus import Corpus, Passage
from core.insights.schema import (
    Action,
    Group,
    Pattern,
    Question,
    Quote,
    Result,
    SubTheme,
    Summary,
    TopicAnalysis,
)
from core.insights.text import MIN_WORDS, NAME_PLACEHOLDER, NOT_NAMES, WORD, NameScrubber
from core.interviewer import llm

log = logging.getLogger(__name__)

MAP_CHARS = 12_000  # passages' characters (as sent) in one map prompt: ~3,000 tokens
PASSAGE_CHARS = 1_500  # of one passage, at most (its beginning: a quote from it is verbatim)
REDUCE_FANIN = 4  # children merged by one reduce prompt
KEPT_THEMES = 12  # themes a map or reduce step passes on (the most widespread)
KEPT_QUESTIONS = 8
KEPT_NOTES = 4  # notes per topic a reduce prompt holds, or a step merged offline passes on
MAX_TOPICS = 20  # topics whose notes travel up the tree
LABEL_CHARS, TEXT_CHARS, NOTE_CHARS, HEALTH_CHARS = 80, 240, 400, 1_500
QUOTES = 3  # per pattern, topic or question: one per interview
CANDIDATES = 24  # quotes the summary may choose its key quotes from
WORKERS = 4  # calls in flight at once
BREAKER = 5  # failures in a row after which the rest of the run is offline
RUN_SECONDS = 6_000  # after this the model is not asked again (the job's limit is 2 h)
MAP_TOKENS, REDUCE_TOKENS, SUMMARY_TOKENS = 2_000, 2_000, 1_000

Signal = Literal["flight_risk", "burnout", "manager_relationship", "growth", "pay_recognition"]


# ---- what the model answers (strict JSON schema) --------------------------------------------

class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Cited(_Strict):
    passage: str
    text: str


class MapTheme(_Strict):
    label: str
    description: str
    signal: Signal | None
    terms: list[str]
    passages: list[str]
    quotes: list[Cited]


class MapTopic(_Strict):
    topic: str
    note: str
    quotes: list[Cited]


class MapQuestion(_Strict):
    question: str
    passages: list[str]


class MapAnswer(_Strict):
    themes: list[MapTheme]
    topics: list[MapTopic]
    questions: list[MapQuestion]


class ReduceTheme(_Strict):
    label: str
    description: str
    signal: Signal | None
    terms: list[str]
    members: list[str]


class ReduceTopic(_Strict):
    topic: str
    note: str


class ReduceQuestion(_Strict):
    question: str
    members: list[str]


class ReduceAnswer(_Strict):
    themes: list[ReduceTheme]
    topics: list[ReduceTopic]
    questions: list[ReduceQuestion]


class SummaryAction(_Strict):
    text: str
    pattern_id: str | None
    topic: str | None


class SummaryAnswer(_Strict):
    health: str
    key_quotes: list[str]
    actions: list[SummaryAction]


Answer = TypeVar("Answer", bound=_Strict)


def schema_of(model: type[BaseModel]) -> dict:
    """The model's JSON schema as strict structured outputs take it: every object closed
    (``extra="forbid"``) and every property required (no defaults above)."""
    return model.model_json_schema()


# ---- what the tree carries ------------------------------------------------------------------

@dataclass
class Finding:
    """A theme or a question as far as the tree has merged it. ``turns``: the passages it
    was cited in — its participants are their interviews, counted by Parley."""

    label: str
    turns: set[int]
    description: str = ""
    signal: str | None = None
    terms: list[str] = field(default_factory=list)
    quotes: list[Quote] = field(default_factory=list)


@dataclass
class Node:
    """One map batch's or reduce group's findings."""

    themes: list[Finding] = field(default_factory=list)
    questions: list[Finding] = field(default_factory=list)
    notes: dict[str, list[str]] = field(default_factory=dict)  # topic → notes
    quotes: dict[str, list[Quote]] = field(default_factory=dict)  # topic → verified quotes


class Failed(Exception):
    """One step's call did not give a usable answer: the offline engine does that step."""


def analyse(corpus: Corpus, settings: Settings | None = None) -> Result:
    return _Run(corpus, settings or get_settings()).result()


class _Run:
    def __init__(self, corpus: Corpus, settings: Settings):
        self.corpus = corpus
        # threads do not see the bound settings: they are passed, with the insights timeout
        self.settings = settings.model_copy(
            update={"openai_timeout": settings.openai_insights_timeout})
        self.passages = {p.turn_id: p for p in corpus.passages}
        # aggregated sessions' texts are scrubbed of every directory name already; in named
        # ones the participants' own names are scrubbed from what the model reads (a quote
        # it copies with a placeholder in it is not verbatim, and is dropped)
        names = [] if corpus.aggregated else [p.get("name") for p in corpus.people.values()]
        self.unnamed = NameScrubber(names) if any(names) else None
        self.topic_keys = {key for key, _ in corpus.topics}
        self.lock = threading.Lock()
        self.deadline = time.monotonic() + RUN_SECONDS
        self.failures_in_a_row = 0
        self.failed: dict[str, list[tuple[str, str]]] = defaultdict(list)  # step → (what, why)
        self.steps: Counter = Counter()  # step → calls made or skipped
        self.dropped = 0  # quotes not verbatim in the passage they cite
        self.pattern_turns: dict[str, set[int]] = {}  # pattern id → the passages it cites

    # ---- the run -----------------------------------------------------------------------------

    def result(self) -> Result:
        batches = list(self.batches())
        mapped = self.each(self.map_batch, batches)
        nodes = [n for n in mapped if n is not None]
        failed = [p for batch, n in zip(batches, mapped, strict=True) if n is None
                  for p in batch]
        if failed:  # the batches the model did not analyse, analysed offline together
            nodes.append(self.offline_batch(failed))
        while len(nodes) > 1:
            groups = [nodes[i:i + REDUCE_FANIN] for i in range(0, len(nodes), REDUCE_FANIN)]
            nodes = self.each(self.reduce, groups)
        root = nodes[0] if nodes else Node()
        patterns = self.patterns(root)
        topics = self.topics(root, patterns)
        questions = self.questions(root)
        summary = self.summary(patterns, topics)
        return Result(engine="llm", interviews=len(self.corpus.interviews), summary=summary,
                      patterns=patterns, topics=topics, missing_knowledge=questions,
                      fallbacks=self.fallbacks())

    def each(self, step: Callable, items: list) -> list[Node | None]:
        if len(items) <= 1:
            return [step(item) for item in items]
        pool = ThreadPoolExecutor(max_workers=WORKERS)
        try:
            return list(pool.map(step, items))
        finally:  # an error (or RQ's timeout) in one step: the steps not started never start
            pool.shutdown(wait=True, cancel_futures=True)

    def batches(self) -> Iterable[list[Passage]]:
        """Passages in runs of at most ``MAP_CHARS`` characters, whole interviews where
        they fit (so a batch's themes count its interviews whole)."""
        by_interview: dict[int, list[Passage]] = defaultdict(list)
        for p in self.corpus.passages:
            by_interview[p.interview_id].append(p)
        batch: list[Passage] = []
        size = 0
        for iid in self.corpus.interviews:
            mine = by_interview.get(iid, [])
            cost = sum(_cost(p) for p in mine)
            if batch and size + cost > MAP_CHARS:
                yield batch
                batch, size = [], 0
            for p in mine:  # an interview bigger than a batch on its own is split
                if batch and size + _cost(p) > MAP_CHARS:
                    yield batch
                    batch, size = [], 0
                batch.append(p)
                size += _cost(p)
        if batch:
            yield batch

    # ---- calls and fallbacks -----------------------------------------------------------------

    def ask(self, step: str, name: str, messages: list[dict[str, str]],
            answer: type[Answer], max_tokens: int) -> Answer:
        with self.lock:
            self.steps[step] += 1
            if self.failures_in_a_row >= BREAKER:
                raise Failed(f"not asked after {BREAKER} failed calls in a row")
            if time.monotonic() > self.deadline:
                raise Failed(f"not asked: the run had taken {RUN_SECONDS} s")
        try:
            completion = llm.complete_json(self.settings, messages, name=name,
                                           schema=schema_of(answer), max_tokens=max_tokens)
            parsed = answer.model_validate(completion.data)
        except llm.LLMUnavailable as exc:
            self._failure()
            raise Failed(str(exc)[:160]) from exc
        except ValidationError as exc:  # its message would repeat the answer: counted only
            self._failure()
            raise Failed(f"schema mismatch ({exc.error_count()} error(s))") from None
        with self.lock:
            if self.failures_in_a_row < BREAKER:  # once open, open for the run
                self.failures_in_a_row = 0
        return parsed

    def _failure(self) -> None:
        with self.lock:
            self.failures_in_a_row += 1

    def fell_back(self, step: str, what: str, reason: object) -> None:
        log.warning("insights llm: %s %s fell back to the offline engine: %s", step, what,
                    reason)
        with self.lock:
            self.failed[step].append((what, str(reason)))

    def fallbacks(self) -> list[str]:
        out = []
        offline_did = {"map": "analysed offline", "reduce": "merged offline by signal and "
                       "label", "summary": "written offline (extractive)"}
        for step in ("map", "reduce", "summary"):
            failed = self.failed.get(step, [])
            if not failed:
                continue
            total = self.steps[step]
            if len(failed) <= 3:
                out.extend(f"{step}: {what} {offline_did[step]} ({why})" for what, why in failed)
            else:
                out.append(f"{step}: {len(failed)} of {total} steps {offline_did[step]} "
                           f"(the first: {failed[0][1]})")
        if self.dropped:
            out.append(f"{self.dropped} quote(s) the model gave were not verbatim in the "
                       "passage they cite: dropped.")
        return out

    # ---- map ---------------------------------------------------------------------------------

    def map_batch(self, batch: list[Passage]) -> Node | None:
        """The model's findings in one batch, or None when it gave none usable (the failed
        batches are analysed offline together: the offline engine finds themes better in
        more text than one batch holds)."""
        ids = {f"p{i}": p for i, p in enumerate(batch, 1)}
        shown = []
        for pid, p in ids.items():
            text = self.unnamed(p.text) if self.unnamed else p.text
            line = {"id": pid, "topic": p.topic, "text": text[:PASSAGE_CHARS]}
            if p.asked_back:
                line["asked"] = True
            shown.append(line)
        messages = prompts.map_messages(self.corpus.topics[:MAX_TOPICS], shown,
                                        themes=KEPT_THEMES)
        interviews = len({p.interview_id for p in batch})
        try:
            answer = self.ask("map", "insights_map", messages, MapAnswer, MAP_TOKENS)
        except Failed as exc:
            self.fell_back("map", f"a batch of {len(batch)} passages from {interviews} "
                           "interview(s)", exc)
            return None
        return self.node_of_map(answer, ids)

    def node_of_map(self, answer: MapAnswer, ids: dict[str, Passage]) -> Node:
        node = Node()
        for t in answer.themes:
            quotes = self.verified(t.quotes, ids)
            turns = {ids[i].turn_id for i in t.passages if i in ids}
            turns |= {q.turn_id for q in quotes}
            if turns:
                node.themes.append(Finding(
                    label=self.said(t.label, LABEL_CHARS), description=self.said(t.description,
                                                                         TEXT_CHARS),
                    signal=t.signal, terms=self.terms(t.terms), turns=turns, quotes=quotes))
        for q in answer.questions:
            turns = {ids[i].turn_id for i in q.passages if i in ids and ids[i].asked_back}
            if turns:
                node.questions.append(Finding(label=self.said(q.question, TEXT_CHARS),
                                              turns=turns))
        for t in answer.topics:
            if t.topic not in self.topic_keys:
                continue
            if t.note.strip():
                node.notes.setdefault(t.topic, []).append(self.said(t.note, NOTE_CHARS))
            quotes = [q for q in self.verified(t.quotes, ids)
                      if self.passages[q.turn_id].topic == t.topic]
            node.quotes[t.topic] = self.distinct(node.quotes.get(t.topic, []) + quotes)
        return self.capped(node)

    def verified(self, cited: list[Cited], ids: dict[str, Passage]) -> list[Quote]:
        """The quotes whose text is verbatim in the passage they cite (and says something:
        at least ``MIN_WORDS`` words); the others are dropped and counted."""
        out = []
        for c in cited:
            p, text = ids.get(c.passage), c.text.strip()
            if p is None or len(WORD.findall(text)) < MIN_WORDS or text not in p.text:
                with self.lock:
                    self.dropped += 1
                continue
            out.append(self.quote(p, text))
        return out

    def offline_batch(self, batch: list[Passage]) -> Node:
        """The offline engine's analysis of these passages, as a map step's node."""
        interviews = sorted({p.interview_id for p in batch})
        part = Corpus(session_id=self.corpus.session_id, anonymity=self.corpus.anonymity,
                      threshold=self.corpus.threshold, topics=self.corpus.topics,
                      interviews=interviews, passages=batch,
                      groups={i: self.corpus.groups.get(i) for i in interviews},
                      people={i: self.corpus.people[i] for i in interviews
                              if i in self.corpus.people})
        found, quotes = offline.batch_analysis(part)
        node = Node(quotes={k: v for k, v in quotes.items() if v})
        for pattern, turns in found:
            node.themes.append(Finding(label=pattern.label, signal=pattern.signal,
                                       terms=pattern.terms, turns=turns,
                                       quotes=pattern.quotes))
        for group in offline.question_groups([p for p in batch if p.asked_back]):
            node.questions.append(Finding(label=group[0].text[:TEXT_CHARS],
                                          turns={p.turn_id for p in group}))
        return self.capped(node)

    # ---- reduce ------------------------------------------------------------------------------

    def reduce(self, children: list[Node]) -> Node:
        if len(children) == 1:  # the last of a level, alone: up a level as it is
            return children[0]
        themes = [f for n in children for f in n.themes]
        questions = [f for n in children for f in n.questions]
        notes: dict[str, list[str]] = defaultdict(list)
        for rank in range(KEPT_NOTES):  # each child's first note, then the next ones
            for n in children:
                for key, said in n.notes.items():
                    if rank < len(said) and len(notes[key]) < KEPT_NOTES:
                        notes[key].append(said[rank])
        quotes = {key: self.distinct([q for n in children for q in n.quotes.get(key, [])])
                  for key in {k for n in children for k in n.quotes}}
        data = {
            "themes": [{"id": f"t{i}", "label": f.label, "description": f.description,
                        "signal": f.signal, "participants": self.participants(f)}
                       for i, f in enumerate(themes, 1)],
            "topics": [{"topic": key, "notes": said} for key, said in notes.items()],
            "questions": [{"id": f"q{i}", "question": f.label,
                           "participants": self.participants(f)}
                          for i, f in enumerate(questions, 1)],
        }
        messages = prompts.reduce_messages(data, themes=KEPT_THEMES, questions=KEPT_QUESTIONS)
        try:
            answer = self.ask("reduce", "insights_reduce", messages, ReduceAnswer,
                              REDUCE_TOKENS)
        except Failed as exc:
            self.fell_back("reduce", f"a merge of {len(children)} parts", exc)
            return self.merged(children)
        node = Node(quotes=quotes)
        node.themes = self.members(answer.themes, themes, "t")
        node.questions = self.members(answer.questions, questions, "q")
        for t in answer.topics:
            if t.topic in notes and t.note.strip():
                node.notes[t.topic] = [self.said(t.note, NOTE_CHARS)]
        for key, said in notes.items():  # a topic the model left out keeps its notes
            node.notes.setdefault(key, said[:KEPT_NOTES])
        return self.capped(node)

    def members(self, merged: list[ReduceTheme] | list[ReduceQuestion],
                inputs: list[Finding], prefix: str) -> list[Finding]:
        """Merged findings from the model's ``members`` lists: their cited passages united.
        An input the model put in no merged finding is passed on as it was; one it put in
        two counts in the first only."""
        by_id = {f"{prefix}{i}": f for i, f in enumerate(inputs, 1)}
        used: set[str] = set()
        out = []
        for m in merged:
            parts = [by_id[i] for i in dict.fromkeys(m.members) if i in by_id and i not in used]
            if not parts:
                continue
            used.update(i for i in m.members if i in by_id)
            theme = isinstance(m, ReduceTheme)
            out.append(Finding(
                label=self.said(m.label if theme else m.question, LABEL_CHARS if theme
                            else TEXT_CHARS),
                description=self.said(m.description, TEXT_CHARS) if theme else "",
                signal=m.signal if theme else None,
                terms=self.terms(m.terms) if theme else [],
                turns=set().union(*(f.turns for f in parts)),
                quotes=self.distinct([q for f in parts for q in f.quotes])))
        out.extend(f for i, f in by_id.items() if i not in used)
        return out

    def merged(self, children: list[Node]) -> Node:
        """The offline merge: themes of one signal, or of one label, become one."""
        node = Node()
        for attr in ("themes", "questions"):
            kept: dict[str, Finding] = {}
            for f in (f for n in children for f in getattr(n, attr)):
                key = f"signal:{f.signal}" if f.signal else " ".join(
                    WORD.findall(f.label.lower()))
                if key not in kept:
                    kept[key] = Finding(label=f.label, description=f.description,
                                        signal=f.signal, terms=list(f.terms),
                                        turns=set(f.turns), quotes=list(f.quotes))
                else:
                    kept[key].turns |= f.turns
                    kept[key].quotes = self.distinct(kept[key].quotes + f.quotes)
            setattr(node, attr, list(kept.values()))
        for n in children:
            for key, said in n.notes.items():
                node.notes[key] = (node.notes.get(key, []) + said)[:KEPT_NOTES]
            for key, quotes in n.quotes.items():
                node.quotes[key] = self.distinct(node.quotes.get(key, []) + quotes)
        return self.capped(node)

    def capped(self, node: Node) -> Node:
        """What a step passes on is bounded whatever the session's size: the HR signals
        (one theme each), then the most widespread other themes up to ``KEPT_THEMES``, the
        most widespread questions, notes of at most ``MAX_TOPICS`` topics. A signal is never
        cut: in one batch it may be rarer than a theme that turns out to be noise."""
        node.themes.sort(key=lambda f: -self.participants(f))
        themes = self.one_per_signal(node.themes)
        signals = [f for f in themes if f.signal]
        node.themes = signals + [f for f in themes if not f.signal][
            :max(KEPT_THEMES - len(signals), 0)]
        node.questions.sort(key=lambda f: -self.participants(f))
        node.questions = node.questions[:KEPT_QUESTIONS]
        keep = [key for key, _ in self.corpus.topics[:MAX_TOPICS]]
        node.notes = {k: node.notes[k][:KEPT_NOTES] for k in keep if node.notes.get(k)}
        node.quotes = {k: node.quotes[k] for k in keep if node.quotes.get(k)}
        return node

    def one_per_signal(self, themes: list[Finding]) -> list[Finding]:
        """An HR signal is one pattern, as in the offline engine: the themes a model (or a
        batch done offline) gave the same signal join the most widespread of them."""
        first: dict[str, Finding] = {}
        out = []
        for f in themes:
            if f.signal is None or f.signal not in first:
                out.append(f)
                if f.signal is not None:
                    first[f.signal] = f
                continue
            kept = first[f.signal]
            kept.turns = kept.turns | f.turns
            kept.quotes = self.distinct(kept.quotes + f.quotes)
        return out

    # ---- a model's words ----------------------------------------------------------------------

    def said(self, text: str, limit: int) -> str:
        """A model's words as Parley keeps them: PII redacted and, in aggregated sessions,
        directory names scrubbed however they are written (the gate's scrub, for
        participants' words, takes only a capitalised word for a name; a model may write
        "ximena's" in a label or a term)."""
        text = privacy.redact(re.sub(r"\s+", " ", text).strip())
        scrub = self.corpus.scrub
        if isinstance(scrub, NameScrubber):
            text = NAMED_WORD.sub(lambda m: _unnamed(m, scrub.words), scrub(text))
        return text[:limit]

    def terms(self, terms: list[str]) -> list[str]:
        return [t for t in (self.said(t, 40) for t in terms) if t and NAME_PLACEHOLDER not in t
                ][:5]

    # ---- the result, counted by Parley -------------------------------------------------------

    def interviews_of(self, turns: Iterable[int]) -> set[int]:
        return {self.passages[t].interview_id for t in turns if t in self.passages}

    def participants(self, finding: Finding) -> int:
        return len(self.interviews_of(finding.turns))

    def quote(self, p: Passage, text: str) -> Quote:
        if self.corpus.aggregated:
            return Quote(turn_id=p.turn_id, text=text)
        return Quote(turn_id=p.turn_id, text=text, interview_id=p.interview_id,
                     person=self.corpus.people.get(p.interview_id))

    def distinct(self, quotes: list[Quote], limit: int = QUOTES) -> list[Quote]:
        """At most ``limit`` quotes, one per interview and no text twice."""
        out, seen = [], set()
        for q in quotes:
            iid = self.passages[q.turn_id].interview_id
            if iid in seen or q.text in seen:
                continue
            seen.update((iid, q.text))
            out.append(q)
            if len(out) == limit:
                break
        return out

    def patterns(self, root: Node) -> list[Pattern]:
        n = max(len(self.corpus.interviews), 1)
        out, turns = [], []
        for f in root.themes:
            interviews = sorted(self.interviews_of(f.turns))
            if not interviews or not f.signal and len(interviews) < max(
                    2, offline.MIN_THEME_SHARE * n):
                continue  # as in the offline engine: a theme this small is noise
            scores = [self.passages[t].sentiment for t in f.turns
                      if self.passages[t].sentiment is not None]
            groups = Counter(self.corpus.groups.get(i) or words.NO_GROUP for i in interviews)
            # the gate scrubs labels, not ids: a discovered theme's id is made from its
            # label scrubbed, so no name a model wrote reaches an id
            label = self.corpus.scrub(f.label) if self.corpus.scrub else f.label
            unnamed = re.sub(re.escape(NAME_PLACEHOLDER) + r"(?:['’]s)?", " ", label).lower()
            slug = "-".join(re.findall(r"[^\W_]+(?:['’][^\W_]+)*", unnamed)[:3]) or "theme"
            out.append(Pattern(
                id=f"signal:{f.signal}" if f.signal else f"theme:{slug}", label=label,
                kind="signal" if f.signal else "discovered", signal=f.signal,
                participants=len(interviews), share=round(len(interviews) / n, 4),
                sentiment=round(fmean(scores), 4) if scores else None, terms=f.terms,
                quotes=self.distinct(f.quotes),
                groups=[Group(value=v, participants=c) for v, c in groups.most_common()],
                interview_ids=interviews))
            turns.append(f.turns)
        order = sorted(range(len(out)), key=lambda i: (-out[i].participants, out[i].id))
        out = offline._distinct_ids([out[i] for i in order])  # the most widespread keeps an id
        self.pattern_turns = {p.id: turns[i] for p, i in zip(out, order, strict=True)}
        return out

    def topics(self, root: Node, patterns: list[Pattern]) -> list[TopicAnalysis]:
        turns_of = self.pattern_turns
        out = []
        for key, label in self.corpus.topics:
            mine = [p for p in self.corpus.passages if p.topic == key and not p.asked_back]
            if not mine:
                continue
            interviews = {p.interview_id for p in mine}
            scores = [p.sentiment for p in mine if p.sentiment is not None]
            sentiment = round(fmean(scores), 4) if scores else None
            counts = Counter()
            for p in patterns:
                inside = self.interviews_of(t for t in turns_of[p.id]
                                            if self.passages[t].topic == key)
                if inside:
                    counts[p.id] = len(inside)
            labels = {p.id: p.label for p in patterns}
            subs = [SubTheme(label=labels[pid], participants=c, pattern_id=pid)
                    for pid, c in counts.most_common(5)]
            notes = root.notes.get(key, [])
            summary = notes[0] if len(notes) == 1 else words.topic_summary(
                label, len(interviews), sentiment, [(s.label, s.participants) for s in subs])
            quotes = root.quotes.get(key) or self.distinct(
                [q for p in patterns for q in p.quotes if self.passages[q.turn_id].topic == key])
            out.append(TopicAnalysis(topic=key, label=label, participants=len(interviews),
                                     summary=summary, sentiment=sentiment, sub_themes=subs,
                                     quotes=quotes))
        return out

    def questions(self, root: Node) -> list[Question]:
        out = []
        for f in root.questions:
            asked = sorted((self.passages[t] for t in f.turns if t in self.passages),
                           key=lambda p: p.turn_id)
            out.append(Question(question=f.label, participants=self.participants(f),
                                quotes=self.distinct([self.quote(p, p.text) for p in asked])))
        out.sort(key=lambda q: -q.participants)
        return out

    # ---- summary -----------------------------------------------------------------------------

    def summary(self, patterns: list[Pattern], topics: list[TopicAnalysis]) -> Summary:
        if self.corpus.aggregated:  # what the gate will withhold is not summarised either
            patterns = [p for p in patterns if p.participants >= self.corpus.threshold]
            topics = [t for t in topics if t.participants >= self.corpus.threshold]
        overall, distribution = offline.tone_figures(self.corpus)
        candidates: dict[str, tuple[str, Quote]] = {}
        for rank in range(QUOTES):  # each pattern's best quote first, then the next ones
            for p in patterns:
                if rank < len(p.quotes) and len(candidates) < CANDIDATES:
                    candidates[f"k{len(candidates) + 1}"] = (p.id, p.quotes[rank])
        data = {
            "figures": {"interviews": len(self.corpus.interviews), "sentiment": overall,
                        "sentiment_distribution": distribution},
            "patterns": [{"id": p.id, "label": p.label, "signal": p.signal,
                          "participants": p.participants, "share": p.share,
                          "sentiment": p.sentiment} for p in patterns[:KEPT_THEMES]],
            "topics": [{"topic": t.topic, "label": t.label, "participants": t.participants,
                        "sentiment": t.sentiment, "note": t.summary[:NOTE_CHARS]}
                       for t in topics[:MAX_TOPICS]],
            "quotes": [{"id": qid, "pattern_id": pid, "text": q.text[:TEXT_CHARS]}
                       for qid, (pid, q) in candidates.items()],
        }
        try:
            answer = self.ask("summary", "insights_summary", prompts.summary_messages(data),
                              SummaryAnswer, SUMMARY_TOKENS)
        except Failed as exc:
            self.fell_back("summary", "the summary", exc)
            return offline.summarise(self.corpus, patterns, topics)
        chosen = [candidates[i][1] for i in dict.fromkeys(answer.key_quotes)
                  if i in candidates][:5]
        for _, q in candidates.values():  # 3 at least, from the candidates in order
            if len(chosen) >= 3:
                break
            if q not in chosen:
                chosen.append(q)
        pattern_ids, topic_keys = {p.id for p in patterns}, {t.topic for t in topics}
        actions = [Action(text=self.said(a.text, TEXT_CHARS),
                          pattern_id=a.pattern_id if a.pattern_id in pattern_ids else None,
                          topic=a.topic if a.topic in topic_keys else None)
                   for a in answer.actions if a.text.strip()]
        actions = [a for a in actions if a.pattern_id or a.topic][:5]
        if not actions:  # an action is tied to a pattern or a topic, or it is not one
            self.fell_back("summary", "the actions", "none tied to a pattern or topic")
            actions = offline.summarise(self.corpus, patterns, topics).actions
        return Summary(health=self.said(answer.health, HEALTH_CHARS), sentiment=overall,
                       sentiment_distribution=distribution, key_quotes=chosen,
                       actions=actions)


def _cost(p: Passage) -> int:
    return min(len(p.text), PASSAGE_CHARS) + 60  # the line's id, topic and JSON


NAMED_WORD = re.compile(r"(?<![\w\[])([A-Za-zÀ-ÖØ-öø-ÿ]+)(['’]s)?\b(?!\])")


def _unnamed(match: re.Match, names: frozenset[str]) -> str:
    word = match.group(1).lower()
    if word in names and word not in NOT_NAMES:
        return NAME_PLACEHOLDER + (match.group(2) or "")
    return match.group(0)
