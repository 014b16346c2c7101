"""The emulated legacy DocumentNOW v2 SOAP service (SOAP 1.1, document/literal), every endpoint of the WSDL.

Emulated: the Users service (AuthenticateUser, CreateUser, GetUser, UpdateUser, DeleteUser,
ListUsers), the Accounts service (CreateAccount, GetAccount, UpdateAccount, ListAccounts),
Ping and ListTemplates. Every other operation answers a Server fault "Operation X is not
emulated by the sandbox.", and so do the `/mtom` endpoints. Modules, in request order:
`service` (routes), `envelope` (parse, answers, Faults), `operation` (an emulated operation),
`members` (reading a request), `access` (tokens), `users`, `accounts`, `templates`, with
`registry` (the users and accounts as changed) and `contract` (the WSDL's services).
"""

from .registry import Registry
from .service import CALL_NAMES, LegacyService

__all__ = ["CALL_NAMES", "LegacyService", "Registry"]
