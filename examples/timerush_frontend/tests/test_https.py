"""https callbacks with a client certificate (``--timerush-pem``), against a real local
HTTPS server that requires one; the certificates are made by ``trustme``."""

from __future__ import annotations

import ssl
from collections.abc import Iterator

import pytest
import trustme

from forsun.action import ActionError
from forsun.testing import make_options
from forsun.testing.receiver import HttpReceiver, Reply
from forsun_frontend_timerush.action import TimerushAction

CLIENT = "timerush-client@example.org"
OK = Reply.json({"ret": 0})


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def ca_file(tmp_path, ca) -> str:
    path = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return str(path)


@pytest.fixture
def pem_file(tmp_path, ca) -> str:
    """The client certificate and its key in one PEM file, as timerush's --pem took."""
    path = tmp_path / "client.pem"
    ca.issue_cert(CLIENT).private_key_and_cert_chain_pem.write_to_path(str(path))
    return str(path)


@pytest.fixture
def https_receiver(ca) -> Iterator[HttpReceiver]:
    """A receiver on https://127.0.0.1 that refuses clients without a certificate of ``ca``."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    ca.configure_trust(context)
    context.verify_mode = ssl.CERT_REQUIRED
    with HttpReceiver(ssl_context=context, default=OK) as receiver:
        yield receiver


async def execute(options, receiver, make_firing, path="/secure"):
    action = TimerushAction(make_options(**options))
    try:
        await action.execute(make_firing({"callback_cmd": receiver.url(path),
                                          "callback_data": "secret"}))
    finally:
        await action.close()


async def test_the_client_certificate_is_presented(https_receiver, make_firing, pem_file,
                                                   ca_file):
    await execute({"timerush_pem": pem_file, "timerush_ca": ca_file}, https_receiver,
                  make_firing)
    [request] = https_receiver.to("/secure")
    assert request.body == b"secret"
    assert CLIENT in request.peer


async def test_without_a_client_certificate_the_server_refuses(https_receiver, make_firing,
                                                               ca_file):
    with pytest.raises(ActionError) as caught:
        await execute({"timerush_ca": ca_file}, https_receiver, make_firing)
    assert caught.value.retry is True
    assert https_receiver.requests == []


async def test_an_untrusted_server_is_refused(https_receiver, make_firing, pem_file):
    with pytest.raises(ActionError) as caught:
        await execute({"timerush_pem": pem_file}, https_receiver, make_firing)
    assert "certificate" in str(caught.value).lower()
    assert https_receiver.requests == []


async def test_a_certificate_of_another_ca_is_refused(https_receiver, make_firing, tmp_path,
                                                      ca_file):
    stranger = tmp_path / "stranger.pem"
    trustme.CA().issue_cert(CLIENT).private_key_and_cert_chain_pem.write_to_path(str(stranger))
    with pytest.raises(ActionError):
        await execute({"timerush_pem": str(stranger), "timerush_ca": ca_file}, https_receiver,
                      make_firing)
    assert https_receiver.requests == []


async def test_a_pem_without_its_key_is_refused_at_construction(ca, tmp_path):
    cert_only = tmp_path / "cert-only.pem"
    ca.issue_cert(CLIENT).cert_chain_pems[0].write_to_path(str(cert_only))
    with pytest.raises(ValueError, match="--timerush-pem"):
        TimerushAction(make_options(timerush_pem=str(cert_only)))


async def test_https_through_the_service(start_service, https_receiver, pem_file, ca_file):
    running = await start_service(timerush_pem=pem_file, timerush_ca=ca_file)
    key = await running.client.register(https_receiver.url("/secure"), "over tls", 1)
    [request] = await https_receiver.wait_async(path="/secure")
    assert (request.key, request.body, request.reply) == (key, b"over tls", OK)
    assert CLIENT in request.peer
