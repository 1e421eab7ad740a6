"""Privacy invariant 3: no watchlist entry without a complete consent or legal-basis record whose
basis fits the category and whose expiry is set, in the future, and bounded."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from vigie.face.v1.watchlist_pb2 import (
    LEGAL_BASIS_ADMINISTRATIVE_ORDER,
    LEGAL_BASIS_CONSENT,
    LEGAL_BASIS_JUDICIAL_ORDER,
    LEGAL_BASIS_UNSPECIFIED,
    LEGAL_BASIS_VITAL_INTEREST,
    WATCHLIST_CATEGORY_BANNED_FROM_AREA,
    WATCHLIST_CATEGORY_MISSING_PERSON,
    WATCHLIST_CATEGORY_UNSPECIFIED,
    WATCHLIST_CATEGORY_VOLUNTEER,
    WATCHLIST_CATEGORY_WANTED,
    ConsentRecord,
)
from vigie_face.domain.consent import enrolment_problems, is_expired

NOW = datetime(2026, 2, 14, 14, 0, tzinfo=UTC)
YEAR = timedelta(days=365)


def record(basis=LEGAL_BASIS_CONSENT, reference="form-7", expires=NOW + timedelta(days=30)):
    c = ConsentRecord(legal_basis=basis, reference=reference)
    if expires is not None:
        c.expires_at.FromDatetime(expires)
    return c


@pytest.mark.parametrize(("category", "consent", "cameras", "problem"), [
    (WATCHLIST_CATEGORY_VOLUNTEER, record(), [], None),
    (WATCHLIST_CATEGORY_MISSING_PERSON, record(LEGAL_BASIS_VITAL_INTEREST), [], None),
    (WATCHLIST_CATEGORY_WANTED, record(LEGAL_BASIS_JUDICIAL_ORDER), ["cam-1"], None),
    (WATCHLIST_CATEGORY_BANNED_FROM_AREA, record(LEGAL_BASIS_ADMINISTRATIVE_ORDER), [], None),
    (WATCHLIST_CATEGORY_WANTED, record(LEGAL_BASIS_CONSENT), [],
     "legal basis consent does not allow the category wanted (allowed: judicial_order)"),
    (WATCHLIST_CATEGORY_VOLUNTEER, record(LEGAL_BASIS_JUDICIAL_ORDER), [],
     "does not allow the category volunteer"),
    (WATCHLIST_CATEGORY_BANNED_FROM_AREA, record(LEGAL_BASIS_VITAL_INTEREST), [],
     "does not allow the category banned_from_area"),
    (WATCHLIST_CATEGORY_UNSPECIFIED, record(), [], "category is required"),
    (WATCHLIST_CATEGORY_VOLUNTEER, record(LEGAL_BASIS_UNSPECIFIED), [],
     "consent.legal_basis is required"),
    (WATCHLIST_CATEGORY_VOLUNTEER, record(reference="  "), [], "consent.reference is required"),
    (WATCHLIST_CATEGORY_VOLUNTEER, record(expires=None), [], "consent.expires_at is required"),
    (WATCHLIST_CATEGORY_VOLUNTEER, record(expires=NOW), [], "consent.expires_at is in the past"),
    (WATCHLIST_CATEGORY_VOLUNTEER, record(expires=NOW + YEAR + timedelta(days=1)), [],
     "more than 365 days away"),
    (WATCHLIST_CATEGORY_VOLUNTEER, record(), ["Cam 1"], "camera_ids: 'Cam 1' is not a camera id"),
    (WATCHLIST_CATEGORY_VOLUNTEER, record(), ["cam-1", "cam-1"], "camera_ids: duplicates"),
])
def test_an_enrolment_needs_a_complete_and_fitting_legal_basis(category, consent, cameras,
                                                               problem):
    problems = enrolment_problems("Volunteer A", category, consent, cameras, NOW, YEAR)
    if problem is None:
        assert problems == []
    else:
        assert len(problems) == 1 and problem in problems[0], problems


def test_a_display_name_is_required_and_bounded():
    assert enrolment_problems("", WATCHLIST_CATEGORY_VOLUNTEER, record(), [], NOW, YEAR) == [
        "display_name is required (the name or alias operators see)"]
    assert enrolment_problems("x" * 201, WATCHLIST_CATEGORY_VOLUNTEER, record(), [], NOW, YEAR)


@pytest.mark.parametrize(("expires", "at", "expired"), [
    (NOW, NOW - timedelta(microseconds=1), False),
    (NOW, NOW, True),
    (NOW, NOW + timedelta(days=1), True),
    (None, NOW, True),
])
def test_an_entry_expires_at_its_expiry_and_one_without_expiry_never_counts(expires, at, expired):
    assert is_expired(record(expires=expires), at) is expired
