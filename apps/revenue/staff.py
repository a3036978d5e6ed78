"""Staff pages of the revenue app (staff signed in with a second factor)."""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from apps.users.mfa import staff_required

from .reports import RangeForm, extra_sections, revenue_report


@staff_required
@require_GET
def revenue(request: HttpRequest) -> HttpResponse:
    """Commission, markup and the house's result per day and realm, top partners, and other apps' sections."""
    form = RangeForm(request.GET)  # empty: the last 30 days
    report, sections = None, []
    if form.is_valid():
        dates = {"date_from": form.cleaned_data["date_from"], "date_to": form.cleaned_data["date_to"]}
        report = revenue_report(**dates)
        sections = extra_sections(**dates)
    return render(
        request,
        "revenue/staff_revenue.html",
        {"form": form, "report": report, "sections": sections, "series": report.chart_series() if report else {}},
    )
