"""A small verified-TLS Redfish client for the lab tests (requests, one keep-alive session)."""

from __future__ import annotations

import requests


class Client:
    """Talks to one lab BMC's Redfish face, verifying TLS against that BMC's own certificate."""

    def __init__(self, endpoint, *, auth: bool = True):
        self.endpoint = endpoint
        self.http = requests.Session()
        if auth:
            self.http.auth = (endpoint.username, endpoint.password)

    def request(self, method: str, path: str, **kwargs) -> requests.Response:
        kwargs.setdefault("timeout", 30)
        return self.http.request(
            method, self.endpoint.base_url + path, verify=self.endpoint.cert_path, **kwargs
        )

    def get(self, path: str, **kwargs) -> requests.Response:
        return self.request("GET", path, **kwargs)

    def json(self, path: str) -> dict:
        response = self.get(path)
        assert response.status_code == 200, (path, response.status_code, response.text)
        return response.json()

    def post(self, path: str, body=None, **kwargs) -> requests.Response:
        return self.request("POST", path, json=body, **kwargs)

    def patch(self, path: str, body=None, **kwargs) -> requests.Response:
        return self.request("PATCH", path, json=body, **kwargs)

    def reset(self, reset_type: str) -> requests.Response:
        return self.post(
            "/redfish/v1/Systems/1/Actions/ComputerSystem.Reset", {"ResetType": reset_type}
        )

    def close(self) -> None:
        self.http.close()


def extended_info(response: requests.Response) -> dict:
    """The single ``@Message.ExtendedInfo`` entry of a standard error body (asserting its shape)."""
    error = response.json()["error"]
    assert error["code"].startswith("Base.1.") and error["code"].endswith(".GeneralError")
    assert isinstance(error["message"], str) and error["message"]
    (info,) = error["@Message.ExtendedInfo"]
    assert info["MessageId"].startswith("Base.1.")
    assert info["Message"] and info["Resolution"]
    assert info["Severity"] == info["MessageSeverity"] in ("OK", "Warning", "Critical")
    return info


def message_id(response: requests.Response) -> str:
    return extended_info(response)["MessageId"].rsplit(".", 1)[1]


def links(body):
    """Every resource reference in a body (``@odata.id`` without fragments, ActionInfo)."""
    if isinstance(body, dict):
        for key, value in body.items():
            if key in ("@odata.id", "@Redfish.ActionInfo") and isinstance(value, str):
                if "#" not in value:
                    yield value
            else:
                yield from links(value)
    elif isinstance(body, list):
        for item in body:
            yield from links(item)
