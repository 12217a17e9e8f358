"""The 500 page, also when what broke the view breaks the designed page too."""

import json

from django.db import OperationalError
from django.test import RequestFactory
from django.utils.functional import SimpleLazyObject

from apps.core.views import server_error


def _request(path):
    request = RequestFactory().get(path)

    def user():
        raise OperationalError("sorry, too many clients already")

    request.user = SimpleLazyObject(user)  # the session and the user need the database
    return request


def test_a_page_error_with_the_database_out_is_still_a_plain_500_page():
    response = server_error(_request("/sites/"))
    assert response.status_code == 500
    assert b"Something went wrong" in response.content
    assert b"too many clients" not in response.content  # nothing of the error itself


def test_an_api_error_with_the_database_out_is_json():
    response = server_error(_request("/api/v1/sites/"))
    assert response.status_code == 500
    assert json.loads(response.content) == {
        "detail": "The error was logged. Please try again shortly."
    }
