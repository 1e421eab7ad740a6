"""CAP 1.2 (OASIS Common Alerting Protocol) rendering of an alert, for emergency systems.

Elements follow the order of the CAP 1.2 schema (alert: identifier, sender, sent, status,
msgType, scope, restriction, note, info; info: language, category, event, urgency, severity,
certainty, effective, senderName, headline, description, web, parameter, area; area: areaDesc,
circle). Times are "YYYY-MM-DDThh:mm:ss+hh:mm" with UTC written "-00:00" (the spec forbids "Z").
Face-match alerts never carry the watchlist subject: only that a match was confirmed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from xml.etree import ElementTree as ET

from vigie.rules.v1.rule_pb2 import RuleKind, Severity

CAP_NS = "urn:oasis:names:tc:emergency:cap:1.2"
AREA_RADIUS_KM = 0.1  # a fixed camera sees about this far

_SEVERITY: dict[int, str] = {
    Severity.SEVERITY_CRITICAL: "Extreme", Severity.SEVERITY_HIGH: "Severe",
    Severity.SEVERITY_MEDIUM: "Moderate", Severity.SEVERITY_LOW: "Minor",
    Severity.SEVERITY_INFO: "Minor",
}
_URGENCY: dict[int, str] = {
    Severity.SEVERITY_CRITICAL: "Immediate", Severity.SEVERITY_HIGH: "Immediate",
    Severity.SEVERITY_MEDIUM: "Expected", Severity.SEVERITY_LOW: "Future",
    Severity.SEVERITY_INFO: "Future",
}
_CATEGORY: dict[int, str] = {
    RuleKind.RULE_KIND_STATIONARY_VEHICLE: "Transport", RuleKind.RULE_KIND_WRONG_WAY: "Transport",
    RuleKind.RULE_KIND_RED_LIGHT: "Transport", RuleKind.RULE_KIND_LINE_CROSSING: "Transport",
    RuleKind.RULE_KIND_CROWD_DENSITY: "Safety", RuleKind.RULE_KIND_CROWD_MOVEMENT: "Safety",
    RuleKind.RULE_KIND_PERSON_ON_GROUND: "Health", RuleKind.RULE_KIND_ILLEGAL_DUMPING: "Env",
}
_IDENTIFIER_UNSAFE = re.compile(r"[\s,<&]")


def cap_time(at: datetime) -> str:
    """CAP DateTime: seconds precision, explicit offset, UTC as -00:00."""
    at = at.astimezone(UTC).replace(microsecond=0)
    return at.strftime("%Y-%m-%dT%H:%M:%S") + "-00:00"


@dataclass(frozen=True)
class CapAlert:
    """What a CAP message says about one alert."""

    alert_id: str
    title: str
    rule_kind: int
    severity: int
    raised_at: datetime
    camera_id: str
    camera_name: str = ""
    lat_deg: float | None = None
    lon_deg: float | None = None
    confirmed: bool = False
    confirmations: int = 0
    parameters: Mapping[str, str] = field(default_factory=dict)
    kind_name: str = ""  # the rule kind's registry name (a plug-in kind has only this)


@dataclass(frozen=True)
class CapIdentity:
    sender: str = "vigie@localhost"
    sender_name: str = "Vigie"
    status: str = "Actual"
    scope: str = "Restricted"
    restriction: str = "Public safety services only"
    language: str = "en-US"
    web: str = ""


def _sub(parent: ET.Element, tag: str, text: str) -> ET.Element:
    element = ET.SubElement(parent, f"{{{CAP_NS}}}{tag}")
    element.text = text
    return element


def render_cap(alert: CapAlert, identity: CapIdentity, sent: datetime) -> bytes:
    """The CAP 1.2 <alert> document (UTF-8 XML with declaration)."""
    ET.register_namespace("", CAP_NS)
    root = ET.Element(f"{{{CAP_NS}}}alert")
    _sub(root, "identifier", "vigie-" + _IDENTIFIER_UNSAFE.sub("-", alert.alert_id))
    _sub(root, "sender", _IDENTIFIER_UNSAFE.sub("-", identity.sender))
    _sub(root, "sent", cap_time(sent))
    _sub(root, "status", identity.status)
    _sub(root, "msgType", "Alert")
    _sub(root, "scope", identity.scope)
    if identity.scope == "Restricted":
        _sub(root, "restriction", identity.restriction)
    _sub(root, "note", "Attention signal from video analytics, "
                       + (f"confirmed by {alert.confirmations} operator(s)" if alert.confirmed
                          else "not yet confirmed by an operator"))
    info = ET.SubElement(root, f"{{{CAP_NS}}}info")
    _sub(info, "language", identity.language)
    _sub(info, "category", _CATEGORY.get(alert.rule_kind, "Security"))
    if alert.kind_name:
        kind = alert.kind_name.replace("_", " ").title()
    elif alert.rule_kind in RuleKind.values():
        kind = RuleKind.Name(alert.rule_kind).removeprefix("RULE_KIND_").replace("_", " ").title()
    else:
        kind = "Alert"
    _sub(info, "event", kind)
    _sub(info, "urgency", _URGENCY.get(alert.severity, "Unknown"))
    _sub(info, "severity", _SEVERITY.get(alert.severity, "Unknown"))
    _sub(info, "certainty", "Observed" if alert.confirmed else "Possible")
    _sub(info, "effective", cap_time(alert.raised_at))
    _sub(info, "senderName", identity.sender_name)
    _sub(info, "headline", alert.title[:160] or kind)
    where = alert.camera_name or alert.camera_id
    _sub(info, "description", f"{alert.title or kind} seen by camera {where} at "
                              f"{cap_time(alert.raised_at)}.")
    if identity.web:
        _sub(info, "web", identity.web)
    for name, value in (("alert_id", alert.alert_id), ("camera_id", alert.camera_id),
                        ("rule_kind", kind), *sorted(alert.parameters.items())):
        parameter = ET.SubElement(info, f"{{{CAP_NS}}}parameter")
        _sub(parameter, "valueName", name)
        _sub(parameter, "value", value)
    area = ET.SubElement(info, f"{{{CAP_NS}}}area")
    _sub(area, "areaDesc", where)
    if alert.lat_deg is not None and alert.lon_deg is not None:
        _sub(area, "circle", f"{alert.lat_deg:.6f},{alert.lon_deg:.6f} {AREA_RADIUS_KM}")
    return bytes(ET.tostring(root, encoding="utf-8", xml_declaration=True))
