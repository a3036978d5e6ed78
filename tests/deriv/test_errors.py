from apps.deriv import errors


def test_websocket_envelope_becomes_a_typed_error_with_code_message_and_details():
    exc = errors.from_ws(
        {
            "msg_type": "ticks_history",
            "req_id": 7,
            "error": {
                "code": "InputValidationFailed",
                "message": "Input validation failed: end",
                "details": {"end": "Missing property."},
            },
        }
    )
    assert isinstance(exc, errors.InputValidationFailed)
    assert exc.code == "InputValidationFailed" and exc.details == {"end": "Missing property."}


def test_every_documented_websocket_code_has_its_class():
    for code in (
        "AuthorizationRequired",
        "InvalidToken",
        "PermissionDenied",
        "RateLimit",
        "AlreadySubscribed",
        "InvalidGranularity",
        "InvalidSymbol",
        "MarketIsClosed",
        "ContractBuyValidationError",
        "OfferingsValidationError",
        "ContractCreationFailure",
        "InvalidContractProposal",
        "PriceMoved",
        "InsufficientBalance",
        "InvalidSellContractProposal",
        "ContractSellValidationError",
        "ContractNotFound",
        "InternalError",
        "WrongResponse",
        "UnrecognisedRequest",
    ):
        exc = errors.from_ws({"error": {"code": code, "message": "m"}})
        assert type(exc).__name__ == code and exc.code == code


def test_an_unknown_code_keeps_its_code_on_the_base_class():
    exc = errors.from_ws({"error": {"code": "SomethingNew", "message": "m"}})
    assert type(exc) is errors.DerivError and exc.code == "SomethingNew"


def test_rest_envelopes_map_by_code_then_by_status():
    assert isinstance(errors.from_rest(401, {"errors": [{"status": 401, "code": "Unauthorized"}]}), errors.Unauthorized)
    assert isinstance(errors.from_rest(403, {"errors": [{"status": 403, "code": "Forbidden"}]}), errors.DerivAuthError)
    limited = errors.from_rest(429, {"errors": [{"status": 429, "code": "TooManyRequests", "message": "slow"}]})
    assert isinstance(limited, errors.RateLimit) and limited.code == "TooManyRequests" and limited.status == 429
    assert isinstance(errors.from_rest(503, "<html>"), errors.InternalError)
    assert isinstance(errors.from_rest(400, {"error": "invalid_grant"}), errors.InvalidGrant)
    assert isinstance(errors.from_rest(400, {"error": "access_denied"}), errors.AccessDenied)


def test_messages_never_carry_secrets():
    exc = errors.DerivError("refused ws://h/ws/demo?otp=S3CRETOTP and Bearer ory_at_S3CRET")
    assert "S3CRET" not in str(exc) and "S3CRET" not in repr(exc)
    assert "S3CRET" not in errors.redact('{"access_token": "ory_at_S3CRET", "refresh_token": "ory_rt_S3CRET"}')
    assert "S3CRET" not in errors.redact("grant_type=authorization_code&code=S3CRET&code_verifier=S3CRET")
    assert errors.redact('{"code": "RateLimit"}') == '{"code": "RateLimit"}'
