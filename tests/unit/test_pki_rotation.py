"""The CA rotation's steps in a store (crash-safe start, cross certificate, served chain,
finish) and the record of a running `certs rotate`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.verification import PolicyBuilder, Store
from test_pki_manage import make_spec

from swarmredis.errors import PKIError
from swarmredis.pki import acl, manage, passwords, rotation
from swarmredis.pki.keys import KeyType, key_type_of
from swarmredis.pki.leaf import Reason, issued_by
from swarmredis.pki.material import build_material
from swarmredis.pki.rotation import Phase, RotationRecord
from swarmredis.pki.store import CertStore
from swarmredis.pki.validate import check_store

NOW = datetime(2030, 1, 1, tzinfo=UTC)
DAY = timedelta(days=1)


def new_store(tmp_path: Path, key_type: KeyType) -> CertStore:
    store = CertStore(tmp_path / "certs", "acme", stack_file="acme.yaml")
    manage.init_ca(store, now=NOW, key_type=key_type)
    manage.issue(store, make_spec(), now=NOW)
    return store


@pytest.fixture
def store(tmp_path: Path) -> CertStore:
    return new_store(tmp_path, KeyType.ED25519)


def verifies(store: CertStore, chain: bytes, anchor: x509.Certificate, when: datetime) -> bool:
    """Whether a TLS client that trusts only ``anchor`` accepts ``chain`` for acme-node-1
    (the path building of cryptography's verifier, as a client would do it)."""
    leaf, *rest = x509.load_pem_x509_certificates(chain)
    verifier = (
        PolicyBuilder()
        .store(Store([anchor]))
        .time(when)
        .build_server_verifier(x509.DNSName("acme-node-1"))
    )
    try:
        verifier.verify(leaf, rest)
    except x509.verification.VerificationError:
        return False
    return True


def test_ca_rotation_keeps_both_cas_trusted_until_finished(store: CertStore) -> None:
    spec = make_spec()
    old = store.read_cert(store.ca_current)
    new = rotation.start_ca_rotation(store, now=NOW + DAY)
    assert key_type_of(new.public_key()) is KeyType.ED25519  # keeps the key type
    assert store.read_bundle(store.ca_bundle) == [new, old]
    assert store.read_cert(store.ca_previous) == old
    assert not store.exists(store.ca_next) and not store.exists(store.ca_next_key)
    with pytest.raises(PKIError, match="already in progress"):
        rotation.start_ca_rotation(store, now=NOW + DAY)
    plan = manage.check_leaves(store, spec, now=NOW + DAY)
    assert {c.reasons for c in plan} == {(Reason.PREVIOUS_CA,)}
    # deploy's ensure_certs must not jump to the re-issue on its own
    assert manage.ensure_certs(store, spec, now=NOW + DAY).issued == ()
    with pytest.raises(PKIError, match="not every certificate is signed by the new CA"):
        rotation.finish_ca_rotation(store, spec, now=NOW + DAY)
    manage.issue(store, spec, now=NOW + 2 * DAY)
    for check in manage.check_leaves(store, spec, now=NOW + 2 * DAY):
        assert check.reasons == ()
        assert issued_by(store.read_cert(check.cert_path), new)
    assert rotation.finish_ca_rotation(store, spec, now=NOW + 2 * DAY) is True
    assert store.read_bundle(store.ca_bundle) == [new]
    assert not store.exists(store.ca_previous) and not store.exists(store.ca_cross)
    # a re-run (killed after finishing the files) changes nothing
    assert rotation.finish_ca_rotation(store, spec, now=NOW + 2 * DAY) is False
    assert store.read_bundle(store.ca_bundle) == [new]


def test_a_client_with_only_the_old_ca_verifies_nodes_until_the_rotation_finishes(
    tmp_path: Path,
) -> None:
    store = new_store(tmp_path, KeyType.ECDSA_P256)  # the verifier refuses Ed25519
    spec = make_spec()
    old = store.read_cert(store.ca_current)
    leaf = store.read(store.node_cert("node-1"))
    assert rotation.served_chain(store, leaf) == leaf  # no rotation: the leaf alone
    new = rotation.start_ca_rotation(store, now=NOW + DAY)
    cross = store.read_cert(store.ca_cross)
    assert cross.subject == new.subject and cross.public_key() == new.public_key()
    cross.verify_directly_issued_by(old)
    assert rotation.served_chain(store, leaf) == leaf  # still the old CA's leaf
    manage.issue(store, spec, now=NOW + 2 * DAY)
    fresh = store.read(store.node_cert("node-1"))
    served = rotation.served_chain(store, fresh)
    assert served == fresh + store.read(store.ca_cross)
    when = NOW + 2 * DAY + timedelta(hours=1)
    assert verifies(store, served, old, when)  # through the cross certificate
    assert verifies(store, served, new, when)
    assert not verifies(store, fresh, old, when)  # what it would be without it
    rotation.finish_ca_rotation(store, spec, now=NOW + 2 * DAY)
    assert rotation.served_chain(store, fresh) == fresh
    assert not verifies(store, rotation.served_chain(store, fresh), old, when)


def test_a_start_killed_after_staging_is_finished_with_the_staged_ca(store: CertStore) -> None:
    old = store.read_cert(store.ca_current)
    new = rotation.start_ca_rotation(store, now=NOW + DAY)
    key = store.read(store.ca_key)
    # rewind to "staged, then killed after writing ca.key": the live files half changed
    store.write(store.ca_next, store.read(store.ca_current), secret=False)
    store.write(store.ca_next_key, key, secret=True)
    store.write(store.ca_current, manage.cert_pem([old]), secret=False)
    store.remove(store.ca_previous)
    store.write(store.ca_bundle, manage.cert_pem([old]), secret=False)
    check_store(store, now=NOW + DAY)  # a staged CA's key is not refused as a mismatch
    again = rotation.start_ca_rotation(store, now=NOW + 2 * DAY)
    assert again == new and store.read(store.ca_key) == key
    assert store.read_bundle(store.ca_bundle) == [new, old]
    assert store.read_cert(store.ca_previous) == old
    assert not store.exists(store.ca_next) and not store.exists(store.ca_next_key)


def test_a_partial_stage_is_wiped_and_the_rotation_starts_afresh(store: CertStore) -> None:
    old = store.read_cert(store.ca_current)
    store.write(store.ca_next_key, b"half of a killed start", secret=True)
    new = rotation.start_ca_rotation(store, now=NOW + DAY)
    assert new != old and store.read_bundle(store.ca_bundle) == [new, old]
    assert not store.exists(store.ca_next_key)


def test_the_record_round_trips_and_a_bad_one_names_its_file(store: CertStore) -> None:
    assert rotation.read_record(store) is None
    record = RotationRecord("ca", Phase.TRUST, NOW.isoformat())
    rotation.write_record(store, record)
    assert rotation.read_record(store) == record
    forced = rotation.leaf_rotation(["1f", "a0"], NOW)
    rotation.write_record(store, forced.at(Phase.LEAVES))
    assert rotation.read_record(store) == forced
    rotation.clear_record(store)
    assert rotation.read_record(store) is None
    store.write(store.rotation, b'{"kind": "ca", "phase": "halfway"}', secret=False)
    with pytest.raises(PKIError, match=r"rotation\.json: not a rotation record") as caught:
        rotation.read_record(store)
    assert "certs rotate" in (caught.value.hint or "")


def test_a_lost_ca_key_is_replaced_by_a_rotation_without_a_cross_certificate(
    store: CertStore,
) -> None:
    old = store.read_cert(store.ca_current)
    store.remove(store.ca_key)
    new = rotation.start_ca_rotation(store, now=NOW + DAY)
    assert store.read_bundle(store.ca_bundle) == [new, old]
    assert not store.exists(store.ca_cross)  # nothing could sign it
    manage.issue(store, make_spec(), now=NOW + 2 * DAY)
    leaf = store.read(store.node_cert("node-1"))
    assert rotation.served_chain(store, leaf) == leaf


def test_a_password_rotation_keeps_the_previous_password_until_it_finishes(
    store: CertStore,
) -> None:
    spec = make_spec()
    old = store.read_password("app")
    assert passwords.previous_passwords(store, ["app"]) == {}
    new, previous, resumed = passwords.start_password_rotation(store, "app")
    assert previous == old and new != old and not resumed
    assert store.read_password("app") == new
    assert passwords.previous_passwords(store, spec.password_users()) == {"app": old}
    users_acl = build_material(store, spec)["users.acl"].decode()
    line = next(x for x in users_acl.splitlines() if x.startswith("user app "))
    assert f"#{acl.password_hash(new)} #{acl.password_hash(old)}" in line
    # run again (a killed run): the same new password, not a third one
    assert passwords.start_password_rotation(store, "app") == (new, old, True)
    check_store(store, now=NOW)  # the previous password file is a valid store file
    assert passwords.password_to_retire(store, "app") == old
    passwords.finish_password_rotation(store, "app")
    with pytest.raises(PKIError, match="no password rotation of 'app' to finish"):
        passwords.password_to_retire(store, "app")
    assert passwords.previous_password(store, "app") is None
    users_acl = build_material(store, spec)["users.acl"].decode()
    assert acl.password_hash(old) not in users_acl and acl.password_hash(new) in users_acl


def test_a_rotation_killed_between_its_two_writes_makes_the_new_password_next_time(
    store: CertStore,
) -> None:
    old = store.read_password("app")
    store.write(store.previous_password_file("app"), old.encode(), secret=True)  # killed here
    assert passwords.previous_passwords(store, ["app"]) == {}  # nothing to accept twice yet
    with pytest.raises(PKIError, match="to finish"):  # it would remove the only password
        passwords.password_to_retire(store, "app")
    new, previous, resumed = passwords.start_password_rotation(store, "app")
    assert previous == old and new != old and resumed
