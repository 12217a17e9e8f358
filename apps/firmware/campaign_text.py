"""A campaign's stored sentences in the reader's language, rebuilt at display.

The executor, the planner and the transitions write their reasons in English (`Campaign.reason`,
`CampaignNode.reason`, the plan's warnings and exclusions, refusals), as do the firmware
services (a bundle upload's refusal, a node's update refused): the audit log, the API's data
and the websocket carry them as data. Pages (and the live page's events, `consumers`) show them
through `said()`: a stored sentence is matched against the English msgids below, their
placeholders as wildcards, and rewritten with the active language's msgstr, each piece
translated the same way (a retry's reason, a step's name). A sentence matching none (a BMC's or
an agent's own answer) is shown as stored. Keep these msgids word for word what the modules
write; `tests/firmware/test_campaign_text.py` checks the ones a page shows.
"""

from __future__ import annotations

import re
from functools import cache

from django.utils.translation import gettext, gettext_noop, pgettext

from apps.core import sentences

TEXTS = (
    # campaign_steps
    gettext_noop(
        "No attestation agent is registered for this node: its boot could never be attested, "
        "so nothing was flashed."
    ),
    gettext_noop("BMC unreadable at start: %(error)s"),
    gettext_noop("Unknown step %(step)s."),
    gettext_noop("%(step)s: %(what)s within %(minutes)s min (%(last)s)."),
    gettext_noop("%(step)s: %(what)s within %(minutes)s min."),
    gettext_noop("the node did not boot into an attestable state"),
    gettext_noop("the quote never matched the bundle's prediction"),
    gettext_noop("the heat did not come back"),
    gettext_noop("the BMC did not report every component's version stably"),
    gettext_noop("no progress"),
    gettext_noop("Pre-hook answered %(said)s; asking again."),
    gettext_noop("Post-hook answered %(said)s; asking again."),
    gettext_noop("not an http(s) URL"),
    gettext_noop("unreachable (%(why)s)"),
    gettext_noop("BMC read failed: %(error)s"),
    gettext_noop("BMC reports %(wrong)s"),
    gettext_noop("%(reads)s/%(needed)s good reads"),
    gettext_noop("No prediction of the previous bundle: rollback not attested."),
    gettext_noop("No PCR prediction of the bundle for this node."),
    gettext_noop("Cannot attest: %(error)s"),
    gettext_noop("Agent unreachable: %(error)s"),
    gettext_noop("Still measures release %(release)s."),
    gettext_noop("Attestation %(verdict)s: %(reason)s"),
    gettext_noop("draw %(power)s W (needs %(need)s W), supply temperature unknown"),
    gettext_noop("draw %(power)s W (needs %(need)s W), supply %(supply)s °C (needs %(floor)s °C)"),
    gettext_noop("draw %(power)s W (needs %(need)s W)"),
    gettext_noop(
        "Supply temperature unknown (no fresh meter reading): heat gate passed on the node's "
        "draw alone."
    ),
    # campaign_run
    gettext_noop("Retry %(attempt)s/%(retries)s after: %(reason)s"),
    gettext_noop("Halted the rollback: %(why)s. %(examples)s"),
    gettext_noop("Halted: rollback failed on %(count)s node(s). %(examples)s"),
    gettext_noop(
        "Halted: wave %(wave)s reached %(ok)s/%(total)s succeeded (%(pct)s %% < %(wanted)s %%); "
        "the next wave was not started."
    ),
    gettext_noop("Halted: %(why)s. %(examples)s"),
    gettext_noop("%(count)s node(s) failed (error threshold %(limit)s)"),
    gettext_noop("%(count)s/%(done)s nodes failed (%(pct)s %% ≥ %(limit)s %%)"),
    gettext_noop("Every wave succeeded."),
    gettext_noop("Not started: campaign rolled back."),
    gettext_noop("Rollback queued."),
    gettext_noop("Rollback tried again after the resume; it failed with: %(reason)s"),
    gettext_noop("%(count)s node(s) back on the versions they had."),
    # campaign_flash
    gettext_noop(
        "%(node)s is SKU %(sku)s, the bundle's images are for %(bundle_sku)s: nothing was staged."
    ),
    gettext_noop(
        "The %(component)s %(version)s image is for SKU %(image_sku)s, %(node)s is %(sku)s: "
        "nothing was staged."
    ),
    gettext_noop(
        "%(who)s %(version)s requires %(other)s %(bound)s, but %(node)s would run %(other)s "
        "%(running)s: nothing was staged."
    ),
    gettext_noop("No stored image of %(component)s %(version)s to apply."),
    gettext_noop("The reset's power action is gone; the node was not reset again."),
    gettext_noop("Reset (power action %(action)s): %(status)s"),
    gettext_noop("The reset failed: %(error)s"),
    gettext_noop("no reason given"),
    gettext_noop("Waiting for another power action to finish."),
    gettext_noop("The reset was refused: %(why)s"),
    gettext_noop("One reset for %(count)s staged component(s) (power action %(action)s)."),
    # campaign_services
    gettext_noop("Aborted by %(user)s."),
    gettext_noop("Unknown action %(action)s."),
    gettext_noop("Cannot %(action)s a campaign that is %(state)s; allowed from: %(sources)s."),
    gettext_noop("Four eyes: the engineer who created a campaign cannot approve it."),
    # services (a node's update refused; the campaign records them as its reason too)
    gettext_noop(
        "%(node)s's BMC does not speak Redfish (or was not probed yet): firmware updates need "
        "its UpdateService."
    ),
    gettext_noop(
        "%(node)s already has a firmware update in progress %(what)s; wait for it to finish."
    ),
    # tracking: a firmware update's outcome (the node page's firmware panel)
    gettext_noop("Heatsite failed while %(state)s (%(error)s); check the node before retrying."),
    gettext_noop("The BMC did not answer for %(minutes)s min: %(message)s"),
    gettext_noop("The BMC did not answer for %(minutes)s min."),
    gettext_noop("%(node)s's BMC does not speak Redfish: firmware updates need its UpdateService."),
    gettext_noop("The BMC reports no %(component)s firmware to update."),
    gettext_noop("Already runs %(version)s: nothing was sent."),
    gettext_noop(
        "The worker stopped while the image was being sent; it was not sent again (the BMC may "
        "hold a task for it). Check the node's firmware and request the update again."
    ),
    gettext_noop("The BMC's task failed: %(words)s"),
    gettext_noop("the task ended in %(state)s"),
    gettext_noop("The BMC forgot its task; the node runs %(version)s."),
    gettext_noop(
        "Stuck at %(at)s: no progress for %(minutes)s min (the BMC still says %(state)s)."
    ),
    gettext_noop("an unknown percentage"),
    gettext_noop("Staged: applied by the node's next reset."),
    gettext_noop("Now runs %(version)s (was %(was)s), applied by the node's reset."),
    gettext_noop("Now runs %(version)s (was %(was)s)."),
    gettext_noop("The BMC reported success but still runs %(running)s (expected %(expected)s)."),
    gettext_noop(
        "The BMC lost track of the update and still runs %(running)s (expected %(expected)s)."
    ),
    gettext_noop(
        "Staged, but after the node's reset it still runs %(running)s (expected %(expected)s)."
    ),
    gettext_noop("no version"),
    gettext_noop("Waiting for the site gateway's quote."),
    # apps.gateways.firmware and its gateway half (agent_firmware): an update through a gateway
    gettext_noop(
        "The site gateway %(gateway)s was revoked before it answered; check the node's firmware."
    ),
    gettext_noop(
        "site gateway offline: %(gateway)s did not answer by the deadline (%(deadline)s UTC) and "
        "will not send the image later; if it sent it before losing its uplink the BMC may hold "
        "a task for it. Check the node's firmware."
    ),
    gettext_noop(
        "site gateway offline: %(gateway)s did not answer by the deadline (%(deadline)s UTC) and "
        "will not ask the BMC later."
    ),
    gettext_noop(
        "The site gateway stopped while the image was being sent; it was not sent again (the BMC "
        "may hold a task for it). Check the node's firmware and request the update again."
    ),
    gettext_noop("The site gateway failed while asking the BMC (%(error)s)."),
    gettext_noop("The site gateway could not fetch the image: %(error)s"),
    gettext_noop("The image fetched did not match its digest; not sent."),
    gettext_noop("The image link does not name this image."),
    gettext_noop("The site gateway could not fetch the image (or it did not match its digest)."),
    gettext_noop("Heatsite refused the image link (%(status)s)."),
    gettext_noop("The site gateway's answer is malformed."),
    gettext_noop("The site gateway gave no reason."),
    gettext_noop("Not confirmed after the node's reset: the campaign node failed (%(why)s)"),
    gettext_noop(
        "Staged, never reset: the campaign node failed first (%(why)s); the BMC may still apply "
        "it at the node's next reset."
    ),
    # bundles, manifests, signatures: why an upload is refused (the page's alert, the API's
    # detail); the manifest's structural complaints (components[2] ...) stay as written
    gettext_noop("%(names)s: not a file of this bundle's manifest."),
    gettext_noop("The %(component)s image %(file)s is missing from the upload."),
    gettext_noop(
        "The %(component)s image %(file)s has %(size)s bytes; the manifest says %(want)s."
    ),
    gettext_noop("The %(component)s image %(file)s is larger than %(limit)s bytes."),
    gettext_noop(
        "The %(component)s image %(file)s has SHA-256 %(digest)s; the manifest says %(want)s "
        "(altered or corrupted)."
    ),
    gettext_noop("The %(component)s image %(file)s is refused: %(why)s"),
    gettext_noop(
        "The %(component)s image %(file)s is %(is_component)s %(is_version)s for SKU %(is_sku)s; "
        "the manifest says %(want_component)s %(want_version)s for SKU %(want_sku)s."
    ),
    gettext_noop("SKU %(sku)s is not a platform profile Heatsite knows."),
    gettext_noop(
        "A bundle %(version)s for %(sku)s was already uploaded; a release is never replaced, "
        "give the new one its own version."
    ),
    gettext_noop("Another upload kept one of these images at the same moment; retry."),
    gettext_noop("The manifest is empty."),
    gettext_noop("The manifest has %(size)s bytes; at most %(limit)s."),
    gettext_noop("The manifest is not readable JSON."),
    gettext_noop("The manifest is not a JSON object."),
    gettext_noop("The %(what)s %(name)s has %(size)s bytes; at most %(limit)s are accepted."),
    gettext_noop("The bundle is not signed (no signature file)."),
    gettext_noop("The signature file is too large."),
    gettext_noop("The signature file is not {key_id, alg, signature (base64)} JSON."),
    gettext_noop("Signature algorithm %(alg)s is not %(algorithms)s."),
    gettext_noop("The bundle is signed by key %(key)s, which is not a trusted release key."),
    gettext_noop("Trusted key %(key)s is not a usable Ed25519 or P-256 public key."),
    gettext_noop("Key %(key)s is an %(key_alg)s key; the signature says %(alg)s."),
    gettext_noop(
        "The signature by key %(key)s does not match the manifest (altered or signed by "
        "another key)."
    ),
    # manifests: the manifest's own checks
    gettext_noop("%(what)s %(value)s is missing or not valid."),
    gettext_noop("`components` must be a non-empty list."),
    gettext_noop("A bundle has at most %(count)s components."),
    gettext_noop("components[%(i)s] is not an object."),
    gettext_noop("components[%(i)s]: unknown component %(component)s (one of %(known)s)."),
    gettext_noop("components[%(i)s] (%(component)s): `size` must be a positive integer."),
    gettext_noop("The bundle lists the same %(field)s twice: %(values)s."),
    gettext_noop("`order` must list each component once: %(names)s."),
    gettext_noop("`requires` must be a list."),
    gettext_noop("requires[%(i)s] must be {component, requires: [...]}."),
    gettext_noop("requires[%(i)s]: %(who)s is not a component of this bundle."),
    gettext_noop("requires[%(i)s] (%(who)s): each requirement names a known component."),
    gettext_noop(
        "requires[%(i)s] (%(who)s): a requirement on %(other)s needs min_version, max_version "
        "or version."
    ),
    gettext_noop("Unsatisfiable: %(who)s requires %(other)s %(bound)s (empty range)."),
    gettext_noop(
        "Unsatisfiable: %(who)s requires %(other)s %(bound)s, but the bundle ships %(other)s "
        "%(version)s."
    ),
    gettext_noop("Dependency cycle: %(cycle)s."),
    gettext_noop(
        "Unsatisfiable order: %(who)s requires %(other)s, but the order applies %(who)s before "
        "%(other)s."
    ),
    gettext_noop("`measurements` must be {source, release} or {source, pcrs}."),
    gettext_noop("measurements.source must be one of %(sources)s, not %(source)s."),
    gettext_noop("measurements.release %(release)s is not a release version."),
    gettext_noop("measurements.pcrs must map PCR indices (0-23) to SHA-256 values (hex)."),
    gettext_noop("measurements needs the firmware release (`release`) or the PCR values."),
    gettext_noop("`name` must be text of at most 200 characters."),
    # campaign_plan: exclusions and warnings
    gettext_noop("Of SKU %(sku)s, not the bundle's %(bundle_sku)s."),
    gettext_noop("The node is %(status)s, not in production."),
    gettext_noop("Already in campaign %(campaign)s, which is not finished."),
    gettext_noop(
        "Its BMC does not speak Redfish (or was not probed yet): firmware updates need its "
        "UpdateService."
    ),
    gettext_noop("Up to date: already runs every component of %(version)s."),
    gettext_noop("Runs %(component)s %(running)s, the targets ask for %(wanted)s."),
    gettext_noop(
        "No prediction computed for this node and bundle (run `firmware_bundle predict`)."
    ),
    gettext_noop("Prediction impossible: %(reason)s"),
    # bundles: why a node's prediction is impossible (shown in the plan's exclusions)
    gettext_noop(
        "No firmware release and configuration are recorded for this node: record them "
        "(attestation) before it can be predicted."
    ),
    gettext_noop("Its recorded configuration is for SKU %(sku)s, not %(bundle_sku)s."),
    gettext_noop(
        "The bundle carries only a golden boot's PCR values, not a firmware release's "
        "reference measurements: other nodes' configurations cannot be applied to them."
    ),
    gettext_noop(
        "No reference measurements are recorded for firmware release %(version)s of %(sku)s "
        "(compute or harvest them)."
    ),
    gettext_noop("Firmware release %(version)s has an empty reference template."),
    gettext_noop(
        "Its last attestation (%(when)s) measured something outside its approved configuration "
        "(%(why)s); bring its configuration up to date first."
    ),
    gettext_noop("The prediction failed: %(error)s"),
    gettext_noop("Alone it draws %(power)s kW, more than %(pct)s %% of its site's %(output)s kW."),
    gettext_noop(
        "%(count)s hardware class(es) could not get a canary node at a site of their own; they "
        "first appear in wave 1."
    ),
    gettext_noop("Some nodes' live draw is unknown: their sites' heat loss is unknown."),
    # a hardware class's label: "SKU · versions · cards · PCRs digest"
    gettext_noop("unknown versions"),
    gettext_noop("no option-ROM cards"),
)
DEPTH = 4  # nested reasons (a retry of a timeout of ...) translated this deep


