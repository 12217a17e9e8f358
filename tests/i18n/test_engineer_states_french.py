"""Engineers' pages in the states the route matrix's objects do not have, in French: a
firmware campaign in each state its page draws differently (planned, running with nodes at
their steps and stalled, halted with reasons), its htmx fragment, the new-campaign form's dry
run and refusals (page and API); site gateways online with readings spooled, offline, revoked
(the gateways page, the site and fleet pages). Stored English reasons are rebuilt at display
(apps/firmware/campaign_text.py). The detector is tests/i18n/untranslated.py.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.firmware.models import Campaign, CampaignNode, CampaignWave
from apps.gateways.models import Gateway, GatewaySite
from tests.factories import NodeFactory
from tests.i18n.untranslated import english_in, visible_texts

pytestmark = pytest.mark.django_db


def _french(user):
    user.language = "fr"
    user.save()
    return user


def _check(client, url, allowed, data=None, **headers):
    response = client.get(url, data or {}, **headers)
    assert response.status_code == 200, (url, response.content[:300])
    html = response.content.decode()
    found = english_in(visible_texts(html), allowed=allowed)
    assert not found, f"{url}: English left: {found[:10]}"
    return html


# --- a campaign in each state its page draws differently ------------------------------------

NOW = datetime(2026, 11, 3, 13, 5, tzinfo=UTC)
STEP_REASONS = {
    "pre_hook": "Pre-hook answered HTTP 503; asking again.",
    "staging": "BIOS 1.5.0",
    "applying": "One reset for 2 staged component(s) (power action 12).",
    "versions": "BMC reports BIOS 1.4.0 (expected 1.5.0)",
    "attesting": "Agent unreachable: connection refused",
    "thermal": "draw 120.0 W (needs 320 W), supply 61.5 °C (needs 65.0 °C)",
}
FAILED_REASONS = (
    "Applying (reset): no progress within 20 min (Reset (power action 12): running).",
    "Retry 1/1 after: The reset failed: BMC timeout",
    "Attestation untrusted: PCR 0 differs from every prediction",
    "edge-9 is SKU HS-OTHER, the bundle's images are for HS-CP2: nothing was staged.",
)


@pytest.fixture
def campaigns(fleet, engineer2):
    """One campaign per state the page draws differently, on the kit's fleet and bundle."""
    bundle, nodes = fleet["bundle"], list(fleet["nodes"].values())
    plan = {
        "bundle": {"sku": bundle.profile.sku, "version": bundle.version, "components": []},
        "targeted": 3, "eligible": 2, "excluded_count": 1, "estimated_minutes": 40,
        "worst_minutes": 60, "classes": [{"label": f"{bundle.profile.sku} · unknown versions · "
        "no option-ROM cards · PCRs 1a2b3c4d", "nodes": 2, "canary": ""}],
        "warnings": ["Some nodes' live draw is unknown: their sites' heat loss is unknown."],
        "waves": [{"index": 0, "kind": "canary", "node_count": 1, "site_count": 1,
                   "minutes": 20, "sites": [{"site": "lyon-01", "nodes": 1, "concurrency": 1,
                   "loss_kw": None, "loss_known_kw": 0.4, "unknown_draw": 1}], "nodes": []}],
        "worst_loss_per_site": [{"site": "lyon-01", "concurrency": 1, "loss_kw": None,
                                 "unknown_draw": 1, "loss_known_kw": 0.4, "loss_pct": None,
                                 "output_kw": 2.5}],
        "excluded": [{"node": "edge-9", "site": "lyon-02", "code": "not_in_service",
                      "reason": "The node is maintenance, not in production."}],
    }  # fmt: skip
    made = {}
    for state in ("planned", "running", "halted"):
        campaign = Campaign.objects.create(
            bundle=bundle,
            name=f"Lyon {state[0].upper()}",
            state=state,
            created_by=engineer2,
            plan=plan,
            approved_by=None if state == "planned" else engineer2,
            approved_at=None if state == "planned" else NOW,
            state_changed_at=NOW,
            advanced_at=NOW if state != "running" else None,
            history=[
                {"action": "approve", "from": "planned", "to": "approved", "by": "ops",
                 "at": NOW.isoformat(), "note": ""},
                {"action": "halt", "from": "running", "to": "halted", "by": "system",
                 "at": NOW.isoformat(), "note": "Halted: 2 node(s) failed (error threshold 2). "
                 "edge-1: The reset failed: BMC timeout"},
            ] if state != "planned" else [],
            reason="Halted: 2 node(s) failed (error threshold 2). edge-1: The reset failed: "
            "BMC timeout; edge-2: Agent unreachable: connection refused"
            if state == "halted" else "",
        )  # fmt: skip
        canary = CampaignWave.objects.create(
            campaign=campaign, index=0, kind="canary", state="succeeded", node_count=1
        )
        wave = CampaignWave.objects.create(
            campaign=campaign, index=1, kind="wave", state="running", node_count=len(nodes) - 1
        )
        for i, node in enumerate(nodes):
            step, state_of_node, reason = "queued", "pending", ""
            if i == 0:
                step, state_of_node = "done", "succeeded"
            elif campaign.state == "running" and i - 1 < len(STEP_REASONS):
                step, reason = list(STEP_REASONS.items())[i - 1]
                state_of_node = "running"
            elif campaign.state == "halted" and i - 1 < len(FAILED_REASONS):
                step, state_of_node, reason = "applying", "failed", FAILED_REASONS[i - 1]
            CampaignNode.objects.create(
                campaign=campaign,
                wave=canary if i == 0 else wave,
                node=node,
                step=step,
                state=state_of_node,
                reason=reason,
                detail={"divergences": [{"pcr": 0, "index": 3, "expected": "ab", "actual": "cd"}]}
                if state_of_node == "failed"
                else {},
            )
        made[state] = campaign
    # running, but its executor has been silent for long: shown stalled
    Campaign.objects.filter(pk=made["running"].pk).update(
        advanced_at=NOW - timedelta(days=1), started_at=NOW - timedelta(days=1)
    )
    return made


