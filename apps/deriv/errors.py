"""Deriv's error envelopes as typed exceptions (API.md §6).

WebSocket: `{"error": {"code", "message", "details"}, "msg_type", "req_id"}`.
REST: `{"errors": [{"status", "code", "message"}], "meta": {...}}`.
OAuth token endpoint: `{"error", "error_description"}` (RFC 6749).
Messages pass through `redact` so no token or OTP ever lands in a log line or a traceback.
"""

import re

_SECRETS = [
    # query strings and form bodies: ?otp=…, &code=…, code_verifier=…
    (
        re.compile(r"((?:^|[?&\s])(?:otp|code|code_verifier|access_token|refresh_token|token)=)[^&\s\"'#]+"),
        r"\1[redacted]",
    ),
    (re.compile(r"(Bearer\s+)[^\s\"']+", re.IGNORECASE), r"\1[redacted]"),
    # JSON-ish keys: "access_token": "…"
    (
        re.compile(
            r"""(["']?\b(?:access_token|refresh_token|id_token|code_verifier|authorize|otp|token)["']?\s*:\s*["']?)"""
            r"""[^"'&\s,}]+"""
        ),
        r"\1[redacted]",
    ),
]


def redact(text: object) -> str:
    """The text with anything that looks like a token, code, verifier or OTP blanked out."""
    out = str(text)
    for pattern, replacement in _SECRETS:
        out = pattern.sub(replacement, out)
    return out


class DerivError(Exception):
    """An error Deriv answered with (or, for transport errors, could not answer)."""

    code = "DerivError"
    retryable = False  # safe to retry an idempotent read after a backoff

    def __init__(self, message: str = "", *, code: str | None = None, details: dict | None = None, status=None):
        self.code = code or type(self).code
        self.message = redact(message or self.code)
        self.details = details or {}
        self.status = status  # HTTP status for REST/OAuth errors
        super().__init__(f"{self.code}: {self.message}")


class DerivAuthError(DerivError):
    """The credentials are wrong, expired, revoked or lack a scope: retrying will not help."""


# ---------------------------------------------------------------- WebSocket codes


class InputValidationFailed(DerivError):
    code = "InputValidationFailed"


class UnrecognisedRequest(DerivError):
    code = "UnrecognisedRequest"


class InvalidAppID(DerivAuthError):
    code = "InvalidAppID"


class InvalidToken(DerivAuthError):
    code = "InvalidToken"


class AuthorizationRequired(DerivAuthError):
    code = "AuthorizationRequired"


class PermissionDenied(DerivAuthError):
    code = "PermissionDenied"


class RateLimit(DerivError):
    code = "RateLimit"
    retryable = True


class AlreadySubscribed(DerivError):
    code = "AlreadySubscribed"


class InvalidGranularity(InputValidationFailed):
    code = "InvalidGranularity"


class InvalidStyle(InputValidationFailed):
    code = "InvalidStyle"


class InvalidSymbol(DerivError):
    code = "InvalidSymbol"


class MarketIsClosed(DerivError):
    code = "MarketIsClosed"


class ContractBuyValidationError(DerivError):
    """Stake, payout or duration out of range; `details["field"]` names the field."""

    code = "ContractBuyValidationError"


class OfferingsValidationError(DerivError):
    code = "OfferingsValidationError"


class ContractCreationFailure(DerivError):
    code = "ContractCreationFailure"


class InvalidContractProposal(DerivError):
    code = "InvalidContractProposal"


class PriceMoved(DerivError):
    code = "PriceMoved"


class InsufficientBalance(DerivError):
    code = "InsufficientBalance"


class InvalidSellContractProposal(DerivError):
    code = "InvalidSellContractProposal"


class ContractSellValidationError(DerivError):
    code = "ContractSellValidationError"


class ContractNotFound(DerivError):
    code = "ContractNotFound"


class InternalError(DerivError):
    code = "InternalError"
    retryable = True


class WrongResponse(InternalError):
    code = "WrongResponse"


# ---------------------------------------------------------------- REST codes


class ValidationError(DerivError):
    code = "ValidationError"


class Unauthorized(DerivAuthError):
    """401: missing, unknown or expired token (or a PAT without Deriv-App-ID)."""

    code = "Unauthorized"


class Forbidden(DerivAuthError):
    """403: the token lacks the endpoint's scope; re-authorise with it."""

    code = "Forbidden"


