"""Audiences: marketer-defined boolean expressions over customer_profile, compiled safely."""

from orchestration.audiences.expression import (
    ALLOWED_FUNCTIONS,
    AudienceExpressionError,
    ColumnSpec,
    CompiledExpression,
    compile_expression,
    count_audience,
)

__all__ = [
    "ALLOWED_FUNCTIONS",
    "AudienceExpressionError",
    "ColumnSpec",
    "CompiledExpression",
    "compile_expression",
    "count_audience",
]
