"""FakeStripe: the Stripe REST calls Nexus makes, its hosted Checkout and customer portal, and signed webhooks.

A real HTTP server on 127.0.0.1 in a thread. The API half speaks Stripe's wire format: form-encoded
bodies with bracketed keys (`line_items[0][price]`), `Authorization: Bearer sk_…`, `Idempotency-Key`
(a replay answers the first response, with `Idempotent-Replayed: true`; other parameters under the same
key are an `idempotency_error`), objects shaped as the API version of the installed `stripe` package
returns them (`current_period_end` on the subscription item, an invoice's subscription under
`parent.subscription_details`), and Stripe's error envelope `{"error": {"type", "code", "message",
"param"}}` with its HTTP statuses.

The browser half: `/pay/<session>` is the hosted Checkout page (Pay creates the subscription and its
paid invoice, then redirects to `success_url`; Back goes to `cancel_url`), `/portal/<session>` the
customer portal (cancel at period end, switch price), `/invoices/<id>` a hosted invoice.

Webhooks: each event is signed as Stripe signs (`Stripe-Signature: t=<ts>,v1=<hmac-sha256 of
"<ts>.<body>">`) and POSTed to `webhook_url` by a delivery thread, or, without one, kept in `outbox` for
a test to post itself. Controls: `hold()` / `release(reverse=…)` delay and reorder, `drop_next(type)`,
`duplicate_next(type)`, `fail_renewal(sub)` (invoice.payment_failed + past_due), `renew(sub)`,
`unreachable = True` (every API call's connection is cut).
"""

import hashlib
import hmac
import html
import json
import logging
import queue
import re
import secrets
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

try:
    import stripe

    API_VERSION = stripe.api_version
except ImportError:  # the fake runs without the package too
    API_VERSION = "2026-10-28.endive"

log = logging.getLogger("tests.fakes.stripe")

# The prices on sale: id → (product name, interval, amount in cents).
PRICES = {
    "price_basic_month": ("Basic", "month", 4900),
    "price_basic_year": ("Basic", "year", 47000),
    "price_pro_month": ("Pro", "month", 14900),
    "price_pro_year": ("Pro", "year", 143000),
}
PERIOD = {"month": 30 * 86400, "year": 365 * 86400}


def sign_payload(payload: bytes, secret: str, timestamp: int | None = None) -> str:
    """The `Stripe-Signature` header Stripe sends with `payload`."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    signed = f"{timestamp}.".encode() + payload
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def decode_form(body: str) -> dict:
    """Stripe's form encoding (`a[b][0][c]=v`) back into nested dicts and lists."""
    root: dict = {}
    for key, value in parse_qsl(body, keep_blank_values=True):
        names = re.findall(r"[^\[\]]+|\[\]", key)
        node = root
        for name, following in zip(names, names[1:] + [None], strict=True):
            if following is None:
                node[name] = value
            else:
                node = node.setdefault(name, {})
    return _lists(root)


def _lists(node):
    if isinstance(node, dict):
        node = {k: _lists(v) for k, v in node.items()}
        if node and all(k.isdigit() for k in node):
            return [node[k] for k in sorted(node, key=int)]
    return node


class StripeError(Exception):
    def __init__(self, status: int, message: str, *, type_="invalid_request_error", code=None, param=None):
        super().__init__(message)
        self.status, self.body = status, {"error": {"type": type_, "message": message}}
        if code:
            self.body["error"]["code"] = code
        if param:
            self.body["error"]["param"] = param


def _missing(kind: str, object_id: str, param: str = "id") -> StripeError:
    """The object in the URL is missing: 404; an object a parameter names is missing: 400 (as Stripe answers)."""
    status = 404 if param == "id" else 400
    return StripeError(status, f"No such {kind}: '{object_id}'", code="resource_missing", param=param)


def _required(param: str) -> StripeError:
    return StripeError(400, f"Missing required param: {param}.", code="parameter_missing", param=param)


