from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from .entitlements import plan_in_force
from .selectors import billing_enabled, plans_compared


@require_GET
def pricing(request: HttpRequest) -> HttpResponse:
    """The plans side by side, for visitors and traders; `?plan=` highlights the one a refusal pointed to."""
    current = plan_in_force(request.user) if request.user.is_authenticated else None
    return render(
        request,
        "billing/pricing.html",
        {
            **plans_compared(),
            "current": current,
            "wanted": request.GET.get("plan", ""),
            "on_sale": billing_enabled(),
            "nav_section": "pricing",
        },
    )
