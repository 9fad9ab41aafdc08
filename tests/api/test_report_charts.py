"""The review's charts: each drawn as PNG and SVG, in Arabic and English, in the packaged Arabic font."""

import copy
import io

import pytest
from matplotlib import font_manager
from PIL import Image

from api.service import report_charts
from api.service.reports import EXAMPLE_SUMMARY, ReportSummary


def _report(**changes) -> ReportSummary:
    example = copy.deepcopy(EXAMPLE_SUMMARY)
    example.update(changes)
    return ReportSummary(**example)


@pytest.mark.parametrize("language", ["ar", "en"])
def test_every_chart_is_drawn_as_png_and_svg(language):
    report = _report(received_by_week=[{"week": "2026-11-01", "kind": "complaint", "cases": 12},
                                       {"week": "2026-11-08", "kind": "report", "cases": 3}])
    by_department = _report(group_by="department", groups=[
        EXAMPLE_SUMMARY["groups"][0], {"group": "HR", "figures": EXAMPLE_SUMMARY["groups"][1]["figures"]}])
    names = {"HR": ("المديرية العامة للموارد البشرية", "Directorate General of Human Resources")}
    pngs = report_charts.every_chart(report, by_department, names, language, "png")
    svgs = report_charts.every_chart(report, by_department, names, language, "svg")
    assert set(pngs) == set(svgs) == set(report_charts.TITLES)
    for name, png in pngs.items():
        image = Image.open(io.BytesIO(png))
        assert image.format == "PNG" and image.width > 600, name
        assert len(set(image.convert("L").getdata())) > 5, name
        assert svgs[name].startswith(b"<?xml") and b"<svg" in svgs[name], name


def test_the_arabic_font_is_the_packaged_one_not_a_fallback():
    family = report_charts.font_family()
    found = font_manager.findfont(font_manager.FontProperties(family=family[0]), fallback_to_default=False)
    assert "fontpkg_noto_sans_arabic" in found


def test_an_unknown_format_is_refused():
    with pytest.raises(ValueError):
        report_charts.ratings(_report(), "ar", "gif")
