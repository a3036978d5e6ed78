"""Facts the notifications app owns."""

from django.dispatch import Signal

# After commit, with `notification_ids`: new notifications were written.
notifications_created = Signal()

# After commit, with `user_ids`: these users read their notifications.
notifications_read = Signal()

# Sent synchronously while the daily summaries are built, with `user_ids` and `start`, `end` (the aware
# datetimes bounding the traders' day): an app with lines of its own for the summary (bots' status)
# returns {user id: [line, ...]}.
digest_sections_requested = Signal()
