from .push import push_notifications

__all__ = ["push_notifications"]
