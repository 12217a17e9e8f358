"""Firmware campaigns in the API: create from the campaign file (JSON body or YAML/JSON upload),
list, read (state, waves, nodes), and the lifecycle actions.

Engineers and admins (manage firmware); planners 403; partners 404 (they never learn campaigns
exist). Four eyes: the creator's approve is 403 with the reason. An action not allowed from the
campaign's state is 409 with the reason. Every change and refusal is audited.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.db.models import Count
from django.urls import reverse
from django.utils.translation import gettext as _
from drf_spectacular.utils import (
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
)
from rest_framework import generics, serializers, status
from rest_framework.parsers import JSONParser, MultiPartParser
from rest_framework.response import Response

from apps.accounts import access
from apps.core.rest import BadQuery, error
from apps.firmware.campaign_services import (
    TRANSITIONS,
    CampaignConflict,
    campaign_create,
    campaign_transition,
)
from apps.firmware.campaign_spec import SPEC_MAX_BYTES, CampaignSpecError
from apps.firmware.campaign_text import said
from apps.firmware.campaigns import Campaign, CampaignNode, CampaignWave

DETAIL_NODES = 100  # nodes inlined in a campaign's detail; the rest through its nodes list

_403 = error("Your role may not manage firmware (planners).", "Your role may not manage firmware.")
_404 = error("No such campaign (partners never see campaigns).", "No such campaign.")


def _choices(choices) -> str:
    return ", ".join(value for value, _ in choices)


class CampaignWaveSerializer(serializers.ModelSerializer):
    kind = serializers.CharField(help_text=_choices(CampaignWave.Kind.choices))
    state = serializers.CharField(help_text=_choices(CampaignWave.State.choices))
    succeeded = serializers.IntegerField(read_only=True)
    failed = serializers.IntegerField(read_only=True)

    class Meta:
        model = CampaignWave
        fields = ["index", "kind", "state", "node_count", "succeeded", "failed", "budget"]


class CampaignNodeSerializer(serializers.ModelSerializer):
    node = serializers.CharField(source="node.name")
    node_id = serializers.IntegerField()
    site = serializers.CharField(source="node.site.code")
    wave = serializers.IntegerField(source="wave.index")
    step = serializers.CharField(help_text=_choices(CampaignNode.Step.choices))
    state = serializers.CharField(help_text=_choices(CampaignNode.State.choices))

    class Meta:
        model = CampaignNode
        fields = [
            "node",
            "node_id",
            "site",
            "wave",
            "step",
            "state",
            "reason",
            "attempts",
            "started_at",
            "step_started_at",
            "finished_at",
        ]


class CampaignSummarySerializer(serializers.ModelSerializer):
    bundle = serializers.IntegerField(source="bundle_id")
    created_by = serializers.CharField(source="created_by.username", default=None)
    approved_by = serializers.CharField(source="approved_by.username", default=None)
    state = serializers.CharField(help_text=_choices(Campaign.State.choices))
    stalled = serializers.BooleanField(
        source="is_stalled",
        read_only=True,
        help_text="Running, but no executor round for CAMPAIGN_STALLED_SECONDS: worker gone.",
    )

    class Meta:
        model = Campaign
        fields = [
            "id",
            "name",
            "bundle",
            "state",
            "stalled",
            "advanced_at",
            "reason",
            "created_by",
            "created_at",
            "approved_by",
            "approved_at",
            "started_at",
            "finished_at",
            "state_changed_at",
        ]


class CampaignSerializer(CampaignSummarySerializer):
    waves = serializers.SerializerMethodField()
    node_total = serializers.SerializerMethodField()
    node_counts = serializers.SerializerMethodField()
    nodes = serializers.SerializerMethodField()
    nodes_url = serializers.SerializerMethodField()

    class Meta(CampaignSummarySerializer.Meta):
        fields = [
            *CampaignSummarySerializer.Meta.fields,
            "targets",
            "strategy",
            "plan",
            "history",
            "waves",
            "node_total",
            "node_counts",
            "nodes",
            "nodes_url",
        ]

    def _counts(self, campaign) -> dict[str, int]:
        cached = getattr(campaign, "_node_counts", None)
        if cached is None:
            cached = dict.fromkeys(CampaignNode.State.values, 0)
            for state, n in (
                campaign.campaign_nodes.values_list("state").annotate(n=Count("id")).order_by()
            ):
                cached[state] = n
            campaign._node_counts = cached
        return cached

    @extend_schema_field(serializers.IntegerField(help_text="Every node of the campaign."))
    def get_node_total(self, campaign) -> int:
        return sum(self._counts(campaign).values())

    @extend_schema_field(
        serializers.DictField(
            child=serializers.IntegerField(),
            help_text="Nodes per state (" + _choices(CampaignNode.State.choices) + ").",
        )
    )
    def get_node_counts(self, campaign) -> dict[str, int]:
        return self._counts(campaign)

    @extend_schema_field(
        serializers.CharField(help_text="Every node, paginated (`limit`, `offset`, filters).")
    )
    def get_nodes_url(self, campaign) -> str:
        path = reverse("api:firmware-campaign-nodes", args=[campaign.pk])
        request = self.context.get("request")
        return request.build_absolute_uri(path) if request is not None else path

    @extend_schema_field(CampaignWaveSerializer(many=True))
    def get_waves(self, campaign):
        from django.db.models import Count, Q

        waves = campaign.waves.annotate(
            succeeded=Count("nodes", filter=Q(nodes__state=CampaignNode.State.SUCCEEDED)),
            failed=Count("nodes", filter=Q(nodes__state=CampaignNode.State.FAILED)),
        )
        return CampaignWaveSerializer(waves, many=True).data

    @extend_schema_field(CampaignNodeSerializer(many=True))
    def get_nodes(self, campaign):
        """The first `DETAIL_NODES` nodes (wave, then id order): a 10,000-node campaign stays a
        small answer; `nodes_url` pages through every node."""
        nodes = campaign.campaign_nodes.select_related("node__site", "wave").order_by(
            "wave__index", "id"
        )
        return CampaignNodeSerializer(nodes[:DETAIL_NODES], many=True).data


class CampaignCreateSerializer(serializers.Serializer):
    file = serializers.FileField(
        required=False,
        help_text="The campaign file (YAML or JSON) as a multipart upload; or send the same "
        "mapping as a JSON body.",
    )
    name = serializers.CharField(required=False)
    bundle = serializers.JSONField(required=False, help_text="Its id, or {sku, version}.")
    targets = serializers.JSONField(required=False, help_text="{sites, nodes, current}.")
    strategy = serializers.JSONField(required=False, help_text="Waves, budget and gates.")


class ActionSerializer(serializers.Serializer):
    note = serializers.CharField(
        required=False, max_length=300, help_text="Why (recorded with the transition)."
    )


class CampaignList(generics.ListAPIView):
    serializer_class = CampaignSummarySerializer
    parser_classes = [JSONParser, MultiPartParser]

    def get_queryset(self):
        return access.campaigns_for_user(self.request.user).select_related(
            "created_by", "approved_by"
        )

    @extend_schema(
        summary="Firmware campaigns",
        description="Campaigns, newest first, paginated.",
        responses={200: CampaignSummarySerializer(many=True), 403: _403, 404: _404},
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    @extend_schema(
        summary="Create a firmware campaign (a plan awaiting approval)",
        description=(
            "The campaign file (bundle, targets, strategy) as a JSON body or as a YAML/JSON "
            "`file` upload, the format of `manage.py campaign plan`. Created in state "
            "`planned` with its dry run (`plan`: waves, sites and nodes per wave, worst heat "
            "loss per site in kW, estimated duration, excluded nodes with why). Another "
            "engineer must approve it before it can start. Audited, refusals too."
        ),
        request={
            "application/json": CampaignCreateSerializer,
            "multipart/form-data": CampaignCreateSerializer,
        },
        responses={
            201: OpenApiResponse(CampaignSerializer, description="Created, state planned."),
            400: error("The campaign file is invalid (`detail` says why).", "bundle: no ..."),
            403: _403,
            404: _404,
            415: error("Neither JSON nor multipart.", 'Unsupported media type "text/plain".'),
        },
    )
    def post(self, request, *args, **kwargs):
        access.campaigns_for_user(request.user)
        upload = request.FILES.get("file")
        if upload is not None:
            if upload.size > SPEC_MAX_BYTES:
                return Response(
                    {
                        "detail": _("The campaign file is larger than %(size)s bytes.")
                        % {"size": SPEC_MAX_BYTES}
                    },
                    status=status.HTTP_400_BAD_REQUEST,
                )
            raw = upload.read()
        elif isinstance(request.data, dict) and not hasattr(request.data, "getlist"):
            raw = dict(request.data)
        else:
            return Response(
                {"detail": _("Send the campaign as a JSON body or as a `file` upload.")},
                status=status.HTTP_400_BAD_REQUEST,
            )
        try:
            campaign, _plan = campaign_create(spec=raw, actor=request.user)
        except CampaignSpecError as exc:
            return Response({"detail": exc.text}, status=status.HTTP_400_BAD_REQUEST)
        campaign = access.campaign_for_user(request.user, campaign.pk)
        return Response(
            CampaignSerializer(campaign, context={"request": request}).data,
            status=status.HTTP_201_CREATED,
        )


@extend_schema(
    summary="One firmware campaign",
    description="State, waves (state, node counts), node counts per state, the first "
    f"{DETAIL_NODES} nodes (node, wave, step, state, reason, timestamps; every node at "
    "`nodes_url`, paginated), the approved plan and the history of transitions.",
    responses={200: CampaignSerializer, 403: _403, 404: _404},
)
class CampaignDetail(generics.RetrieveAPIView):
    serializer_class = CampaignSerializer

    def get_object(self):
        return access.campaign_for_user(self.request.user, self.kwargs["pk"])


class CampaignNodeQuerySerializer(serializers.Serializer):
    state = serializers.ChoiceField(
        choices=CampaignNode.State.choices, required=False, help_text="Only nodes in this state."
    )
    step = serializers.ChoiceField(
        choices=CampaignNode.Step.choices, required=False, help_text="Only nodes at this step."
    )
    wave = serializers.IntegerField(
        min_value=0, max_value=10_000, required=False, help_text="Only this wave (its index)."
    )


class CampaignNodeList(generics.ListAPIView):
    serializer_class = CampaignNodeSerializer

    def get_queryset(self):
        campaign = access.campaign_for_user(self.request.user, self.kwargs["pk"])
        checked = CampaignNodeQuerySerializer(
            data={k: v for k, v in self.request.query_params.items() if v != ""}
        )
        if not checked.is_valid():
            raise BadQuery(
                "; ".join(f"{k}: {' '.join(map(str, v))}" for k, v in checked.errors.items())
            )
        nodes = campaign.campaign_nodes.select_related("node__site", "wave")
        query = checked.validated_data
        if "state" in query:
            nodes = nodes.filter(state=query["state"])
        if "step" in query:
            nodes = nodes.filter(step=query["step"])
        if "wave" in query:
            nodes = nodes.filter(wave__index=query["wave"])
        return nodes.order_by("wave__index", "id")

    @extend_schema(
        summary="The nodes of a firmware campaign",
        description=(
            "Every node of the campaign (wave, then id order), paginated like every list: its "
            "wave, step, state, reason, attempts and timestamps. Filters: `state`, `step`, "
            "`wave`. Engineers and admins; planners 403; partners 404."
        ),
        parameters=[CampaignNodeQuerySerializer],
        responses={
            200: CampaignNodeSerializer(many=True),
            400: error("A filter, `limit` or `offset` is invalid.", "state: ..."),
            403: _403,
            404: _404,
        },
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


@extend_schema(
    summary="Approve, start, pause, resume, abort or roll back a campaign",
    description=(
        "A validated state transition, recorded (who, when, note) and audited. `approve`: "
        "planned → approved, by an engineer other than the creator (403 otherwise). `start`: "
        "approved → running; the campaign executor picks running campaigns up and drives "
        "their waves (this call does not flash anything itself). `pause`: running → paused; "
        "`resume`: paused or halted → running (the note acknowledges the failures seen); "
        "`abort`: any unfinished state → aborted; `rollback`: a campaign that may have "
        "flashed nodes → rolling_back (the executor applies the previous bundle through the "
        "same gates). 409 with the reason when not allowed from the current state."
    ),
    request=ActionSerializer,
    responses={
        200: CampaignSummarySerializer,
        403: error("Planners; or the creator approving their own campaign.", "Four eyes: ..."),
        404: _404,
        409: error("Not allowed from the current state.", "Cannot start a campaign that is ..."),
    },
)
class CampaignAction(generics.GenericAPIView):
    serializer_class = ActionSerializer
    action_name = ""  # one route per action (``as_view(action_name=...)``)

    def post(self, request, pk):
        action = self.action_name
        campaign = access.campaign_for_user(request.user, pk)
        serializer = ActionSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            campaign = campaign_transition(
                campaign_id=campaign.pk,
                action=action,
                actor=request.user,
                note=serializer.validated_data.get("note", ""),
            )
        except CampaignConflict as exc:
            return Response({"detail": said(str(exc))}, status=status.HTTP_409_CONFLICT)
        except PermissionDenied as exc:
            return Response({"detail": said(str(exc))}, status=status.HTTP_403_FORBIDDEN)
        return Response(CampaignSummarySerializer(campaign).data)


firmware_campaign_list = CampaignList.as_view()
firmware_campaign_detail = CampaignDetail.as_view()
firmware_campaign_nodes = CampaignNodeList.as_view()
firmware_campaign_actions = {a: CampaignAction.as_view(action_name=a) for a in TRANSITIONS}
