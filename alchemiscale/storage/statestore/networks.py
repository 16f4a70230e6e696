"""State store: networks."""


class NetworksMixin:
    pass
