"""The serial console in French: the broker's state reasons and notices (English, shared by
every viewer and logged) reach each viewer in their language through the consumer
(`apps.console.console_text`), as do the consumer's own errors; `console.js` shows
``reason_text``. The detector is tests/i18n/untranslated.py."""

from __future__ import annotations

import socket

import pytest
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.utils import translation

from apps.console.console_text import TEXTS, said
from apps.console.protocol import output_group
from apps.console.sol import classify
from tests.console.conftest import broker, console_settings, open_viewer  # noqa: F401
from tests.factories import NodeFactory
from tests.i18n.untranslated import english_in

# What the links raise (apps.console.sol, apps.gateways.console) through `classify`, and what
# the broker adds: each must come out French.
ERRORS = [
    "site gateway offline: gw-lyon has not been heard from recently",
    "site gateway offline: the gateways' broker cannot be reached",
    "site gateway offline: the gateway's queue is unavailable",
    "site gateway offline: gw-lyon did not open it within 2.5 s",
    "site gateway offline",
    "site gateway refused: gw-lyon was revoked",
    "site gateway refused",
    "Insufficient resources for SOL session",
    "Incorrect password provided",
    "timeout",
    "no BMC address is configured for this node",
    "Session Disconnected",
    "SOL deactivated",
    "chassis status refused",
]
OTHERS = [
    "The BMC does not answer. Reconnecting in 0.4 s.",
    "Site gateway offline: gw-lyon has not been heard from recently. Reconnecting in 1 s.",
    "The node is powered off.",
    "Closed after no one watched it.",
    "Input ignored: the keyboard is held by alice.",
    "Input ignored: the console is not connected.",
]
# data: names, and a BMC's own words (shown as they came, inside a French sentence)
DATA = {"gw-lyon", "alice", "Insufficient resources for SOL session", "Incorrect password provided"}


@pytest.mark.parametrize("text", [classify(e)[1] for e in ERRORS] + OTHERS)
def test_every_console_reason_reads_french(text):
    with translation.override("fr"):
        french = said(text)
    assert french != text
    assert not english_in([french], allowed=DATA), french
    with translation.override("en"):
        assert said(text) == text  # English readers get the broker's sentence as it is


def test_numbers_take_the_french_decimal_mark_and_names_stay():
    with translation.override("fr"):
        text = said(classify("site gateway offline: gw-lyon did not open it within 2.5 s")[1])
    assert text == "Passerelle du site hors ligne : gw-lyon ne l’a pas ouverte en 2,5 s."


def test_a_bmcs_own_words_are_shown_as_they_came():
    with translation.override("fr"):
        assert said("BMC session lost: IPMI error 0xcc.") == "Session BMC perdue : IPMI error 0xcc."
        assert said("Something else entirely") == "Something else entirely"


def test_every_msgid_has_a_sample_here():
    samples = [classify(e)[1] for e in ERRORS] + OTHERS + ERRORS
    with translation.override("fr"):
        rebuilt = (
            " ".join(said(s) for s in samples)
            + " "
            + " ".join(said(p) for s in samples for p in s.split(": "))
        )
    for msgid in TEXTS:
        with translation.override("fr"):
            french = translation.gettext(msgid)
        head = french.split("%(")[0].strip(" :.")
        assert head in rebuilt, msgid


def _closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # released on return: nothing answers there


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_a_french_engineer_reads_the_brokers_reason_and_errors_in_french(
    engineer,
    site,
    broker,  # noqa: F811 (the console tests' fixtures)
    console_settings,  # noqa: F811
):
    console_settings.CONSOLE_BMC_TIMEOUT = 0.3
    engineer.language = "fr"
    await sync_to_async(engineer.save)()
    node = await sync_to_async(NodeFactory)(
        site=site, name="edge-fr-1", bmc_host="127.0.0.1", bmc_port=_closed_port()
    )
    connected, code, viewer = await open_viewer(engineer, node.pk)
    assert connected, code
    try:
        # the real broker: a BMC that does not answer is "lost", its reason English for the log
        status = await viewer.until_state("lost")
        assert status["reason"].startswith("The BMC does not answer. Reconnecting in")
        assert status["reason_text"].startswith("Le BMC ne répond pas. Reconnexion dans")
        assert not english_in([status["reason_text"]]), status

        # a reason carrying a gateway's words, as the broker sends it to every viewer
        await get_channel_layer().group_send(
            output_group(node.pk),
            {
                "type": "console.status",
                "node": node.name,
                "state": "gateway_offline",
                "reason": "Site gateway offline: gw-lyon has not been heard from recently. "
                "Reconnecting in 0.5 s.",
                "power": "",
                "holder": None,
                "requested": None,
                "viewers": [],
            },
        )
        status = await viewer.until_state("gateway_offline")
        assert status["reason_text"] == (
            "Passerelle du site hors ligne : gw-lyon ne donne plus de nouvelles depuis un "
            "moment. Reconnexion dans 0,5 s."
        )

        await viewer.communicator.send_to(text_data="{not json")
        await viewer.until(lambda v: v.last("error"))
        assert viewer.last("error")["text"] == "JSON mal formé."
        await viewer.communicator.send_json_to({"type": "input", "data": "x" * 5000})
        await viewer.until(lambda v: "octets" in (v.last("error") or {}).get("text", ""))
        texts = [e["text"] for e in viewer.events if e["type"] in ("error", "notice")]
        assert not english_in(texts, allowed=DATA), texts
    finally:
        await viewer.close()


def test_console_js_shows_the_readers_reason():
    from django.conf import settings

    js = (settings.BASE_DIR / "static" / "js" / "console.js").read_text()
    assert "ev.reason_text || ev.reason" in js
