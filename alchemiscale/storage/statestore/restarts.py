"""State store: restarts."""


class RestartsMixin:
    pass
