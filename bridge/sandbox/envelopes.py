"""The emulated REST envelope links: `envelope/{id}/signingLinks`, `…/accessLinks/{type}`, and
the short links (`/l/{code}`) they hand out.

Facts from the contract (assuresign-rest/FACTS.md §5.2, §5.3): the path segment is the
singular `envelope`; signingLinks answers `result.signingLinks[]` of `{envelopeID,
signatoryEmail, signatoryMobilePhone, url, expirationDate}` (no signer id, no name);
accessLinks answers `result.accessLink` with the lower-case `documentType` and leaves out
what is null; a malformed GUID is 400 `VALIDATION_FAILED`; `COMPLETED` of an unsigned
envelope and an unknown document type are bare 401s; the links have the `/l/<code>` form.
Where the vendor's answer is not known the comment says [INFERRED].
"""

from __future__ import annotations

import datetime as dt
import html
import re
from collections.abc import Mapping

from .exchange import (
    NOT_FOUND,
    NOT_FOUND_SUMMARY,
    UNAUTHORIZED,
    VALIDATION_FAILED,
    Refused,
    Request,
    Response,
    json_response,
    rest_error,
    route,
)
from .rest import DENIED_SUMMARY, VALIDATION_SUMMARY, RestService
from .seed import Envelope, Seed, Signer, User
from .state import SandboxState

CALL_NAMES = ("signingLinks", "accessLinks", "link")
LINK = "link"  # the state's kind for an issued short link
# [INFERRED] How long a link lives when the caller sets no linkExpirationDate: the vendor's
# default is not documented; a month is what its e-mailed links are commonly seen to last.
DEFAULT_LINK_DAYS = 30
DOCUMENT_TYPES = ("ORIGINAL", "INTERIM", "COMPLETED")
_GUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_VERSION = r"v3\.[0-7]"


