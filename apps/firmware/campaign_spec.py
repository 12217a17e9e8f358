"""A campaign described as a file (YAML or JSON), the same format for the CLI, API and page.

    name: BIOS 1.5.0 lyon
    bundle: {sku: HS-EDGE-1, version: 1.5.0}     # or bundle: 12 (its id)
    targets:
      sites: [lyon-01, 7]          # codes or ids; none: every site
      nodes: [node-0001]           # names or ids; none: every node of the sites
      current: {BIOS: 1.4.0}       # only nodes whose component reads this version
    strategy:
      canary: true
      waves: ["5%", "25%", rest]   # or "5%,25%,rest", or counts: [10, 50, rest]
      soak_minutes: 30
      max_down_per_site: 1
      max_site_loss_pct: 20
      ...                          # see `campaign_plan.Strategy`

`spec_load` raises `CampaignSpecError` with a message that says what is wrong and where.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any

import yaml
from django.utils import translation
from django.utils.translation import gettext
from django.utils.translation import gettext_noop as _

from apps.firmware.campaign_plan import WAVE_REST, Strategy

SPEC_MAX_BYTES = 256 * 1024
_TOP = {"name", "bundle", "targets", "strategy"}
_TARGETS = {"sites", "nodes", "current"}


class CampaignSpecError(ValueError):
    """The campaign file or body is not a valid campaign (the message says why).

    The message is English (the audit log, the command line); ``text`` is the same in the
    reader's language (pages, API details). Raise it with the msgid and its values:
    ``CampaignSpecError(_("... %(key)s ..."), key=key)`` (``_`` marks, never translates); a
    value may be a lazy translation (a form label), English in the message."""

    def __init__(self, message: str, **params: Any) -> None:
        self.message, self.params = message, params
        with translation.override(None):
            super().__init__(message % params if params else message)

    @property
    def text(self) -> str:
        translated = gettext(self.message)
        return translated % self.params if self.params else translated


@dataclass(frozen=True)
class CampaignSpec:
    name: str
    bundle_id: int | None
    bundle_sku: str
    bundle_version: str
    targets: dict[str, Any]
    strategy: Strategy


def spec_parse(raw: bytes | str) -> dict[str, Any]:
    """The file's mapping: JSON, or YAML (a superset); refused when it is neither or too big."""
    if isinstance(raw, bytes):
        if len(raw) > SPEC_MAX_BYTES:
            raise CampaignSpecError(
                _("The campaign file is larger than %(size)s bytes."), size=SPEC_MAX_BYTES
            )
        try:
            raw = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise CampaignSpecError(_("The campaign file is not UTF-8 text.")) from None
    try:
        data = json.loads(raw)
    except ValueError:
        try:
            data = yaml.safe_load(raw)
        except yaml.YAMLError as exc:
            where = getattr(exc, "problem_mark", None)
            if where is None:
                raise CampaignSpecError(_("The campaign file is neither JSON nor YAML.")) from None
            raise CampaignSpecError(
                _("The campaign file is neither JSON nor YAML (line %(line)s, column %(column)s)."),
                line=where.line + 1,
                column=where.column + 1,
            ) from None
    if not isinstance(data, dict):
        raise CampaignSpecError(_("The campaign file must be a mapping with bundle and targets."))
    return data


def _list(value: Any, what: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(
        isinstance(v, (str, int)) and not isinstance(v, bool) for v in value
    ):
        raise CampaignSpecError(_("targets.%(what)s must be a list of names or ids."), what=what)
    return value


def _waves(value: Any) -> tuple[str, ...]:
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list) or not items:
        raise CampaignSpecError(
            _("strategy.waves must be a list such as %(example)s."), example='["5%", "25%", "rest"]'
        )
    out = []
    for i, item in enumerate(items):
        text = str(item).strip().lower()
        if text == WAVE_REST:
            if i != len(items) - 1:
                raise CampaignSpecError(_('strategy.waves: "rest" can only be the last wave.'))
        elif text.endswith("%"):
            try:
                pct = float(text[:-1])
            except ValueError:
                pct = -1
            if not 0 < pct <= 100:
                raise CampaignSpecError(
                    _("strategy.waves: %(item)r is not a percentage in (0, 100]."), item=item
                )
        elif not text.isdigit() or int(text) < 1:
            raise CampaignSpecError(
                _("strategy.waves: %(item)r is not a count, a percentage or rest."), item=item
            )
        out.append(text)
    return tuple(out)


_CHOICES = {"thermal_unknown": ("warn", "wait"), "method": ("push", "simple")}
_STEPS = ("pre_hook", "staging", "applying", "versions", "attesting", "thermal", "post_hook")


def _step_minutes(value: Any) -> dict[str, int]:
    if not isinstance(value, dict):
        raise CampaignSpecError(
            _("strategy.step_minutes must map steps (%(steps)s) to minutes."),
            steps=", ".join(_STEPS),
        )
    out = {}
    for step, minutes in value.items():
        if step not in _STEPS:
            raise CampaignSpecError(_("strategy.step_minutes: unknown step %(step)r."), step=step)
        if isinstance(minutes, bool) or not isinstance(minutes, int) or minutes < 1:
            raise CampaignSpecError(
                _("strategy.step_minutes.%(step)s must be a whole number ≥ 1."), step=step
            )
        out[step] = minutes
    return out


