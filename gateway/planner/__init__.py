"""The planner: an operation compiled once into fetches and a one-pass projection (compile.py, project.py),
run with one master read and one call per partner (execute.py), strawberry answering whatever it does not
cover. The request path calls `run` at one place and falls back when it returns None."""

from gateway.planner.execute import PlanCache, run

__all__ = ["PlanCache", "run"]
