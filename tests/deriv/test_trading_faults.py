"""Deriv trading when things go wrong: refusals, dropped sockets, rate limits, junk, expired tokens, failing OTPs.

Each runs against the fake through the connection manager. Nothing is bought
twice, nothing is lost: the autouse ledger check runs after every test.
"""

import json
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from apps.accounts.models import AccountType
from apps.deriv import crypto, services
from apps.deriv.models import Connection, DerivAccount, DerivLink
from apps.deriv.session import AccountSession
from apps.deriv.signals import deriv_accounts_changed
from apps.trading.models import Contract, Status

from .conftest import wait_for
from .support import at_deriv_contract, buy, deriv, deriv_market, ledger_balance, link_user, run_until_settled

pytestmark = pytest.mark.django_db(transaction=True)


def connection_of(account) -> tuple[str, str]:
    return tuple(DerivAccount.objects.filter(trading_account=account).values_list("connection", "reason").get())


def mirror_matches(fake, account) -> bool:
    return ledger_balance(account) == fake.balance(account.external_id)


# ---------------------------------------------------------------- Deriv refuses the buy


@pytest.mark.parametrize(
    ("code", "words"),
    [
        ("InvalidContractProposal", "price changed"),
        ("InsufficientBalance", "does not cover this stake"),
        ("PriceMoved", "price changed"),
    ],
)
def test_a_refused_buy_shows_a_clear_message_and_leaves_the_balance_as_it_was(trader, account, deriv_on, code, words):
    market = deriv_market()
    before = ledger_balance(account)
    deriv_on.fail_next("buy", code)

    with pytest.raises(ValidationError) as refused:
        buy(trader, account, market)

    assert words in " ".join(refused.value.messages) and "stake is back" in " ".join(refused.value.messages)
    contract = Contract.objects.get()
    assert contract.status == Status.REFUSED and contract.amount_paid == contract.stake
    assert ledger_balance(account) == before == deriv_on.balance(account.external_id)
    assert deriv_on.open_contracts() == []


def test_deriv_refusing_the_price_quote_shows_derivs_reason(trader, account, deriv_on):
    deriv_on.fail_next(
        "proposal",
        "ContractBuyValidationError",
        "Minimum stake of 0.35 and maximum payout of 50000.00. Current payout is 50631.97.",
        details={"field": "amount"},
    )
    with pytest.raises(ValidationError) as refused:
        buy(trader, account, deriv_market())
    assert "maximum payout of 50000.00" in refused.value.messages[0]
    assert not deriv_on.requests("buy")


def test_the_minimum_stake_comes_from_derivs_quote(trader, account, deriv_on, monkeypatch):
    from apps.deriv import adapter

    real_parse = adapter.parse_proposal

    def dearer(message):  # Deriv raised its minimum since the market row was written
        quote = real_parse(message)
        return adapter.Proposal(**{**quote.__dict__, "min_stake": Decimal("20.00")})

    monkeypatch.setattr(adapter, "parse_proposal", dearer)
    with pytest.raises(ValidationError) as refused:
        buy(trader, account, deriv_market(), stake="10.00")
    assert "minimum stake on R 10 at Deriv is 20.00 USD" in refused.value.messages[0]
    assert not deriv_on.requests("buy")


# ---------------------------------------------------------------- dropped sockets


def test_a_socket_dropped_between_the_buy_and_the_first_update_still_follows_and_settles_once(
    trader, account, deriv_on, manager
):
    deriv_on.drop_on_next("buy", after_response=True)
    contract = buy(trader, account, deriv_market())
    assert contract.status == Status.OPEN

    session = manager.session(account)
    wait_for(lambda: session.client.connections >= 2 and session.connected, timeout=10)
    run_until_settled(deriv_on, [contract.pk])

    contract.refresh_from_db()
    expected = at_deriv_contract(deriv_on, contract.deriv_contract_id)["status"]
    assert contract.status == {"won": Status.WON, "lost": Status.LOST}[expected]
    wait_for(lambda: mirror_matches(deriv_on, account))
    assert len(deriv_on.requests("buy")) == 1


