"""The sandbox's table of services against the served WSDL, which the sandbox itself does not read."""

from __future__ import annotations

from bridge.sandbox.legacy.contract import BASE_PATH, SERVICES, namespace, text_path

from .soap import wsdl_document


def test_every_port_of_the_wsdl_is_a_service_of_the_sandbox_with_the_same_operations() -> None:
    served = {}
    for port in wsdl_document().services["DocumentNOW"].ports.values():
        address: str = port.binding_options["address"]
        service = address.removeprefix("https://www.assuresign.net" + BASE_PATH + "/").removesuffix("/text")
        assert address.endswith(text_path(service))
        operations = port.binding.all()
        served[service] = tuple(operations)
        for name, operation in operations.items():
            assert operation.input.body.qname.namespace == namespace(service), name
            assert operation.input.body.qname.localname == name

    assert served == dict(SERVICES)
    assert sum(len(operations) for operations in served.values()) == 45
