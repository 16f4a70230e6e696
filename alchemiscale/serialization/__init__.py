"""Keyed chains (gufe-free, for the servers), gufe objects to and from them, and result bytes."""
