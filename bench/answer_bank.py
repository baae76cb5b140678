"""A seeded bank of stay-interview answers with planted themes, for the insights benchmark
and tests: each synthetic interview answers the Stay Interview's topics with neutral
sentences, and a known share of interviews carry a planted theme (burnout 30 %, pay 15 %,
flight risk 10 %, and two that no lexicon knows: office parking 20 %, outdated
documentation 12 %), plus negated look-alikes ("I am not looking for another job") that
must not count, and questions asked back for "missing knowledge"."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

TOPICS = ["what-keeps-you", "what-might-lure-you-away", "recognition", "growth",
          "manager-support", "workload-wellbeing", "what-to-change"]

# Neutral answers are built from slots, as people word the same things differently: no
# sentence repeats often enough to pass for a theme, as in real interviews.
SUBJECTS = ["the team", "my squad", "our group", "the product area", "the people here",
            "our customers", "the roadmap", "the codebase", "our office", "the company",
            "the sprint", "our planning", "the retro", "the quarter", "our launch",
            "the support rota", "the design review", "our standup", "the hiring plan",
            "the budget", "our tooling", "the migration", "the new feature", "our backlog"]
VERBS = ["feels", "seems", "looks", "has been", "stays", "turned out", "keeps being",
         "is mostly", "was", "became", "remains", "is usually"]
ADJECTIVES = ["friendly", "interesting", "calm", "predictable", "solid", "fine", "decent",
              "organised", "clear", "steady", "sensible", "helpful", "focused", "busy",
              "quiet", "lively", "practical", "okay", "reasonable", "thoughtful"]
TAILS = ["this month", "lately", "most days", "in general", "for now", "so far",
         "this year", "since the summer", "at the moment", "overall", "on balance",
         "compared to last year", "for the most part", "these days"]


def neutral(rng: random.Random) -> str:
    return (f"{rng.choice(SUBJECTS).capitalize()} {rng.choice(VERBS)} "
            f"{rng.choice(ADJECTIVES)} {rng.choice(TAILS)}.")


PLANTED = {  # theme → (share of interviews, topic it is said in, sentences)
    "burnout": (0.30, "workload-wellbeing", [
        "Honestly I am exhausted most weeks.",
        "The on-call rotation means I work most weekends.",
        "I feel stretched thin with three projects at once.",
        "Late nights before every release are wearing me down and I am overwhelmed."]),
    "pay_recognition": (0.15, "recognition", [
        "I am underpaid compared to the market.",
        "My salary has not moved in two years.",
        "The bonus this year felt like an insult."]),
    "flight_risk": (0.10, "what-might-lure-you-away", [
        "A recruiter reached out last week and I took the call.",
        "If nothing changes I will probably leave this year.",
        "I have been looking for a new job since the spring."]),
    "parking": (0.20, "what-to-change", [
        "The parking at the new office is a daily fight.",
        "Finding parking near the office takes twenty minutes every morning.",
        "The office parking garage is always full by nine."]),
    "documentation": (0.12, "what-to-change", [
        "Our internal documentation is outdated and hard to search.",
        "The wiki documentation is a mess and nobody updates it.",
        "Outdated documentation slows every new project down."]),
}
NEGATED = {  # look-alikes that must not count, with the share of the others they go to
    "flight_risk": (0.15, "what-might-lure-you-away",
                    "I am not looking for another job right now."),
    "burnout": (0.10, "workload-wellbeing", "I don't feel burned out at all."),
}
QUESTIONS = [(0.05, "When will the new bonus scheme be announced?"),
             (0.04, "Is the reorganisation going to affect my team?")]
DEPARTMENTS = ["Engineering", "Sales", "Support", "Marketing", "Finance", "People Team"]


@dataclass
class Synthetic:
    answers: list[tuple[str, str, bool]]  # (topic, text, asked back)
    department: str
    themes: set[str] = field(default_factory=set)


def generate(n: int, seed: int = 7) -> tuple[list[Synthetic], dict[str, int]]:
    """``n`` interviews and the true number of interviews carrying each planted theme."""
    rng = random.Random(seed)
    out, truth = [], {k: 0 for k in PLANTED}
    for _ in range(n):
        themes = {k for k, (share, _, _) in PLANTED.items() if rng.random() < share}
        answers = []
        for topic in TOPICS:
            said = [neutral(rng), neutral(rng)]
            for theme in sorted(themes):
                share, where, lines = PLANTED[theme]
                if where == topic:
                    said.insert(rng.randrange(len(said) + 1), rng.choice(lines))
            for theme, (share, where, line) in NEGATED.items():
                if where == topic and theme not in themes and rng.random() < share:
                    said.append(line)
            answers.append((topic, " ".join(said), False))
        for share, question in QUESTIONS:
            if rng.random() < share:
                answers.append(("what-to-change", question, True))
        for theme in themes:
            truth[theme] += 1
        out.append(Synthetic(answers, rng.choice(DEPARTMENTS), themes))
    return out, truth