def test_a_buy_whose_answer_never_came_is_reconciled_never_sent_again(trader, account, deriv_on, manager):
    deriv_on.drop_on_next("buy")  # Deriv buys, the socket dies before the answer

    contract = buy(trader, account, deriv_market())

    assert contract.status in (Status.PENDING, Status.OPEN)
    wait_for(lambda: Contract.objects.get(pk=contract.pk).status == Status.OPEN, timeout=15)
    contract.refresh_from_db()
    (at_deriv,) = deriv_on.open_contracts(account.external_id)
    assert contract.deriv_contract_id == at_deriv
    assert len(deriv_on.requests("buy")) == 1 and deriv_on.requests("portfolio")
    run_until_settled(deriv_on, [contract.pk])
    wait_for(lambda: mirror_matches(deriv_on, account))


def test_a_buy_that_never_reached_deriv_is_refunded_after_the_portfolio_check(trader, account, deriv_on, monkeypatch):
    from apps.deriv.client import DerivClient
    from apps.deriv.errors import UncertainPurchase

    real_buy = DerivClient.buy

    def lost(self, request, *args, **kwargs):  # the frame never left: Deriv has nothing
        DerivClient.buy = real_buy
        raise UncertainPurchase("socket lost before the buy answer")

    monkeypatch.setattr(DerivClient, "buy", lost)
    monkeypatch.setattr(AccountSession, "UNCERTAIN_WAIT_S", 1.0)
    try:
        buy(trader, account, deriv_market())  # PENDING, or already reconciled by the time we look
    except ValidationError as refused:
        assert "did not take the order" in refused.messages[0]
    contract = Contract.objects.get()
    wait_for(lambda: Contract.objects.get(pk=contract.pk).status == Status.REFUSED, timeout=15)
    assert deriv_on.open_contracts() == [] and deriv_on.requests("portfolio")
    assert deriv_on.requests("profit_table") and deriv_on.requests("statement")
    assert mirror_matches(deriv_on, account)
    # The next order goes through.
    assert buy(trader, account, deriv_market(), key="next").status == Status.OPEN


def test_ten_open_contracts_survive_a_dropped_socket_and_each_settles_once(trader, account, deriv_on, manager):
    market = deriv_market()
    contracts = [buy(trader, account, market, key=f"ten-{i}", stake="1.00") for i in range(10)]
    assert {c.status for c in contracts} == {Status.OPEN}
    session = manager.session(account)

    assert deriv_on.drop_sockets("demo") == 1
    wait_for(lambda: session.client.connections >= 2 and session.connected, timeout=10)
    wait_for(lambda: deriv_on.subscription_count("demo") >= 11, timeout=10)  # balance + ten contracts
    run_until_settled(deriv_on, [c.pk for c in contracts])

    assert deriv_on.open_contracts() == []
    for contract in contracts:
        contract.refresh_from_db()
        expected = at_deriv_contract(deriv_on, contract.deriv_contract_id)["status"]
        assert contract.status == {"won": Status.WON, "lost": Status.LOST}[expected]
    wait_for(lambda: mirror_matches(deriv_on, account))


def test_already_subscribed_on_resubscription_falls_back_to_asking_until_settled(trader, account, deriv_on, manager):
    contract = buy(trader, account, deriv_market())
    session = manager.session(account)
    deriv_on.fail_next("proposal_open_contract", "AlreadySubscribed")
    deriv_on.drop_sockets("demo")
    wait_for(lambda: session.client.connections >= 2 and session.connected, timeout=10)
    wait_for(lambda: session.followed.get(contract.pk, "gone") is None, timeout=5)

    run_until_settled(deriv_on, [contract.pk])
    contract.refresh_from_db()
    assert contract.status in (Status.WON, Status.LOST)
    wait_for(lambda: mirror_matches(deriv_on, account))


# ---------------------------------------------------------------- limits and junk


def test_a_rate_limit_refuses_the_order_and_shows_the_account_disconnected_until_it_passes(
    trader, account, deriv_on, monkeypatch, settings
):
    monkeypatch.setattr(AccountSession, "RATE_COOLOFF_S", 0.5)
    settings.DERIV = {**settings.DERIV, "COOL_OFF_S": 0.5}  # a minute in production
    deriv_on.fail_next("buy", "RateLimit")
    with pytest.raises(ValidationError) as refused:
        buy(trader, account, deriv_market())
    assert "limiting requests" in refused.value.messages[0]
    # For a moment the account says why; then it trades again by itself.
    assert connection_of(account) == (Connection.DISCONNECTED, services.REASON_RATE)
    wait_for(lambda: connection_of(account) == (Connection.CONNECTED, ""), timeout=5)
    assert buy(trader, account, deriv_market(), key="after").status == Status.OPEN


