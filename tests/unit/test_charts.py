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
