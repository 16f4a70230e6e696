"""Worked examples that the documentation shows and the test suite runs (client side: they import gufe)."""
