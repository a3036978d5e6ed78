from django.template.loader import render_to_string

from .selectors import unread_count


def bell_fragment(user) -> str:
    return render_to_string("notifications/_bell.html", {"unread_notifications": unread_count(user=user)})
