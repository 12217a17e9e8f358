"""The lab's Redfish service as a standard Redfish service: authentication and sessions, error
bodies, the resource tree, actions, $metadata, TLS and keep-alive."""

import base64
import hashlib
import http.client
import socket
import ssl
import xml.etree.ElementTree as ET

import pytest
import requests

from apps.lab.redfish.fleet import DualFaceLab
from tests.lab.redfish_client import Client, extended_info, links, message_id

SESSIONS = "/redfish/v1/SessionService/Sessions"
SYSTEM = "/redfish/v1/Systems/1"


@pytest.fixture
def client(dual_lab):
    c = Client(dual_lab.redfish.endpoint(0))
    yield c
    c.close()


@pytest.fixture
def anonymous(dual_lab):
    c = Client(dual_lab.redfish.endpoint(0), auth=False)
    yield c
    c.close()


def login(anonymous):
    return anonymous.post(SESSIONS, {"UserName": "admin", "Password": "password"})


# --- authentication ------------------------------------------------------------------------------


def test_the_service_root_is_public_and_links_the_sessions(anonymous):
    root = anonymous.json("/redfish/v1/")
    assert root["Links"]["Sessions"]["@odata.id"] == SESSIONS
    assert root["RedfishVersion"].startswith("1.")
    assert len(root["UUID"]) == 36
    assert anonymous.json("/redfish")["v1"] == "/redfish/v1/"
    assert anonymous.get("/redfish/v1").json()["@odata.id"] == "/redfish/v1/"


def test_everything_else_needs_credentials(anonymous):
    response = anonymous.get(SYSTEM)
    assert response.status_code == 401
    assert message_id(response) == "NoValidSession"
    assert response.headers["WWW-Authenticate"].startswith("Basic")
    reset = anonymous.post(f"{SYSTEM}/Actions/ComputerSystem.Reset", {"ResetType": "ForceOff"})
    assert reset.status_code == 401
    wrong = anonymous.get(SYSTEM, auth=("admin", "wrong"))
    assert wrong.status_code == 401
    assert anonymous.get(SYSTEM, headers={"X-Auth-Token": "made-up"}).status_code == 401


def test_a_session_is_created_used_and_deleted(anonymous):
    response = login(anonymous)
    assert response.status_code == 201
    token, location = response.headers["X-Auth-Token"], response.headers["Location"]
    assert location.startswith(SESSIONS + "/")
    body = response.json()
    assert (body["@odata.id"], body["UserName"], body["Password"]) == (location, "admin", None)
    headers = {"X-Auth-Token": token}
    assert anonymous.get(SYSTEM, headers=headers).status_code == 200
    members = anonymous.get(SESSIONS, headers=headers).json()["Members"]
    assert {"@odata.id": location} in members
    assert anonymous.request("DELETE", location, headers=headers).status_code == 204
    assert anonymous.get(SYSTEM, headers=headers).status_code == 401


def test_a_session_expires_after_the_timeout_of_inactivity(dual_lab, anonymous, lab_redfish_clock):
    token = login(anonymous).headers["X-Auth-Token"]
    headers = {"X-Auth-Token": token}
    timeout = anonymous.get("/redfish/v1/SessionService", headers=headers).json()["SessionTimeout"]
    lab_redfish_clock.advance(timeout - 1)
    assert anonymous.get(SYSTEM, headers=headers).status_code == 200  # activity renews it
    lab_redfish_clock.advance(timeout - 1)
    assert anonymous.get(SYSTEM, headers=headers).status_code == 200
    lab_redfish_clock.advance(timeout + 1)
    assert anonymous.get(SYSTEM, headers=headers).status_code == 401
    assert dual_lab.redfish.service(0).sessions == {}


def test_the_session_timeout_can_be_changed_within_limits(client, lab_redfish_clock):
    assert client.patch("/redfish/v1/SessionService", {"SessionTimeout": 60}).status_code == 200
    bad = client.patch("/redfish/v1/SessionService", {"SessionTimeout": 5})
    assert (bad.status_code, message_id(bad)) == (400, "PropertyValueOutOfRange")
    anonymous = Client(client.endpoint, auth=False)
    headers = {"X-Auth-Token": login(anonymous).headers["X-Auth-Token"]}
    lab_redfish_clock.advance(61)
    assert anonymous.get(SYSTEM, headers=headers).status_code == 401
    anonymous.close()


