"""The billing page's live part: the plan in force and the subscription's state, pushed when the plan changes."""

from django.template.loader import render_to_string

from .selectors import billing_summary


def billing_fragment(user, *, activated: bool = False) -> str:
    """The plan block, swapped in by id; `activated` also clears the page's "Activating your plan…" line."""
    return render_to_string(
        "billing/_plan.html", {"summary": billing_summary(user), "oob": True, "activated": activated}
    )
