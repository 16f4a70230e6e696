"""State store: admin."""


class AdminMixin:
    pass
