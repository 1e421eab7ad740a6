"""Privacy invariant 3: a watchlist entry needs a complete consent or legal-basis record, whose
legal basis fits the category, with an expiry in the future and not too far away."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime, timedelta

from vigie.face.v1.watchlist_pb2 import (
    LEGAL_BASIS_ADMINISTRATIVE_ORDER,
    LEGAL_BASIS_CONSENT,
    LEGAL_BASIS_JUDICIAL_ORDER,
    LEGAL_BASIS_VITAL_INTEREST,
    WATCHLIST_CATEGORY_BANNED_FROM_AREA,
    WATCHLIST_CATEGORY_MISSING_PERSON,
    WATCHLIST_CATEGORY_VOLUNTEER,
    WATCHLIST_CATEGORY_WANTED,
    ConsentRecord,
    LegalBasis,
    WatchlistCategory,
)

# Which legal bases can justify which category: a volunteer consents; a wanted person is on
# the list by a judicial decision, never by "consent"; a missing person by their guardian's
# consent, a court, or their vital interest; an area ban by the court or the prefect's order.
ALLOWED_BASES: dict[int, frozenset[int]] = {
    WATCHLIST_CATEGORY_VOLUNTEER: frozenset({LEGAL_BASIS_CONSENT}),
    WATCHLIST_CATEGORY_MISSING_PERSON: frozenset({LEGAL_BASIS_CONSENT, LEGAL_BASIS_JUDICIAL_ORDER,
                                                  LEGAL_BASIS_VITAL_INTEREST}),
    WATCHLIST_CATEGORY_WANTED: frozenset({LEGAL_BASIS_JUDICIAL_ORDER}),
    WATCHLIST_CATEGORY_BANNED_FROM_AREA: frozenset({LEGAL_BASIS_JUDICIAL_ORDER,
                                                    LEGAL_BASIS_ADMINISTRATIVE_ORDER}),
}
CAMERA_ID = re.compile(r"^[a-z0-9][a-z0-9._-]{0,62}$")
MAX_DISPLAY_NAME = 200
MAX_REFERENCE = 200


def category_name(category: int) -> str:
    return str(WatchlistCategory.Name(category)).removeprefix("WATCHLIST_CATEGORY_").lower()


def basis_name(basis: int) -> str:
    return str(LegalBasis.Name(basis)).removeprefix("LEGAL_BASIS_").lower()


def enrolment_problems(display_name: str, category: int, consent: ConsentRecord,
                       camera_ids: Sequence[str], now: datetime,
                       max_validity: timedelta) -> list[str]:
    """Everything wrong with an enrolment's record, in a sentence each; empty when it is fine.
    `now` is timezone-aware; `max_validity` bounds how far in the future the expiry may be."""
    problems = []
    if not display_name.strip():
        problems.append("display_name is required (the name or alias operators see)")
    elif len(display_name) > MAX_DISPLAY_NAME:
        problems.append(f"display_name longer than {MAX_DISPLAY_NAME} characters")
    if category not in ALLOWED_BASES:
        problems.append("category is required (volunteer, missing person, wanted, banned from "
                        "area)")
    basis = consent.legal_basis
    if basis == 0 or basis not in LegalBasis.values():
        problems.append("consent.legal_basis is required")
    elif category in ALLOWED_BASES and basis not in ALLOWED_BASES[category]:
        allowed = ", ".join(sorted(basis_name(b) for b in ALLOWED_BASES[category]))
        problems.append(f"legal basis {basis_name(basis)} does not allow the category "
                        f"{category_name(category)} (allowed: {allowed})")
    if not consent.reference.strip():
        problems.append("consent.reference is required (consent form, order or case file)")
    elif len(consent.reference) > MAX_REFERENCE:
        problems.append(f"consent.reference longer than {MAX_REFERENCE} characters")
    if not consent.HasField("expires_at"):
        problems.append("consent.expires_at is required: every entry expires")
    else:
        expires = consent.expires_at.ToDatetime(now.tzinfo)
        if expires <= now:
            problems.append("consent.expires_at is in the past")
        elif expires - now > max_validity:
            problems.append(f"consent.expires_at is more than {max_validity.days} days away "
                            "(the longest validity this deployment allows)")
    bad = [c for c in camera_ids if not CAMERA_ID.match(c)]
    if bad:
        problems.append(f"camera_ids: {bad[0]!r} is not a camera id")
    if len(set(camera_ids)) != len(camera_ids):
        problems.append("camera_ids: duplicates")
    return problems


def is_expired(consent: ConsentRecord, at: datetime) -> bool:
    """True once `at` is at or past the expiry (an entry without one counts as expired)."""
    if not consent.HasField("expires_at"):
        return True
    expires: datetime = consent.expires_at.ToDatetime(at.tzinfo)
    return at >= expires
