"""Feedback Queue: a durable submission queue on Redis (shared core of the services)."""

from feedback_queue.errors import (
    ConfigError,
    Conflict,
    InvalidSubmission,
    NotFound,
    QueueAuthError,
    QueueError,
    QueueFull,
    QueueUnavailable,
    RateLimited,
)
from feedback_queue.job import Job, Status
from feedback_queue.queue import EnqueueResult, Failure, Queue, QueueStats
from feedback_queue.settings import RedisSettings, Settings

__version__ = "0.1.0"

__all__ = [
    "ConfigError",
    "Conflict",
    "EnqueueResult",
    "Failure",
    "InvalidSubmission",
    "Job",
    "NotFound",
    "Queue",
    "QueueAuthError",
    "QueueError",
    "QueueFull",
    "QueueStats",
    "QueueUnavailable",
    "RateLimited",
    "RedisSettings",
    "Settings",
    "Status",
]
