"""A campaign's stored English sentences, rebuilt in the reader's language at display
(apps/firmware/campaign_text.py): pages in French, the API's refusals, and the live page's
websocket events (``reason_text`` in the socket's reader's language); English stays as stored."""

import pytest
from asgiref.sync import async_to_sync
from channels.layers import channel_layers, get_channel_layer
from channels.testing import WebsocketCommunicator
from django.utils import translation

from apps.firmware.campaign_steps import campaign_group
from apps.firmware.campaign_text import said
from apps.firmware.consumers import scope_language
from apps.firmware.models import Campaign

STORED = {
    "Retry 1/2 after: Applying (reset): no progress within 20 min (Reset (power action 7): "
    "running).": "Nouvelle tentative 1/2 après : Application (redémarrage) : aucun progrès en "
    "20 min (Redémarrage (action d’alimentation 7) : running).",
    "Halted: 2 node(s) failed (error threshold 2). edge-1: The reset failed: BMC timeout; "
    "edge-2: Rollback queued.": "Arrêtée : 2 nœud(s) en échec (seuil d’erreurs 2). edge-1: Le "
    "redémarrage a échoué : BMC timeout; edge-2: Retour arrière en file d’attente.",
    "Cannot pause a campaign that is planned; allowed from: running.": "Action « Mettre en "
    "pause » impossible sur une campagne à l’état « Planifiée (en attente d’approbation) » ; "
    "permise depuis : En cours.",
    "HS-EDGE-1 · BIOS 1.4.0 · no option-ROM cards · PCRs 1a2b3c4d": "HS-EDGE-1 · BIOS 1.4.0 · "
    "aucune carte à ROM d’option · PCRs 1a2b3c4d",
    # a firmware update's outcome on the node page's firmware panel
    "The BMC's task failed: the task ended in Exception": "La tâche du BMC a échoué : la tâche "
    "s’est terminée en Exception",
    "Now runs 1.5.0 (was 1.4.0), applied by the node's reset.": "Exécute maintenant 1.5.0 "
    "(avant : 1.4.0), appliquée par le redémarrage du nœud.",
    # a bundle upload refused by the manifest's checks
    "Unsatisfiable: BIOS requires BMC ≥ 2.50, but the bundle ships BMC 2.42.": "Impossible à "
    "satisfaire : BIOS exige BMC ≥ 2.50, mais le paquet livre BMC 2.42.",
    "The BMC image bmc-2.42.hsfw is missing from the upload.": "L’image BMC bmc-2.42.hsfw "
    "manque dans le téléversement.",
}


@pytest.mark.parametrize(("english", "french"), STORED.items())
def test_stored_sentences_read_in_french_and_stay_as_stored_in_english(english, french):
    with translation.override("fr"):
        assert said(english) == french
    with translation.override("en-gb"):
        assert said(english) == english


def test_a_sentence_that_is_not_ours_is_shown_as_stored():
    with translation.override("fr"):
        assert said("Redfish task 12: Exception") == "Redfish task 12: Exception"
        assert said("") == ""


@pytest.mark.parametrize(
    ("headers", "language"),
    [
        ([(b"accept-language", b"fr-FR,fr;q=0.9,en;q=0.5")], "fr"),
        ([(b"cookie", b"heatsite_language=fr"), (b"accept-language", b"en")], "fr"),
        ([(b"accept-language", b"de")], "en-gb"),
        ([], "en-gb"),
    ],
)
def test_a_socket_reads_the_language_a_page_would(headers, language):
    assert scope_language({"user": None, "headers": headers}) == language


@pytest.mark.django_db(transaction=True)
def test_the_live_page_gets_the_node_reason_in_its_readers_language(client, engineer, settings):
    from tests.firmware.campaign_kit import make_bundle

    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    channel_layers.backends.clear()
    engineer.language = "fr"
    engineer.save()
    campaign = Campaign.objects.create(bundle=make_bundle(), name="Lyon")
    client.force_login(engineer)
    headers = [
        (b"origin", b"http://testserver"),
        (b"host", b"testserver"),
        (b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode()),
    ]
    event = {"type": "campaign.node", "campaign_id": campaign.pk, "node_id": 1,
             "step": "staging", "state": "running", "reason": "Rollback queued."}  # fmt: skip

    async def run():
        from heatsite.asgi import application

        communicator = WebsocketCommunicator(
            application, f"/ws/campaigns/{campaign.pk}/", headers=headers
        )
        connected, code = await communicator.connect(timeout=30)
        assert connected, code
        await get_channel_layer().group_send(
            campaign_group(campaign.pk), {"type": "push", "event": event}
        )
        received = await communicator.receive_json_from(timeout=30)
        await communicator.disconnect()
        return received

    try:
        received = async_to_sync(run)()
    finally:
        channel_layers.backends.clear()
    assert received["reason"] == "Rollback queued."  # the data, as the API has it
    assert received["reason_text"] == "Retour arrière en file d’attente."