def test_a_rate_limit_while_disconnected_is_refused_at_once_with_its_reason(trader, account, deriv_on):
    services.deriv_account_connection(account_id=account.pk, connected=False, reason=services.REASON_RATE)
    with pytest.raises(ValidationError) as refused:
        buy(trader, account, deriv_market())
    assert services.REASON_RATE in refused.value.messages[0] and not Contract.objects.exists()


def test_malformed_messages_are_logged_and_ignored(trader, account, deriv_on, manager, caplog):
    contract = buy(trader, account, deriv_market())
    session = manager.session(account)
    sub = session.followed[contract.pk]
    junk = [
        "{not json",
        json.dumps({"no": "msg_type"}),
        json.dumps({"msg_type": "proposal_open_contract", "subscription": {"id": sub.id}, "proposal_open_contract": 7}),
        json.dumps(
            {
                "msg_type": "proposal_open_contract",
                "subscription": {"id": sub.id},
                "proposal_open_contract": {"contract_id": "x", "is_sold": 1, "status": "won", "sell_price": "lots"},
            }
        ),
        json.dumps({"msg_type": "balance", "subscription": {"id": session.balance_sub.id}, "balance": {"x": 1}}),
    ]
    with caplog.at_level("WARNING"):
        for text in junk:
            deriv_on.send_raw(text, "demo")
        run_until_settled(deriv_on, [contract.pk])
    contract.refresh_from_db()
    assert contract.status in (Status.WON, Status.LOST)
    assert "malformed" in caplog.text
    wait_for(lambda: mirror_matches(deriv_on, account))


# ---------------------------------------------------------------- tokens and OTPs


def test_an_expired_token_mid_session_disconnects_the_account_until_deriv_is_linked_again(
    user, deriv_on, manager, monkeypatch
):
    monkeypatch.setattr(AccountSession, "RETRY_INITIAL_S", 0.2)
    token = deriv_on.issue_token()
    link_user(user, deriv_on, token=token)  # no refresh token
    account = deriv(user, AccountType.DERIV_DEMO)
    session = manager.session(account)
    wait_for(lambda: session.connected, timeout=10)
    open_one = buy(user, account, deriv_market(), key="before")

    deriv_on.expire_token(token)
    deriv_on.drop_sockets("demo")  # the next socket needs an OTP, and the token is dead

    wait_for(lambda: connection_of(account) == (Connection.DISCONNECTED, services.REASON_EXPIRED), timeout=10)
    with pytest.raises(ValidationError) as refused:
        buy(user, account, deriv_market(), key="during")
    assert services.REASON_EXPIRED in refused.value.messages[0]
    assert Contract.objects.count() == 1

    # Linking again: the session comes back by itself and follows the contract it left open.
    services.deriv_link_store(
        user=user, access_token_encrypted=crypto.encrypt(deriv_on.issue_token()), scope="trade account_manage"
    )
    wait_for(lambda: connection_of(account) == (Connection.CONNECTED, ""), timeout=10)
    wait_for(lambda: session.connected, timeout=10)
    run_until_settled(deriv_on, [open_one.pk])
    assert buy(user, account, deriv_market(), key="after").status == Status.OPEN


def test_an_expired_token_with_a_refresh_token_reconnects_without_the_trader_noticing(user, deriv_on, manager):

    token = deriv_on.issue_token()
    refresh = deriv_on._call(lambda: _refresh_token_for(deriv_on, token))
    link_user(user, deriv_on, token=token, refresh_token=refresh)
    account = deriv(user, AccountType.DERIV_DEMO)
    session = manager.session(account)
    wait_for(lambda: session.connected, timeout=10)

    # The session records the drop (and then the reconnection) from its own thread, a moment after the
    # socket is back: wait for both records, not for a "connected" written before the drop.
    states = []

    def record(sender, **kwargs):
        states.append(connection_of(account)[0])

    deriv_accounts_changed.connect(record, weak=False, dispatch_uid="test.record_states")
    try:
        deriv_on.expire_token(token)
        deriv_on.drop_sockets("demo")
        wait_for(lambda: session.client.connections >= 2 and session.connected, timeout=10)
        wait_for(lambda: Connection.DISCONNECTED in states and states[-1] == Connection.CONNECTED, timeout=10)
    finally:
        deriv_accounts_changed.disconnect(dispatch_uid="test.record_states")
    assert connection_of(account) == (Connection.CONNECTED, "")
    assert DerivLink.objects.get(user=user).is_connected
    assert buy(user, account, deriv_market()).status == Status.OPEN


