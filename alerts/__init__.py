"""How findings reach people: policy, rendering, channels and the delivery outbox.

``alerts`` depends on :mod:`jobs` (domain values, tables) and never on :mod:`worker`;
it reads no settings and no environment. Collaborators arrive as keyword arguments.
"""

__all__: list[str] = []
