"""The "deriv" social provider for django-allauth: OAuth2 authorization code + PKCE (API.md §3.1)."""
