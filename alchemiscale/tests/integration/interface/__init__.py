"""Tests of the user API (AlchemiscaleAPI)."""