def _refresh_token_for(fake, access_token: str) -> str:
    """A refresh token bound to this access token's grant (the fake keeps them on its loop)."""
    held = fake.tokens[access_token]
    value = fake._secret("ory_rt_")
    fake.refresh_tokens[value] = held
    return value


def test_an_otp_that_fails_is_fetched_again_and_trading_goes_on(trader, account, deriv_on, manager):
    contract = buy(trader, account, deriv_market())
    session = manager.session(account)
    deriv_on.fail_next("otp", "InternalError", "Deriv had a hiccup", status=503)

    deriv_on.drop_sockets("demo")

    wait_for(lambda: session.client.connections >= 2 and session.connected, timeout=10)
    wait_for(lambda: connection_of(account) == (Connection.CONNECTED, ""), timeout=5)
    assert DerivLink.objects.get(user=trader).is_connected
    run_until_settled(deriv_on, [contract.pk])
    wait_for(lambda: mirror_matches(deriv_on, account))


def test_deriv_unreachable_disconnects_the_account_with_the_reason_and_it_recovers_by_itself(
    trader, account, deriv_on, manager
):
    deriv_on.rest_rate_limit = 100_000
    deriv_on.fail_next("otp", "InternalError", status=503, times=60)
    deriv_on.drop_sockets("demo")

    wait_for(lambda: connection_of(account)[0] == Connection.DISCONNECTED, timeout=5)
    reason = connection_of(account)[1]
    assert reason in (services.REASON_DOWN, services.REASON_SOCKET)
    with pytest.raises(ValidationError) as refused:
        buy(trader, account, deriv_market())
    assert "disconnected from Deriv" in refused.value.messages[0]

    wait_for(lambda: connection_of(account) == (Connection.CONNECTED, ""), timeout=20)
    assert buy(trader, account, deriv_market(), key="back").status == Status.OPEN


# ---------------------------------------------------------------- secrets


def test_no_token_or_otp_reaches_the_logs_on_any_of_these_paths(trader, account, deriv_on, manager, caplog):
    market = deriv_market()
    with caplog.at_level("DEBUG"):
        deriv_on.fail_next("buy", "InsufficientBalance")
        with pytest.raises(ValidationError):
            buy(trader, account, market, key="a")
        deriv_on.drop_on_next("buy")
        buy(trader, account, market, key="b")
        wait_for(lambda: not Contract.objects.filter(status=Status.PENDING).exists(), timeout=15)
        deriv_on.fail_next("otp", "Unauthorized", status=401)
        deriv_on.drop_sockets("demo")
        session = manager.session(account)
        wait_for(lambda: connection_of(account)[0] == Connection.DISCONNECTED, timeout=10)
        # Deriv accepts the token again on the next try: the session comes back by itself.
        wait_for(lambda: session.connected and connection_of(account)[0] == Connection.CONNECTED, timeout=15)
        deriv_on.send_raw("{junk otp=abc", "demo")
        run_until_settled(deriv_on, list(Contract.objects.filter(status=Status.OPEN).values_list("pk", flat=True)))
    text = caplog.text + "".join(str(r.args) for r in caplog.records)
    leaked = [secret for secret in deriv_on.issued_secrets() if secret in text]
    assert not leaked, "a token or OTP was logged"
    wait_for(lambda: mirror_matches(deriv_on, account))


def test_a_contract_update_that_overtakes_the_buy_answer_is_not_taken_for_it(trader, account, deriv_on):
    import threading

    deriv_on.inject_ticks("R_10", [100, 101])
    deriv_on.delay_next("buy", 0.6)  # Deriv's answer is late; the contract's first updates are not
    bought = {}
    buying = threading.Thread(target=lambda: bought.setdefault("contract", buy(trader, account, deriv_market())))
    buying.start()
    wait_for(lambda: deriv_on.requests("buy"), timeout=5)
    deriv_on.advance(4)  # ticks: updates of the new contract go out before the buy's answer
    buying.join(10)

    contract = bought["contract"]
    assert contract.status == Status.OPEN and contract.deriv_contract_id
    assert not deriv_on.requests("portfolio")  # no reconciliation was needed
    run_until_settled(deriv_on, [contract.pk])
