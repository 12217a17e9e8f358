"""The lab's Redfish service against the Redfish standard, checked generically.

A crawler follows every ``@odata.id`` and ``@Redfish.ActionInfo`` from the service root of a lab
BMC that has something in each collection (a session, log entries, a firmware task), and every
rule below runs over every resource it finds: none names a resource. The rules are DSP0266's
(annotations, collections, actions, headers, error bodies) and DSP8010's as the DMTF schema
digest in ``tests/lab/dmtf/`` records them (2026.1: each resource type's properties, their JSON
types and nullability, enumerations, actions and their parameters, the message registries).
The digest is read from the repository; nothing is downloaded.
"""

from __future__ import annotations

import dataclasses
import functools
import gzip
import hashlib
import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from apps.lab.redfish.updates import build_image
from tests.lab.redfish_client import Client, links

INDEX = Path(__file__).parent / "dmtf" / "redfish_index.json.gz"
ROOT = "/redfish/v1/"
SESSIONS = "/redfish/v1/SessionService/Sessions"
UPLOAD = "/redfish/v1/UpdateService/upload"
EDMX = {
    "edmx": "http://docs.oasis-open.org/odata/ns/edmx",
    "edm": "http://docs.oasis-open.org/odata/ns/edm",
}
VERSIONED = re.compile(r"^#(?P<ns>[A-Za-z]+)\.(?P<v>v\d+_\d+_\d+)\.(?P<type>[A-Za-z]+)$")
COLLECTION = re.compile(r"^#(?P<ns>[A-Za-z]+Collection)\.(?P=ns)$")
PASCAL = re.compile(r"^[A-Z][A-Za-z0-9]*$")
# Lower-case names DSP0266 itself gives (action objects), never schema properties.
LOWER_CASE_NAMES = {"target", "title"}
JSON_TYPES = {
    "string": str,
    "boolean": bool,
    "integer": int,
    "number": (int, float),
    "object": dict,
    "array": list,
}
ACTION_INFO_TYPES = {"Boolean", "Number", "NumberArray", "Object", "ObjectArray", "String",
                     "StringArray"}  # fmt: skip


@functools.cache
def dmtf() -> dict:
    with gzip.open(INDEX) as handle:
        return json.load(handle)


def enum_values(ref: str) -> list[str]:
    return dmtf()["enums"][ref]["values"]


@dataclasses.dataclass
class Page:
    path: str
    headers: dict
    body: dict

    @property
    def odata_type(self) -> str:
        return self.body["@odata.type"]

    @property
    def namespace(self) -> str:
        return self.odata_type.lstrip("#").split(".")[0]

    @property
    def is_collection(self) -> bool:
        return bool(COLLECTION.match(self.odata_type))


