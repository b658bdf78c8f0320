"""What a test does when something it needs (a broker, a browser, a tool) cannot be had."""

import os

import pytest


def unavailable(reason: str):
    """Skip on a developer's machine; fail under ``CI=true``, where nothing may be missing."""
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason)
