"""Open311 documents as JSON or XML, from the plain views of ``services.open311``.

JSON follows GeoReport v2: a bare array for lists (services, requests, updates, the answer to
a POST), an object for a service definition. XML has the spec's element names: ``services`` /
``service``, ``service_definition``, ``service_requests`` / ``request``,
``service_request_updates`` / ``request_update``, ``errors`` / ``error``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any
from xml.etree import ElementTree as ET

from aiohttp import web

from services.open311_catalog import ServiceInfo

__all__ = [
    "JSON_TYPE",
    "XML_TYPE",
    "definition_document",
    "error_response",
    "list_response",
    "services_document",
]

JSON_TYPE = "application/json"
XML_TYPE = "text/xml"
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff\ufffe\uffff]")


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return _CONTROL.sub("", str(value))


def _xml(root: ET.Element) -> bytes:
    body: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return body


def _fill(parent: ET.Element, view: Mapping[str, Any]) -> None:
    for name, value in view.items():
        child = ET.SubElement(parent, name)
        child.text = _text(value)


def respond(fmt: str, json_body: Any, xml_root: ET.Element, *, status: int = 200) -> web.Response:
    if fmt == "xml":
        return web.Response(
            body=_xml(xml_root), status=status, content_type=XML_TYPE, charset="utf-8"
        )
    return web.Response(
        text=json.dumps(json_body, ensure_ascii=False),
        status=status,
        content_type=JSON_TYPE,
        charset="utf-8",
    )


def list_response(
    fmt: str, views: Sequence[Mapping[str, Any]], *, root: str, item: str, status: int = 200
) -> web.Response:
    """A list of flat views: ``[{...}, ...]`` or ``<root><item>...</item></root>``."""
    element = ET.Element(root)
    for view in views:
        _fill(ET.SubElement(element, item), view)
    return respond(fmt, list(views), element, status=status)


def _service_view(service: ServiceInfo) -> dict[str, Any]:
    return {
        "service_code": service.code,
        "service_name": service.name,
        "description": service.description,
        "metadata": service.metadata,
        "type": "realtime",
        "keywords": ",".join(service.keywords),
        "group": service.group,
    }


def services_document(fmt: str, services: Sequence[ServiceInfo]) -> web.Response:
    views = [_service_view(service) for service in services]
    return list_response(fmt, views, root="services", item="service")


def definition_document(fmt: str, service: ServiceInfo) -> web.Response:
    attributes = [
        {
            "variable": True,
            "code": attribute.code,
            "datatype": attribute.datatype,
            "required": attribute.required,
            "datatype_description": attribute.description,
            "order": attribute.order,
            "description": attribute.description,
            "values": [{"key": key, "name": name} for key, name in attribute.values],
        }
        for attribute in service.attributes
    ]
    body = {"service_code": service.code, "attributes": attributes}
    root = ET.Element("service_definition")
    ET.SubElement(root, "service_code").text = service.code
    holder = ET.SubElement(root, "attributes")
    for attribute, source in zip(attributes, service.attributes, strict=True):
        element = ET.SubElement(holder, "attribute")
        _fill(element, {k: v for k, v in attribute.items() if k != "values"})
        values = ET.SubElement(element, "values")
        for key, name in source.values:
            _fill(ET.SubElement(values, "value"), {"key": key, "name": name})
    return respond(fmt, body, root)


def error_response(
    fmt: str, status: int, description: str, *, headers: Mapping[str, str] | None = None
) -> web.Response:
    """``[{"code": 400, "description": "..."}]`` or ``<errors><error>...</error></errors>``."""
    text = _CONTROL.sub("", description)
    response = list_response(
        fmt,
        [{"code": status, "description": text}],
        root="errors",
        item="error",
        status=status,
    )
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response
