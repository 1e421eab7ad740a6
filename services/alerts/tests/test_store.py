"""The history read model, the same SQLAlchemy model on SQLite and on real PostgreSQL."""

from __future__ import annotations

from datetime import UTC, timedelta

import pytest
from alerts_fakes import T0, make_alert
from vigie.alerts.v1.decision_pb2 import AlertDecided, AlertDecision
from vigie.rules.v1.rule_pb2 import RuleKind, Severity
from vigie_alerts.adapters import auth
from vigie_alerts.adapters.store import AlertQuery, NewDelivery, delivery_id, now_utc, open_store
from vigie_alerts.domain import lifecycle

CONFIRMED = AlertDecision.ALERT_DECISION_CONFIRMED
ACKNOWLEDGED = AlertDecision.ALERT_DECISION_ACKNOWLEDGED


@pytest.fixture
def store(database_url):
    s = open_store(database_url, 2)
    yield s
    s.engine.dispose()


def decision(i: int, alert_id: str, operator: str, what: int) -> AlertDecided:
    d = AlertDecided(decision_id=f"d{i}", alert_id=alert_id, operator=operator, role="operator",
                     decision=what, reason="seen")
    d.decided_at.FromDatetime(T0 + timedelta(seconds=i))
    return d


def test_alerts_are_stored_once_and_decisions_fold_into_their_status(store):
    face = make_alert("f1", kind=RuleKind.RULE_KIND_FACE_MATCH, requires=2)
    first = store.history.add_alert(face, 2)
    assert first.seq > 0 and first.status == lifecycle.OPEN
    assert store.history.add_alert(face, 2).seq == 0  # redelivered: nothing new
    one = store.history.add_decision(decision(1, "f1", "ann", CONFIRMED))
    assert (one.status, one.confirmations, one.released) == (lifecycle.PARTIALLY_CONFIRMED, 1,
                                                             False)
    same = store.history.add_decision(decision(2, "f1", "ann", CONFIRMED))
    assert (same.status, same.released) == (lifecycle.PARTIALLY_CONFIRMED, False)
    two = store.history.add_decision(decision(3, "f1", "bob", CONFIRMED))
    assert (two.status, two.confirmations, two.released) == (lifecycle.CONFIRMED, 2, True)
    again = store.history.add_decision(decision(3, "f1", "bob", CONFIRMED))
    assert again.seq == 0 and not again.released  # the release happens exactly once
    late = store.history.add_decision(decision(4, "f1", "cy", CONFIRMED))
    assert late.status == lifecycle.CONFIRMED and not late.released
    assert [d.decision_id for d in store.history.decisions("f1")] == ["d1", "d2", "d3", "d4"]
    stored = store.history.get_alert("f1")
    assert stored is not None and stored.status == lifecycle.CONFIRMED and stored.released
    assert stored.alert == face


def test_a_decision_that_arrives_before_its_alert_is_folded_when_the_alert_comes(store):
    early = store.history.add_decision(decision(1, "a2", "ann", CONFIRMED))
    assert early.seq > 0 and not early.released
    recorded = store.history.add_alert(make_alert("a2"), 1)
    assert (recorded.status, recorded.released) == (lifecycle.CONFIRMED, True)


def test_history_search_filters_and_pages_newest_first(store):
    for i in range(25):
        store.history.add_alert(make_alert(f"h{i:02d}", camera_id=f"cam-{i % 2}",
                                   severity=Severity.SEVERITY_HIGH if i % 3 else
                                   Severity.SEVERITY_LOW, at=T0 + timedelta(minutes=i),
                                   title=f"Intrusion {i}"), 1)
    seen, cursor = [], ""
    for _ in range(10):
        page, cursor = store.history.list_alerts(AlertQuery(), 10, cursor)
        seen += [s.alert.alert_id for s in page]
        if not cursor:
            break
    assert seen == [f"h{i:02d}" for i in reversed(range(25))]
    cam0, _ = store.history.list_alerts(AlertQuery(camera_ids=["cam-0"]), 100)
    assert {s.alert.camera_id for s in cam0} == {"cam-0"} and len(cam0) == 13
    low, _ = store.history.list_alerts(AlertQuery(severities=[Severity.SEVERITY_LOW]), 100)
    assert len(low) == 9
    window, _ = store.history.list_alerts(AlertQuery(since=T0 + timedelta(minutes=5),
                                             until=T0 + timedelta(minutes=8)), 100)
    assert [s.alert.alert_id for s in window] == ["h07", "h06", "h05"]
    text, _ = store.history.list_alerts(AlertQuery(text="intrusion 1"), 100)
    assert {s.alert.alert_id for s in text} == {"h01", *(f"h{i}" for i in range(10, 20))}
    odd, _ = store.history.list_alerts(AlertQuery(text="100%_x"), 100)  # LIKE wildcards are literal
    assert odd == []
    oldest, _ = store.history.list_alerts(AlertQuery(), 3, newest_first=False)
    assert [s.alert.alert_id for s in oldest] == ["h00", "h01", "h02"]
    with pytest.raises(ValueError):
        store.history.list_alerts(AlertQuery(), 3, "not-a-cursor")


