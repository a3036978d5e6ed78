from django.template.loader import render_to_string

from . import selectors


def bell_fragment(user) -> str:
    return render_to_string("notifications/_bell.html", selectors.bell(user=user))


def toasts_fragment(notifications) -> str:
    """One toast per new notification."""
    return render_to_string("notifications/_toast.html", {"notifications": notifications})
