from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils.http import url_has_allowed_host_and_scheme
from django_htmx.http import HttpResponseClientRefresh


def redirect_back(request: HttpRequest, *, fallback: str = "/") -> HttpResponse:
    """After a post, back to the page it came from (its `next` field, else the referer) if that page is ours.

    With htmx the page reloads itself instead: the post changed things all over it.
    """
    if request.htmx:
        return HttpResponseClientRefresh()
    target = request.POST.get("next") or request.headers.get("referer", "")
    secure = request.is_secure()
    ours = url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}, require_https=secure)
    return redirect(target if ours else fallback)
