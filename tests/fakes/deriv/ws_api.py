"""The WebSocket calls of Deriv's New API, their streams and the contract engine (API.md §4, §5, §9, §10)."""

import json
import time
import uuid
from collections import deque
from decimal import Decimal

from .contracts import Contract, ContractRefused, money, price
from .market import SYMBOLS, Tick, fmt_quote
from .state import Drop, InvalidRequest, Socket, Sub
from .validation import LEGACY_ONLY, find_method, validate

AUTH_CALLS = ("buy", "sell", "balance", "proposal_open_contract", "portfolio", "profit_table", "statement")
DEFAULT_MESSAGES = {
    "AuthorizationRequired": "Please log in.",
    "InvalidToken": "The token is invalid.",
    "PermissionDenied": "Permission denied, requires trade scope(s).",
    "RateLimit": "You have reached the rate limit for {call}.",
    "AlreadySubscribed": "You are already subscribed to {call}.",
    "InvalidSymbol": "Symbol invalid.",
    "MarketIsClosed": "This market is presently closed.",
    "ContractBuyValidationError": "Minimum stake of 0.35 and maximum payout of 50000.00. Current stake is 0.10.",
    "OfferingsValidationError": "Trading is not offered for this duration.",
    "ContractCreationFailure": "Cannot create contract.",
    "InvalidContractProposal": "Unknown contract proposal",
    "PriceMoved": "The underlying market has moved too much since you priced the contract.",
    "InsufficientBalance": "Your account balance is insufficient to buy this contract.",
    "InvalidSellContractProposal": "This contract was not found among your open positions.",
    "ContractSellValidationError": "Resale of this contract is not offered.",
    "ContractNotFound": "This contract was not found among your open positions.",
    "InternalError": "Sorry, an error occurred while processing your request.",
    "WrongResponse": "Sorry, an error occurred while processing your request.",
    "InputValidationFailed": "Input validation failed: {call}",
    "UnrecognisedRequest": "Unrecognised request.",
}
# Deriv's Limits page: per socket, a minute. Everything not named is "general".
WS_MINUTE_LIMITS = {"pricing": 360, "balance": 100, "portfolio": 30, "general": 220}
WS_GROUPS = {
    "proposal": "pricing",
    "proposal_open_contract": "pricing",
    "buy": "pricing",
    "sell": "pricing",
    "balance": "balance",
    "portfolio": "portfolio",
}
STREAM_TYPES = {
    "ticks": ("ticks",),
    "candles": ("candles",),
    "proposal": ("proposal",),
    "proposal_open_contract": ("proposal_open_contract",),
    "balance": ("balance",),
}


class WsError(Exception):
    def __init__(self, code: str, message: str, details: dict | None = None):
        super().__init__(message)
        self.code, self.message, self.details = code, message, details


