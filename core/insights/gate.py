"""What an insights result may say, enforced on every engine's output before it is kept
(DESIGN.md §6, anonymity; issue: "anonymity holds for AI output too").

- Every quote must be verbatim in the turn it cites, as the corpus holds that turn (redacted,
  names scrubbed in aggregated sessions): a quote a model invented or reworded is dropped.
- Aggregated sessions: a quote names its turn by ``turn_ref`` (no turn or interview id, no
  person); a pattern, sub-theme, topic or
  question group with fewer participants than the threshold is withheld; a pattern's group
  slices under the threshold are merged into "Other", with the next-smallest slice when that
  is still too small, so no hidden slice follows by subtraction;
  every text (labels, summaries, actions) is scrubbed of directory names once more.
"""

from __future__ import annotations

from collections.abc import Callable

from core import privacy
from core.config import get_settings
from core.insights import words
from core.insights.corpus import Corpus
from core.insights.schema import Group, Quote, Result

OTHER = privacy.OTHER


def apply(result: Result, corpus: Corpus, scrub: Callable[[str], str] | None) -> Result:
    texts = {p.turn_id: p.text for p in corpus.passages}
    secret = get_settings().secret_key
    mine = set(corpus.interviews)
    dropped = 0

    def keep(quotes: list[Quote]) -> list[Quote]:
        nonlocal dropped
        out = []
        for q in quotes:
            text = texts.get(q.turn_id)
            if text is None or not q.text.strip() or q.text not in text:
                dropped += 1
                continue
            if corpus.aggregated:  # no interview, person, nor an id that dates the answer
                q = Quote(turn_ref=privacy.turn_ref(secret, q.turn_id), text=q.text)
            out.append(q)
        return out

    threshold = corpus.threshold if corpus.aggregated else 1
    clean = scrub or (lambda text: text)
    withheld = list(result.withheld)
    # what survives decides which words may stand: a key quote only from a pattern or topic
    # shown, an action only for one; texts written from figures that were then withheld
    # are written again from what is shown
    shown_ids = {p.id for p in result.patterns if p.participants >= threshold}
    shown_topics = {t.topic for t in result.topics if t.participants >= threshold}
    quotable = {q.turn_id for p in result.patterns if p.id in shown_ids for q in p.quotes} | {
        q.turn_id for t in result.topics if t.topic in shown_topics for q in t.quotes}

    patterns = []
    small = 0
    for p in result.patterns:
        p.interview_ids = [i for i in p.interview_ids if i in mine]
        if p.id not in shown_ids:
            small += 1
            continue
        p.label, p.quotes = clean(p.label), keep(p.quotes)
        p.terms = [clean(t) for t in p.terms]
        if corpus.aggregated:
            p.groups = slices(p.groups, threshold)
        patterns.append(p)
    if small:
        withheld.append(f"{small} theme(s) found in fewer than {threshold} people are not "
                        "shown.")
    shown_patterns = {p.id for p in patterns}

    topics = []
    for t in result.topics:
        if t.topic not in shown_topics:
            withheld.append(f"\"{t.label}\" was answered by fewer than {threshold} people: "
                            "not shown.")
            continue
        t.summary, t.quotes = clean(t.summary), keep(t.quotes)
        subs = [s for s in t.sub_themes if s.participants >= threshold
                and (s.pattern_id is None or s.pattern_id in shown_patterns)]
        for s in subs:
            s.label = clean(s.label)
        gone = [s.label for s in t.sub_themes if s not in subs]
        if mentions(t.summary, gone):  # its summary names what is not shown: from figures
            t.summary = words.topic_summary(t.label, t.participants, t.sentiment,
                                            [(s.label, s.participants) for s in subs])
        t.sub_themes = subs
        topics.append(t)

    questions = []
    for q in result.missing_knowledge:
        if corpus.aggregated and q.participants < threshold:
            continue
        q.quotes = keep(q.quotes)
        q.question = clean(q.question)
        questions.append(q)
    hidden = len(result.missing_knowledge) - len(questions)
    if corpus.aggregated and hidden:
        withheld.append(f"{hidden} question(s) asked by fewer than {threshold} people are "
                        "not shown.")

    summary = result.summary
    summary.health = clean(summary.health)
    summary.key_quotes = keep([q for q in summary.key_quotes if q.turn_id in quotable])
    summary.actions = [a for a in summary.actions
                       if (a.pattern_id in shown_patterns) or (a.topic in shown_topics)
                       or (a.pattern_id is None and a.topic is None and not withheld)]
    for a in summary.actions:
        a.text = clean(a.text)
    gone = [p.label for p in result.patterns if p.id not in shown_ids] + [
        t.label for t in result.topics if t.topic not in shown_topics]
    if mentions(summary.health, gone):  # the tone paragraph again, from what is shown only
        negative = [t for t in topics if t.sentiment is not None and t.sentiment < 0]
        worst = min(negative, key=lambda t: t.sentiment, default=None)
        summary.health = words.health(
            result.interviews, summary.sentiment, summary.sentiment_distribution,
            [(p.label, p.participants) for p in patterns[:3]],
            worst.label if worst is not None else None)
    fallbacks = list(result.fallbacks)
    if dropped:
        fallbacks.append(f"{dropped} quote(s) not found verbatim in the turn they cite were "
                         "dropped.")
    return Result(engine=result.engine, interviews=result.interviews, summary=summary,
                  patterns=patterns, topics=topics, missing_knowledge=questions,
                  withheld=withheld, fallbacks=fallbacks)


def mentions(text: str, labels: list[str]) -> bool:
    """Whether ``text`` names any of ``labels`` (a withheld theme or topic)."""
    low = text.lower()
    return any(label and label.lower() in low for label in labels)


def slices(groups: list[Group], threshold: int) -> list[Group]:
    """Group slices safe to show (``core.privacy.merged_groups``): those under the
    threshold, with the next-smallest when needed, shown only together as "Other"."""
    hidden = set(privacy.merged_groups({g.value: g.participants for g in groups}, threshold))
    out = sorted((g for g in groups if g.value not in hidden), key=lambda g: -g.participants)
    if hidden:
        out.append(Group(value=OTHER, participants=sum(
            g.participants for g in groups if g.value in hidden)))
    return out
