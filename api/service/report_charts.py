"""The periodic review's charts, drawn on the server with matplotlib as PNG or SVG, in Arabic or English.

matplotlib 3.11 lays out Arabic itself (shaping and right-to-left runs): the labels go in as they are
written, never through a reshaper. The Arabic font is Noto Sans Arabic (the console's), from the PyPI package
`fontpkg-noto-sans-arabic`, so nothing is looked up on the machine or loaded from a network; Latin letters and
digits fall back to matplotlib's own DejaVu Sans.
"""

import io
from collections import defaultdict
from functools import cache

import fontpkg_noto_sans_arabic
import matplotlib

matplotlib.use("agg")

from matplotlib import font_manager  # noqa: E402 (after the back end is chosen)
from matplotlib.figure import Figure  # noqa: E402

from api.service.reports import GROUND_LABELS, ReportSummary  # noqa: E402

FORMATS = ("png", "svg")
KIND_LABELS = {"complaint": ("شكاوى", "complaints"), "report": ("بلاغات", "reports"),
               "suggestion": ("اقتراحات", "suggestions")}
TITLES = {
    "cases_per_week": ("الحالات المستلمة أسبوعياً حسب النوع", "Cases received per week, by kind"),
    "on_time_by_department": ("نسبة رد الجهات في الموعد", "Share of department replies on time"),
    "answer_days": ("أيام العمل حتى الرد على مقدم الطلب", "Working days to the answer"),
    "rejections": ("أسباب الرفض", "Rejection grounds"),
    "ratings": ("تقييمات مقدمي الطلبات", "Submitters' ratings"),
}
AXES = {"cases": ("عدد الحالات", "cases"), "share": ("النسبة", "share"), "days": ("أيام العمل", "working days"),
        "score": ("الدرجة", "score"), "week": ("الأسبوع", "week")}


@cache
def font_family() -> tuple[str, ...]:
    """The families every label is set in: the packaged Arabic font first, then matplotlib's own."""
    for path in sorted((fontpkg_noto_sans_arabic.ROOT / "files").glob("*.ttf")):
        font_manager.fontManager.addfont(str(path))
    return (fontpkg_noto_sans_arabic.FAMILY, "DejaVu Sans")


def _word(pair: tuple[str, str], language: str) -> str:
    return pair[0] if language == "ar" else pair[1]


def _figure(name: str, language: str) -> tuple[Figure, object]:
    figure = Figure(figsize=(7, 3.6), layout="constrained")
    axes = figure.subplots()
    axes.set_title(_word(TITLES[name], language), family=font_family(), fontsize=13)
    return figure, axes


def _label(axes, x: tuple[str, str] | None, y: tuple[str, str] | None, language: str) -> None:
    family = font_family()
    if x:
        axes.set_xlabel(_word(x, language), family=family)
    if y:
        axes.set_ylabel(_word(y, language), family=family)
    for tick in [*axes.get_xticklabels(), *axes.get_yticklabels()]:
        tick.set_family(family)


def _render(figure: Figure, format: str) -> bytes:
    if format not in FORMATS:
        raise ValueError(f"a chart is {' or '.join(FORMATS)}, not {format}")
    out = io.BytesIO()
    figure.savefig(out, format=format, dpi=110, metadata={"Software": None} if format == "png" else {"Date": None})
    return out.getvalue()


def cases_per_week(report: ReportSummary, language: str = "ar", format: str = "png") -> bytes:
    figure, axes = _figure("cases_per_week", language)
    weeks = sorted({count.week for count in report.received_by_week})
    by_kind: dict[str, dict] = defaultdict(dict)
    for count in report.received_by_week:
        by_kind[count.kind][count.week] = count.cases
    bottom = [0] * len(weeks)
    labels = [week.isoformat() for week in weeks]
    for kind, label in KIND_LABELS.items():
        values = [by_kind[kind].get(week, 0) for week in weeks]
        axes.bar(labels, values, bottom=bottom, label=_word(label, language))
        bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    axes.legend(prop={"family": font_family()})
    _label(axes, AXES["week"], AXES["cases"], language)
    return _render(figure, format)


def on_time_by_department(report: ReportSummary, names: dict[str, tuple[str, str]] | None = None,
                          language: str = "ar", format: str = "png") -> bytes:
    """From a report split by department: each department's share of replies on time."""
    figure, axes = _figure("on_time_by_department", language)
    groups = [group for group in report.groups[1:] if group.figures.department_on_time_share.value is not None]
    labels = [_word((names or {}).get(group.group or "", (group.group or "-",) * 2), language) for group in groups]
    axes.barh(labels, [group.figures.department_on_time_share.value for group in groups], color="#2a7f62")
    axes.set_xlim(0, 1)
    _label(axes, AXES["share"], None, language)
    return _render(figure, format)


def answer_days(report: ReportSummary, language: str = "ar", format: str = "png") -> bytes:
    figure, axes = _figure("answer_days", language)
    buckets = [bucket for bucket in report.answer_working_days if bucket.working_days is not None]
    axes.bar([str(bucket.working_days) for bucket in buckets], [bucket.cases for bucket in buckets], color="#3b6ea8")
    _label(axes, AXES["days"], AXES["cases"], language)
    return _render(figure, format)


def rejections(report: ReportSummary, language: str = "ar", format: str = "png") -> bytes:
    figure, axes = _figure("rejections", language)
    figures = report.groups[0].figures
    labels = [_word(label, language) for label in GROUND_LABELS.values()]
    values = [getattr(figures, f"rejected_{ground}").value or 0 for ground in GROUND_LABELS]
    axes.barh(labels, values, color="#a8483b")
    _label(axes, AXES["cases"], None, language)
    return _render(figure, format)


def ratings(report: ReportSummary, language: str = "ar", format: str = "png") -> bytes:
    figure, axes = _figure("ratings", language)
    figures = report.groups[0].figures
    scores = [str(score) for score in range(1, 6)]
    axes.bar(scores, [getattr(figures, f"rating_{score}").value or 0 for score in range(1, 6)], color="#c99a2e")
    _label(axes, AXES["score"], AXES["cases"], language)
    return _render(figure, format)


def every_chart(report: ReportSummary, by_department: ReportSummary, names: dict[str, tuple[str, str]] | None = None,
                language: str = "ar", format: str = "png") -> dict[str, bytes]:
    """The five charts of the review, by name (the keys of TITLES)."""
    return {
        "cases_per_week": cases_per_week(report, language, format),
        "on_time_by_department": on_time_by_department(by_department, names, language, format),
        "answer_days": answer_days(report, language, format),
        "rejections": rejections(report, language, format),
        "ratings": ratings(report, language, format),
    }