def walk(value, path=""):
    """(path, key, value) for every property at every depth of a body."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield path, key, item
            yield from walk(item, f"{path}/{key}")
    elif isinstance(value, list):
        for number, item in enumerate(value):
            yield from walk(item, f"{path}/{number}")


def crawl(client: Client) -> dict[str, Page]:
    pages: dict[str, Page] = {}
    todo = [ROOT]
    while todo:
        path = todo.pop()
        if path in pages:
            continue
        response = client.get(path)
        assert response.status_code == 200, (path, response.status_code, response.text)
        pages[path] = Page(path, dict(response.headers), response.json())
        todo.extend(ref for ref in links(pages[path].body) if ref not in pages)
    return pages


@pytest.fixture
def client(dual_lab):
    c = Client(dual_lab.redfish.endpoint(0))
    yield c
    c.close()


@pytest.fixture
def tree(dual_lab, client) -> dict[str, Page]:
    """The whole tree of a BMC with a session, log entries and a firmware task in it."""
    dual_lab.bmc(0).raise_intrusion()
    assert client.post(SESSIONS, {"UserName": "admin", "Password": "password"}).status_code == 201
    files = {
        "UpdateParameters": (None, "{}", "application/json"),
        "UpdateFile": ("image.hsfw", build_image("NIC", "22.1.9"), "application/octet-stream"),
    }
    assert client.request("POST", UPLOAD, files=files).status_code == 202
    pages = crawl(client)
    kinds = {page.namespace for page in pages.values()}
    assert {"Session", "LogEntry", "Task", "ActionInfo", "Sensor"} <= kinds  # the crawl reached
    return pages


def test_the_schema_digest_is_the_one_the_makefile_vendors():
    makefile = (Path(__file__).resolve().parents[2] / "Makefile").read_text()
    declared = re.search(r"^REDFISH_INDEX_SHA256 := (\w+)$", makefile, re.M)[1]
    assert hashlib.sha256(INDEX.read_bytes()).hexdigest() == declared
    assert dmtf()["source"]["corpus"] == "DMTF Redfish-Publications"
    assert dmtf()["source"]["corpus_ref"] == "2026.1"


# --- $metadata and the service document ----------------------------------------------------------


def metadata(client: Client) -> tuple[ET.Element, dict[str, str]]:
    response = client.get("/redfish/v1/$metadata")
    assert response.status_code == 200
    assert response.headers["Content-Type"].split(";")[0] == "application/xml"
    assert response.headers["OData-Version"] == "4.0"
    document = ET.fromstring(response.content)  # noqa: S314 - the lab's own reply
    included = {}
    for reference in document.iterfind("edmx:Reference", EDMX):
        uri = reference.get("Uri")
        for include in reference.iterfind("edmx:Include", EDMX):
            included[include.get("Namespace")] = uri
    return document, included


def test_metadata_references_every_namespace_the_service_uses(client, tree):
    document, included = metadata(client)
    assert document.tag == f"{{{EDMX['edmx']}}}Edmx" and document.get("Version") == "4.0"
    for page in tree.values():
        match = VERSIONED.match(page.odata_type)
        names = [page.namespace] + ([f"{page.namespace}.{match['v']}"] if match else [])
        for name in names:
            assert name in included, (page.path, name)
            # each namespace is included from its own schema file
            assert included[name].endswith(f"/{page.namespace}_v1.xml"), (name, included[name])
    # types inside bodies (settings, messages) are referenced too, and so is the error bodies'
    error = client.get("/redfish/v1/Systems/9").json()
    for body in [page.body for page in tree.values()] + [error]:
        for _, key, value in walk(body):
            if key == "@odata.type":
                match = VERSIONED.match(value) or COLLECTION.match(value)
                assert match, value
                assert match["ns"] in included, value
                if "v" in match.groupdict():
                    assert f"{match['ns']}.{match['v']}" in included, value
    aliases = {i.get("Alias") for i in document.iterfind(".//edmx:Include", EDMX)}
    assert "Redfish" in aliases


def test_metadata_declares_the_service_container_of_the_served_service_root(client, tree):
    document, included = metadata(client)
    (container,) = document.iterfind(
        "edmx:DataServices/edm:Schema[@Namespace='Service']/edm:EntityContainer", EDMX
    )
    root_type = VERSIONED.match(tree[ROOT].odata_type)
    assert container.get("Name") == "Service"
    assert container.get("Extends") == f"ServiceRoot.{root_type['v']}.ServiceContainer"
    assert f"ServiceRoot.{root_type['v']}" in included


def test_the_odata_service_document_lists_the_service_roots_top_level_links(client, tree):
    document = client.get("/redfish/v1/odata")
    assert document.status_code == 200 and document.headers["OData-Version"] == "4.0"
    body = document.json()
    assert body["@odata.context"] == "/redfish/v1/$metadata"
    root = tree[ROOT].body
    root_properties = dmtf()["resource_types"]["ServiceRoot"]["properties"]
    entries = {entry["name"]: entry for entry in body["value"]}
    assert entries.pop("Service") == {"name": "Service", "kind": "Singleton", "url": ROOT}
    for name, entry in entries.items():
        # named as the service root's property (or its Links.Sessions, as DMTF's mockups do)
        assert name in root_properties or name in root["Links"], name
        assert entry["kind"] == "Singleton"
        assert {**root, **root["Links"]}[name] == {"@odata.id": entry["url"]}, name
    top_level = {k for k, v in root.items() if isinstance(v, dict) and set(v) == {"@odata.id"}}
    assert top_level <= set(entries)


# --- every resource ------------------------------------------------------------------------------


def test_every_resource_has_consistent_odata_annotations_and_headers(tree):
    for path, page in tree.items():
        body = page.body
        assert body["@odata.id"] == path, path
        assert VERSIONED.match(page.odata_type) or page.is_collection, (path, page.odata_type)
        if not page.is_collection:
            match = VERSIONED.match(page.odata_type)
            assert match["ns"] == match["type"], page.odata_type
        context = body.get("@odata.context")
        if context is not None:
            assert context == f"/redfish/v1/$metadata#{page.namespace}.{page.namespace}", path
        headers = page.headers
        assert headers["OData-Version"] == "4.0", path
        assert headers["Content-Type"].split(";")[0] == "application/json", path
        assert headers["ETag"] == body["@odata.etag"], path
        schema = page.odata_type.lstrip("#").rsplit(".", 1)[0]
        link = f"<http://redfish.dmtf.org/schemas/v1/{schema}.json>; rel=describedby"
        assert headers["Link"] == link, path
        assert {"GET", "HEAD"} <= set(headers["Allow"].split(", ")), path


def test_head_answers_every_resource_with_its_headers_and_no_body(client, tree):
    for path in tree:
        response = client.request("HEAD", path)
        assert response.status_code == 200, path
        assert response.content == b"", path
        for header in ("ETag", "Link", "Allow", "OData-Version"):
            assert response.headers[header], (path, header)


def test_a_method_outside_a_resources_allow_header_is_405_with_the_same_allow(client, tree):
    for path, page in tree.items():
        allowed = page.headers["Allow"]
        method = "DELETE" if "DELETE" not in allowed else "PUT"
        response = client.request(method, path)
        assert_standard_error(response, 405, "OperationNotAllowed")
        assert response.headers["Allow"] == allowed, path
    writable = {path for path, page in tree.items() if "PATCH" in page.headers["Allow"]}
    assert "/redfish/v1/Systems/1" in writable and "/redfish/v1/Chassis/1" not in writable
    assert "POST" in tree[SESSIONS].headers["Allow"]


def test_served_schema_versions_exist_in_the_dmtf_schema(tree):
    types = dmtf()["resource_types"]
    for page in tree.values():
        match = VERSIONED.match(page.odata_type)
        if match is None or page.namespace not in types:
            continue  # collections; ActionInfo has no resource type of its own in the digest
        latest = types[page.namespace]["latest_version"]
        served = tuple(int(n) for n in match["v"][1:].split("_"))
        assert served <= tuple(int(n) for n in latest[1:].split("_")), (page.path, latest)


def test_every_resource_has_an_id_and_a_name(tree):
    for page in tree.values():
        body = page.body
        assert isinstance(body["Name"], str) and body["Name"], page.path
        if not page.is_collection:
            assert isinstance(body["Id"], str) and body["Id"], page.path
            assert page.path.rstrip("/").endswith("/" + body["Id"]) or page.path == ROOT


def test_property_names_are_pascal_case(tree):
    for page in tree.values():
        for where, key, _ in walk(page.body):
            if "@" in key or key in LOWER_CASE_NAMES or "/Attributes" in where:
                continue
            if where.endswith("/Actions") and key.startswith("#"):
                continue
            assert PASCAL.match(key), (page.path, where, key)


def test_every_property_is_one_the_dmtf_schema_defines_with_its_type(tree):
    types = dmtf()["resource_types"]
    checked = 0
    for page in tree.values():
        schema = types.get(page.namespace)
        if page.is_collection or schema is None:
            continue
        for name, value in page.body.items():
            if "@" in name:
                continue
            assert name in schema["properties"], (page.path, name)
            definition = schema["properties"][name]
            declared = definition.get("type")
            allowed = declared if isinstance(declared, list) else [declared]
            if value is None:
                assert "null" in allowed, (page.path, name, "null not allowed")
            elif declared is not None:
                python_types = tuple(JSON_TYPES[t] for t in allowed if t in JSON_TYPES)
                assert isinstance(value, python_types), (page.path, name, value, declared)
                assert not (isinstance(value, bool) and bool not in python_types), (page.path, name)
            if "enum_ref" in definition and value is not None:
                assert value in enum_values(definition["enum_ref"]), (page.path, name, value)
            checked += 1
    assert checked > 200


def test_status_power_state_and_health_take_only_the_dmtf_values(tree):
    states = enum_values("Resource.json#/definitions/State")
    health = enum_values("Resource.json#/definitions/Health")
    power = enum_values("Resource.json#/definitions/PowerState")
    seen = 0
    for page in tree.values():
        for where, key, value in walk(page.body):
            if key == "Status":
                assert set(value) <= {"State", "Health", "HealthRollup", "Conditions", "Oem"}
                assert value["State"] in states, (page.path, where, value)
                for name in ("Health", "HealthRollup"):
                    assert value.get(name) in [*health, None], (page.path, where, value)
                seen += 1
            if key == "PowerState":
                assert value in power, (page.path, where, value)
    assert seen > 10


# The enumeration a nested property's values come from, where its name is not the definition's.
ENUM_ALIASES = {
    "BootSourceOverrideTarget": "BootSource",
    "LastState": "BootProgressTypes",
    "ConnectTypesSupported": "SerialConnectTypesSupported",
    "TransferProtocol": "TransferProtocolType",
}


def nested_enum(namespace: str, key: str) -> list[str] | None:
    """The DMTF enumeration of property ``key`` nested in a ``namespace`` resource, if any."""
    enums = dmtf()["enums"]
    latest = dmtf()["resource_types"].get(namespace, {}).get("latest_version")
    name = ENUM_ALIASES.get(key, key)
    for ref in (
        f"{namespace}.{latest}.json#/definitions/{name}",
        f"{namespace}.json#/definitions/{name}",
        f"{name}.json#/definitions/{name}",
        f"Resource.json#/definitions/{name}",
    ):
        if ref in enums:
            return enums[ref]["values"]
    return None


def test_nested_values_and_allowable_values_come_from_the_dmtf_enumerations(tree):
    checked = set()
    for page in tree.values():
        for where, key, value in walk(page.body):
            if "/Attributes" in where or key in ("Attributes", "Oem") or "/Oem" in where:
                continue
            name, _, annotation = key.partition("@")
            if annotation and annotation != "Redfish.AllowableValues":
                continue
            if not where and not annotation:
                continue  # top-level properties: the schema test reads their own enum_ref
            values = value if isinstance(value, list) else [value]
            if not all(isinstance(v, str) for v in values):
                continue
            allowed = nested_enum(page.namespace, name)
            if allowed is None:
                continue
            assert set(values) <= set(allowed), (page.path, where, key, value)
            checked.add(name)
    expected = {
        "BootSourceOverrideTarget",
        "BootSourceOverrideEnabled",
        "ResetType",
        "State",
        "TransferProtocol",
        "ConnectTypesSupported",
    }
    assert expected <= checked, checked


# --- collections ---------------------------------------------------------------------------------


def test_collections_list_members_of_their_type_with_a_count(tree):
    for page in tree.values():
        if not page.is_collection:
            assert "Members" not in page.body, page.path
            continue
        body = page.body
        assert isinstance(body["Members"], list), page.path
        assert body["Members@odata.count"] == len(body["Members"]), page.path
        member_type = page.namespace.removesuffix("Collection")
        for member in body["Members"]:
            assert set(member) == {"@odata.id"}, (page.path, member)
            uri = member["@odata.id"]
            assert uri.startswith(page.path.rstrip("/") + "/"), (page.path, uri)
            assert tree[uri].namespace == member_type, (page.path, uri)
        uris = dmtf()["resource_types"].get(page.namespace, {}).get("uris", [])
        assert any(re.fullmatch(re.sub(r"\{\w+\}", "[^/]+", u), page.path) for u in uris) or (
            not uris
        ), (page.path, uris)


def test_resources_live_at_the_uris_the_dmtf_schema_gives_their_type(tree):
    types = dmtf()["resource_types"]
    # a settings object (``@Redfish.Settings``) may live anywhere its resource says
    settings = {
        value["SettingsObject"]["@odata.id"]
        for page in tree.values()
        for _, key, value in walk(page.body)
        if key == "@Redfish.Settings"
    }
    checked = 0
    for page in tree.values():
        uris = types.get(page.namespace, {}).get("uris")
        if not uris or page.path in settings or page.path == ROOT:
            continue
        patterns = [re.sub(r"\{\w+\}", "[^/]+", uri) for uri in uris]
        assert any(re.fullmatch(p, page.path.rstrip("/")) for p in patterns), (page.path, uris)
        checked += 1
    assert checked > 30


# --- actions -------------------------------------------------------------------------------------


def test_every_action_has_a_target_and_an_action_info_that_lists_its_parameters(client, tree):
    actions_seen = 0
    for page in tree.values():
        actions = page.body.get("Actions", {})
        schema = dmtf()["resource_types"].get(page.namespace, {}).get("actions", {})
        for name, action in actions.items():
            if name == "Oem":
                continue
            actions_seen += 1
            assert name.startswith(f"#{page.namespace}."), (page.path, name)
            assert name in schema, (page.path, name)  # a DMTF action of this type
            short = name[1:]
            assert action["target"] == f"{page.path}/Actions/{short}", (page.path, action)
            # the target exists and takes POST only
            probe = client.get(action["target"])
            assert probe.status_code == 405 and "POST" in probe.headers["Allow"], action["target"]
            info = tree[action["@Redfish.ActionInfo"]]
            assert info.namespace == "ActionInfo", (page.path, name)
            parameters = {p["Name"]: p for p in info.body["Parameters"]}
            dmtf_parameters = schema[name]["parameters"]
            for pname, parameter in parameters.items():
                assert pname in dmtf_parameters, (name, pname)
                assert parameter["DataType"] in ACTION_INFO_TYPES, (name, parameter)
                assert isinstance(parameter["Required"], bool), (name, parameter)
                enum_ref = dmtf_parameters[pname].get("enum_ref")
                if enum_ref:
                    allowable = parameter["AllowableValues"]
                    assert allowable and set(allowable) <= set(enum_values(enum_ref)), (name, pname)
            for key, value in action.items():
                if key.endswith("@Redfish.AllowableValues"):
                    pname = key.split("@")[0]
                    assert value == parameters[pname]["AllowableValues"], (name, pname)
            for pname, definition in dmtf_parameters.items():
                if definition.get("required_parameter"):
                    assert parameters[pname]["Required"] is True, (name, pname)
    assert actions_seen >= 5


# --- errors --------------------------------------------------------------------------------------


def base_registry_messages(version: str) -> list[dict]:
    """Every errata release of a Base registry major.minor (``1.16`` -> 1.16.0, 1.16.1, ...)."""
    releases = dmtf()["registries"]["Base"]
    return [entry["messages"] for key, entry in releases.items() if key.startswith(version + ".")]


def assert_standard_error(response, status: int, message_id: str) -> dict:
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers["OData-Version"] == "4.0"
    assert response.headers["Content-Type"].split(";")[0] == "application/json"
    error = response.json()["error"]
    assert set(error) == {"code", "message", "@Message.ExtendedInfo"}
    assert isinstance(error["message"], str) and error["message"]
    (info,) = error["@Message.ExtendedInfo"]
    registry, major, minor, ident = info["MessageId"].split(".")
    assert (registry, ident) == ("Base", message_id)
    releases = base_registry_messages(f"{major}.{minor}")
    assert releases, info["MessageId"]
    code_registry, code_major, code_minor, code_ident = error["code"].split(".")
    assert (code_registry, code_major, code_minor) == ("Base", major, minor)
    assert any(code_ident in messages for messages in releases)
    # the registry's message, its arguments filled in, with its severity and resolution
    args = info["MessageArgs"]
    matching = [
        messages[ident]
        for messages in releases
        if ident in messages
        and re.sub(r"%(\d+)", lambda m: args[int(m.group(1)) - 1], messages[ident]["Message"])
        == info["Message"]
    ]
    assert matching, (info["Message"], [m[ident]["Message"] for m in releases if ident in m])
    entry = matching[0]
    assert len(args) == entry["NumberOfArgs"]
    assert info["Severity"] == info["MessageSeverity"] == entry["Severity"]
    assert info["Resolution"] == entry["Resolution"]
    assert info["@odata.type"].startswith("#Message.v1_")
    return info


SYSTEM = "/redfish/v1/Systems/1"
ACCOUNT = "/redfish/v1/AccountService/Accounts/1"
JSON_HEADERS = {"Content-Type": "application/json"}


@pytest.mark.parametrize(
    ("method", "path", "body", "headers", "status", "message_id"),
    [
        ("GET", "/redfish/v1/Systems/9", None, {}, 404, "ResourceNotFound"),
        ("GET", "/redfish/v1/Nowhere", None, {}, 404, "ResourceNotFound"),
        ("DELETE", SYSTEM, None, {}, 405, "OperationNotAllowed"),
        ("PUT", SYSTEM, b"{}", JSON_HEADERS, 405, "OperationNotAllowed"),
        ("BREW", SYSTEM, None, {}, 501, "OperationNotAllowed"),
        ("GET", f"{SYSTEM}?$select=Name", None, {}, 501, "QueryNotSupported"),
        ("GET", f"{SYSTEM}?$unknown", None, {}, 501, "QueryNotSupported"),
        ("GET", SYSTEM, None, {"OData-Version": "4.1"}, 412, "HeaderInvalid"),
        ("PATCH", SYSTEM, b'{"Colour": "red"}', JSON_HEADERS, 400, "PropertyUnknown"),
        ("PATCH", SYSTEM, b'{"SerialNumber": "X"}', JSON_HEADERS, 400, "PropertyNotWritable"),
        ("PATCH", SYSTEM, b"{not json", JSON_HEADERS, 400, "MalformedJSON"),
        ("PATCH", SYSTEM, b'{"Boot": "Pxe"}', JSON_HEADERS, 400, "PropertyValueTypeError"),
        (
            "PATCH",
            SYSTEM,
            b'{"Boot": {"BootSourceOverrideTarget": "Floppy"}}',
            JSON_HEADERS,
            400,
            "PropertyValueNotInList",
        ),
        (
            "PATCH",
            "/redfish/v1/SessionService",
            b'{"SessionTimeout": 5}',
            JSON_HEADERS,
            400,
            "PropertyValueOutOfRange",
        ),
        (
            "PATCH",
            ACCOUNT,
            b'{"Password": "p4ssw0rd!"}',
            {"Content-Type": "text/plain"},
            415,
            "HeaderInvalid",
        ),
        (
            "PATCH",
            ACCOUNT,
            b'{"Password": "p4ssw0rd!"}',
            {**JSON_HEADERS, "If-Match": 'W/"0"'},
            412,
            "PreconditionFailed",
        ),
        (
            "POST",
            f"{SYSTEM}/Actions/ComputerSystem.Reset",
            b"{}",
            JSON_HEADERS,
            400,
            "ActionParameterMissing",
        ),
        (
            "POST",
            f"{SYSTEM}/Actions/ComputerSystem.Reset",
            b'{"ResetType": "Explode"}',
            JSON_HEADERS,
            400,
            "ActionParameterValueNotInList",
        ),
        (
            "POST",
            f"{SYSTEM}/Actions/ComputerSystem.Reset",
            b'{"ResetType": "On", "Delay": 1}',
            JSON_HEADERS,
            400,
            "ActionParameterUnknown",
        ),
        ("POST", SESSIONS, b'{"UserName": "admin"}', JSON_HEADERS, 400, "PropertyMissing"),
    ],
)
def test_bad_requests_get_the_registry_message_and_status_the_standard_gives(
    dual_lab, client, method, path, body, headers, status, message_id
):
    before = client.json(ACCOUNT)["@odata.etag"], client.json(SYSTEM)["Boot"]
    response = client.request(method, path, data=body, headers=headers)
    info = assert_standard_error(response, status, message_id)
    if status == 405:
        allowed = set(response.headers["Allow"].split(", "))
        assert method not in allowed and {"GET", "HEAD"} <= allowed
    if message_id == "ResourceNotFound":
        assert path in info["MessageArgs"]
    # nothing changed, and both credentials still work
    assert (client.json(ACCOUNT)["@odata.etag"], client.json(SYSTEM)["Boot"]) == before
    assert dual_lab.bmc(0).power_state == "on"


def test_without_credentials_the_answer_is_401_with_the_standard_body(dual_lab):
    anonymous = Client(dual_lab.redfish.endpoint(0), auth=False)
    try:
        response = anonymous.get(SYSTEM)
        assert_standard_error(response, 401, "NoValidSession")
        assert response.headers["WWW-Authenticate"].startswith("Basic")
    finally:
        anonymous.close()


def test_a_full_session_table_is_503_with_retry_after(dual_lab):
    dual_lab.bmc(0).faults.sessions_full = True
    anonymous = Client(dual_lab.redfish.endpoint(0), auth=False)
    try:
        response = anonymous.post(SESSIONS, {"UserName": "admin", "Password": "password"})
        assert_standard_error(response, 503, "SessionLimitExceeded")
        assert int(response.headers["Retry-After"]) > 0
    finally:
        anonymous.close()


def test_a_patch_with_the_current_etag_applies_and_a_stale_one_is_refused(client):
    etag = client.get(SYSTEM).headers["ETag"]
    change = {"Boot": {"BootSourceOverrideTarget": "Pxe", "BootSourceOverrideEnabled": "Once"}}
    applied = client.patch(SYSTEM, change, headers={"If-Match": etag})
    assert applied.status_code == 200
    assert applied.json()["Boot"]["BootSourceOverrideTarget"] == "Pxe"
    assert applied.headers["ETag"] != etag  # the representation changed, so did its ETag
    stale = client.patch(
        SYSTEM, {"Boot": {"BootSourceOverrideTarget": "Hdd"}}, headers={"If-Match": etag}
    )
    assert_standard_error(stale, 412, "PreconditionFailed")
    assert client.json(SYSTEM)["Boot"]["BootSourceOverrideTarget"] == "Pxe"
    star = client.patch(SYSTEM, {"Boot": {"BootSourceOverrideTarget": "Hdd"}},
                        headers={"If-Match": "*"})  # fmt: skip
    assert star.status_code == 200


def test_task_messages_come_from_the_dmtf_update_registry(client, tree):
    update = dmtf()["registries"]["Update"]
    tasks = [page for page in tree.values() if page.namespace == "Task"]
    assert tasks
    for page in tasks:
        for message in page.body["Messages"]:
            registry, major, minor, ident = message["MessageId"].split(".")
            assert registry == "Update", message
            releases = [
                e["messages"] for k, e in update.items() if k.startswith(f"{major}.{minor}.")
            ]
            assert any(ident in messages for messages in releases), message["MessageId"]
            severity = next(m[ident]["Severity"] for m in releases if ident in m)
            assert message["Severity"] == message["MessageSeverity"] == severity, message
