"""The bots' decision engine: strategies vote, the consensus decides, the regime may veto.

No Django models and no database, so the live worker and the backtest call the
very same code: the live worker evaluates a window of recent prices with fresh
streams, the backtest (backtest.py) feeds long-running ones a price at a time.
"""
