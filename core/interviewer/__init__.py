"""The interviewer: a planner that spends the question budget, and strategies that word it."""