def test_the_session_limit_is_enforced(make_dual_lab):
    lab = make_dual_lab(count=1, redfish_options={"max_sessions": 2})
    anonymous = Client(lab.redfish.endpoint(0), auth=False)
    first = login(anonymous)
    assert login(anonymous).status_code == 201
    full = login(anonymous)
    assert full.status_code == 503
    assert message_id(full) == "SessionLimitExceeded"
    headers = {"X-Auth-Token": first.headers["X-Auth-Token"]}
    anonymous.request("DELETE", first.headers["Location"], headers=headers)
    assert login(anonymous).status_code == 201  # a freed slot can be used again
    lab.bmc(0).faults.sessions_full = True  # the lab's fault switch
    assert login(anonymous).status_code == 503
    anonymous.close()


@pytest.mark.parametrize(
    ("body", "status", "expected"),
    [
        ({"UserName": "admin", "Password": "wrong"}, 401, "NoValidSession"),
        ({"UserName": "nobody", "Password": "password"}, 401, "NoValidSession"),
        ({"UserName": "admin"}, 400, "PropertyMissing"),
        ({"UserName": "admin", "Password": 7}, 400, "PropertyValueTypeError"),
    ],
)
def test_a_bad_login_gets_no_session(dual_lab, anonymous, body, status, expected):
    response = anonymous.post(SESSIONS, body)
    assert (response.status_code, message_id(response)) == (status, expected)
    assert "X-Auth-Token" not in response.headers
    assert dual_lab.redfish.service(0).sessions == {}


# --- errors --------------------------------------------------------------------------------------


def test_an_unknown_resource_is_a_standard_404(client):
    response = client.get("/redfish/v1/Systems/2")
    assert response.status_code == 404
    info = extended_info(response)
    assert info["MessageId"].endswith(".ResourceNotFound")
    assert "/redfish/v1/Systems/2" in info["MessageArgs"]


def test_a_method_a_resource_does_not_support_is_a_405_with_allow(client):
    response = client.request("DELETE", SYSTEM)
    assert response.status_code == 405
    assert message_id(response) == "OperationNotAllowed"
    assert set(response.headers["Allow"].split(", ")) == {"GET", "HEAD", "PATCH"}


