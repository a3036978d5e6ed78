from decimal import Decimal


def money_text(amount, *, signed: bool = False) -> str:
    """An amount of money as every page shows it: thousands grouped, two decimals ("10,000.00", "-3.50").

    `signed` adds "+" to a gain ("+8.00"), as a P&L reads.
    """
    return f"{Decimal(str(amount)):{'+' if signed else ''},.2f}"


def fees_text(*, commission, markup) -> str:
    """The shares taken from a win, as forms and notices say them: " · commission 1.60 · partner markup 0.80"."""
    commission_part = f" · commission {money_text(commission)}" if commission else ""
    markup_part = f" · partner markup {money_text(markup)}" if markup else ""
    return commission_part + markup_part
