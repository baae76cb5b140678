"""The offline insights engine: no network, no model download, bounded time.

- **HR signals** (flight risk, burnout, manager relationship, growth, pay and recognition):
  hand-kept lexicons with negation (``core.insights.text``), per sentence. A lexicon is what
  HR can read and argue with; a statistical model would blur "I'm exhausted" and "I'm not".
- **Themes no list anticipated:** words that recur together in the sentences no signal
  claimed (scikit-learn's CountVectorizer, then NPMI between words' sentence sets): the most
  used linked word seeds a theme with the words linked to it. Measured against TF-IDF + NMF
  on the planted-theme bank (``bench/insights.py``): NMF spent its parts on the words
  everyone uses and split or missed a theme in 12 % of interviews; the linked words found
  every planted theme with its exact count, in a third of the time.
- **Sentiment:** the turn's own (VADER, scored when it was said) for topics and the overall
  tone; VADER per sentence for a pattern's sentences, scored only when a pattern needs them.
- **Summaries** are extractive: the sentences nearest a pattern's or topic's TF-IDF
  centroid are its representative quotes, never reworded.
"""

from __future__ import annotations

import random
import re
from collections import Counter, defaultdict
from statistics import fmean

import numpy as np
from sklearn.feature_extraction.text import (
    ENGLISH_STOP_WORDS,
    CountVectorizer,
    TfidfVectorizer,
)
from sklearn.preprocessing import normalize

from core.insights import words
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
from core.insights.text import SIGNAL_LABELS, SIGNALS, Sentence, sentences, signals_in
from core.sentiment import _analyzer

FIT_SAMPLE = 20_000  # sentences the TF-IDF vocabulary is fitted on (then applied to all)
TERMS = 5  # a discovered theme's words shown (its label is the first three)
LINKED = 0.5  # NPMI of two words' sentences for them to be one theme's words
MIN_SHARED = 3  # sentences two words must share to be linked at all
MAX_GROUP = 12  # words a theme is read from (the most linked of its group)
PURE = 0.8  # a word used with another of its theme's words this often counts alone
TOKEN = r"(?u)\b[a-zA-Z][a-zA-Z]+\b"
MIN_THEME_SHARE = 0.03  # of interviews: a discovered theme smaller than this is noise
QUOTES = 3
QUESTION_SIMILARITY = 0.3  # cosine to a group's centroid to join it
# words that say nothing as a theme's label (the interview's own vocabulary)
FILLER = frozenset({"really", "think", "just", "like", "feel", "know", "lot", "things",
                    "thing", "bit", "pretty", "quite", "honestly", "actually", "work",
                    "team", "people", "time", "good", "get", "make", "way", "want", "don",
                    "ve", "ll", "re", "did", "does", "doing", "got", "say", "said", "sure",
                    "maybe", "yes", "yeah", "okay", "ok", "right", "much", "well", "also"})
STOP = list(ENGLISH_STOP_WORDS | FILLER)
SIGNAL_TERMS = re.compile("|".join(p.pattern for s in SIGNALS for p in s.patterns),
                          re.IGNORECASE)


def analyse(corpus: Corpus) -> Result:
    """The whole result for the corpus (the anonymity gate runs after, on any engine's)."""
    analysis = _Analysis(corpus)
    patterns = analysis.signal_patterns() + analysis.discovered_patterns()
    patterns.sort(key=lambda p: (-p.participants, p.id))
    topics = analysis.topic_analyses(patterns)
    questions = missing_knowledge(corpus)
    summary = summarise(corpus, patterns, topics)
    return Result(engine="offline", interviews=len(corpus.interviews), summary=summary,
                  patterns=patterns, topics=topics, missing_knowledge=questions)


