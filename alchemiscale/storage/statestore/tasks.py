"""State store: tasks."""


class TasksMixin:
    pass
