from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/", include("allauth.urls")),
    path("settings/", include("apps.users.urls")),
    path("trading-accounts/", include("apps.accounts.urls")),
    path("trade/", include("apps.trading.urls")),
    path("markets/", include("apps.markets.urls")),
    path("notifications/", include("apps.notifications.urls")),
    path("", include("apps.notifications.page_urls")),
    path("bots/", include("apps.bots.urls")),
    path("exchanges/", include("apps.exchanges.urls")),
    path("deriv/", include("apps.deriv.urls")),
    path("", include("apps.billing.urls")),
    path("staff/revenue/", include("apps.revenue.staff_urls")),
    path("staff/analytics/", include("apps.ops.staff_urls")),
    path("", include("apps.revenue.urls")),
    path("", include("apps.ops.urls")),
    path("", include("apps.dashboard.urls")),
]
