"""The DocumentNOW v2 services as the vendor's WSDL has them: operations, namespaces, endpoints."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

BASE_PATH = "/Services/DocumentNOW/v2/DocumentNOW.svc"
_NAMESPACE_ROOT = "https://www.assuresign.net/Services/DocumentNOW/"

# Each service's operations, in the WSDL's port order. tests/sandbox/legacy/test_contract.py
# holds this to wsdl/DocumentNOW.wsdl, which the sandbox does not read (it is not packaged).
SERVICES: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "AuthenticateDownload": ("AuthenticateDownload",),
        "Submit": (
            "SubmitWithFile",
            "AsyncSubmitWithFile",
            "SubmitWithFileRetrieval",
            "AsyncSubmitWithFileRetrieval",
            "Submit",
            "AsyncSubmit",
        ),
        "LookupSession": ("LookupSession",),
        "CheckStatus": ("CheckStatus",),
        "ViewHistory": ("ViewHistory",),
        "ListSignatories": ("ListSignatories",),
        "ListTemplates": ("ListTemplates",),
        "ListParameters": ("ListParameters",),
        "RetrieveTemplateInfo": ("RetrieveTemplateInfo",),
        "Expire": ("Expire",),
        "Cancel": ("Cancel",),
        "ListNotifications": ("ListNotifications",),
        "ResendNotification": ("ResendNotification",),
        "UpdateSignatory": ("UpdateSignatory",),
        "GetDocumentValues": ("GetDocumentValues",),
        "Envelopes": (
            "CreateEnvelope",
            "CloseEnvelope",
            "AsyncCloseEnvelope",
            "CancelEnvelope",
            "ListEnvelopeDocuments",
            "CheckEnvelopeStatus",
            "DownloadEnvelopeDocuments",
            "ListEnvelopeTemplates",
            "DeleteEnvelope",
        ),
        "Download": ("Download",),
        "DownloadTemplate": ("DownloadTemplate",),
        "Users": ("AuthenticateUser", "CreateUser", "GetUser", "UpdateUser", "DeleteUser", "ListUsers"),
        "Ping": ("Ping",),
        "ValidateDocument": ("ValidateDocument",),
        "GetAccessLink": ("GetAccessLink",),
        "GetSigningLinks": ("GetSigningLinks",),
        "Accounts": ("CreateAccount", "GetAccount", "UpdateAccount", "ListAccounts"),
    }
)
OPERATIONS = tuple(operation for operations in SERVICES.values() for operation in operations)
# The services with a `/mtom` endpoint beside `/text` (WSDL-FACTS: Submit documented,
# Envelopes and DownloadTemplate inferred from the articles).
MTOM_SERVICES = ("Submit", "Envelopes", "DownloadTemplate")


def namespace(service: str) -> str:
    """The service's target namespace: the default namespace of its requests and answers."""
    return _NAMESPACE_ROOT + service


def text_path(service: str) -> str:
    return f"{BASE_PATH}/{service}/text"
