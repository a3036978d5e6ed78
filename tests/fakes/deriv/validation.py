"""Request validation against Deriv's published schemas, adjusted for the New API.

The files under `schemas/` are the Legacy `send.json` request schemas of
binary-com/websockets (config/v3/<call>/send.json at commit 1b3e5bdc, the copy
kept in shared/deriv/schemas/legacy-v3). The New API accepts the same family of
messages with the differences listed in API.md §5; `_NEW_API_PATCHES` applies
them, so the fake refuses what the real New API would refuse and records it.
"""

import copy
import json
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from jsonschema import Draft4Validator

SCHEMA_DIR = Path(__file__).parent / "schemas"

# Order matters only for messages carrying two method keys (invalid anyway).
METHODS = (
    "proposal_open_contract",
    "profit_table",
    "statement",
    "ticks_history",
    "active_symbols",
    "forget_all",
    "proposal",
    "portfolio",
    "balance",
    "forget",
    "ticks",
    "ping",
    "time",
    "sell",
    "buy",
)

# Legacy-only calls the New API does not have: sending them is a client bug.
LEGACY_ONLY = ("authorize", "website_status")

_LEGACY_FIELDS = ("loginid",)


def _remove(schema: dict, *names: str) -> None:
    for name in names:
        schema["properties"].pop(name, None)
        if name in schema.get("required", []):
            schema["required"].remove(name)


def _allow_zero(schema: dict, name: str) -> None:
    schema["properties"][name]["enum"] = [0, 1]


def _underlying_symbol(schema: dict) -> None:
    prop = schema["properties"].pop("symbol")
    prop = {k: v for k, v in prop.items() if k != "pattern"}
    schema["properties"]["underlying_symbol"] = prop
    schema["required"] = ["underlying_symbol" if r == "symbol" else r for r in schema["required"]]


def _open_contract_type(schema: dict) -> None:
    # New API: contract_type is no longer a closed enum (HIGHER/LOWER were added).
    schema["properties"]["contract_type"] = {"type": "string", "pattern": "^[A-Z]{2,30}$"}


_PROPOSAL_LEGACY_ONLY = ("date_start", "product_type", "barrier_range", "trade_risk_profile", "trading_period_start")


