"""The strategist: a client-side process that runs the Strategies attached to networks.

It talks only to the user API (Neo4j and the object store stay private to the servers), so it
may import gufe and stratocaster while the servers stay gufe-agnostic. See ``docs/strategist.rst``.
"""
