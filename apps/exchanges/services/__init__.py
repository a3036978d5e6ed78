"""Spot exchange services: connections and balances, orders and fills, market data, the decision cycle, bots."""
