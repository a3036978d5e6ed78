from django.urls import path

from . import stripe_views, views

app_name = "billing"

urlpatterns = [
    path("pricing/", views.pricing, name="pricing"),
    path("billing/", stripe_views.billing, name="billing"),
    path("billing/upgrade/<slug:code>/", stripe_views.upgrade, name="upgrade"),
    path("billing/checkout/cancelled/", stripe_views.checkout_cancelled, name="checkout_cancelled"),
    path("billing/portal/", stripe_views.portal, name="portal"),
    path("billing/stripe/webhook/", stripe_views.webhook, name="stripe_webhook"),
]