@cache
def _patterns() -> tuple[tuple[str, re.Pattern[str]], ...]:
    return tuple((m, sentences.pattern(m)) for m in sorted(TEXTS, key=sentences.specificity))


def _named(name: str, value: str) -> str | None:
    """A campaign's action or state(s) by their stored value, as the page names them."""
    from apps.firmware.campaigns import Campaign

    actions = {
        "approve": pgettext("campaign action", "Approve"),
        "start": pgettext("campaign action", "Start"),
        "pause": pgettext("campaign action", "Pause"),
        "resume": pgettext("campaign action", "Resume"),
        "abort": pgettext("campaign action", "Abort"),
        "rollback": pgettext("campaign action", "Rollback"),
    }
    states = {k: str(v) for k, v in Campaign.State.choices}
    if name == "action":
        return actions.get(value)
    if name == "state":
        return states.get(value)
    if name == "sources":
        return ", ".join(states.get(v, v) for v in value.split(", "))
    return None


def _part(name: str, value: str, depth: int) -> str:
    if name == "examples":
        return _examples(value, depth)
    named = _named(name, value)
    return named if named is not None else said(value, depth + 1)


def _examples(text: str, depth: int) -> str:
    """ "node: reason; node: reason" (a halt's examples), each reason translated."""
    parts = []
    for example in text.split("; "):
        name, sep, reason = example.partition(": ")
        parts.append(f"{name}{sep}{said(reason, depth + 1)}" if sep else example)
    return "; ".join(parts)


def said(text: str, depth: int = 0) -> str:
    """``text`` (stored English) in the active language; unchanged when it is not ours."""
    text = str(text or "")
    if not text or depth > DEPTH:
        return text
    for msgid, pattern in _patterns():
        match = pattern.fullmatch(text)
        if match is None:
            continue
        if gettext(msgid) == msgid:  # English (or not translated): the stored sentence as is
            return text
        parts = {name: _part(name, value, depth) for name, value in match.groupdict().items()}
        return gettext(msgid) % parts
    if " · " in text:  # a hardware class's label: each part on its own
        return " · ".join(said(part, depth + 1) for part in text.split(" · "))
    # an attestation's reason (a verdict's divergences), rebuilt by its own table
    from apps.attestation.reason_text import said as attestation_said

    rebuilt = attestation_said(text)
    if rebuilt != text:
        return rebuilt
    # a constant of another module (a step's name, "unknown")
    return gettext(text) if len(text) > 2 else text
