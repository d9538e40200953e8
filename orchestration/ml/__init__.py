"""Modelling code with no Dagster in it: segments, churn, lifetime value."""
