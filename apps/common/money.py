from decimal import Decimal


def money_text(amount, *, signed: bool = False) -> str:
    """An amount of money as every page shows it: thousands grouped, two decimals ("10,000.00", "-3.50").

    `signed` adds "+" to a gain ("+8.00"), as a P&L reads.
    """
    return f"{Decimal(str(amount)):{'+' if signed else ''},.2f}"