def _campaign_allowed(fleet) -> set[str]:
    bundle = fleet["bundle"]
    names = {n.name for n in fleet["nodes"].values()}
    sites = {x for s in fleet["sites"] for x in (s.code, s.name, s.city, s.partner.name)}
    return names | sites | {
        bundle.profile.sku, bundle.version, "edge-9", "HS-OTHER", "HS-CP2", "BIOS", "BMC",
        "ops", "engineer2", "Heatsite", "English", "Français", "API", "UTC", "SKU",
        "HTTP 503", "BMC timeout", "connection refused", "1.4.0", "1.5.0",
        "PCR 0 differs from every prediction", "untrusted", "maintenance", "not_in_service",
        # the kit's short prediction reason (the real ones are translated: campaign_text)
        "No firmware release and configuration are recorded.",
    }  # fmt: skip


@pytest.mark.parametrize("state", ["planned", "running", "halted"])
@pytest.mark.parametrize("htmx", [False, True])
def test_campaign_page_in_french_in_each_state(client, engineer, fleet, campaigns, state, htmx):
    client.force_login(_french(engineer))
    headers = {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": "campaign-live"} if htmx else {}
    url = reverse("firmware-campaign", args=[campaigns[state].pk])
    html = _check(client, url, _campaign_allowed(fleet), **headers)
    expected = {
        "planned": ["Planifiée (en attente d’approbation)", "Approuver", "Plan à la création"],
        "running": ["Bloquée", "Délestage (crochet préalable)", "Le BMC indique BIOS 1.4.0",
                    "Le crochet préalable a répondu HTTP 503"],
        "halted": ["Arrêtée :", "Le redémarrage a échoué : BMC timeout", "Reprendre",
                   "Nouvelle tentative 1/1 après"],
    }[state]  # fmt: skip
    if htmx:
        expected = [e for e in expected if e in ("Approuver", "Bloquée", "Arrêtée :", "Reprendre")]
    for french in expected:
        assert french in html, (state, french)


def test_new_campaign_form_dry_run_and_refusal_in_french(client, engineer, fleet):
    client.force_login(_french(engineer))
    allowed = _campaign_allowed(fleet) | {"BIOS=1.4.0", "rest", "JSON", "YAML"}
    _check(client, reverse("firmware-campaign-new"), allowed)
    form = {
        "name": "Lyon BIOS", "bundle": str(fleet["bundle"].pk), "waves": "50%,rest",
        "canary": "on", "max_down_per_site": "1", "intent": "preview",
    }  # fmt: skip
    response = client.post(reverse("firmware-campaign-new"), form, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    html = response.content.decode()
    found = english_in(visible_texts(html), allowed=allowed)
    assert not found, found[:10]
    assert "Simulation" in html and "Créer la campagne" in html
    refused = client.post(reverse("firmware-campaign-new"), form | {"waves": "rest,5%"})
    assert refused.status_code == 400
    assert "« rest » ne peut être que la dernière vague" in refused.content.decode()
    not_a_number = client.post(reverse("firmware-campaign-new"), form | {"retries": "two"})
    assert "n’est pas un nombre" in not_a_number.content.decode()
    # the refused creation is audited in English (data), shown in French
    create = form | {"intent": "create", "waves": "rest,5%"}
    refused = client.post(reverse("firmware-campaign-new"), create)
    assert "« rest » ne peut être que la dernière vague" in refused.content.decode()
    event = AuditEvent.objects.filter(action="firmware.campaign_create").latest("at")
    assert event.detail["reason"] == 'strategy.waves: "rest" can only be the last wave.'


def test_campaign_refusals_in_french_on_pages_and_api(client, engineer, fleet, campaigns):
    client.force_login(_french(engineer))
    planned = campaigns["planned"]
    response = client.post(reverse("firmware-campaign-pause", args=[planned.pk]), follow=True)
    assert "Action « Mettre en pause » impossible" in response.content.decode()
    api = client.post(
        reverse("api:firmware-campaign-start", args=[planned.pk]),
        {},
        content_type="application/json",
        HTTP_ACCEPT_LANGUAGE="fr",
    )
    assert api.status_code == 409
    assert "impossible sur une campagne à l’état « Planifiée" in api.json()["detail"]


# --- site gateways: online with readings spooled, offline, revoked --------------------------


def _gateway(site, name, *, seconds_ago, **fields):
    contact = None if seconds_ago is None else timezone.now() - timedelta(seconds=seconds_ago)
    gateway = Gateway.objects.create(
        name=name,
        box_public_key="x",
        signing_public_key="y",
        last_contact_at=contact,
        version="1.0",
        **fields,
    )
    GatewaySite.objects.create(site=site, gateway=gateway)
    return gateway


def test_gateway_pages_in_french(client, engineer, site, other_site):
    online = _gateway(site, "lyon-gw", seconds_ago=5)
    Gateway.objects.filter(pk=online.pk).update(
        spool_depth=120, spool_oldest_at=timezone.now() - timedelta(minutes=20), spool_dropped=3
    )
    _gateway(other_site, "nord-gw", seconds_ago=None)
    Gateway.objects.create(name="old-gw", box_public_key="x", signing_public_key="y",
                           status="revoked")  # fmt: skip
    node = NodeFactory(site=other_site, reachable=True)
    client.force_login(_french(engineer))
    allowed = {
        s for x in (site, other_site) for s in (x.name, x.code, x.city, x.partner.name)
    } | {"lyon-gw", "nord-gw", "old-gw", "1.0", node.name, node.serial, node.model, "Heatsite",
         "BMC", "BIOS", "Redfish", "IPMI", "English", "Français", "API", "CSV", "UTC"}  # fmt: skip
    gateways = _check(client, reverse("gateways"), allowed)
    for french in ("Passerelles de site", "Révoquée", "jamais", "3 abandonnés", "Révoquer"):
        assert french in gateways, french
    online_page = _check(client, reverse("site-detail", args=[site.pk]), allowed)
    assert "120 relevés de compteur en attente d’envoi" in online_page
    offline_page = _check(client, reverse("site-detail", args=[other_site.pk]), allowed)
    assert "Passerelle de site hors ligne" in offline_page
    assert "nord-gw n’a donné aucune nouvelle depuis son enrôlement." in offline_page
    _check(client, reverse("fleet"), allowed)
    _check(client, reverse("node-detail", args=[node.pk]), allowed)
    taken = client.post(reverse("gateways"), {"name": "old-gw", "sites": site.code})
    assert taken.status_code == 400
    assert "Une passerelle nommée &#x27;old-gw&#x27; existe déjà" in taken.content.decode()
    unknown = client.post(reverse("gateways"), {"name": "new-gw", "sites": "nowhere"})
    assert "Aucun site de code nowhere." in unknown.content.decode()


# --- identity: a second factor, tokens, sessions, locks; the login and factor pages ----------


@pytest.mark.real_factor
def test_login_and_second_factor_pages_in_french(client, engineer):
    from tests.factories import PASSWORD
    from tests.identity.helpers import enrol_totp

    enrol_totp(engineer)
    allowed = {"Heatsite", "English", "Français"}
    page = _check(client, reverse("login"), allowed, HTTP_ACCEPT_LANGUAGE="fr")
    assert "Se connecter à Heatsite" in page
    client.post(reverse("login"), {"login": "engineer", "password": PASSWORD})
    _french(engineer)
    factor = _check(client, reverse("mfa_authenticate"), allowed, HTTP_ACCEPT_LANGUAGE="fr")
    assert "Second facteur" in factor


def test_identity_pages_with_factor_tokens_and_locks_in_french(client, engineer, admin_user):
    from apps.identity import lockout
    from apps.tokens.services import create_token, revoke
    from tests.identity.helpers import enrol_totp

    enrol_totp(engineer)
    create_token(engineer, name="grafana", scopes=["read"], days=30)
    old, _secret = create_token(engineer, name="ci", scopes=["operate"], days=30)
    revoke(old, by=engineer)
    for n in range(20):
        lockout.failed(f"u{n}", "198.51.100.4", channel="web")
    client.force_login(_french(engineer))
    allowed = {"Heatsite", "English", "Français", "grafana", "ci", "API", "TOTP", "engineer",
               "admin", "Lyon"}  # fmt: skip
    for name in ("account", "sessions", "mfa_index", "usersessions_list", "token-create"):
        _check(client, reverse(name), allowed)
    client.force_login(_french(admin_user))
    locks = _check(client, reverse("lockouts"), allowed | {"198.51.100.4"})
    assert "198.51.100.4" in locks


# --- a refused bundle upload: the page's alert and the API's detail -------------------------


def test_a_refused_bundle_upload_says_why_in_french(client, engineer, trusted, lab_reference):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from tests.firmware.bundle_kit import lab_release_bundle

    bundle = lab_release_bundle()

    def upload():
        return {
            "manifest": SimpleUploadedFile("bundle.json", bundle.manifest_bytes()),
            "images": [SimpleUploadedFile(n, d) for n, d in bundle.images.items()],
        }

    client.force_login(_french(engineer))
    page = client.post(reverse("firmware-bundles"), upload())
    assert page.status_code == 400
    assert "Le paquet n’est pas signé (aucun fichier de signature)." in page.content.decode()
    api = client.post(reverse("api:firmware-bundle-list"), upload())
    assert api.status_code == 400
    assert api.json() == {
        "detail": "Le paquet n’est pas signé (aucun fichier de signature).",
        "code": "unsigned",
    }
