"""Server-side SVG charts: the figures are right, labels are escaped, and each chart has
its text alternative."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from web.dashboard import charts


def _svg(chart):
    return ET.fromstring(str(chart.svg))


def test_bars_scale_to_the_total_and_escape_labels():
    chart = charts.bars("Completed by topic", [("Growth <script>", 10), ("Pay", 5)], total=10)
    root = _svg(chart)  # well-formed XML: the label was escaped
    widths = [float(r.get("width")) for r in root.iter("rect") if r.get("class") == "chart__bar"]
    assert widths[0] == 2 * widths[1]
    assert "<script>" not in str(chart.svg) and "&lt;script&gt;" in str(chart.svg)
    assert chart.rows == [("Growth <script>", "10"), ("Pay", "5")]
    assert "Growth <script>: 10" in chart.summary


def test_stacked_parts_fill_the_width_in_proportion():
    chart = charts.stacked("Rollout", [("sent", 3, "sent"), ("failed", 1, "failed"),
                                       ("pending", 0, "pending")])
    parts = re.findall(r'class="chart__part chart__part--(\w+)" x="[\d.]+" y="0" '
                       r'width="([\d.]+)"', str(chart.svg))
    assert [(k, float(w)) for k, w in parts] == [("sent", 480.0), ("failed", 160.0)]
    assert chart.summary == "sent: 3; failed: 1; pending: 0"


def test_a_line_has_a_point_per_day_and_says_what_it_shows():
    chart = charts.line("Meetings", [("Nov 1", 2), ("Nov 2", 4), ("Nov 3", 0)])
    root = _svg(chart)
    assert len(list(root.iter("circle"))) == 3
    assert chart.summary == "from 2 on Nov 1 to 0 on Nov 3, highest 4"
    assert root.get("role") == "img" and root.get("aria-labelledby")


def test_empty_charts_say_so():
    assert charts.line("Meetings", []).summary == "no data"
    assert charts.bars("Topics", []).summary == "no data"


def test_stacked_rows_split_each_row_by_its_own_total_and_escape_labels():
    chart = charts.stacked_rows("Sentiment", [
        ("Nov 2 <b>", [("Positive", 3, "positive"), ("Negative", 1, "negative")]),
        ("Nov 3", [("Positive", 0, "positive"), ("Negative", 2, "negative")])])
    root = _svg(chart)  # well-formed: the label was escaped
    parts = [(r.get("class").rsplit("--", 1)[1], float(r.get("width")))
             for r in root.iter("rect")
             if "chart__part" in (r.get("class") or "") and r.get("height") == "18"]
    assert parts == [("positive", 322.5), ("negative", 107.5), ("negative", 430.0)]
    assert "<b>" not in str(chart.svg) and "&lt;b&gt;" in str(chart.svg)
    assert chart.columns == ("", "Positive", "Negative")
    assert chart.rows == [("Nov 2 <b>", "3", "1"), ("Nov 3", "0", "2")]
    assert chart.summary == "Nov 2 <b>: 3 positive, 1 negative; Nov 3: 0 positive, 2 negative"
    assert charts.stacked_rows("Sentiment", []).summary == "no data"


def test_a_phone_gets_the_chart_drawn_at_its_width_with_labels_above_the_bars():
    """Scaled down from 640 to a phone, a chart's text would be 7 px: charts with text are
    drawn again at NARROW, the same bars, each label on its own line."""
    for chart in (charts.bars("Topics", [("Growth", 10), ("Pay", 5)]),
                  charts.stacked_rows("Sentiment", [("Nov 2", [("Positive", 3, "positive")])]),
                  charts.line("Meetings", [("Nov 1", 2), ("Nov 2", 4)])):
        wide, narrow = _svg(chart), ET.fromstring(str(chart.narrow))
        assert wide.get("class") == "chart chart--wide", chart.title
        assert narrow.get("class") == "chart chart--narrow"
        assert narrow.get("viewBox").split()[2] == str(charts.NARROW)
        assert narrow.findtext("title") == chart.title
    narrow = ET.fromstring(str(charts.bars("Topics", [("Growth", 10), ("Pay", 5)]).narrow))
    labels = [t for t in narrow.iter("text") if t.get("class") == "chart__label"]
    bars = [r for r in narrow.iter("rect") if r.get("class") == "chart__bar"]
    assert [(t.text, t.get("x"), t.get("text-anchor")) for t in labels] == [
        ("Growth", "0", "start"), ("Pay", "0", "start")]
    assert all(float(t.get("y")) < float(b.get("y")) for t, b in zip(labels, bars, strict=True))
    assert float(bars[0].get("width")) == 2 * float(bars[1].get("width"))
    assert charts.stacked("Rollout", [("sent", 1, "sent")]).narrow is None  # no text in it


def test_a_trend_leaves_room_for_its_largest_figure():
    root = _svg(charts.line("Messages", [("Nov 1", 2), ("Nov 2", 123456)]))
    top = next(t for t in root.iter("text") if t.text == "123,456")
    assert float(top.get("x")) >= 7 * len("123,456")  # its digits end there (text-anchor end)
    axis = next(root.iter("line"))
    assert float(axis.get("x1")) > float(top.get("x"))