class _Analysis:
    def __init__(self, corpus: Corpus):
        self.corpus = corpus
        self.n = max(len(corpus.interviews), 1)
        self.passages = {p.turn_id: p for p in corpus.passages}
        self.sents: list[Sentence] = [s for p in corpus.passages if not p.asked_back
                                      for s in sentences(p.turn_id, p.interview_id, p.topic,
                                                         p.text)]
        self.interview_of = np.array([s.interview_id for s in self.sents], dtype=np.int64)
        self.topic_of = np.array([s.topic or "" for s in self.sents], dtype=object)
        self.sentiment = np.full(len(self.sents), np.nan)  # VADER, as a pattern needs it
        self.signals = [signals_in(s.text) for s in self.sents]
        self.vectorizer, self.matrix = _tfidf([s.text for s in self.sents])
        self.rows: dict[str, np.ndarray] = {}  # each pattern's sentences

    def vader(self, rows) -> float | None:
        """Mean VADER compound of the sentences ``rows``, scoring each once, when asked:
        the sentences no pattern or summary needs are never scored."""
        rows = np.asarray(rows, dtype=np.int64)
        if not len(rows):
            return None
        missing = rows[np.isnan(self.sentiment[rows])]
        analyser = _analyzer()
        for i in np.unique(missing):
            self.sentiment[i] = analyser.polarity_scores(self.sents[i].text)["compound"]
        return round(float(self.sentiment[rows].mean()), 4)

    # ---- patterns ----------------------------------------------------------------------------

    def signal_patterns(self) -> list[Pattern]:
        rows: dict[str, list[int]] = defaultdict(list)
        for i, found in enumerate(self.signals):
            for key in found:
                rows[key].append(i)
        return [self._pattern(f"signal:{key}", SIGNAL_LABELS[key], "signal", rows[key],
                              signal=key)
                for key in SIGNAL_LABELS if rows.get(key)]

    def discovered_patterns(self) -> list[Pattern]:
        """Themes in the sentences no signal claimed, from the words that recur together:
        two words are linked when they share sentences well beyond chance (NPMI ≥
        ``LINKED``, in at least ``MIN_SHARED`` sentences), and a theme is a connected group
        of linked words ("parking", "garage", "office"), not the words everyone uses. A
        sentence belongs to a theme when it uses two of its words, or one that is almost
        never used without another ("parking" alone yes; "office", said of many things,
        not alone)."""
        free = [i for i, found in enumerate(self.signals) if not found]
        if len(free) < 20:
            return []
        counts = CountVectorizer(stop_words=STOP, binary=True, token_pattern=TOKEN,
                                 min_df=MIN_SHARED)
        try:
            B = counts.fit_transform([self.sents[i].text for i in free]).tocsc()
        except ValueError:  # no word recurs
            return []
        B = B.astype(np.float32)
        vocabulary = counts.get_feature_names_out()
        groups = linked_words(B)
        out = []
        for group in groups:
            used = B[:, group].toarray()
            shared = used.sum(axis=1) >= 2
            df = used.sum(axis=0)
            alone = (used[shared].sum(axis=0) >= PURE * df)  # words seldom used without
            members = np.flatnonzero(shared | used[:, alone].any(axis=1))
            if not len(members):
                continue
            order = np.argsort(-used[members].sum(axis=0))  # most used first
            labels = [str(vocabulary[group[j]]) for j in order[:TERMS]]
            pattern = self._pattern(f"theme:{'-'.join(labels[:2])}", words.theme_label(labels),
                                    "discovered", [free[r] for r in members], terms=labels)
            if pattern.participants >= max(2, MIN_THEME_SHARE * self.n):
                out.append(pattern)
        return _distinct_ids(out)

    def _pattern(self, pid: str, label: str, kind: str, rows: list[int], *,
                 signal: str | None = None, terms: list[str] | None = None) -> Pattern:
        interviews = sorted({self.sents[i].interview_id for i in rows})
        groups = Counter(self.corpus.groups.get(i) or words.NO_GROUP for i in interviews)
        self.rows[pid] = np.asarray(rows, dtype=np.int64)
        return Pattern(
            id=pid, label=label, kind=kind, signal=signal, participants=len(interviews),
            share=round(len(interviews) / self.n, 4), sentiment=self.vader(rows),
            terms=terms or [], quotes=self.quotes(rows),
            groups=[Group(value=v, participants=c) for v, c in groups.most_common()],
            interview_ids=interviews)

    # ---- topics ------------------------------------------------------------------------------

    def topic_analyses(self, patterns: list[Pattern]) -> list[TopicAnalysis]:
        """Each topic: its answers' tone (the turns' own sentiment, scored when said), the
        patterns its sentences fall in, and its most representative sentences."""
        turn_sentiment: dict[str, list[float]] = defaultdict(list)
        for p in self.corpus.passages:
            if p.topic and not p.asked_back and p.sentiment is not None:
                turn_sentiment[p.topic].append(p.sentiment)
        labels = {p.id: p.label for p in patterns}
        out = []
        for key, label in self.corpus.topics:
            in_topic = self.topic_of == key
            rows = np.flatnonzero(in_topic)
            if not len(rows):
                continue
            interviews = np.unique(self.interview_of[rows])
            scores = turn_sentiment.get(key)
            sentiment = round(fmean(scores), 4) if scores else self.vader(rows)
            # sub-themes: the patterns whose sentences in this topic come from most people
            counts = Counter()
            for p in patterns:
                mine = self.rows[p.id]
                inside = np.unique(self.interview_of[mine[in_topic[mine]]])
                if len(inside):
                    counts[p.id] = len(inside)
            subs = [SubTheme(label=labels[pid], participants=c, pattern_id=pid)
                    for pid, c in counts.most_common(5)]
            quotes = self.quotes(rows.tolist())
            out.append(TopicAnalysis(
                topic=key, label=label, participants=len(interviews),
                summary=words.topic_summary(label, len(interviews), sentiment,
                                            [(s.label, s.participants) for s in subs]),
                sentiment=sentiment, sub_themes=subs, quotes=quotes))
        return out

    # ---- quotes and the summary --------------------------------------------------------------

    def quotes(self, rows: list[int], limit: int = QUOTES) -> list[Quote]:
        """The sentences nearest the rows' TF-IDF centroid, one per interview."""
        if not rows:
            return []
        if self.matrix is not None:
            X = self.matrix[rows]
            centroid = np.asarray(X.mean(axis=0)).ravel()
            order = np.argsort(-(X @ centroid))
        else:
            order = np.arange(len(rows))
        out, seen = [], set()
        for j in order:
            s = self.sents[rows[int(j)]]
            if s.interview_id in seen or s.text in seen:  # other people, other words
                continue
            seen.update((s.interview_id, s.text))
            out.append(self.quote(s.turn_id, s.text))
            if len(out) == limit:
                break
        return out

    def quote(self, turn_id: int, text: str) -> Quote:
        passage = self.passages[turn_id]
        person = self.corpus.people.get(passage.interview_id)
        return Quote(turn_id=turn_id, text=text,
                     interview_id=None if self.corpus.aggregated else passage.interview_id,
                     person=person if not self.corpus.aggregated else None)