def strategy_from(data: Any) -> Strategy:
    """A `Strategy` from a mapping: unknown keys, wrong types and out-of-range values refused."""
    if data is None:
        return Strategy()
    if not isinstance(data, dict):
        raise CampaignSpecError(_("strategy must be a mapping."))
    fields = {f.name: f for f in dataclasses.fields(Strategy)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise CampaignSpecError(
            _("strategy: unknown setting(s) %(keys)s."), keys=", ".join(unknown)
        )
    values: dict[str, Any] = {}
    for key, value in data.items():
        if key == "waves":
            values[key] = _waves(value)
        elif key == "canary":
            if not isinstance(value, bool):
                raise CampaignSpecError(_("strategy.canary must be true or false."))
            values[key] = value
        elif key in _CHOICES:
            if value not in _CHOICES[key]:
                raise CampaignSpecError(
                    _("strategy.%(key)s must be one of %(choices)s."),
                    key=key,
                    choices=", ".join(_CHOICES[key]),
                )
            values[key] = value
        elif key == "step_minutes":
            values[key] = _step_minutes(value)
        elif key in ("pre_hook", "post_hook"):
            if not isinstance(value, str) or (
                value and not value.startswith(("http://", "https://"))
            ):
                raise CampaignSpecError(_("strategy.%(key)s must be an http(s) URL."), key=key)
            values[key] = value
        else:
            optional = key in ("max_site_loss_pct", "max_parallel") or key.startswith("error_t")
            if value is None and optional:
                values[key] = None
                continue
            number = (
                value if isinstance(value, (int, float)) and not isinstance(value, bool) else None
            )
            if number is None:
                raise CampaignSpecError(_("strategy.%(key)s must be a number."), key=key)
            is_pct = key.endswith("_pct")
            low = 0 if key in ("retries", "soak_minutes") else (0.0 if is_pct else 1)
            if number < low or (is_pct and number > 100) or (not is_pct and number != int(number)):
                if is_pct:
                    why = _("strategy.%(key)s must be a percentage (0-100), not %(value)r.")
                else:
                    why = _("strategy.%(key)s must be a whole number ≥ %(low)s, not %(value)r.")
                raise CampaignSpecError(why, key=key, value=value, low=low)
            values[key] = float(number) if is_pct else int(number)
    if values.get("retries", 0) > 10:
        raise CampaignSpecError(_("strategy.retries: at most 10."))
    return Strategy(**values)


def spec_check(data: dict[str, Any]) -> CampaignSpec:
    unknown = sorted(set(data) - _TOP)
    if unknown:
        raise CampaignSpecError(
            _("Unknown key(s) %(keys)s; expected %(expected)s."),
            keys=", ".join(unknown),
            expected=sorted(_TOP),
        )
    bundle = data.get("bundle")
    bundle_id, sku, version = None, "", ""
    if isinstance(bundle, int) and not isinstance(bundle, bool):
        bundle_id = bundle
    elif isinstance(bundle, dict) and isinstance(bundle.get("id"), int):
        bundle_id = bundle["id"]
    elif isinstance(bundle, dict) and bundle.get("sku") and bundle.get("version"):
        sku, version = str(bundle["sku"]), str(bundle["version"])
    else:
        raise CampaignSpecError(_("bundle: give its id, or {sku: ..., version: ...}."))
    targets = data.get("targets") or {}
    if not isinstance(targets, dict):
        raise CampaignSpecError(_("targets must be a mapping (sites, nodes, current)."))
    unknown = sorted(set(targets) - _TARGETS)
    if unknown:
        raise CampaignSpecError(_("targets: unknown key(s) %(keys)s."), keys=", ".join(unknown))
    current = targets.get("current") or {}
    if not isinstance(current, dict) or not all(
        isinstance(v, (str, int, float)) for v in current.values()
    ):
        raise CampaignSpecError(_("targets.current must map components to versions (BIOS: 1.4.0)."))
    name = data.get("name") or ""
    if not isinstance(name, str) or len(name) > 200:
        raise CampaignSpecError(_("name must be text of at most 200 characters."))
    return CampaignSpec(
        name=name.strip(),
        bundle_id=bundle_id,
        bundle_sku=sku,
        bundle_version=version,
        targets={
            "sites": _list(targets.get("sites"), "sites"),
            "nodes": _list(targets.get("nodes"), "nodes"),
            "current": {str(k): str(v) for k, v in current.items()},
        },
        strategy=strategy_from(data.get("strategy")),
    )


def spec_load(raw: bytes | str | dict[str, Any]) -> CampaignSpec:
    """A checked campaign from a file's bytes, text, or an already parsed mapping."""
    return spec_check(raw if isinstance(raw, dict) else spec_parse(raw))
