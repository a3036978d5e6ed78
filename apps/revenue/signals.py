"""The one question the revenue app asks other apps."""

from django.dispatch import Signal

# Sent synchronously while the staff revenue page is built, with `date_from` and `date_to`
# (inclusive dates): an app with figures of its own for those days (Deriv's app markup) returns
# a `apps.revenue.reports.Section`, or None.
revenue_report_requested = Signal()
