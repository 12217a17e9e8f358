"""The DMTF ``Base`` message registry (1.16), as far as the lab answers with it.

A Redfish error names a registry message (``Base.1.16.<Id>``) and carries that message's own
text with its arguments filled in (``%1``, ``%2``...), its severity and its resolution, so a
client (or a validator) can check the one against the other. The texts are the registry's,
word for word; what the lab wants to say beyond them goes in the error's top-level
``message``.
"""

from __future__ import annotations

import re

BASE = "Base.1.16"  # MessageId = "Base.1.16.<Id>"

# Id: (message with %1.., severity, resolution)
BASE_MESSAGES: dict[str, tuple[str, str, str]] = {
    "ActionNotSupported": (
        "The action '%1' is not supported by the resource.",
        "Critical",
        "Check the Actions property in the resource for the supported actions.",
    ),
    "ActionParameterMissing": (
        "The action '%1' requires the parameter '%2' to be present in the request body.",
        "Critical",
        "Supply the action with the required parameter in the request body when the request is "
        "resubmitted.",
    ),
    "ActionParameterUnknown": (
        "The action '%1' was submitted with the invalid parameter '%2'.",
        "Warning",
        "Correct the invalid action parameter and resubmit the request if the operation failed.",
    ),
    "ActionParameterValueNotInList": (
        "The value '%1' for the parameter %2 in the action %3 is not in the list of acceptable "
        "values.",
        "Warning",
        "Choose a value from the enumeration list that the implementation can support and "
        "resubmit the request if the operation failed.",
    ),
    "ChassisPowerStateOnRequired": (
        "The chassis with Id '%1' is required to be powered on to perform this request.",
        "Warning",
        "Power on the specified chassis and resubmit the request.",
    ),
    "GeneralError": (
        "A general error has occurred.  See Resolution for information on how to resolve the "
        "error, or @Message.ExtendedInfo if Resolution is not provided.",
        "Critical",
        "None.",
    ),
    "HeaderInvalid": (
        "Header '%1' is invalid.",
        "Critical",
        "Resubmit the request with a valid request header.",
    ),
    "InsufficientPrivilege": (
        "There are insufficient privileges for the account or credentials associated with the "
        "current session to perform the requested operation.",
        "Critical",
        "Either abandon the operation or change the associated access rights and resubmit the "
        "request if the operation failed.",
    ),
    "InternalError": (
        "The request failed due to an internal service error.  The service is still operational.",
        "Critical",
        "Resubmit the request.  If the problem persists, consider resetting the service.",
    ),
    "MalformedJSON": (
        "The request body submitted was malformed JSON and could not be parsed by the "
        "receiving service.",
        "Critical",
        "Ensure that the request body is valid JSON and resubmit the request.",
    ),
    "MissingOrMalformedPart": (
        "The multipart request contains malformed parts or is missing required parts.",
        "Critical",
        "Add any missing required parts or correct the malformed parts and resubmit the request.",
    ),
    "NoValidSession": (
        "There is no valid session established with the implementation.",
        "Critical",
        "Establish a session before attempting any operations.",
    ),
    "OperationNotAllowed": (
        "The HTTP method is not allowed on this resource.",
        "Critical",
        "None.",
    ),
    "PreconditionFailed": (
        "The ETag supplied did not match the ETag required to change this resource.",
        "Critical",
        "Try the operation again using the appropriate ETag.",
    ),
    "PropertyMissing": (
        "The property '%1' is a required property and must be included in the request.",
        "Warning",
        "Ensure that the property is in the request body and has a valid value and resubmit "
        "the request if the operation failed.",
    ),
    "PropertyNotWritable": (
        "The property '%1' is a read-only property and cannot be assigned a value.",
        "Warning",
        "Remove the property from the request body and resubmit the request if the operation "
        "failed.",
    ),
    "PropertyUnknown": (
        "The property '%1' is not in the list of valid properties for the resource.",
        "Warning",
        "Remove the unknown property from the request body and resubmit the request if the "
        "operation failed.",
    ),
    "PropertyValueConflict": (
        "The property '%1' could not be written because its value would conflict with the "
        "value of the '%2' property.",
        "Warning",
        "None.",
    ),
    "PropertyValueNotInList": (
        "The value '%1' for the property %2 is not in the list of acceptable values.",
        "Warning",
        "Choose a value from the enumeration list that the implementation can support and "
        "resubmit the request if the operation failed.",
    ),
    "PropertyValueOutOfRange": (
        "The value '%1' for the property %2 is not in the supported range of acceptable values.",
        "Warning",
        "Correct the value for the property in the request body and resubmit the request if "
        "the operation failed.",
    ),
    "PropertyValueTypeError": (
        "The value '%1' for the property %2 is not a type that the property can accept.",
        "Warning",
        "Correct the value for the property in the request body and resubmit the request if "
        "the operation failed.",
    ),
    "QueryNotSupported": (
        "Querying is not supported by the implementation.",
        "Warning",
        "Remove the query parameters and resubmit the request if the operation failed.",
    ),
    "ResourceNotFound": (
        "The requested resource of type '%1' named '%2' was not found.",
        "Critical",
        "Provide a valid resource identifier and resubmit the request.",
    ),
    "SessionLimitExceeded": (
        "The session establishment failed due to the number of simultaneous sessions exceeding "
        "the limit of the implementation.",
        "Critical",
        "Reduce the number of other sessions before trying to establish the session or "
        "increase the limit of simultaneous sessions, if supported.",
    ),
}
_ARG = re.compile(r"%(\d+)")


def arg_count(message_id: str) -> int:
    """How many arguments the message takes (its highest ``%n``)."""
    text = BASE_MESSAGES[message_id][0]
    return max((int(n) for n in _ARG.findall(text)), default=0)


def base_message(message_id: str, args: list[str]) -> dict:
    """One ``@Message.ExtendedInfo`` entry: the registry's text with ``args`` filled in."""
    text, severity, resolution = BASE_MESSAGES[message_id]
    if len(args) != arg_count(message_id):
        raise ValueError(f"{message_id} takes {arg_count(message_id)} arguments, not {len(args)}")
    return {
        "@odata.type": "#Message.v1_1_2.Message",
        "MessageId": f"{BASE}.{message_id}",
        "Message": _ARG.sub(lambda match: args[int(match.group(1)) - 1], text),
        "MessageArgs": list(args),
        "Severity": severity,
        "MessageSeverity": severity,
        "Resolution": resolution,
    }