def test_deliveries_are_idempotent_and_claimed_by_one_owner_at_a_time(store):
    alert = make_alert("d1")
    store.history.add_alert(alert, 1)
    item = NewDelivery(delivery_id("d1", "main", "hook", 0), "main", "hook", "webhook", 0,
                       "confirmed", "pending", next_attempt_at=now_utc())
    assert store.outbox.add_deliveries(alert, [item]) == [item.delivery_id]
    assert store.outbox.add_deliveries(alert, [item]) == []  # planned twice, stored once
    lease = timedelta(seconds=60)
    first = store.outbox.claim_due("replica-a", now_utc(), lease, 10)
    assert [(d.delivery_id, a.alert.alert_id) for d, a in first] == [(item.delivery_id, "d1")]
    assert store.outbox.claim_due("replica-b", now_utc(), lease, 10) == []  # leased
    store.outbox.finish_attempt(item.delivery_id, "replica-a", status="pending", attempts=1,
                                next_attempt_at=now_utc() + timedelta(hours=1), error="HTTP 503")
    assert store.outbox.claim_due("replica-b", now_utc(), lease, 10) == []  # not due yet
    later = now_utc() + timedelta(hours=2)
    assert [d.attempts for d, _ in store.outbox.claim_due("replica-b", later, lease, 10)] == [1]
    seq, alert_after = store.outbox.finish_attempt(item.delivery_id, "replica-b",
                                                   status="delivered", attempts=2,
                                                   next_attempt_at=None, feed=True)
    assert seq > 0 and alert_after is not None and alert_after.alert.alert_id == "d1"
    (done,) = store.outbox.deliveries_of("d1")
    assert (done.status, done.attempts, done.last_error) == ("delivered", 2, "")
    assert done.delivered_at is not None
    history = store.outbox.dispatch_history(["main"], T0, timedelta(hours=1))
    assert [h[1] for h in history] == ["d1"]
    assert [d.status for d in store.outbox.deliveries_of("d1")] == ["delivered"]


def test_a_lease_that_expired_can_be_taken_over(store):
    alert = make_alert("d2")
    store.history.add_alert(alert, 1)
    item = NewDelivery("x2", "main", "sms", "sms", 0, "confirmed", "pending",
                       next_attempt_at=now_utc())
    store.outbox.add_deliveries(alert, [item])
    assert store.outbox.claim_due("dead-replica", now_utc(), timedelta(seconds=1), 10)
    assert [d.delivery_id for d, _ in store.outbox.claim_due(
        "live-replica", now_utc() + timedelta(seconds=5), timedelta(seconds=60), 10)] == ["x2"]
    assert store.outbox.finish_attempt("x2", "dead-replica", status="delivered", attempts=1,
                                next_attempt_at=None, feed=True) == (0, None)  # ignored
    assert store.outbox.deliveries_of("d2")[0].status == "pending"


