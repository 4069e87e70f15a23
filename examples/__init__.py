"""Runnable examples; each exposes ``main(client)`` so the test suite can run it on the fake."""
