"""The single clock process: APScheduler enqueues idempotent periodic jobs, nothing more."""