class WsApi:
    """Mixin of FakeDeriv: everything said on a socket."""

    # ------------------------------------------------------------------ dispatch

    def _on_message(self, sock: Socket, raw) -> None:
        where = f"ws:{sock.kind}"
        try:
            req = json.loads(raw)
        except (TypeError, ValueError):
            req = None
        if not isinstance(req, dict):
            self.invalid_requests.append(InvalidRequest(where, raw, ("not a JSON object",)))
            self._error(sock, {}, "error", "BadRequest", "The request was invalid.")
            return
        method = find_method(req)
        now = time.monotonic()
        while sock.recent and now - sock.recent[0] >= 1.0:
            sock.recent.popleft()
        if len(sock.recent) >= self.ws_rate_limit or not self._within_minute_limit(sock, method):
            call = method or "error"
            self._error(sock, req, call, "RateLimit", f"You have reached the rate limit for {call}.")
            return
        sock.recent.append(now)
        self.ws_requests.append((sock.kind, sock.account_id, req))

        if method is None:
            legacy = [k for k in LEGACY_ONLY if k in req]
            reason = f"{legacy[0]} is Legacy-only" if legacy else "no known method"
            self.invalid_requests.append(InvalidRequest(where, req, (reason,)))
            self._error(sock, req, "error", "UnrecognisedRequest", "Unrecognised request.")
            return
        result = validate(req)
        if not result.ok:
            self.invalid_requests.append(InvalidRequest(where, req, tuple(result.errors)))
            if method == "ticks_history" and set(result.details) == {"granularity"}:
                self._error(sock, req, method, "InvalidGranularity", "Granularity is not valid.")
            else:
                message = "Input validation failed: " + ", ".join(result.details)
                self._error(sock, req, method, "InputValidationFailed", message, result.details)
            return

        fault = self._take_fault(method)
        if fault and fault.kind == "error":
            message = fault.message or DEFAULT_MESSAGES.get(fault.code or "InternalError", fault.code).format(
                call=method
            )
            if fault.processed and sock.account_id is not None:
                self._suppress = sock  # carried out; only the answer is lost
                try:
                    getattr(self, f"_ws_{method}")(sock, req)
                except (WsError, ContractRefused):
                    pass
                finally:
                    self._suppress = None
            self._error(sock, req, method, fault.code, message, fault.details)
            return
        if method in AUTH_CALLS and sock.account_id is None:
            self._error(sock, req, method, "AuthorizationRequired", "Please log in.")
            return
        self._current_delay = fault.seconds if fault and fault.kind == "delay" else 0.0
        dropping = fault if fault and fault.kind == "drop" else None
        if dropping and not dropping.after_response:
            self._suppress = sock
        try:
            getattr(self, f"_ws_{method}")(sock, req)
        except (WsError, ContractRefused) as exc:
            self._error(sock, req, method, exc.code, exc.message, exc.details)
        finally:
            self._current_delay = 0.0
            self._suppress = None
        if dropping:
            if dropping.after_response:
                sock.outbox.put_nowait((None, dropping.drop))
            else:
                sock.closed = True
                self.loop.create_task(self._drop(sock, dropping.drop))

    def _within_minute_limit(self, sock: Socket, method: str | None) -> bool:
        """Count the request in its group's minute (on the fake's clock); False when that minute is full."""
        group = WS_GROUPS.get(method or "", "general")
        now = self.clock.now()
        sent = sock.minute.setdefault(group, deque())
        while sent and now - sent[0] >= 60:
            sent.popleft()
        if len(sent) >= self.ws_minute_limits[group]:
            return False
        sent.append(now)
        return True

    def _reply(self, sock: Socket, req: dict, msg_type: str, payload: dict, sub: Sub | None = None) -> None:
        message = {"msg_type": msg_type, **payload}
        if sub is not None:
            message["subscription"] = {"id": sub.id}
        self._echo(message, req)
        self._enqueue(sock, sub, message)

    def _echo(self, message: dict, req: dict) -> None:
        if isinstance(req.get("req_id"), int):
            message["req_id"] = str(req["req_id"]) if "req_id_string" in self.quirks else req["req_id"]
        if isinstance(req.get("passthrough"), dict):
            message["passthrough"] = req["passthrough"]
        # New API: echo_req is not guaranteed; leave it out now and then so clients never rely on it.
        if not self.omit_echo_req or self.rng.random() < 0.5:
            message["echo_req"] = req

    def _error(self, sock, req, msg_type, code, message, details=None) -> None:
        error = {"code": code, "message": message} if code else {"message": message}
        if details:
            error["details"] = details
        self._reply(sock, req, msg_type, {"error": error})

    def _stream_send(self, sock: Socket, sub: Sub, msg_type: str, payload: dict) -> None:
        if msg_type == "proposal_open_contract" and "silent_poc_streams" in self.quirks:
            return
        sub_id = sub.id
        if msg_type == "proposal_open_contract" and "poc_other_subscription" in self.quirks:
            sub_id = str(uuid.uuid4())
            payload = {msg_type: {**payload[msg_type], "id": sub_id}}
        message = {"msg_type": msg_type, **payload, "subscription": {"id": sub_id}}
        if "no_msg_type" in self.quirks:
            del message["msg_type"]
        self._echo(message, sub.echo)
        sock.outbox.put_nowait((sub, message))

    def _subscribe(self, sock: Socket, kind: str, key: tuple | None, req: dict, **data) -> Sub:
        if key is not None and key in sock.keys:
            what = key[1] if len(key) > 1 and key[1] is not None else kind
            raise WsError("AlreadySubscribed", f"You are already subscribed to {what}.")
        if len(sock.subs) >= self.max_subscriptions:
            raise WsError("RateLimit", f"You have reached the limit of {self.max_subscriptions} active subscriptions.")
        sub = Sub(str(uuid.uuid4()), kind, key, req.get("req_id"), req.get("passthrough"), req, data)
        sock.subs[sub.id] = sub
        if key is not None:
            sock.keys[key] = sub
        return sub

    def _money(self, value: Decimal | None, *, strings: bool = True):
        """POC money as the New API sends it: usually strings, sometimes numbers (API.md §5.6, §10.22)."""
        if value is None:
            return None
        if strings and self.string_money and self.rng.random() < 0.8:
            return f"{value:.2f}"
        return float(value)

    def _spot(self, tick: Tick | None, *, strings: bool = True):
        if tick is None:
            return None
        pip = SYMBOLS[tick.symbol].pip_size
        if strings and self.string_money and self.rng.random() < 0.8:
            return fmt_quote(tick.quote, pip)
        return tick.quote

    # ------------------------------------------------------------------ market data

    def _symbol(self, symbol: str) -> str:
        if symbol not in self.series:
            raise WsError("InvalidSymbol", f"Symbol {symbol} invalid.")
        return symbol

    def _tick_payload(self, tick: Tick, sub: Sub | None) -> dict:
        pip = SYMBOLS[tick.symbol].pip_size
        step = 10**-pip
        payload = {
            "ask": round(tick.quote + step, pip),
            "bid": round(tick.quote - step, pip),
            "epoch": tick.epoch,
            "pip_size": pip,
            "quote": tick.quote,
            "symbol": tick.symbol,
        }
        if sub is not None:
            payload["id"] = sub.id
        return {"tick": payload}

    def _ws_ticks(self, sock: Socket, req: dict) -> None:
        symbols = req["ticks"] if isinstance(req["ticks"], list) else [req["ticks"]]
        for symbol in symbols:
            self._symbol(symbol)
        for symbol in symbols:
            sub = None
            if req.get("subscribe") == 1:
                sub = self._subscribe(sock, "ticks", ("ticks", symbol), req, symbol=symbol)
            self._reply(sock, req, "tick", self._tick_payload(self.series[symbol].last, sub), sub)

    def _ws_ticks_history(self, sock: Socket, req: dict) -> None:
        symbol = self._symbol(req["ticks_history"])
        series = self.series[symbol]
        now = int(self.clock.now())
        end = now if req["end"] == "latest" else min(int(req["end"]), now)
        start = req.get("start", end - 86400)
        count = req.get("count", 5000)
        style = req.get("style", "ticks")
        pip = SYMBOLS[symbol].pip_size
        ticks = series.between(start, end)
        sub = None
        if style == "ticks":
            ticks = ticks[-count:] if count else ticks
            if req.get("subscribe") == 1:
                sub = self._subscribe(sock, "ticks", ("ticks", symbol), req, symbol=symbol)
            history = {"prices": [t.quote for t in ticks], "times": [t.epoch for t in ticks]}
            self._reply(sock, req, "history", {"history": history, "pip_size": pip}, sub)
            return
        granularity = req.get("granularity", 60)
        candles = []
        for tick in ticks:
            bucket = tick.epoch - tick.epoch % granularity
            if candles and candles[-1]["epoch"] == bucket:
                candle = candles[-1]
                candle["high"] = max(candle["high"], tick.quote)
                candle["low"] = min(candle["low"], tick.quote)
                candle["close"] = tick.quote
            else:
                candles.append({"epoch": bucket, "open": tick.quote, "high": tick.quote, "low": tick.quote})
                candles[-1]["close"] = tick.quote
        candles = candles[-count:] if count else candles
        if req.get("subscribe") == 1:
            last = dict(candles[-1]) if candles else None
            key = ("candles", symbol, granularity)
            sub = self._subscribe(sock, "candles", key, req, symbol=symbol, granularity=granularity, candle=last)
        self._reply(sock, req, "candles", {"candles": candles, "pip_size": pip}, sub)

    def _ohlc(self, sub: Sub, tick: Tick) -> dict:
        granularity = sub.data["granularity"]
        bucket = tick.epoch - tick.epoch % granularity
        candle = sub.data.get("candle")
        if candle is None or candle["epoch"] != bucket:
            candle = {"epoch": bucket, "open": tick.quote, "high": tick.quote, "low": tick.quote}
        candle["high"] = max(candle["high"], tick.quote)
        candle["low"] = min(candle["low"], tick.quote)
        candle["close"] = tick.quote
        sub.data["candle"] = candle
        pip = SYMBOLS[tick.symbol].pip_size
        return {
            "ohlc": {
                "close": fmt_quote(candle["close"], pip),
                "epoch": tick.epoch,
                "granularity": granularity,
                "high": fmt_quote(candle["high"], pip),
                "id": sub.id,
                "low": fmt_quote(candle["low"], pip),
                "open": fmt_quote(candle["open"], pip),
                "open_time": bucket,
                "pip_size": pip,
                "symbol": tick.symbol,
            }
        }

    def _ws_active_symbols(self, sock: Socket, req: dict) -> None:
        wanted = req.get("contract_type")
        offered = {"CALL", "PUT", "CALLE", "PUTE"}
        items = []
        if not wanted or offered & set(wanted):
            for spec in SYMBOLS.values():
                items.append(
                    {
                        "underlying_symbol": spec.symbol,
                        "underlying_symbol_name": spec.name,
                        "underlying_symbol_type": "stockindex",
                        "market": "synthetic_index",
                        "submarket": "random_index",
                        "subgroup": "synthetics",
                        "pip_size": float(Decimal(1).scaleb(-spec.pip_size)),
                        "exchange_is_open": 1,
                        "is_trading_suspended": 0,
                        "trade_count": 0,
                    }
                )
        self._reply(sock, req, "active_symbols", {"active_symbols": items})

    def _ws_ping(self, sock: Socket, req: dict) -> None:
        self._reply(sock, req, "ping", {"ping": "pong"})

    def _ws_time(self, sock: Socket, req: dict) -> None:
        self._reply(sock, req, "time", {"time": int(self.clock.now())})

    def _ws_forget(self, sock: Socket, req: dict) -> None:
        sub = sock.subs.get(req["forget"])
        if sub is not None:
            sock.end(sub, forgotten=True)
            if sub.kind == "proposal":
                sock.proposals.pop(sub.id, None)  # forgetting a proposal stream invalidates its id
        self._reply(sock, req, "forget", {"forget": 1 if sub else 0})

    def _ws_forget_all(self, sock: Socket, req: dict) -> None:
        types = req["forget_all"] if isinstance(req["forget_all"], list) else [req["forget_all"]]
        kinds = {kind for kind, names in STREAM_TYPES.items() if set(names) & set(types)}
        cancelled = []
        for sub in list(sock.subs.values()):
            if sub.kind in kinds:
                sock.end(sub, forgotten=True)
                if sub.kind == "proposal":
                    sock.proposals.pop(sub.id, None)
                cancelled.append(sub.id)
        self._reply(sock, req, "forget_all", {"forget_all": cancelled})

    # ------------------------------------------------------------------ pricing and trading

    def _proposal_payload(self, proposal_id: str, terms, tick: Tick) -> dict:
        def maybe_string(value: Decimal):
            if self.string_money and self.rng.random() < 0.3:
                return f"{value:.2f}"
            return float(value)

        now = int(self.clock.now())
        payload = {
            "id": proposal_id,
            "ask_price": maybe_string(terms.ask_price),
            "payout": maybe_string(terms.payout),
            "spot": tick.quote,
            "spot_time": tick.epoch,
            "date_start": now,
            "longcode": terms.longcode(),
            "validation_params": {"payout": {"max": "50000.00"}, "stake": {"min": "0.35", "max": "50000.00"}},
        }
        if terms.date_expiry:
            payload["date_expiry"] = terms.date_expiry
        return {"proposal": payload}

    def _ws_proposal(self, sock: Socket, req: dict) -> None:
        terms = price(req, now=self.clock.now())
        sub = None
        if req.get("subscribe") == 1:
            sub = self._subscribe(sock, "proposal", None, req, symbol=terms.symbol)
            proposal_id = sub.id
        else:
            proposal_id = str(uuid.uuid4())
        sock.proposals[proposal_id] = (terms, sub)
        if sub is not None:
            sub.data["terms"] = terms
        payload = self._proposal_payload(proposal_id, terms, self.series[terms.symbol].last)
        self._reply(sock, req, "proposal", payload, sub)

    def _ws_buy(self, sock: Socket, req: dict) -> None:
        if req["buy"] == "1" and "parameters" in req:
            terms = price({**req["parameters"], "proposal": 1}, now=self.clock.now())
            proposal_sub = None
        elif req["buy"] in sock.proposals:
            terms, proposal_sub = sock.proposals[req["buy"]]
        else:
            raise WsError("InvalidContractProposal", "Unknown contract proposal")
        limit = Decimal(str(req["price"]))
        if limit < terms.ask_price:
            raise WsError(
                "PriceMoved",
                "The underlying market has moved too much since you priced the contract. "
                f"The contract price has changed from {limit:.2f} USD to {terms.ask_price:.2f} USD.",
            )
        account = self.accounts[sock.account_id]
        if account.balance < terms.ask_price:
            raise WsError(
                "InsufficientBalance",
                f"Your account balance ({account.currency} {account.balance:.2f}) is insufficient to buy this "
                f"contract ({account.currency} {terms.ask_price:.2f}).",
            )
        sock.proposals.pop(req["buy"], None)
        if proposal_sub is not None:
            sock.end(proposal_sub, forgotten=True)  # buying consumes the proposal and stops its stream
        now = int(self.clock.now())
        contract_id, self._next_contract = self._next_contract, self._next_contract + 1
        txn = self._next_transaction
        self._next_transaction += 1
        expiry = f"{terms.tick_count}T" if terms.tick_count else str(terms.date_expiry)
        shortcode = f"{terms.contract_type}_{terms.symbol}_{terms.payout}_{now}_{expiry}_S0P_0"
        contract = Contract(contract_id, account.account_id, terms, now, txn, shortcode)
        self.contracts[contract_id] = contract
        account.balance -= terms.ask_price
        sub = None
        if req.get("subscribe") == 1:
            sub = self._subscribe(sock, "proposal_open_contract", ("poc", contract_id), req, contract_id=contract_id)
        buy = {
            "balance_after": float(account.balance),
            "buy_price": float(terms.ask_price),
            "contract_id": contract_id,
            "longcode": terms.longcode(),
            "payout": float(terms.payout),
            "purchase_time": now,
            "shortcode": shortcode,
            "start_time": now,
            "transaction_id": txn,
        }
        self._reply(sock, req, "buy", {"buy": buy}, sub)
        self._push_balance(account.account_id)

    def _poc_payload(self, c: Contract, sub: Sub | None, *, strings: bool = True) -> dict:
        terms = c.terms
        bid = c.bid_price()
        current = c.exit or c.current
        payload = {
            "contract_id": c.contract_id,
            "contract_type": terms.contract_type,
            "currency": terms.currency,
            "underlying_symbol": terms.symbol,
            "buy_price": self._money(terms.ask_price, strings=strings),
            "payout": self._money(terms.payout, strings=strings),
            # Legacy schema: a string, "the markup amount charged on a client's stake amount".
            "app_markup_amount": f"{self.contract_markup(c):.2f}",
            "bid_price": self._money(bid, strings=strings),
            "profit": self._money(bid - terms.ask_price, strings=strings),
            "profit_percentage": self._money((bid - terms.ask_price) / terms.ask_price * 100, strings=strings),
            "date_start": c.purchase_time,
            "purchase_time": c.purchase_time,
            "entry_spot": self._spot(c.entry, strings=strings),
            "entry_spot_time": c.entry.epoch if c.entry else None,
            "current_spot": self._spot(current, strings=strings),
            "current_spot_time": current.epoch if current else None,
            "is_expired": 1 if c.exit is not None else 0,
            "is_settleable": 1 if c.exit is not None else 0,
            "is_sold": 1 if c.is_sold else 0,
            "is_valid_to_sell": 1 if c.valid_to_sell else 0,
            "is_valid_to_cancel": 0,
            "is_path_dependent": 0,
            "is_intraday": 1,
            "status": c.status,
            "longcode": terms.longcode(),
            "shortcode": c.shortcode,
            "transaction_ids": {"buy": c.buy_transaction},
        }
        if terms.tick_count:
            payload["tick_count"] = terms.tick_count
            pip = SYMBOLS[terms.symbol].pip_size
            payload["tick_stream"] = [
                {"epoch": t.epoch, "tick": t.quote, "tick_display_value": fmt_quote(t.quote, pip)} for t in c.ticks
            ]
        else:
            payload["date_expiry"] = terms.date_expiry
            payload["expiry_time"] = terms.date_expiry
        if not c.valid_to_sell and not c.is_sold:
            payload["validation_error"] = "Resale of this contract is not offered."
            payload["validation_error_code"] = "ContractSellValidationError"
        if c.exit is not None:
            payload["exit_spot"] = self._spot(c.exit, strings=strings)
            payload["exit_spot_time"] = c.exit.epoch
        if c.is_sold:
            payload["sell_price"] = self._money(c.sell_price, strings=strings)
            payload["sell_time"] = c.sell_time
            payload["date_settlement"] = c.sell_time
            payload["transaction_ids"]["sell"] = c.sell_transaction
        if sub is not None:
            payload["id"] = sub.id
        if strings:
            self._poc_quirks(payload)
        return {"proposal_open_contract": payload}

    def _poc_quirks(self, payload: dict) -> None:
        if "flags_as_booleans" in self.quirks:
            for name in [k for k in payload if k.startswith("is_")]:
                payload[name] = bool(payload[name])
        if "epochs_as_strings" in self.quirks:
            for name in [k for k in payload if k.endswith(("_time", "date_start", "date_expiry", "date_settlement"))]:
                if isinstance(payload[name], int):
                    payload[name] = f"{payload[name]}.0"
        if "odd_field" in self.quirks and payload.get("current_spot_time") is not None:
            payload["current_spot_time"] = [payload["current_spot_time"]]
        if payload.get("is_sold"):
            if "status_null" in self.quirks:
                payload["status"] = None
            if "no_sell_price" in self.quirks:
                payload.pop("sell_price", None)

    def _ws_proposal_open_contract(self, sock: Socket, req: dict) -> None:
        contract_id = req.get("contract_id")
        subscribe = req.get("subscribe") == 1
        if contract_id is None:
            sub = self._subscribe(sock, "proposal_open_contract", ("poc", None), req) if subscribe else None
            mine = [c for c in self.contracts.values() if c.account_id == sock.account_id and not c.is_sold]
            if not mine:
                self._reply(sock, req, "proposal_open_contract", {"proposal_open_contract": {}}, sub)
            for c in mine:
                self._reply(sock, req, "proposal_open_contract", self._poc_payload(c, sub), sub)
            return
        c = self.contracts.get(contract_id)
        if c is None or c.account_id != sock.account_id:
            raise WsError("ContractNotFound", "This contract was not found among your open positions.")
        sub = None
        if subscribe:
            sub = self._subscribe(sock, "proposal_open_contract", ("poc", contract_id), req, contract_id=contract_id)
        self._reply(sock, req, "proposal_open_contract", self._poc_payload(c, sub), sub)
        if sub is not None and c.is_sold:
            sock.end(sub, forgotten=False)  # a settled contract has nothing more to stream

    def _ws_sell(self, sock: Socket, req: dict) -> None:
        c = self.contracts.get(req["sell"])
        if c is None or c.account_id != sock.account_id or c.is_sold:
            raise WsError("InvalidSellContractProposal", "This contract was not found among your open positions.")
        if not c.valid_to_sell:
            raise WsError("ContractSellValidationError", "Resale of this contract is not offered.")
        bid = c.bid_price()
        if Decimal(str(req["price"])) > bid:
            raise WsError("ContractSellValidationError", "Contract price has moved; it is now below your minimum.")
        c.exit = c.current
        self._close_contract(c, "sold", bid)
        sell = {
            "balance_after": float(self.accounts[c.account_id].balance),
            "contract_id": c.contract_id,
            "reference_id": c.buy_transaction,
            "sold_for": float(bid),
            "transaction_id": c.sell_transaction,
        }
        self._reply(sock, req, "sell", {"sell": sell})
        self._push_contract(c)
        self._push_balance(c.account_id)

    def _ws_balance(self, sock: Socket, req: dict) -> None:
        sub = self._subscribe(sock, "balance", ("balance",), req) if req.get("subscribe") == 1 else None
        self._reply(sock, req, "balance", self._balance_payload(sock.account_id, sub), sub)

    def _balance_payload(self, account_id: str, sub: Sub | None) -> dict:
        account = self.accounts[account_id]
        payload = {"balance": float(account.balance), "currency": account.currency, "loginid": account.account_id}
        if sub is not None:
            payload["id"] = sub.id
        return {"balance": payload}

    def _ws_portfolio(self, sock: Socket, req: dict) -> None:
        contracts = [
            {
                "buy_price": float(c.terms.ask_price),
                "contract_id": c.contract_id,
                "contract_type": c.terms.contract_type,
                "currency": c.terms.currency,
                "date_start": c.purchase_time,
                "expiry_time": c.terms.date_expiry,
                "longcode": c.terms.longcode(),
                "payout": float(c.terms.payout),
                "purchase_time": c.purchase_time,
                "shortcode": c.shortcode,
                "underlying_symbol": c.terms.symbol,
                "transaction_id": c.buy_transaction,
            }
            for c in self.contracts.values()
            if c.account_id == sock.account_id and not c.is_sold
        ]
        self._reply(sock, req, "portfolio", {"portfolio": {"contracts": contracts}})

    def _ws_profit_table(self, sock: Socket, req: dict) -> None:
        sold = sorted(
            (c for c in self.contracts.values() if c.account_id == sock.account_id and c.is_sold),
            key=lambda c: (c.sell_time or 0, c.contract_id),
            reverse=req.get("sort", "DESC") == "DESC",
        )
        offset = int(req.get("offset", 0))
        sold = sold[offset : offset + int(req.get("limit", 50))]
        transactions = [
            {
                "app_id": 1,
                "buy_price": float(c.terms.ask_price),
                "contract_id": c.contract_id,
                "contract_type": c.terms.contract_type,
                "duration_type": "ticks" if c.terms.tick_count else "seconds",
                "longcode": c.terms.longcode(),
                "payout": float(c.terms.payout),
                "purchase_time": c.purchase_time,
                "sell_price": float(c.sell_price),
                "sell_time": c.sell_time,
                "shortcode": c.shortcode,
                "transaction_id": c.buy_transaction,
                "underlying_symbol": c.terms.symbol,
            }
            for c in sold
        ]
        self._reply(
            sock, req, "profit_table", {"profit_table": {"count": len(transactions), "transactions": transactions}}
        )

    def _ws_statement(self, sock: Socket, req: dict) -> None:
        rows = []
        for c in self.contracts.values():
            if c.account_id != sock.account_id:
                continue
            common = {"contract_id": c.contract_id, "longcode": c.terms.longcode(), "shortcode": c.shortcode}
            rows.append(
                {
                    **common,
                    "action_type": "buy",
                    "amount": -float(c.terms.ask_price),
                    "payout": float(c.terms.payout),
                    "purchase_time": c.purchase_time,
                    "reference_id": c.buy_transaction,
                    "transaction_id": c.buy_transaction,
                    "transaction_time": c.purchase_time,
                }
            )
            if c.is_sold:
                rows.append(
                    {
                        **common,
                        "action_type": "sell",
                        "amount": float(c.sell_price),
                        "reference_id": c.buy_transaction,
                        "transaction_id": c.sell_transaction,
                        "transaction_time": c.sell_time,
                    }
                )
        if req.get("action_type"):
            rows = [r for r in rows if r["action_type"] == req["action_type"]]
        rows.sort(key=lambda r: (r["transaction_time"] or 0, r["transaction_id"]), reverse=True)
        offset = int(req.get("offset", 0))
        rows = rows[offset : offset + int(req.get("limit", 100))]
        self._reply(sock, req, "statement", {"statement": {"count": len(rows), "transactions": rows}})

    # ------------------------------------------------------------------ clock-driven streams

    def _pump(self) -> None:
        now = self.clock.now()
        fresh = []
        for series in self.series.values():
            fresh.extend(series.generate_until(now))
        fresh.sort(key=lambda t: (t.epoch, t.symbol))
        for tick in fresh:
            self._dispatch_tick(tick)
        for c in list(self.contracts.values()):
            if not c.is_sold and c.terms.date_expiry and c.terms.date_expiry <= now and c.expire():
                self._settle(c)

    def _dispatch_tick(self, tick: Tick) -> None:
        for sock in list(self.sockets):
            for sub in list(sock.subs.values()):
                if sub.data.get("symbol") != tick.symbol:
                    continue
                if sub.kind == "ticks":
                    self._stream_send(sock, sub, "tick", self._tick_payload(tick, sub))
                elif sub.kind == "candles":
                    self._stream_send(sock, sub, "ohlc", self._ohlc(sub, tick))
                elif sub.kind == "proposal" and not sub.data["terms"].constant_price:
                    self._stream_send(sock, sub, "proposal", self._proposal_payload(sub.id, sub.data["terms"], tick))
        for c in list(self.contracts.values()):
            if c.is_sold or c.terms.symbol != tick.symbol or c.purchase_time >= tick.epoch:
                continue
            if c.on_tick(tick):
                self._settle(c)
            else:
                self._push_contract(c)

    def _settle(self, c: Contract) -> None:
        won = c.won()
        self._close_contract(c, "won" if won else "lost", c.terms.payout if won else Decimal("0"))
        self._push_contract(c)
        self._push_balance(c.account_id)

    def _close_contract(self, c: Contract, status: str, sell_price: Decimal) -> None:
        c.status = status
        c.sell_price = money(sell_price)
        # Settlement happens at the deciding tick, however late a frozen clock was advanced.
        c.sell_time = c.exit.epoch if status != "sold" and c.exit else int(self.clock.now())
        c.sell_transaction = self._next_transaction
        self._next_transaction += 1
        self.accounts[c.account_id].balance += c.sell_price

    def _push_contract(self, c: Contract) -> None:
        for sock in list(self.sockets):
            if sock.account_id != c.account_id:
                continue
            for sub in list(sock.subs.values()):
                if sub.kind != "proposal_open_contract" or sub.key not in (("poc", c.contract_id), ("poc", None)):
                    continue
                self._stream_send(sock, sub, "proposal_open_contract", self._poc_payload(c, sub))
                if c.is_sold and sub.key == ("poc", c.contract_id):
                    sock.end(sub, forgotten=False)

    def _push_balance(self, account_id: str) -> None:
        for sock in list(self.sockets):
            if sock.account_id != account_id:
                continue
            for sub in list(sock.subs.values()):
                if sub.kind == "balance":
                    self._stream_send(sock, sub, "balance", self._balance_payload(account_id, sub))


__all__ = ["WsApi", "WsError", "Drop"]