@pytest.mark.parametrize(
    ("method", "path", "data", "expected"),
    [
        ("PATCH", SYSTEM, b"{not json", "MalformedJSON"),
        ("PATCH", SYSTEM, b"[1, 2]", "MalformedJSON"),
        ("PATCH", SYSTEM, b'{"SerialNumber": "X"}', "PropertyNotWritable"),
        ("PATCH", SYSTEM, b'{"Colour": "red"}', "PropertyUnknown"),
        ("PATCH", SYSTEM, b'{"Boot": "Pxe"}', "PropertyValueTypeError"),
        ("POST", f"{SYSTEM}/Actions/ComputerSystem.Reset", b"{}", "ActionParameterMissing"),
        (
            "POST",
            f"{SYSTEM}/Actions/ComputerSystem.Reset",
            b'{"ResetType": "Explode"}',
            "ActionParameterValueNotInList",
        ),
        (
            "POST",
            f"{SYSTEM}/Actions/ComputerSystem.Reset",
            b'{"ResetType": "On", "Delay": 3}',
            "ActionParameterUnknown",
        ),
    ],
)
def test_bad_requests_get_the_standard_error_body(dual_lab, client, method, path, data, expected):
    response = client.request(method, path, data=data, headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert message_id(response) == expected
    assert dual_lab.bmc(0).power_state == "on"


# --- the tree ------------------------------------------------------------------------------------


def walk(client):
    seen, todo, types = {}, ["/redfish/v1/"], set()
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        response = client.get(path)
        assert response.status_code == 200, (path, response.status_code)
        assert response.headers["OData-Version"] == "4.0"
        body = response.json()
        seen[path] = body
        assert body["@odata.id"].rstrip("/") == path.rstrip("/"), path
        assert body["@odata.type"].startswith("#"), path
        assert body["@odata.context"].startswith("/redfish/v1/$metadata#"), path
        types.add(body["@odata.type"].lstrip("#").split(".")[0])
        if "Members" in body:
            assert body["Members@odata.count"] == len(body["Members"]), path
            assert body["@odata.type"].endswith("Collection"), path
        todo.extend(link for link in links(body) if link not in seen)
    return seen, types


def test_every_resource_reachable_from_the_root_answers_with_its_own_id(dual_lab, client):
    dual_lab.bmc(0).raise_intrusion()
    client.post(SESSIONS, {"UserName": "admin", "Password": "password"})
    seen, types = walk(client)
    for path in (
        "/redfish/v1/Chassis/1/Sensors/CoolantFlow",
        "/redfish/v1/Chassis/1/ThermalSubsystem/Fans/Fan1",
        "/redfish/v1/Chassis/1/Power",
        "/redfish/v1/Chassis/1/Thermal",
        "/redfish/v1/Managers/1/LogServices/SEL/Entries/1",
        "/redfish/v1/UpdateService/FirmwareInventory/CPLD",
        "/redfish/v1/AccountService/Roles/Administrator",
        f"{SYSTEM}/ResetActionInfo",
        f"{SYSTEM}/Bios/Settings",
        f"{SYSTEM}/Memory/DIMM8",
        f"{SYSTEM}/EthernetInterfaces/NIC2",
    ):
        assert path in seen
    # $metadata references every schema a resource claims
    document = client.get("/redfish/v1/$metadata")
    assert document.status_code == 200
    assert document.headers["Content-Type"].startswith("application/xml")
    ns = {"edmx": "http://docs.oasis-open.org/odata/ns/edmx"}
    tree = ET.fromstring(document.content)  # noqa: S314 - the lab's own reply
    included = {element.get("Namespace") for element in tree.iterfind(".//edmx:Include", ns)}
    assert types <= included
    for body in seen.values():
        namespace, version = body["@odata.type"].lstrip("#").split(".")[:2]
        if not namespace.endswith("Collection"):
            assert f"{namespace}.{version}" in included


def test_the_odata_service_document_lists_the_top_level_services(anonymous):
    document = anonymous.json("/redfish/v1/odata")
    urls = {entry["url"] for entry in document["value"]}
    assert {"/redfish/v1/", "/redfish/v1/Systems", "/redfish/v1/Managers"} <= urls


def test_the_reset_action_info_lists_what_the_action_accepts(dual_lab, client):
    action = client.json(SYSTEM)["Actions"]["#ComputerSystem.Reset"]
    info = client.json(action["@Redfish.ActionInfo"])
    (parameter,) = info["Parameters"]
    assert (parameter["Name"], parameter["Required"], parameter["DataType"]) == (
        "ResetType",
        True,
        "String",
    )
    assert parameter["AllowableValues"] == action["ResetType@Redfish.AllowableValues"]
    assert set(parameter["AllowableValues"]) == {
        "On", "ForceOff", "GracefulShutdown", "ForceRestart", "GracefulRestart", "PowerCycle",
        "Nmi",
    }  # fmt: skip
    # every advertised value is accepted (the node is on, so each one applies)
    for value in parameter["AllowableValues"]:
        dual_lab.bmc(0).set_power("on")
        response = client.post(action["target"], {"ResetType": value})
        assert response.status_code == 204, (value, response.text)


# --- TLS and connections -------------------------------------------------------------------------


def presented_fingerprint(endpoint):
    context = ssl.create_default_context(cafile=endpoint.cert_path)
    with (
        socket.create_connection((endpoint.host, endpoint.port), timeout=30) as raw,
        context.wrap_socket(raw, server_hostname=endpoint.host) as tls,
    ):
        return hashlib.sha256(tls.getpeercert(binary_form=True)).hexdigest()


def test_each_bmc_presents_its_own_certificate(dual_lab):
    first, second = dual_lab.redfish.endpoint(0), dual_lab.redfish.endpoint(1)
    assert first.fingerprint != second.fingerprint
    assert presented_fingerprint(first) == first.fingerprint
    assert presented_fingerprint(second) == second.fingerprint
    # verifying one BMC against another's certificate fails
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(f"{second.base_url}/redfish/v1/", verify=first.cert_path, timeout=30)


def test_certificates_are_kept_across_a_restart(tmp_path):
    with DualFaceLab(count=1, state_dir=tmp_path) as lab:
        before = lab.redfish.endpoint(0).fingerprint
    with DualFaceLab(count=1, state_dir=tmp_path) as lab:
        assert lab.redfish.endpoint(0).fingerprint == before
        assert presented_fingerprint(lab.redfish.endpoint(0)) == before
    assert (tmp_path / "lab-node-001.pem").stat().st_mode & 0o077 == 0


def test_a_renewed_certificate_is_presented_and_the_old_one_no_longer_verifies(dual_lab):
    old = dual_lab.redfish.endpoint(0)
    fingerprint = dual_lab.redfish.renew_certificate(0)
    new = dual_lab.redfish.endpoint(0)
    assert fingerprint == new.fingerprint != old.fingerprint
    assert presented_fingerprint(new) == fingerprint
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(f"{old.base_url}/redfish/v1/", verify=old.cert_path, timeout=30)
    assert dual_lab.redfish.endpoint(1).fingerprint == presented_fingerprint(
        dual_lab.redfish.endpoint(1)
    )  # the other BMC keeps its own


def test_one_connection_serves_many_requests(dual_lab):
    endpoint = dual_lab.redfish.endpoint(0)
    context = ssl.create_default_context(cafile=endpoint.cert_path)
    connection = http.client.HTTPSConnection(endpoint.host, endpoint.port, context=context)
    auth = base64.b64encode(b"admin:password").decode()
    try:
        connection.request("GET", "/redfish/v1/")
        connection.getresponse().read()
        sock = connection.sock
        for path in (SYSTEM, "/redfish/v1/Chassis/1/Sensors/SystemPower", "/redfish/v1/Nope"):
            connection.request("GET", path, headers={"Authorization": f"Basic {auth}"})
            response = connection.getresponse()
            response.read()
            assert response.getheader("Connection") == "keep-alive"
            assert connection.sock is sock
    finally:
        connection.close()


def test_a_garbled_request_is_answered_400_and_the_lab_keeps_serving(dual_lab, client):
    endpoint = dual_lab.redfish.endpoint(0)
    context = ssl.create_default_context(cafile=endpoint.cert_path)
    with (
        socket.create_connection((endpoint.host, endpoint.port), timeout=30) as raw,
        context.wrap_socket(raw, server_hostname=endpoint.host) as tls,
    ):
        tls.sendall(b"NONSENSE\r\n\r\n")
        assert tls.recv(100).startswith(b"HTTP/1.1 400")
    assert client.json(SYSTEM)["PowerState"] == "On"


def test_query_parameters_the_lab_does_not_offer_are_refused_as_not_supported(client):
    features = client.json("/redfish/v1/")["ProtocolFeaturesSupported"]
    assert features["ExpandQuery"]["ExpandAll"] is False
    assert features["SelectQuery"] is False
    for params in (
        {"$expand": "*"},
        {"$expand": ".($levels=2)"},
        {"$select": "PowerState"},
        {"$expand": ".", "$top": "1"},
    ):
        response = client.get(SYSTEM, params=params)
        assert response.status_code == 501, params
        assert message_id(response) == "QueryNotSupported"


@pytest.mark.parametrize("expand", [".", ".($levels=1)"])
def test_expand_one_level_inlines_the_members_of_a_collection(client, expand):
    features = client.json("/redfish/v1/")["ProtocolFeaturesSupported"]["ExpandQuery"]
    assert (features["NoLinks"], features["Levels"], features["MaxLevels"]) == (True, True, 1)
    path = "/redfish/v1/Chassis/1/Sensors"
    listed = client.json(path)["Members"]
    response = client.get(path, params={"$expand": expand})
    assert response.status_code == 200
    inline = response.json()["Members"]
    assert [m["@odata.id"] for m in inline] == [m["@odata.id"] for m in listed]
    for member in inline:
        alone = client.json(member["@odata.id"])
        volatile = ("Reading", "@odata.etag")  # a reading moves; the etag is the answer's
        assert {k: v for k, v in member.items() if k not in volatile} == {
            k: v for k, v in alone.items() if k not in volatile
        }
        assert "Reading" in member


def test_expand_inlines_subordinate_resources_but_not_links(client):
    chassis = client.get("/redfish/v1/Chassis/1", params={"$expand": "."}).json()
    assert chassis["EnvironmentMetrics"]["@odata.type"].startswith("#EnvironmentMetrics.")
    assert set(chassis["Links"]["ComputerSystems"][0]) == {"@odata.id"}


def test_the_bmc_fault_switches_apply_to_the_redfish_face(dual_lab):
    faults = dual_lab.bmc(0).faults
    faults.unreachable = True
    silent = Client(dual_lab.redfish.endpoint(0))
    with pytest.raises(requests.exceptions.ReadTimeout):
        silent.get(SYSTEM, timeout=(30, 0.5))  # the failure we expect: no answer at all
    silent.close()
    faults.unreachable = False
    faults.slow_ms = 200
    slow = Client(dual_lab.redfish.endpoint(0))
    response = slow.get(SYSTEM)
    assert response.status_code == 200
    assert response.elapsed.total_seconds() >= 0.2
    slow.close()