class EnvelopeService:
    """Signing and access links of the seed's envelopes, for the caller's account."""

    def __init__(self, seed: Seed, state: SandboxState, rest: RestService) -> None:
        self.seed = seed
        self.state = state
        self.rest = rest
        base = rf"/api/documentnow/{_VERSION}/envelope/(?P<envelope>[^/]+)"
        self.routes = (
            route(rf"{base}/signingLinks", "GET", "signingLinks", self.signing_links),
            route(rf"{base}/accessLinks/(?P<type>[^/]+)", "GET", "accessLinks", self.access_link),
            route(r"/l/(?P<code>[A-Za-z0-9_-]+)", "GET", "link", self.redeem),
        )

    # -- GET …/envelope/{envelopeID}/signingLinks --------------------------------

    def signing_links(self, request: Request, match: re.Match[str]) -> Response:
        envelope = self._envelope(request, match.group("envelope"))
        query = request.params()
        only_current = query.get("includeOnlyCurrentSigners", "").lower() == "true"
        expires = _expiry(query)
        # [INFERRED] FACTS §5.2: a signed envelope answered 200 in the vendor's QA; with
        # nobody left to sign, the list is empty.
        signers = () if envelope.completed else tuple(
            s for s in envelope.signers if s.current or not only_current)
        links = []
        for signer in signers:
            link = {"envelopeID": envelope.id, "signatoryEmail": signer.email,
                    "url": self._link(request, envelope, signer, "signing", expires),
                    "expirationDate": _when(expires)}
            if signer.mobile_phone:
                link["signatoryMobilePhone"] = signer.mobile_phone
            links.append(link)
        return json_response(200, {"messages": [], "result": {"signingLinks": links}})

    # -- GET …/envelope/{envelopeID}/accessLinks/{documentType} -----------------

    def access_link(self, request: Request, match: re.Match[str]) -> Response:
        envelope = self._envelope(request, match.group("envelope"))
        document_type = match.group("type").upper()
        # FACTS §5.3: an unknown type, COMPLETED of an unsigned envelope and (inferred from
        # "interim versions exist only while unsigned") INTERIM of a signed one: bare 401s.
        if (document_type not in DOCUMENT_TYPES
                or (document_type == "COMPLETED" and not envelope.completed)
                or (document_type == "INTERIM" and envelope.completed)):
            raise Refused(Response(401))
        query = request.params()
        expires = _expiry(query)
        signer = self._party(envelope, query)
        link: dict[str, object] = {"envelopeID": envelope.id, "documentType": document_type.lower(),
                                   "url": self._link(request, envelope, signer,
                                                     document_type.lower(), expires),
                                   "expirationDate": _when(expires)}
        if signer is not None:
            # Without a party the link is the originator's (FACTS §5.3): no signer fields.
            link |= {"signerID": signer.id, "signerEmail": signer.email}
            if signer.mobile_phone:
                link["signerMobilePhone"] = signer.mobile_phone
        return json_response(200, {"messages": [], "result": {"accessLink": link}})

    # -- GET /l/{code}: the link itself --------------------------------------------

    def redeem(self, request: Request, match: re.Match[str]) -> Response:
        """[INFERRED] What a link opens is the vendor's web UI; the sandbox answers a small
        page naming the envelope, the party and what the link is for, so tests can tell it
        led where it should. An unknown or expired link is the vendor's 404."""
        grant = self.state.grant(match.group("code"), LINK)
        if grant is None:
            raise Refused(rest_error(404, NOT_FOUND, NOT_FOUND_SUMMARY))
        envelope_id, purpose, party = grant.username.split("|", 2)
        envelope = self.seed.envelope(envelope_id)
        name = envelope.name if envelope is not None else envelope_id
        page = (f"<!doctype html><title>{html.escape(name)}</title>"
                f"<p data-envelope='{html.escape(envelope_id)}' data-purpose='{html.escape(purpose)}'"
                f" data-party='{html.escape(party)}'>{html.escape(purpose)}: {html.escape(name)}"
                f" for {html.escape(party or 'the originator')}</p>")
        return Response(200, page.encode("utf-8"), "text/html; charset=utf-8")

    # -- shared --------------------------------------------------------------------

    def _envelope(self, request: Request, envelope_id: str) -> Envelope:
        grant = self.rest._grant(request, bearer_only=False)  # one sandbox, one REST side
        user = self.seed.user(grant.username) if grant is not None else None
        if grant is None or user is None:
            raise Refused(rest_error(401, UNAUTHORIZED, DENIED_SUMMARY))
        self.rest._check_user_context(request, user)
        if not _GUID.fullmatch(envelope_id):
            raise Refused(rest_error(400, VALIDATION_FAILED, VALIDATION_SUMMARY,
                                     ["'Envelope ID' is not a valid GUID."]))
        envelope = self.seed.envelope(envelope_id)
        if envelope is None:
            # [INFERRED] FACTS §5.2 saw a 200 for a bad id in the vendor's QA (filed as a
            # bug); the sandbox answers what the vendor does for other unknown resources.
            raise Refused(rest_error(404, NOT_FOUND, NOT_FOUND_SUMMARY))
        if envelope.account.casefold() != _account(request, user).casefold():
            # Another account's resource is 401 UNAUTHORIZED, as for templates (FACTS §5.6).
            raise Refused(rest_error(401, UNAUTHORIZED, DENIED_SUMMARY))
        return envelope

    def _party(self, envelope: Envelope, query: Mapping[str, str]) -> Signer | None:
        email, phone = query.get("signerEmail"), query.get("signerMobilePhone")
        if not email and not phone:
            return None
        for signer in envelope.signers:
            if (email and signer.email.casefold() == email.casefold()) or (
                    phone and signer.mobile_phone == phone):
                return signer
        # [INFERRED] a party the envelope does not have: the vendor's not-found answer.
        raise Refused(rest_error(404, NOT_FOUND, NOT_FOUND_SUMMARY))

    def _link(self, request: Request, envelope: Envelope, signer: Signer | None, purpose: str,
              expires: dt.datetime) -> str:
        lifetime = max((expires - dt.datetime.now(dt.UTC)).total_seconds(), 1.0)
        party = signer.email if signer is not None else ""
        code = self.state.issue(LINK, f"{envelope.id}|{purpose}|{party}", lifetime)
        return f"{request.base_url}/l/{code}"


def _account(request: Request, user: User) -> str:
    """The account a call acts in: X-AS-UserContext's, else the user's primary one."""
    _, colon, account = (request.header("X-AS-UserContext") or "").rpartition(":")
    if colon and account.strip():
        return account.strip()
    primary = next((a for a in user.usable_accounts if a.primary), None)
    return primary.context_identifier if primary is not None else ""



def _expiry(query: Mapping[str, str]) -> dt.datetime:
    """linkExpirationDate, read as UTC (FACTS §5.2), else the default lifetime."""
    given = query.get("linkExpirationDate")
    if given:
        try:
            moment = dt.datetime.fromisoformat(given.replace("Z", "+00:00"))
        except ValueError:
            raise Refused(rest_error(400, VALIDATION_FAILED, VALIDATION_SUMMARY,
                                     ["'Link Expiration Date' is not a valid date."])) from None
        return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)
    return dt.datetime.now(dt.UTC) + dt.timedelta(days=DEFAULT_LINK_DAYS)


def _when(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