# ---- for another engine ---------------------------------------------------------------------

def batch_analysis(corpus: Corpus) -> tuple[list[tuple[Pattern, set[int]]], dict[str, list[Quote]]]:
    """(each pattern with the turns it appears in, each topic's representative quotes): the
    part of an analysis another engine merges with its own (the LLM engine, for a batch of
    passages its model could not analyse)."""
    analysis = _Analysis(corpus)
    patterns = analysis.signal_patterns() + analysis.discovered_patterns()
    found = [(p, {analysis.sents[i].turn_id for i in analysis.rows[p.id]}) for p in patterns]
    quotes = {key: analysis.quotes(np.flatnonzero(analysis.topic_of == key).tolist(), limit=2)
              for key, _ in corpus.topics}
    return found, quotes


# ---- the summary ----------------------------------------------------------------------------

def tone_figures(corpus: Corpus) -> tuple[float | None, dict[str, int]]:
    """(the mean of each interview's mean turn sentiment, how many interviews were positive,
    neutral and negative): the summary's figures, whatever engine wrote its words."""
    per_interview: dict[int, list[float]] = defaultdict(list)
    for p in corpus.passages:
        if not p.asked_back and p.sentiment is not None:
            per_interview[p.interview_id].append(p.sentiment)
    means = [fmean(v) for v in per_interview.values()]
    distribution = {"positive": sum(m >= 0.05 for m in means),
                    "neutral": sum(-0.05 < m < 0.05 for m in means),
                    "negative": sum(m <= -0.05 for m in means)}
    return (round(fmean(means), 4) if means else None), distribution


def summarise(corpus: Corpus, patterns: list[Pattern], topics: list[TopicAnalysis]) -> Summary:
    """The extractive summary of any engine's patterns and topics (the LLM engine's too,
    when its summary step fails)."""
    overall, distribution = tone_figures(corpus)
    top = patterns[:5]
    worst = min(topics, key=lambda t: t.sentiment if t.sentiment is not None else 1,
                default=None)
    key_quotes, seen = [], set()
    for p in top:
        for q in p.quotes[:1]:
            if q.turn_id not in seen:
                seen.add(q.turn_id)
                key_quotes.append(q)
    actions = [Action(text=words.action_for(p), pattern_id=p.id) for p in top[:4]]
    if worst is not None and worst.sentiment is not None and worst.sentiment < 0:
        actions.append(Action(text=words.topic_action(worst.label), topic=worst.topic))
    return Summary(
        health=words.health(len(corpus.interviews), overall, distribution,
                            [(p.label, p.participants) for p in top[:3]],
                            worst.label if worst is not None and worst.sentiment is not None
                            and worst.sentiment < 0 else None),
        sentiment=overall, sentiment_distribution=distribution,
        key_quotes=key_quotes[:5], actions=actions[:5])


# ---- missing knowledge ----------------------------------------------------------------------