def test_users_sessions_and_tokens(store):
    auth.create_user(store.accounts, "ann", "operator", "correct horse battery", "test", 12)
    with pytest.raises(auth.AccountError, match="already exists"):
        auth.create_user(store.accounts, "ann", "operator", "correct horse battery", "test", 12)
    with pytest.raises(auth.AccountError, match="role"):
        auth.create_user(store.accounts, "bob", "root", "correct horse battery", "test", 12)
    with pytest.raises(auth.AccountError, match="at least 12"):
        auth.create_user(store.accounts, "bob", "operator", "short", "test", 12)
    user = store.accounts.get_user("ann")
    assert user is not None and user.password_hash.startswith("$argon2id$")
    lockout = timedelta(seconds=60)
    assert auth.authenticate(store.accounts, "ann", "correct horse battery", 3, lockout).role == \
        "operator"  # type: ignore[union-attr]
    assert auth.authenticate(store.accounts, "nobody", "whatever it is", 3, lockout) is None
    for _ in range(3):
        assert auth.authenticate(store.accounts, "ann", "wrong password!!", 3, lockout) is None
    locked = auth.authenticate(store.accounts, "ann", "correct horse battery", 3, lockout)
    assert locked is None

    store.sessions.create_session("tok", "ann", "csrf")
    idle, max_age = timedelta(minutes=30), timedelta(hours=12)
    session = store.sessions.session("tok", idle, max_age)
    assert session is not None and (session.login, session.role) == ("ann", "operator")
    idle_now = timedelta(seconds=-1)
    assert store.sessions.session("tok", idle_now, max_age) is None  # idle: gone for good
    assert store.sessions.session("tok", idle, max_age) is None
    store.sessions.create_session("tok2", "ann", "csrf")
    store.accounts.update_user("ann", role="supervisor")  # a role change ends the sessions
    assert store.sessions.session("tok2", idle, max_age) is None

    store.accounts.create_token("vgt_secret", "ann", "integration")
    assert store.accounts.token_user("vgt_secret").role == "supervisor"  # type: ignore[union-attr]
    assert store.accounts.token_user("vgt_other") is None
    store.accounts.revoke_tokens("ann")
    assert store.accounts.token_user("vgt_secret") is None


def test_state_pending_audit_evidence_and_history_deletion(store):
    assert store.state.get_state("dispatch") is None
    store.state.set_state("dispatch", {"suspended": True, "by": "ann"})
    store.state.set_state("dispatch", {"suspended": False, "by": "bob"})
    assert store.state.get_state("dispatch") == {"suspended": False, "by": "bob"}
    store.audit_outbox.add_pending_audit(14, "account:ann", "command-line:root",
                                         {"change": "created"}, "e1")
    (pending,) = store.audit_outbox.pending_audit()
    assert (pending.action, pending.details) == (14, {"change": "created"})
    store.audit_outbox.delete_pending_audit([pending.id])
    assert store.audit_outbox.pending_audit() == []

    alert = make_alert("e1")
    store.history.add_alert(alert, 1)
    store.evidence.set_snapshot("e1", alert, "cam-1/x.jpg", "ab" * 32, 100, T0,
                                T0 + timedelta(days=30))
    assert store.evidence.evidence_due(T0 + timedelta(days=29)) == []
    due = store.evidence.evidence_due(T0 + timedelta(days=31))
    assert [s.alert.alert_id for s in due] == ["e1"]
    store.evidence.set_evidence_lock("e1", True, "court order 12")
    assert store.evidence.evidence_due(T0 + timedelta(days=31)) == []
    assert store.evidence.alerts_before(T0 + timedelta(days=500)) == []  # locked alerts stay
    store.evidence.set_evidence_lock("e1", False, "released")
    store.evidence.mark_evidence_deleted("e1", T0 + timedelta(days=31))
    assert store.history.get_alert("e1").evidence_deleted_at is not None  # type: ignore[union-attr]
    old = store.evidence.alerts_before(T0 + timedelta(days=1))
    assert [s.alert.alert_id for s in old] == ["e1"]
    assert store.evidence.delete_alerts(["e1"]) == 1
    assert store.history.get_alert("e1") is None and store.history.decisions("e1") == []


def test_the_feed_orders_every_change(store):
    head = store.feed.feed_head()
    store.history.add_alert(make_alert("q1"), 1)
    store.history.add_decision(decision(9, "q1", "ann", ACKNOWLEDGED))
    items = store.feed.feed_after(head)
    assert [(i.kind, i.alert_id) for i in items] == [("alert", "q1"), ("decision", "q1")]
    assert items[0].seq < items[1].seq
    assert store.feed.feed_after(items[1].seq) == []
    assert store.history.get_alert("q1").alert.raised_at.ToDatetime(UTC) == T0  # type: ignore[union-attr]
