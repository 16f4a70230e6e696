"""State store: claims."""


class ClaimsMixin:
    pass
