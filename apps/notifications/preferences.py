"""Writing a trader's notification preferences: from the settings page, or an email's unsubscribe link."""

from django.core.exceptions import ValidationError
from django.db import transaction

from apps.audit.services import audit_log

from .models import Channel, NotificationPreferences, Topic

EDITABLE = [t.value for t in Topic]


def preferences_get(user) -> NotificationPreferences:
    """The trader's preferences (the defaults, unsaved, when they never changed any)."""
    return NotificationPreferences.objects.filter(user=user).first() or NotificationPreferences(user=user)


@transaction.atomic
def preferences_save(*, user, channels: dict[str, str], low_balance_threshold=None, request=None):
    """Store the trader's choice per topic and the low-balance threshold; audited old → new.

    Security can be lowered to in-app, never turned off.
    """
    if channels.get(Topic.SECURITY) == Channel.OFF:
        raise ValidationError({Topic.SECURITY: "Security notices cannot be turned off; choose in the app at least."})
    prefs, _ = NotificationPreferences.objects.select_for_update().get_or_create(user=user)
    changes = {}
    for topic in EDITABLE:
        new = channels.get(topic, getattr(prefs, topic))
        if new not in Channel.values:
            raise ValidationError({topic: "Choose one of the options."})
        if new != getattr(prefs, topic):
            changes[topic] = [getattr(prefs, topic), new]
            setattr(prefs, topic, new)
    if low_balance_threshold != prefs.low_balance_threshold:
        old = prefs.low_balance_threshold
        changes["low_balance_threshold"] = [str(old) if old is not None else None, str(low_balance_threshold)]
        prefs.low_balance_threshold = low_balance_threshold
    if changes:
        prefs.save()
        audit_log(actor=user, action="notifications.preferences", target=user, request=request, data=changes)
    return prefs


# An email's unsubscribe turns off that email: the daily summary entirely, any other topic stays in the app.
UNSUBSCRIBED = {Topic.DAILY_SUMMARY: Channel.OFF}


@transaction.atomic
def unsubscribe(*, user, topic: str, request=None) -> bool:
    """Stop emails of `topic` for `user` (the signed link's own); True when something changed."""
    if topic == Topic.SECURITY or topic not in Topic.values:
        raise ValueError(f"no unsubscribe from {topic!r}")
    prefs, _ = NotificationPreferences.objects.select_for_update().get_or_create(user=user)
    old, new = getattr(prefs, topic), UNSUBSCRIBED.get(topic, Channel.IN_APP)
    if old != Channel.EMAIL:
        return False
    setattr(prefs, topic, new)
    prefs.save(update_fields=[topic, "updated_at"])
    audit_log(actor=user, action="notifications.unsubscribe", target=user, request=request, data={topic: [old, new]})
    return True
