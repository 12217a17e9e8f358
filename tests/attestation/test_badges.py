"""Badges: computed at read time; a site shows its worst node; partners see one indicator."""

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.attestation import badges, selectors
from apps.attestation.badges import Badge, TrustSummary
from apps.attestation.models import Attestation, Enrolment
from tests.factories import NodeFactory

NOW = timezone.now()
WINDOW = timedelta(minutes=15)


def _badge(**kw):
    base = {"enrolled": True, "latest_verdict": "trusted", "last_trusted_at": NOW, "now": NOW}
    return badges.node_badge(**(base | kw), stale=WINDOW)


def test_fresh_trusted_check_is_trusted():
    assert _badge() == Badge.TRUSTED


def test_trusted_check_older_than_the_window_is_stale():
    assert _badge(last_trusted_at=NOW - WINDOW - timedelta(seconds=1)) == Badge.STALE
    assert _badge(last_trusted_at=NOW - WINDOW) == Badge.TRUSTED


@pytest.mark.parametrize("verdict", ["mismatch", "invalid", "unreachable"])
def test_bad_news_shows_whatever_its_age(verdict):
    assert _badge(latest_verdict=verdict, last_trusted_at=NOW - timedelta(days=30)) == verdict


def test_enrolled_node_never_checked_is_stale_not_trusted():
    assert _badge(latest_verdict=None, last_trusted_at=None) == Badge.STALE


def test_not_enrolled_wins_over_any_history():
    assert _badge(enrolled=False) == Badge.NOT_ENROLLED


def test_site_badge_is_the_worst_of_its_nodes():
    assert badges.worst([Badge.TRUSTED, Badge.STALE, Badge.UNREACHABLE]) == Badge.UNREACHABLE
    assert badges.worst([Badge.MISMATCH, Badge.INVALID]) == Badge.INVALID
    assert badges.worst([Badge.TRUSTED, Badge.NOT_ENROLLED]) == Badge.NOT_ENROLLED
    assert badges.worst([]) is None


def test_trust_summary_says_verified_only_when_every_machine_is():
    assert TrustSummary(3, 3).label == "Machines verified"
    assert TrustSummary(2, 3).label == "2 of 3 machines verified"
    assert not TrustSummary(0, 0).all_verified


def test_stale_window_defaults_to_three_intervals(settings):
    settings.ATTESTATION_INTERVAL = 100
    assert badges.stale_after() == timedelta(seconds=300)
    settings.ATTESTATION_STALE_AFTER = 42
    assert badges.stale_after() == timedelta(seconds=42)


def _enrol(node):
    return Enrolment.objects.create(
        node=node,
        ek_public=b"e",
        ak_public=b"a",
        ak_name="00",
        cert_fingerprint="f",
        enrolled_at=NOW,
    )


def _attestation(node, verdict, at):
    return Attestation.objects.create(node=node, verdict=verdict, at=at)


@pytest.mark.django_db
def test_selectors_use_the_latest_attestation_and_the_last_trusted_one(site):
    a, b, c = NodeFactory(site=site), NodeFactory(site=site), NodeFactory(site=site)
    for n in (a, b):
        _enrol(n)
    _attestation(a, "mismatch", NOW - timedelta(minutes=2))
    _attestation(a, "trusted", NOW - timedelta(minutes=1))
    _attestation(b, "trusted", NOW - timedelta(minutes=2))
    _attestation(b, "invalid", NOW - timedelta(minutes=1))
    got = selectors.node_badges([a.pk, b.pk, c.pk], now=NOW)
    assert got == {a.pk: Badge.TRUSTED, b.pk: Badge.INVALID, c.pk: Badge.NOT_ENROLLED}
    assert selectors.site_badges([site.pk], now=NOW) == {site.pk: Badge.INVALID}
    assert selectors.site_trust_summaries([site.pk], now=NOW)[site.pk] == TrustSummary(1, 3)


@pytest.mark.django_db
def test_superseded_enrolment_does_not_count_as_enrolled(node):
    old = _enrol(node)
    old.superseded_at = NOW
    old.save()
    assert selectors.node_badge(node, now=NOW) == Badge.NOT_ENROLLED


@pytest.mark.django_db
def test_badges_for_many_sites_take_one_query(site, other_site, django_assert_num_queries):
    for s in (site, other_site):
        for _ in range(5):
            _attestation(NodeFactory(site=s), "trusted", NOW)
    with django_assert_num_queries(1):
        selectors.site_badges([site.pk, other_site.pk], now=NOW)