class NotFound(DerivError):
    code = "NotFound"


class MigrationPending(DerivError):
    code = "MigrationPending"


# ---------------------------------------------------------------- OAuth (RFC 6749) codes


class OAuthError(DerivError):
    code = "oauth_error"


class InvalidGrant(OAuthError, DerivAuthError):
    """Wrong code_verifier, or a code that expired or was already used."""

    code = "invalid_grant"


class InvalidClient(OAuthError, DerivAuthError):
    code = "invalid_client"


class AccessDenied(OAuthError, DerivAuthError):
    """The user cancelled at Deriv (callback `error=access_denied`)."""

    code = "access_denied"


class InvalidRequest(OAuthError):
    code = "invalid_request"


# ---------------------------------------------------------------- transport


class DerivTransportError(DerivError):
    """No answer from Deriv: unreachable, socket closed, timed out."""

    code = "TransportError"
    retryable = True


class Disconnected(DerivTransportError):
    code = "Disconnected"


class DerivTimeout(DerivTransportError):
    code = "Timeout"


class HandshakeRefused(DerivTransportError):
    """The WebSocket upgrade was answered with an HTTP error (401: bad, expired or used OTP)."""

    code = "HandshakeRefused"


class TooManySubscriptions(DerivError):
    """Refused on our side: the socket already carries the maximum number of streams."""

    code = "TooManySubscriptions"


class UncertainPurchase(DerivTransportError):
    """A `buy` was sent but its answer never came: the contract may or may not exist at Deriv.

    Never retried: check open contracts (`portfolio` / `proposal_open_contract`) first.
    """

    code = "UncertainPurchase"
    retryable = False

    def __init__(self, message: str = "", *, request: dict | None = None, **kwargs):
        super().__init__(message, **kwargs)
        self.request = request


_BY_CODE = {
    cls.code: cls
    for cls in (
        InputValidationFailed,
        UnrecognisedRequest,
        InvalidAppID,
        InvalidToken,
        AuthorizationRequired,
        PermissionDenied,
        RateLimit,
        AlreadySubscribed,
        InvalidGranularity,
        InvalidStyle,
        InvalidSymbol,
        MarketIsClosed,
        ContractBuyValidationError,
        OfferingsValidationError,
        ContractCreationFailure,
        InvalidContractProposal,
        PriceMoved,
        InsufficientBalance,
        InvalidSellContractProposal,
        ContractSellValidationError,
        ContractNotFound,
        InternalError,
        WrongResponse,
        ValidationError,
        Unauthorized,
        Forbidden,
        NotFound,
        MigrationPending,
        InvalidGrant,
        InvalidClient,
        AccessDenied,
        InvalidRequest,
    )
}
_BY_STATUS = {400: ValidationError, 401: Unauthorized, 403: Forbidden, 404: NotFound, 409: MigrationPending}


def error_class(code: str, status: int | None = None) -> type[DerivError]:
    if code in _BY_CODE:
        return _BY_CODE[code]
    if status == 429:
        return RateLimit
    if status is not None and status >= 500:
        return InternalError
    return _BY_STATUS.get(status, DerivError)


def from_ws(message: dict) -> DerivError:
    """The exception for a WebSocket message carrying `error`."""
    error = message.get("error") if isinstance(message.get("error"), dict) else {}
    code = str(error.get("code") or "UnknownError")
    details = error.get("details") if isinstance(error.get("details"), dict) else None
    return error_class(code)(str(error.get("message") or code), code=code, details=details)


def from_rest(status: int, body: object) -> DerivError:
    """The exception for a REST or OAuth error answer (whatever its body looks like)."""
    if isinstance(body, dict) and isinstance(body.get("errors"), list) and body["errors"]:
        first = body["errors"][0] if isinstance(body["errors"][0], dict) else {}
        code = str(first.get("code") or f"HTTP{status}")
        details = first.get("detail") if isinstance(first.get("detail"), dict) else None
        return error_class(code, status)(str(first.get("message") or code), code=code, details=details, status=status)
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        code = body["error"]
        cls = error_class(code, status)
        if cls is DerivError:
            cls = OAuthError
        return cls(str(body.get("error_description") or code), code=code, status=status)
    cls = error_class("", status)
    return cls(f"HTTP {status}", code=cls.code if cls is not DerivError else f"HTTP{status}", status=status)
