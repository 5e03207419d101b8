"""What an outage of PostgreSQL, Redis or the broker looks like as an exception.

Its own module, free of DRF and of the app registry, so the Celery app (loaded
before Django is set up) and the error mapping share one list.
"""

from django.db import InterfaceError, OperationalError
from django_redis.exceptions import ConnectionInterrupted
from kombu.exceptions import OperationalError as BrokerUnavailable
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

CACHE_OR_BROKER_DOWN = (ConnectionInterrupted, RedisConnectionError, RedisTimeoutError, BrokerUnavailable)
# What a long-running loop waits out and retries: PostgreSQL or Redis unreachable.
BACKING_SERVICE_DOWN = (OperationalError, InterfaceError, *CACHE_OR_BROKER_DOWN)
# What a task retry can cure: those, or a socket that broke on the way.
TRANSIENT_ERRORS = (*BACKING_SERVICE_DOWN, ConnectionError, TimeoutError)
