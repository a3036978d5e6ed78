from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from .email import plan_email_refusal, unsubscribe_read
from .forms import PreferencesForm
from .models import Topic
from .preferences import EDITABLE, preferences_get, preferences_save, unsubscribe
from .selectors import notifications_for, unread_count
from .services import notifications_mark_all_read


@login_required
@require_GET
def notification_list(request: HttpRequest) -> HttpResponse:
    page = Paginator(notifications_for(user=request.user), 30).get_page(request.GET.get("page"))
    return render(request, "notifications/list.html", {"page": page, "unread": unread_count(user=request.user)})


@login_required
@require_POST
def mark_all_read(request: HttpRequest) -> HttpResponse:
    notifications_mark_all_read(user=request.user)
    return redirect("notifications:list")


@login_required
def preferences(request: HttpRequest) -> HttpResponse:
    """Settings → Notifications: per topic in the app, by email too, or off; the low-balance threshold."""
    prefs = preferences_get(request.user)
    initial = {topic: getattr(prefs, topic) for topic in EDITABLE}
    initial["low_balance_threshold"] = prefs.low_balance_threshold
    form = PreferencesForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            preferences_save(
                user=request.user,
                channels={topic: data[topic] for topic in EDITABLE},
                low_balance_threshold=data["low_balance_threshold"],
                request=request,
            )
        except ValidationError as error:
            for field, messages_ in error.message_dict.items():
                form.add_error(field, messages_)
        else:
            messages.success(request, "Notification preferences saved.")
            return redirect("notification_pages:preferences")
    context = {"form": form, "section": "notifications", "plan_refusal": plan_email_refusal(request.user)}
    return render(request, "notifications/preferences.html", context, status=400 if form.errors else 200)


@csrf_exempt  # RFC 8058: mail providers POST the one-click link with no cookie or token; the signed link is the proof
def unsubscribe_page(request: HttpRequest, token: str) -> HttpResponse:
    """An email's unsubscribe link: GET asks to confirm, POST unsubscribes (no sign-in needed)."""
    found = unsubscribe_read(token)
    user = get_user_model().objects.filter(pk=found[0]).first() if found else None
    if user is None:
        return render(request, "notifications/unsubscribe.html", {"invalid": True}, status=400)
    if request.user.is_authenticated and request.user.pk != user.pk:
        return render(request, "notifications/unsubscribe.html", {"other_user": True}, status=403)
    topic = Topic(found[1])
    done = False
    if request.method == "POST":
        unsubscribe(user=user, topic=topic, request=request)
        done = True
    elif request.method != "GET":
        return HttpResponse(status=405)
    return render(request, "notifications/unsubscribe.html", {"topic": topic, "done": done, "email": user.email})