def missing_knowledge(corpus: Corpus) -> list[Question]:
    """The questions people asked back, grouped by what they ask (``question_groups``),
    each with how many people asked it and their words."""
    out = []
    for members in question_groups([p for p in corpus.passages if p.asked_back]):
        people = {p.interview_id for p in members}
        quotes = []
        seen = set()
        for p in members:
            if p.interview_id in seen:
                continue
            seen.add(p.interview_id)
            quotes.append(Quote(turn_id=p.turn_id, text=p.text,
                                interview_id=None if corpus.aggregated else p.interview_id,
                                person=None if corpus.aggregated
                                else corpus.people.get(p.interview_id)))
        out.append(Question(question=members[0].text, participants=len(people),
                            quotes=quotes[:3]))
    out.sort(key=lambda q: -q.participants)
    return out


def question_groups(asked: list[Passage]) -> list[list[Passage]]:
    """Questions grouped by what they ask: TF-IDF cosine to a group's centroid."""
    if not asked:
        return []
    _, X = _tfidf([p.text for p in asked], min_df=1, max_df=1.0)
    groups: list[list[int]] = []
    centroids: list[np.ndarray] = []
    for i in range(len(asked)):
        row = X[i].toarray().ravel() if X is not None else None
        best, score = -1, 0.0
        if row is not None and row.any():
            for g, c in enumerate(centroids):
                sim = float(row @ c / (np.linalg.norm(c) or 1))
                if sim > score:
                    best, score = g, sim
        if best >= 0 and score >= QUESTION_SIMILARITY:
            groups[best].append(i)
            centroids[best] = centroids[best] + row
        else:
            groups.append([i])
            centroids.append(row if row is not None else np.zeros(1))
    return [[asked[i] for i in members] for members in groups]


# ---- helpers --------------------------------------------------------------------------------

def _tfidf(texts: list[str], *, min_df: int | None = None, max_df: float | None = None):
    """(vectorizer, L2-normalised matrix), fitted on a sample; (None, None) if there is no
    vocabulary (too few or too short texts)."""
    if not texts:
        return None, None
    sample = _sample(len(texts), FIT_SAMPLE)
    vectorizer = TfidfVectorizer(
        stop_words=STOP, ngram_range=(1, 2), sublinear_tf=True, max_features=5000,
        min_df=min_df if min_df is not None else max(2, min(5, len(sample) // 500)),
        max_df=max_df or (0.5 if len(sample) >= 20 else 1.0), token_pattern=TOKEN)
    try:
        vectorizer.fit([texts[i] for i in sample])
    except ValueError:  # empty vocabulary
        return None, None
    return vectorizer, normalize(vectorizer.transform(texts))


def linked_words(B) -> list[list[int]]:
    """Themes' words from the binary sentence × word matrix ``B``: two words are linked
    when they share at least ``MIN_SHARED`` sentences at NPMI ≥ ``LINKED``. The most used
    linked word not yet in a theme seeds one, with the words linked to it (not words linked
    only to those: chains of links would join "new office" parking to "new project"
    documentation through "new"). A word may be in several themes; only seeds are not."""
    n = B.shape[0]
    co = (B.T @ B).tocoo()
    df = np.asarray(B.sum(axis=0)).ravel()
    keep = (co.row != co.col) & (co.data >= MIN_SHARED)
    rows, cols, joint = co.row[keep], co.col[keep], co.data[keep] / n
    npmi = np.log(joint / (df[rows] / n * df[cols] / n)) / -np.log(joint)
    neighbours: dict[int, list[tuple[float, int]]] = defaultdict(list)
    for a, b, strength in zip(rows[npmi >= LINKED], cols[npmi >= LINKED],
                              npmi[npmi >= LINKED], strict=True):
        neighbours[int(a)].append((float(strength), int(b)))
    covered: set[int] = set()
    groups = []
    for seed in sorted(neighbours, key=lambda w: -df[w]):
        if seed in covered:
            continue
        linked = [w for _, w in sorted(neighbours[seed], reverse=True)][:MAX_GROUP - 1]
        covered.update([seed, *linked])
        groups.append([seed, *linked])
    return groups


def _sample(n: int, size: int) -> list[int]:
    if n <= size:
        return list(range(n))
    return sorted(random.Random(0).sample(range(n), size))


def _distinct_ids(patterns: list[Pattern]) -> list[Pattern]:
    seen: Counter = Counter()
    for p in patterns:
        seen[p.id] += 1
        if seen[p.id] > 1:
            p.id = f"{p.id}-{seen[p.id]}"
    return patterns
