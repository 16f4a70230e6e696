"""State store: compute."""


class ComputeMixin:
    pass
