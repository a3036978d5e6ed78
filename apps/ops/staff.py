"""Staff pages of the ops app (staff signed in with a second factor)."""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from apps.revenue.reports import RangeForm
from apps.users.mfa import staff_required

from .analytics import analytics as analytics_for


@staff_required
@require_GET
def analytics(request: HttpRequest) -> HttpResponse:
    """Users, contracts and stakes, the house's result, bots, markets' exposure and the processes' health."""
    form = RangeForm(request.GET)  # empty: the last 30 days
    figures = None
    if form.is_valid():
        figures = analytics_for(form.cleaned_data["date_from"], form.cleaned_data["date_to"])
    return render(
        request,
        "ops/staff_analytics.html",
        {"form": form, "figures": figures, "series": figures.chart_series() if figures else {}},
    )
