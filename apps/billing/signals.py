"""Facts the billing app owns."""

from django.dispatch import Signal

# After commit, with `user_id`, `old_plan` and `new_plan` (Plan codes): the plan in force for a
# user changed (a subscription applied from Stripe, a payment lapsed past its grace period, an
# admin's grant). Receivers stop what the new plan no longer allows and tell the user.
subscription_changed = Signal()
