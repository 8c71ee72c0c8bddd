"""Queue tasks and schedules."""
