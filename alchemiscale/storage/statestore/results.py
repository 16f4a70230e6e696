"""State store: results."""


class ResultsMixin:
    pass
