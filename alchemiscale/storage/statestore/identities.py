"""State store: identities."""


class IdentitiesMixin:
    pass
