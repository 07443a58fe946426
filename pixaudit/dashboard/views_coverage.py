"""Coverage pages: the window picker, the framework's controls × days matrix.

Thin: the figures come from ``pixaudit.posture.coverage`` (one definition for every page,
report and export), the charts from ``pixaudit.posture.heatmap``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, timedelta

from django import forms
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.safestring import mark_safe

from pixaudit.accounts.permissions import action_required
from pixaudit.audits.models import Engagement
from pixaudit.controls.models import Framework
from pixaudit.posture.coverage import framework_coverage
from pixaudit.posture.heatmap import matrix_svg

DEFAULT_DAYS = 90
MAX_DAYS = 731
SORTS = {
    "catalog": "Catalogue order",
    "coverage": "Coverage, lowest first",
    "-coverage": "Coverage, highest first",
}


class CoverageWindowForm(forms.Form):
    """A coverage window: an engagement's window, or chosen UTC days (both inclusive)."""

    engagement = forms.ModelChoiceField(
        queryset=Engagement.objects.none(), required=False, empty_label="Chosen dates"
    )
    start = forms.DateField(required=False, label="From", widget=forms.DateInput({"type": "date"}))
    end = forms.DateField(required=False, label="To", widget=forms.DateInput({"type": "date"}))

    def __init__(self, *args, framework: Framework, today: date, **kwargs):
        super().__init__(*args, prefix="cov", **kwargs)
        self.today = today
        self.fields["engagement"].queryset = Engagement.objects.filter(
            frameworks=framework
        ).order_by("-window_end", "name")

    def clean(self):
        data = super().clean()
        engagement = data.get("engagement")
        if engagement is not None:
            data["start"], data["end"] = engagement.window_start, engagement.window_end
            return data
        end = data.get("end") or self.today
        start = data.get("start") or end - timedelta(days=DEFAULT_DAYS - 1)
        if end > self.today:
            self.add_error("end", f"The window cannot end after today ({self.today:%Y-%m-%d}).")
        elif start > end:
            self.add_error("start", "The start date is after the end date.")
        elif (end - start).days + 1 > MAX_DAYS:
            self.add_error("start", f"Choose a window of at most {MAX_DAYS} days.")
        data["start"], data["end"] = start, end
        return data


@dataclass(frozen=True)
class Window:
    form: CoverageWindowForm
    start: date
    end: date
    note: str  # e.g. the engagement's name, or why the default was used


def coverage_window(request: HttpRequest, framework: Framework) -> Window:
    """The window asked for in ``request.GET`` (``cov-*``), else the last 90 days.

    An invalid choice keeps the form's errors for display and falls back to the default.
    """
    today = timezone.now().astimezone(UTC).date()
    default_start = today - timedelta(days=DEFAULT_DAYS - 1)
    if not any(key.startswith("cov-") for key in request.GET):
        form = CoverageWindowForm(framework=framework, today=today)
        return Window(form, default_start, today, f"the last {DEFAULT_DAYS} days")
    form = CoverageWindowForm(request.GET, framework=framework, today=today)
    if not form.is_valid():
        return Window(form, default_start, today, f"the last {DEFAULT_DAYS} days (default)")
    data = form.cleaned_data
    engagement = data.get("engagement")
    note = f"engagement “{engagement.name}”" if engagement else "the chosen dates"
    return Window(form, data["start"], data["end"], note)


def _sorted(controls, sort: str):
    if sort == "catalog":
        return list(controls)
    reverse = sort == "-coverage"
    # Controls with no in-scope day (all not applicable) go last either way.
    scoped = [c for c in controls if c.coverage_pct is not None]
    unscoped = [c for c in controls if c.coverage_pct is None]
    scoped.sort(key=lambda c: (c.coverage_pct, -c.days_failing), reverse=reverse)
    return scoped + unscoped


@action_required("posture.view")
def framework_coverage_page(request: HttpRequest, framework_key: str) -> HttpResponse:
    """Controls × days over a window, sortable by coverage."""
    framework = Framework.objects.filter(key=framework_key).first()
    if framework is None:
        raise Http404(f"No framework {framework_key}")
    window = coverage_window(request, framework)
    sort = request.GET.get("sort", "coverage")
    sort = sort if sort in SORTS else "coverage"
    coverage = framework_coverage(framework=framework, start=window.start, end=window.end)
    rows = _sorted(coverage.controls, sort)
    svg = matrix_svg(
        rows=[(c.control.ref, c.days) for c in rows],
        start=coverage.start,
        title=f"{framework.name}: coverage {coverage.start:%Y-%m-%d} to {coverage.end:%Y-%m-%d}",
    )
    query = request.GET.copy()
    query.pop("sort", None)
    context = {
        "framework": framework,
        "frameworks": list(Framework.objects.order_by("key")),
        "coverage": coverage,
        "rows": rows,
        "window": window,
        "sort": sort,
        "sorts": SORTS,
        "query": query.urlencode(),
        "matrix_svg": mark_safe(svg),  # every text in it is escaped (heatmap module)
    }
    return render(request, "dashboard/coverage.html", context)
