"""Receivers of other apps' facts."""
