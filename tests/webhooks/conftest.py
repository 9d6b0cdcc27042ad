"""A real webhook receiver for every webhook test."""
import pytest

from tests.support.webhooks import Receiver, serving


@pytest.fixture
def receiver():
    app = Receiver()
    with serving(app) as base:
        app.base = base
        yield app
