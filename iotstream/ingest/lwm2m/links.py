"""CoRE link format (RFC 6690) as LwM2M clients send it at registration: which objects and instances a
device has, e.g. `</1/0>, </3/0>, </3303/0>;ver=1.1, </>;rt="oma.lwm2m"`.

Clients differ in spacing (lwm2m-node-lib writes `</1>, </2>`) and may put their objects under an
alternate path, named by a link with `rt="oma.lwm2m"`; `objects` strips it.
"""

import re
from dataclasses import dataclass, field

__all__ = ["Link", "LinkFormatError", "objects", "parse_links"]

_LINK = re.compile(r'\s*<([^<>]*)>((?:\s*;\s*[^;,="\s]+(?:=(?:"[^"]*"|[^;,"\s]*))?)*)\s*(?:,|$)')
_PARAM = re.compile(r'\s*;\s*([^;,="\s]+)(?:=("[^"]*"|[^;,"\s]*))?')


class LinkFormatError(ValueError):
    pass


@dataclass(frozen=True)
class Link:
    path: str  # as written, e.g. "/3303/0"
    attributes: dict[str, str] = field(default_factory=dict)  # quotes removed; a bare name maps to ""


def parse_links(text: str) -> list[Link]:
    """The links of a link-format payload; raises LinkFormatError naming where it cannot be read.

    >>> parse_links('</1>, </3303/0>;ver=1.1')
    [Link(path='/1', attributes={}), Link(path='/3303/0', attributes={'ver': '1.1'})]
    """
    links, position = [], 0
    text = text.strip()
    while position < len(text):
        match = _LINK.match(text, position)
        if match is None or match.end() == position:
            raise LinkFormatError(
                f"not a link at character {position + 1}: {text[position : position + 30]!r}"
            )
        attributes = {name: value.strip('"') for name, value in _PARAM.findall(match.group(2))}
        links.append(Link(match.group(1), attributes))
        position = match.end()
    return links


def objects(links: list[Link]) -> list[tuple[int, int | None]]:
    """The (object, instance) pairs a device lists (instance None for an object with none yet), in the
    order given, under its alternate path if it names one.

    >>> objects(parse_links('</lwm2m>;rt="oma.lwm2m", </lwm2m/1/0>, </lwm2m/3303>'))
    [(1, 0), (3303, None)]
    """
    root = next((link.path.rstrip("/") for link in links if link.attributes.get("rt") == "oma.lwm2m"), "")
    pairs = []
    for link in links:
        if not link.path.startswith(root + "/"):
            continue
        parts = link.path[len(root) :].strip("/").split("/")
        if not parts[0] or not all(part.isdigit() for part in parts) or len(parts) > 2:
            continue  # the root itself, or a resource link
        pairs.append((int(parts[0]), int(parts[1]) if len(parts) == 2 else None))
    return pairs
