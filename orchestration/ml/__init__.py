"""Modelling code for the ML layer: plain typed functions, no Dagster, testable alone."""
