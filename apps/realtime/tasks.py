"""Worker entry points for pushes: they take ids and render what the pages show."""

from .push import push_billing, push_notifications, push_user_state

__all__ = ["push_billing", "push_notifications", "push_user_state"]
