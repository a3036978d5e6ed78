"""Facts the notifications app owns."""

from django.dispatch import Signal

# After commit, with `notification_ids`: new notifications were written.
notifications_created = Signal()

# After commit, with `user_ids`: these users read their notifications.
notifications_read = Signal()
