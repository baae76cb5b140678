"""The words of insights (STYLE.md 10): the health paragraph, topic summaries, recommended
actions. Figures in, sentences out; no participant text is ever rewritten here."""

from __future__ import annotations

from core.insights.schema import Pattern

NO_GROUP = "Not set"  # a participant without the group_by demographic

ACTIONS = {
    "flight_risk": "Flight-risk language came up in {n} interviews: ask managers of the "
                   "affected teams to hold stay conversations this month, and review pay and "
                   "growth for the roles it comes from.",
    "burnout": "Burnout signals in {n} interviews: review on-call load, hours and staffing "
               "with the teams it appears in, and make time off visible and expected.",
    "manager_relationship": "{n} people spoke about their manager: share the themes with "
                            "managers and make sure every report has a regular 1-on-1.",
    "growth": "Growth and career paths came up in {n} interviews: publish the career "
              "framework and schedule career conversations in 1-on-1s this quarter.",
    "pay_recognition": "Pay and recognition came up in {n} interviews: check pay bands "
                       "against the market and make recognition a standing item in team "
                       "meetings.",
}


def theme_label(terms: list[str]) -> str:
    return ", ".join(terms[:3]).capitalize()


def action_for(pattern: Pattern) -> str:
    if pattern.signal in ACTIONS:
        return ACTIONS[pattern.signal].format(n=pattern.participants)
    return (f"\"{pattern.label}\" came up in {pattern.participants} interviews without being "
            "asked about: explore it with the teams it comes from.")


def topic_action(label: str) -> str:
    return f"Answers on \"{label}\" were the most negative: follow up on it first."


def tone(sentiment: float | None) -> str:
    if sentiment is None:
        return "not measured"
    if sentiment >= 0.25:
        return "clearly positive"
    if sentiment >= 0.05:
        return "mostly positive"
    if sentiment > -0.05:
        return "mixed"
    if sentiment > -0.25:
        return "mostly negative"
    return "clearly negative"


def health(interviews: int, sentiment: float | None, distribution: dict[str, int],
           top: list[tuple[str, int]], worst_topic: str | None) -> str:
    total = max(sum(distribution.values()), 1)
    share = {k: round(100 * v / total) for k, v in distribution.items()}
    text = (f"{interviews} completed interviews; overall tone {tone(sentiment)} "
            f"({share.get('positive', 0)} % positive, {share.get('neutral', 0)} % neutral, "
            f"{share.get('negative', 0)} % negative).")
    if top:
        text += " Most common themes: " + "; ".join(f"{label} ({n})" for label, n in top) + "."
    if worst_topic:
        text += f" The most negative topic was \"{worst_topic}\"."
    return text


def topic_summary(label: str, participants: int, sentiment: float | None,
                  subs: list[tuple[str, int]]) -> str:
    text = f"{participants} people answered on {label}; the tone was {tone(sentiment)}."
    if subs:
        text += " Most mentioned: " + ", ".join(f"{s} ({n})" for s, n in subs[:3]) + "."
    return text
