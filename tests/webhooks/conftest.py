"""The real receiver fixtures of test_delivery, for every webhook test module."""
from tests.webhooks.test_delivery import fast_retries, receiver  # noqa: F401