class FakeStripe:
    """A stand-in for api.stripe.com, checkout.stripe.com and billing.stripe.com, started and stopped from Python."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        secret_key: str = "sk_test_fake_nexus",
        webhook_secret: str = "whsec_fake_nexus",
        webhook_url: str | None = None,
        prices: dict | None = None,
    ):
        self.host, self.port = host, port
        self.secret_key, self.webhook_secret, self.webhook_url = secret_key, webhook_secret, webhook_url
        self.prices = dict(PRICES if prices is None else prices)
        self.lock = threading.RLock()
        self.customers: dict[str, dict] = {}
        self.sessions: dict[str, dict] = {}
        self.subscriptions: dict[str, dict] = {}
        self.invoices: dict[str, dict] = {}
        self.portal_sessions: dict[str, dict] = {}
        self.idempotent: dict[str, tuple] = {}
        self.requests: list[tuple[str, str]] = []  # (method, path) of every API call
        self.events: list[dict] = []  # every event made, in order
        self.outbox: list[dict] = []  # events to deliver, without a webhook_url
        self.held: list[dict] = []
        self.deliveries: list[tuple[str, int]] = []  # (event id, HTTP status) with a webhook_url
        self.holding = False
        self.unreachable = False
        self._drop: list[str] = []
        self._duplicate: list[str] = []
        self._queue: queue.Queue = queue.Queue()
        self._server = None
        self._threads: list[threading.Thread] = []
        self._invoice_number = 0

    # --- lifecycle -------------------------------------------------------------------------------------

    def start(self) -> "FakeStripe":
        fake = self

        class Handler(_Handler):
            pass

        Handler.fake = fake
        self._server = ThreadingHTTPServer((self.host, self.port), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        serving = threading.Thread(target=self._server.serve_forever, name="fake-stripe", daemon=True)
        delivering = threading.Thread(target=self._deliver_forever, name="fake-stripe-webhooks", daemon=True)
        self._threads = [serving, delivering]
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        self._queue.put(None)
        if self._server:
            self._server.shutdown()
            self._server.server_close()
        for thread in self._threads:
            thread.join(timeout=5)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def env_lines(self) -> list[str]:
        return [
            f"STRIPE_SECRET_KEY={self.secret_key}",
            f"STRIPE_WEBHOOK_SECRET={self.webhook_secret}",
            f"STRIPE_API_BASE={self.url}",
        ]

    # --- webhooks --------------------------------------------------------------------------------------

    def signed(self, event: dict, *, timestamp: int | None = None, secret: str | None = None) -> tuple[bytes, str]:
        """An event's body and its `Stripe-Signature` header, as Stripe would POST them."""
        body = json.dumps(event).encode()
        return body, sign_payload(body, secret or self.webhook_secret, timestamp)

    def take_events(self) -> list[dict]:
        with self.lock:
            events, self.outbox = self.outbox, []
        return events

    def hold(self) -> None:
        """Keep events back (a slow Stripe) until `release()`."""
        with self.lock:
            self.holding = True

    def release(self, *, reverse: bool = False) -> None:
        """Send the held events, oldest first (or newest first: out of order)."""
        with self.lock:
            self.holding = False
            held, self.held = self.held, []
        self._dispatch(list(reversed(held)) if reverse else held)

    def drop_next(self, event_type: str) -> None:
        with self.lock:
            self._drop.append(event_type)

    def duplicate_next(self, event_type: str) -> None:
        with self.lock:
            self._duplicate.append(event_type)

    def wait_delivered(self, timeout: float = 10) -> None:
        """Until the delivery thread has posted every event queued so far."""
        deadline = time.monotonic() + timeout
        while self._queue.unfinished_tasks and time.monotonic() < deadline:
            time.sleep(0.02)

    def _emit(self, event_type: str, obj: dict, previous: dict | None = None) -> dict:
        event = {
            "id": "evt_" + secrets.token_hex(12),
            "object": "event",
            "api_version": API_VERSION,
            "created": int(time.time()),
            "data": {"object": json.loads(json.dumps(obj))} | ({"previous_attributes": previous} if previous else {}),
            "livemode": False,
            "pending_webhooks": 1,
            "request": {"id": None, "idempotency_key": None},
            "type": event_type,
        }
        with self.lock:
            self.events.append(event)
            if event_type in self._drop:
                self._drop.remove(event_type)
                return event
            copies = [event]
            if event_type in self._duplicate:
                self._duplicate.remove(event_type)
                copies.append(event)
            if self.holding:
                self.held.extend(copies)
                return event
        self._dispatch(copies)
        return event

    def _dispatch(self, events: list[dict]) -> None:
        if self.webhook_url:
            for event in events:
                self._queue.put(event)
        else:
            with self.lock:
                self.outbox.extend(events)

    def _deliver_forever(self) -> None:
        while True:
            event = self._queue.get()
            if event is None:
                self._queue.task_done()
                return
            try:
                body, signature = self.signed(event)
                request = urllib.request.Request(
                    self.webhook_url,
                    data=body,
                    headers={"Content-Type": "application/json; charset=utf-8", "Stripe-Signature": signature},
                )
                try:
                    with urllib.request.urlopen(request, timeout=10) as response:
                        status = response.status
                except urllib.error.HTTPError as exc:
                    status = exc.code
                except OSError:
                    status = 0
                self.deliveries.append((event["id"], status))
            finally:
                self._queue.task_done()

    # --- objects ---------------------------------------------------------------------------------------

    def _id(self, prefix: str) -> str:
        return f"{prefix}_{secrets.token_hex(12)}"

    def _price(self, price_id: str) -> dict:
        product, interval, amount = self.prices[price_id]
        return {
            "id": price_id,
            "object": "price",
            "active": True,
            "currency": "usd",
            "livemode": False,
            "lookup_key": None,
            "metadata": {},
            "nickname": f"{product} ({interval}ly)",
            "product": "prod_" + product.lower(),
            "recurring": {"interval": interval, "interval_count": 1, "usage_type": "licensed"},
            "type": "recurring",
            "unit_amount": amount,
        }

    def customer_create(self, params: dict) -> dict:
        customer = {
            "id": self._id("cus"),
            "object": "customer",
            "address": None,
            "balance": 0,
            "created": int(time.time()),
            "currency": None,
            "default_source": None,
            "delinquent": False,
            "description": params.get("description"),
            "email": params.get("email"),
            "invoice_prefix": secrets.token_hex(4).upper(),
            "livemode": False,
            "metadata": params.get("metadata") or {},
            "name": params.get("name"),
            "phone": None,
            "preferred_locales": [],
            "shipping": None,
            "tax_exempt": "none",
            "test_clock": None,
        }
        self.customers[customer["id"]] = customer
        return customer

    def session_create(self, params: dict) -> dict:
        if params.get("mode") != "subscription":
            raise StripeError(400, "This fake only sells subscriptions: mode must be 'subscription'.", param="mode")
        for name in ("success_url", "cancel_url"):
            if not params.get(name):
                raise _required(name)
        items = params.get("line_items")
        if not isinstance(items, list) or not items:
            raise _required("line_items")
        price = items[0].get("price", "")
        if price not in self.prices:
            raise _missing("price", price, "line_items[0][price]")
        customer = params.get("customer")
        if customer and customer not in self.customers:
            raise _missing("customer", customer, "customer")
        session_id = "cs_test_" + secrets.token_hex(16)
        _, _, amount = self.prices[price]
        session = {
            "id": session_id,
            "object": "checkout.session",
            "amount_subtotal": amount,
            "amount_total": amount,
            "cancel_url": params["cancel_url"],
            "client_reference_id": params.get("client_reference_id"),
            "created": int(time.time()),
            "currency": "usd",
            "customer": customer,
            "customer_email": params.get("customer_email"),
            "expires_at": int(time.time()) + 86400,
            "invoice": None,
            "line_items_price": price,  # the fake's own note; the real one needs an expand for line items
            "livemode": False,
            "metadata": params.get("metadata") or {},
            "mode": "subscription",
            "payment_status": "unpaid",
            "status": "open",
            "subscription": None,
            "success_url": params["success_url"].replace("{CHECKOUT_SESSION_ID}", session_id),
            "url": f"{self.url}/pay/{session_id}",
        }
        self.sessions[session_id] = session
        return self._public_session(session)

    @staticmethod
    def _public_session(session: dict) -> dict:
        return {k: v for k, v in session.items() if k != "line_items_price"}

    def _invoice(self, subscription: dict, *, status: str, reason: str) -> dict:
        item = subscription["items"]["data"][0]
        self._invoice_number += 1
        customer = self.customers[subscription["customer"]]
        invoice_id = self._id("in")
        amount = item["price"]["unit_amount"]
        invoice = {
            "id": invoice_id,
            "object": "invoice",
            "amount_due": amount,
            "amount_paid": amount if status == "paid" else 0,
            "amount_remaining": 0 if status == "paid" else amount,
            "attempt_count": 1,
            "billing_reason": reason,
            "collection_method": "charge_automatically",
            "created": int(time.time()) + self._invoice_number,  # distinct, increasing
            "currency": "usd",
            "customer": subscription["customer"],
            "hosted_invoice_url": f"{self.url}/invoices/{invoice_id}",
            "invoice_pdf": f"{self.url}/invoices/{invoice_id}/pdf",
            "livemode": False,
            "number": f"{customer['invoice_prefix']}-{self._invoice_number:04d}",
            "parent": {
                "type": "subscription_details",
                "quote_details": None,
                "subscription_details": {"metadata": {}, "subscription": subscription["id"]},
            },
            "period_end": item["current_period_end"],
            "period_start": item["current_period_start"],
            "status": status,
            "total": amount,
        }
        self.invoices[invoice_id] = invoice
        subscription["latest_invoice"] = invoice_id
        return invoice

    def _set_price(self, subscription: dict, price: str, *, start: int | None = None) -> None:
        start = int(time.time()) if start is None else start
        interval = self.prices[price][1]
        item = {
            "id": self._id("si"),
            "object": "subscription_item",
            "created": start,
            "current_period_end": start + PERIOD[interval],
            "current_period_start": start,
            "metadata": {},
            "price": self._price(price),
            "quantity": 1,
            "subscription": subscription["id"],
        }
        subscription["items"] = {
            "object": "list",
            "data": [item],
            "has_more": False,
            "total_count": 1,
            "url": f"/v1/subscription_items?subscription={subscription['id']}",
        }

    def subscription_create(self, customer: str, price: str) -> dict:
        now = int(time.time())
        subscription = {
            "id": self._id("sub"),
            "object": "subscription",
            "billing_cycle_anchor": now,
            "cancel_at": None,
            "cancel_at_period_end": False,
            "canceled_at": None,
            "collection_method": "charge_automatically",
            "created": now,
            "currency": "usd",
            "customer": customer,
            "ended_at": None,
            "latest_invoice": None,
            "livemode": False,
            "metadata": {},
            "start_date": now,
            "status": "active",
            "trial_end": None,
            "trial_start": None,
        }
        self._set_price(subscription, price, start=now)
        self.subscriptions[subscription["id"]] = subscription
        return subscription

    def complete_checkout(self, session_id: str) -> dict:
        """What Pay does: the customer (made if the session had none), an active subscription, a paid invoice."""
        with self.lock:
            session = self.sessions[session_id]
            if session["status"] != "open":
                return session
            if not session["customer"]:
                session["customer"] = self.customer_create({"email": session.get("customer_email")})["id"]
            subscription = self.subscription_create(session["customer"], session["line_items_price"])
            invoice = self._invoice(subscription, status="paid", reason="subscription_create")
            session.update(status="complete", payment_status="paid", subscription=subscription["id"])
            session["invoice"] = invoice["id"]
        self._emit("customer.subscription.created", subscription)
        self._emit("invoice.paid", invoice)
        self._emit("checkout.session.completed", self._public_session(session))
        return session

    def subscription_update(self, subscription_id: str, *, price=None, cancel_at_period_end=None, status=None):
        """A change made in the portal (or by a test): one customer.subscription.updated event."""
        with self.lock:
            subscription = self.subscriptions[subscription_id]
            previous = {}
            if price is not None:
                previous["items"] = json.loads(json.dumps(subscription["items"]))
                period_start = subscription["items"]["data"][0]["current_period_start"]
                self._set_price(subscription, price, start=period_start)
            if cancel_at_period_end is not None:
                previous["cancel_at_period_end"] = subscription["cancel_at_period_end"]
                subscription["cancel_at_period_end"] = cancel_at_period_end
                end = subscription["items"]["data"][0]["current_period_end"]
                subscription["cancel_at"] = end if cancel_at_period_end else None
            if status is not None:
                previous["status"] = subscription["status"]
                subscription["status"] = status
        return self._emit("customer.subscription.updated", subscription, previous)

    def subscription_cancel(self, subscription_id: str) -> dict:
        with self.lock:
            subscription = self.subscriptions[subscription_id]
            now = int(time.time())
            subscription.update(status="canceled", canceled_at=now, ended_at=now, cancel_at_period_end=False)
        self._emit("customer.subscription.deleted", subscription)
        return subscription

    def fail_renewal(self, subscription_id: str) -> dict:
        """The renewal payment fails: an open invoice, invoice.payment_failed, and the subscription past_due."""
        with self.lock:
            subscription = self.subscriptions[subscription_id]
            price = subscription["items"]["data"][0]["price"]["id"]
            self._set_price(subscription, price, start=subscription["items"]["data"][0]["current_period_end"])
            invoice = self._invoice(subscription, status="open", reason="subscription_cycle")
        self._emit("invoice.payment_failed", invoice)
        self.subscription_update(subscription_id, status="past_due")
        return invoice

    def renew(self, subscription_id: str) -> dict:
        """The renewal (or a retried) payment succeeds: a paid invoice, the subscription active again."""
        with self.lock:
            subscription = self.subscriptions[subscription_id]
            if subscription["status"] != "past_due":
                price = subscription["items"]["data"][0]["price"]["id"]
                self._set_price(subscription, price, start=subscription["items"]["data"][0]["current_period_end"])
            invoice = self._invoice(subscription, status="paid", reason="subscription_cycle")
        self._emit("invoice.paid", invoice)
        if subscription["status"] != "active":
            self.subscription_update(subscription_id, status="active")
        return invoice

    # --- the REST API ----------------------------------------------------------------------------------

    def api(self, method: str, path: str, params: dict) -> dict:
        parts = path.strip("/").split("/")[1:]  # past "v1"
        with self.lock:
            match method, parts:
                case "POST", ["customers"]:
                    return self.customer_create(params)
                case "GET", ["customers", customer_id]:
                    if customer_id not in self.customers:
                        raise _missing("customer", customer_id)
                    return self.customers[customer_id]
                case "POST", ["checkout", "sessions"]:
                    return self.session_create(params)
                case "GET", ["checkout", "sessions", session_id]:
                    if session_id not in self.sessions:
                        raise _missing("checkout.session", session_id)
                    return self._public_session(self.sessions[session_id])
                case "GET", ["subscriptions", subscription_id]:
                    if subscription_id not in self.subscriptions:
                        raise _missing("subscription", subscription_id)
                    return self.subscriptions[subscription_id]
                case "DELETE", ["subscriptions", subscription_id]:
                    if subscription_id not in self.subscriptions:
                        raise _missing("subscription", subscription_id)
                    if self.subscriptions[subscription_id]["status"] == "canceled":
                        raise StripeError(
                            400,
                            f"A canceled subscription can only update its cancellation_details and metadata: "
                            f"'{subscription_id}'",
                        )
                    return self.subscription_cancel(subscription_id)
                case "POST", ["billing_portal", "sessions"]:
                    customer = params.get("customer")
                    if not customer:
                        raise _required("customer")
                    if customer not in self.customers:
                        raise _missing("customer", customer, "customer")
                    portal_id = self._id("bps")
                    portal = {
                        "id": portal_id,
                        "object": "billing_portal.session",
                        "configuration": "bpc_fake",
                        "created": int(time.time()),
                        "customer": customer,
                        "flow": None,
                        "livemode": False,
                        "locale": None,
                        "on_behalf_of": None,
                        "return_url": params.get("return_url"),
                        "url": f"{self.url}/portal/{portal_id}",
                    }
                    self.portal_sessions[portal_id] = portal
                    return portal
                case "GET", ["invoices"]:
                    customer = params.get("customer")
                    limit = int(params.get("limit") or 10)
                    if not 1 <= limit <= 100:
                        raise StripeError(400, "Invalid integer: limit must be between 1 and 100", param="limit")
                    found = sorted(
                        (i for i in self.invoices.values() if customer in (None, i["customer"])),
                        key=lambda i: i["created"],
                        reverse=True,
                    )
                    return {
                        "object": "list",
                        "data": found[:limit],
                        "has_more": len(found) > limit,
                        "url": "/v1/invoices",
                    }
                case _:
                    raise StripeError(404, f"Unrecognized request URL ({method}: {path}).")


