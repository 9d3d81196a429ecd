"""What compiled SQL is made of: closures over a row, and the builders that make them."""

from collections.abc import Callable
from typing import Any

from sqlglot import exp

__all__ = ["Builder", "Compile", "Compiled", "Row"]

Row = dict[str, Any]  # a reading's columns, or a window group's
Compiled = Callable[[Row], Any]
Compile = Callable[[exp.Expr], Compiled]  # compiles a part of an expression, its columns resolved
Builder = Callable[[Any, Compile], Compiled]  # one node type's closure, given how to compile its parts
