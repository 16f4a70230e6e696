"""A read-only dashboard in the user API, under ``/dashboard`` (see ``docs/dashboard.rst``).

Server-rendered Jinja2 pages with a few lines of JS that re-fetch each page's JSON and update it
in place. The login form exchanges identifier and key for the API's own JWT, kept in an
HttpOnly, SameSite=Strict cookie scoped to ``/dashboard``; every page sees only the token's scopes.
"""

from .routes import add_dashboard

__all__ = ["add_dashboard"]
