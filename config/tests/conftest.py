import pytest

from .fault_tools import PrivateRedis


@pytest.fixture
def private_redis():
    """A redis-server of the test's own (started here, removed after), for tests that stop it or use it as a broker."""
    redis = PrivateRedis()
    redis.start()
    try:
        yield redis
    finally:
        redis.close()
