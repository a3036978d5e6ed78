"""The bots' decision engine: strategies vote, the consensus decides, the regime may veto.

Pure functions of price windows, with no Django models and no database, so the
live worker and the backtest call the very same code.
"""