def _patch_ticks(s: dict) -> None:
    s["properties"]["ticks"] = {"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]}
    _allow_zero(s, "subscribe")


def _patch_ticks_history(s: dict) -> None:
    s["properties"]["ticks_history"].pop("pattern")
    s["properties"]["end"].pop("pattern")
    _allow_zero(s, "subscribe")
    _allow_zero(s, "adjust_start_time")


def _patch_active_symbols(s: dict) -> None:
    _remove(s, "landing_company", "landing_company_short", "product_type", "barrier_category", *_LEGACY_FIELDS)


def _patch_proposal(s: dict) -> None:
    _remove(s, *_PROPOSAL_LEGACY_ONLY, *_LEGACY_FIELDS)
    _underlying_symbol(s)
    _open_contract_type(s)


def _patch_buy(s: dict) -> None:
    _remove(s, *_LEGACY_FIELDS)
    s["properties"]["buy"].pop("pattern")
    _allow_zero(s, "subscribe")
    params = s["properties"]["parameters"]
    _remove(params, *_PROPOSAL_LEGACY_ONLY)
    _underlying_symbol(params)
    _open_contract_type(params)


def _patch_poc(s: dict) -> None:
    _remove(s, *_LEGACY_FIELDS)
    _allow_zero(s, "subscribe")


def _patch_balance(s: dict) -> None:
    # New API: only the OTP socket's own account; `account: all` is gone.
    _remove(s, "account", *_LEGACY_FIELDS)


def _patch_sell(s: dict) -> None:
    _remove(s, *_LEGACY_FIELDS)


_NEW_API_PATCHES = {
    "ticks": _patch_ticks,
    "ticks_history": _patch_ticks_history,
    "active_symbols": _patch_active_symbols,
    "proposal": _patch_proposal,
    "buy": _patch_buy,
    "proposal_open_contract": _patch_poc,
    "balance": _patch_balance,
    "sell": _patch_sell,
}

# `portfolio` has no schema in the copied set: written from API.md §5.12 and the
# Legacy portfolio schema's shape (contract_type filter, no loginid in New).
_PORTFOLIO_SCHEMA = {
    "$schema": "http://json-schema.org/draft-04/schema#",
    "type": "object",
    "additionalProperties": False,
    "required": ["portfolio"],
    "properties": {
        "portfolio": {"type": "integer", "enum": [1]},
        "contract_type": {"type": "array", "items": {"type": "string"}},
        "passthrough": {"type": "object"},
        "req_id": {"type": "integer"},
    },
}


# `profit_table` and `statement` have no schema in the copied set either: written from the Legacy
# schemas of binary-com/websockets (config/v3/<call>/send.json), without loginid (API.md §5.12).
_LIST_FIELDS = {
    "description": {"type": "integer", "enum": [0, 1]},
    "limit": {"type": "number", "minimum": 0, "maximum": 999},
    "offset": {"type": "number", "minimum": 0},
    "passthrough": {"type": "object"},
    "req_id": {"type": "integer"},
}
_PROFIT_TABLE_SCHEMA = {
    "$schema": "http://json-schema.org/draft-04/schema#",
    "type": "object",
    "additionalProperties": False,
    "required": ["profit_table"],
    "properties": {
        "profit_table": {"type": "integer", "enum": [1]},
        "contract_type": {"type": "array", "items": {"type": "string"}},
        "date_from": {"type": "string"},
        "date_to": {"type": "string"},
        "sort": {"type": "string", "enum": ["ASC", "DESC"]},
        **_LIST_FIELDS,
    },
}
_STATEMENT_SCHEMA = {
    "$schema": "http://json-schema.org/draft-04/schema#",
    "type": "object",
    "additionalProperties": False,
    "required": ["statement"],
    "properties": {
        "statement": {"type": "integer", "enum": [1]},
        "action_type": {
            "type": "string",
            "enum": ["buy", "sell", "deposit", "withdrawal", "escrow", "adjustment", "virtual_credit"],
        },
        "date_from": {"type": "integer", "minimum": 0, "maximum": 9999999999},
        "date_to": {"type": "integer", "minimum": 0, "maximum": 9999999999},
        **_LIST_FIELDS,
    },
}
_INLINE_SCHEMAS = {
    "portfolio": _PORTFOLIO_SCHEMA,
    "profit_table": _PROFIT_TABLE_SCHEMA,
    "statement": _STATEMENT_SCHEMA,
}


@cache
def schema_for(method: str) -> dict:
    if method in _INLINE_SCHEMAS:
        return _INLINE_SCHEMAS[method]
    schema = json.loads((SCHEMA_DIR / method / "send.json").read_text())
    schema = copy.deepcopy(schema)
    patch = _NEW_API_PATCHES.get(method)
    if patch:
        patch(schema)
    return schema


@cache
def _validator(method: str) -> Draft4Validator:
    return Draft4Validator(schema_for(method))


@dataclass
class ValidationResult:
    method: str | None
    details: dict[str, str] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.method is not None and not self.errors


def find_method(message: dict) -> str | None:
    for name in METHODS:
        if name in message:
            return name
    return None


def validate(message: object) -> ValidationResult:
    """Which call this is and, if it breaks the schema, field → reason (Deriv's `details`)."""
    if not isinstance(message, dict):
        return ValidationResult(None, errors=["request is not a JSON object"])
    method = find_method(message)
    if method is None:
        return ValidationResult(None, errors=["no known method key: " + ", ".join(sorted(message)[:5])])
    result = ValidationResult(method)
    for error in sorted(_validator(method).iter_errors(message), key=lambda e: list(e.absolute_path)):
        path = [str(p) for p in error.absolute_path]
        if error.validator == "required":
            missing = error.message.split("'")[1]
            name = ".".join([*path, missing])
            result.details[name] = "Missing property."
        elif error.validator == "additionalProperties":
            extras = sorted(set(error.instance) - set(error.schema.get("properties", {})))
            for extra in extras:
                result.details[".".join([*path, extra])] = "Properties not allowed: " + extra + "."
        else:
            name = ".".join(path) or method
            result.details.setdefault(name, _reason(error))
        result.errors.append(f"{'.'.join(path) or '<root>'}: {error.message}")
    return result


def _reason(error) -> str:
    if error.validator == "type":
        kind = error.validator_value
        return {"number": "Not a number.", "integer": "Not an integer.", "string": "Not a string."}.get(
            kind if isinstance(kind, str) else "", "Wrong type."
        )
    if error.validator == "enum":
        return "Not an allowed value."
    if error.validator == "pattern":
        return "String does not match pattern."
    if error.validator in ("minimum", "maximum"):
        return "Number out of range."
    return "Invalid value."
