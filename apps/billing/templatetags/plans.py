"""The Upgrade link a plan refusal shows beside its message: `{% upgrade_link form.non_field_errors %}`.

It takes a form's error list (or a Plan, or a plan code) and links to the pricing page with the plan
that allows what was refused highlighted; nothing when no error is a plan refusal.
"""

from django import template

from ..entitlements import refused_plan, upgrade_url

register = template.Library()


@register.inclusion_tag("billing/_upgrade.html")
def upgrade_link(what):
    plan = refused_plan(what)
    return {"plan": plan, "url": upgrade_url(plan) if plan else ""}