class _Handler(BaseHTTPRequestHandler):
    fake: FakeStripe
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):  # noqa: A002 — the base class's name
        log.debug("%s " + format, self.address_string(), *args)

    # --- plumbing --------------------------------------------------------------------------------------

    def _body(self) -> str:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length).decode() if length else ""

    def _send(self, status: int, body: bytes, content_type: str, headers: dict | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def _json(self, status: int, payload: dict, headers: dict | None = None) -> None:
        self._send(status, json.dumps(payload).encode(), "application/json", headers)

    def _html(self, title: str, body: str, status: int = 200) -> None:
        page = (
            f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            "<meta name='viewport' content='width=device-width, initial-scale=1'>"
            "<link rel='icon' href='data:,'></head>"
            f"<body><h1>{html.escape(title)}</h1>{body}</body></html>"
        )
        self._send(status, page.encode(), "text/html; charset=utf-8")

    def _redirect(self, location: str) -> None:
        self._send(303, b"", "text/plain", {"Location": location})

    def do_GET(self):  # noqa: N802 — http.server's names
        self._route("GET")

    def do_POST(self):  # noqa: N802
        self._route("POST")

    def do_DELETE(self):  # noqa: N802
        self._route("DELETE")

    def _route(self, method: str) -> None:
        split = urlsplit(self.path)
        if split.path.startswith("/v1/"):
            self._api(method, split)
        else:
            self._browser(method, split)

    def _api(self, method: str, split) -> None:
        fake = self.fake
        if fake.unreachable:
            self.close_connection = True
            self.connection.close()
            return
        body = self._body()
        request_id = "req_" + secrets.token_hex(7)
        headers = {"Request-Id": request_id, "Stripe-Version": API_VERSION}
        authorization = self.headers.get("Authorization", "")
        if authorization != f"Bearer {fake.secret_key}":
            shown = authorization.removeprefix("Bearer ")[:8] + "*" * 4 if authorization else ""
            message = (
                f"Invalid API Key provided: {shown}"
                if shown
                else "You did not provide an API key. Provide it in the Authorization header (Bearer auth)."
            )
            self._json(401, {"error": {"type": "invalid_request_error", "message": message}}, headers)
            return
        params = decode_form(split.query if method in ("GET", "DELETE") else body)
        fake.requests.append((method, split.path))
        key = self.headers.get("Idempotency-Key") if method == "POST" else None
        # One request at a time: concurrent requests under one idempotency key see each other's answer.
        with fake.lock:
            seen = fake.idempotent.get(key) if key else None
            if seen is not None:
                seen_path, seen_params, status, payload = seen
                if (seen_path, seen_params) != (split.path, params):
                    error = StripeError(
                        400,
                        "Keys for idempotent requests can only be used with the same parameters they were first "
                        f"used with. Try using a key other than '{key}' if you meant to execute a different request.",
                        type_="idempotency_error",
                    )
                    status, payload = error.status, error.body
                else:
                    headers |= {"Idempotent-Replayed": "true"}
            else:
                try:
                    status, payload = 200, fake.api(method, split.path, params)
                except StripeError as error:
                    status, payload = error.status, error.body
                if key and status < 500:
                    fake.idempotent[key] = (split.path, params, status, payload)
            # The answer as it stands now, not a live object a later request changes.
            body = json.dumps(payload).encode()
        self._send(status, body, "application/json", headers | ({"Idempotency-Key": key} if key else {}))

    # --- pages a browser uses --------------------------------------------------------------------------

    def _browser(self, method: str, split) -> None:
        fake = self.fake
        parts = split.path.strip("/").split("/")
        form = decode_form(self._body()) if method == "POST" else {}
        match method, parts:
            case "GET", ["pay", session_id] if session_id in fake.sessions:
                self._checkout_page(fake.sessions[session_id])
            case "POST", ["pay", session_id] if session_id in fake.sessions:
                session = fake.complete_checkout(session_id)
                self._redirect(session["success_url"])
            case "GET", ["portal", portal_id] if portal_id in fake.portal_sessions:
                self._portal_page(fake.portal_sessions[portal_id])
            case "POST", ["portal", portal_id] if portal_id in fake.portal_sessions:
                portal = fake.portal_sessions[portal_id]
                subscription = self._live_subscription(portal["customer"])
                if subscription is not None:
                    if form.get("action") == "cancel":
                        fake.subscription_update(subscription["id"], cancel_at_period_end=True)
                    elif form.get("action") == "renew":
                        fake.subscription_update(subscription["id"], cancel_at_period_end=False)
                    elif form.get("price") in fake.prices:
                        fake.subscription_update(subscription["id"], price=form["price"])
                self._redirect(f"/portal/{portal_id}")
            case "GET", ["invoices", invoice_id] if invoice_id in fake.invoices:
                invoice = fake.invoices[invoice_id]
                self._html(
                    f"Invoice {invoice['number']}",
                    f"<p>Status: {invoice['status']}</p><p>Amount paid: {invoice['amount_paid'] / 100:.2f} USD</p>",
                )
            case _:
                self._html("Not found", "<p>No such page on the fake Stripe.</p>", status=404)

    def _live_subscription(self, customer: str) -> dict | None:
        live = [
            s
            for s in self.fake.subscriptions.values()
            if s["customer"] == customer and s["status"] not in ("canceled", "incomplete_expired")
        ]
        return max(live, key=lambda s: s["created"]) if live else None

    def _checkout_page(self, session: dict) -> None:
        product, interval, amount = self.fake.prices[session["line_items_price"]]
        if session["status"] != "open":
            self._html("Checkout", "<p data-testid='checkout-done'>This checkout session is no longer open.</p>")
            return
        self._html(
            "Fake Stripe Checkout",
            f"<p data-testid='checkout-item'>Nexus {html.escape(product)}: {amount / 100:.2f} USD a {interval}</p>"
            f"<form method='post' action='/pay/{session['id']}'><button type='submit'>Pay</button></form>"
            f"<p><a href='{html.escape(session['cancel_url'])}'>Back</a></p>",
        )

    def _portal_page(self, portal: dict) -> None:
        subscription = self._live_subscription(portal["customer"])
        rows = ["<p>No subscription.</p>"]
        if subscription is not None:
            price = subscription["items"]["data"][0]["price"]
            end = time.strftime("%Y-%m-%d", time.gmtime(subscription["items"]["data"][0]["current_period_end"]))
            rows = [
                f"<p data-testid='portal-plan'>{html.escape(price['nickname'])}, {subscription['status']}"
                f"{', cancels on ' + end if subscription['cancel_at_period_end'] else ', renews on ' + end}</p>",
                (
                    "<form method='post'><input type='hidden' name='action' value='renew'>"
                    "<button type='submit'>Don't cancel</button></form>"
                    if subscription["cancel_at_period_end"]
                    else "<form method='post'><input type='hidden' name='action' value='cancel'>"
                    "<button type='submit'>Cancel at period end</button></form>"
                ),
            ]
            for price_id, (product, interval, _) in self.fake.prices.items():
                if price_id != price["id"]:
                    rows.append(
                        f"<form method='post'><input type='hidden' name='price' value='{price_id}'>"
                        f"<button type='submit'>Switch to {product} ({interval}ly)</button></form>"
                    )
        back = portal.get("return_url") or "/"
        self._html("Fake Stripe billing portal", "".join(rows) + f"<p><a href='{html.escape(back)}'>Return</a></p>")
