"""What an emulated operation is: a handler from request element to result, and how it is answered."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from lxml import etree

from ..exchange import Response
from .envelope import Node, answer_response


@dataclass(frozen=True)
class Result:
    """A successful result's attributes and child elements, as plain data."""

    attributes: Mapping[str, str | bool | None]
    children: tuple[Node, ...] = ()


class Refusal(Exception):
    """The operation answers Success="false" with this message in its Exceptions.

    `attributes` are set on the result besides the refusal's defaults (ExpiredPasswordUrl)."""

    def __init__(self, message: str, **attributes: str) -> None:
        super().__init__(message)
        self.message = message
        self.attributes = attributes


@dataclass(frozen=True)
class Emulated:
    """One emulated operation of a service.

    `result` names the response's child; `exception` the item of its Exceptions list.
    `refused` are the result's attributes on a refusal: Success and the members .NET
    value types always carry, at their defaults, as XmlSerializer writes them.
    `empty_exceptions`: a success carries an empty `<Exceptions/>`, as the vendor's
    ListUsers and ListAccounts samples show."""

    run: Callable[[etree._Element], Result]
    result: str
    exception: str
    refused: Mapping[str, str | bool] = field(default_factory=lambda: {"Success": False})
    empty_exceptions: bool = False

    def answer(self, namespace: str, operation: str, element: etree._Element) -> Response:
        try:
            result = self.run(element)
        except Refusal as refusal:
            exception = Node(self.exception, {"Severity": "Error"}, text=refusal.message)
            node = Node(
                self.result,
                {**self.refused, **refusal.attributes},
                (Node("Exceptions", children=(exception,)),),
            )
        else:
            empty = (Node("Exceptions"),) if self.empty_exceptions else ()
            node = Node(self.result, result.attributes, result.children + empty)
        return answer_response(namespace, operation, node)
