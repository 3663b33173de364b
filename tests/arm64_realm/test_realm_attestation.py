"""``vmm realm verify`` and the CCA token decoder, on a token a real RMM signed.

The fixture ``data/realmboot-token.cbor`` was read by a realm in the emulated Arm CCA
host (TF-RMM v0.8.0, the kit's cca-host/v7 kernel): the kit's own C VMM
``examples/attest/realmboot`` booted the kit's Debian guest kernel with the
initramfs :func:`fixture_initramfs` builds and ``data/realmboot-guest.dtb``; the
guest wrote :data:`FIXTURE_CHALLENGE` to configfs-tsm's inblob and printed outblob in
base64 (``data/README.md`` has the command). So the token's RIM is what an RMM 1.0
measured for realmboot's launch, which :func:`realmboot_plan` describes.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

cbor2 = pytest.importorskip("cbor2", reason="vmm realm verify needs cbor2 (pip install cbor2)")

from cca_guest import cca_kit, guest_initramfs, guest_kernel, init_script  # noqa: E402

from vmm.plugins.arm64_realm.attestation import (  # noqa: E402
    PLATFORM_CHALLENGE,
    PLATFORM_TOKEN,
    REALM_INITIAL_MEASUREMENT,
    REALM_TOKEN,
    TokenError,
    decode_token,
    read_token,
)
from vmm.plugins.arm64_realm.rmm import (  # noqa: E402
    DataOp,
    HashAlgorithm,
    Plan,
    RealmParams,
    RecOp,
    RipasRangeOp,
    RmmProfile,
    measure,
    save_plan,
)
from vmm.plugins.arm64_realm.verify import MISMATCH, exit_status, verify  # noqa: E402

DATA = Path(__file__).parent / "data"
TOKEN = DATA / "realmboot-token.cbor"
DTB = DATA / "realmboot-guest.dtb"
#: The challenge the fixture's guest wrote to inblob.
FIXTURE_CHALLENGE = hashlib.sha512(b"vmm attestation fixture").digest()
#: What the fixture's guest ran once its attestation modules were loaded.
FIXTURE_INIT_BODY = """R=/sys/kernel/config/tsm/report/vmm
mkdir $R && echo "GUEST: provider $(cat $R/provider)"
cat /challenge > $R/inblob
cat $R/outblob > /tmp/token && echo "GUEST: token $(wc -c < /tmp/token) bytes"
echo TOKEN-BEGIN
base64 /tmp/token
echo TOKEN-END"""
#: sha256 of the fixture's initramfs: a change to the builder shows here first.
FIXTURE_INITRD_SHA256 = "318d192bf2e7e588daea2eb99d1ac9acc56207d7971f94ca2e4aea7a39547d04"

# realmboot's launch (reference/realmboot.c in the kit): 256 MiB of RAM at 2 GiB, the
# kernel at its start, the initrd 96 MiB and the DTB 128 MiB in; one vCPU entering
# the kernel with x0 = DTB; a 40-bit IPA space; SHA-256; no RPV, SVE or PMU.
RAM, RAM_SIZE = 0x8000_0000, 0x1000_0000
INITRD_AT, DTB_AT = RAM + 0x0600_0000, RAM + 0x0800_0000
#: What KVM (v7) puts in RmiRealmParams for it on QEMU's ``max`` CPU: the IPA width
#: and ID_AA64DFR0_EL1's BRPs (6 breakpoints) and WRPs (4 watchpoints) fields.
REALMBOOT_PARAMS = RealmParams(s2sz=40, num_bps=5, num_wps=3)


def fixture_initramfs(kit: Path) -> bytes:
    """The initramfs the fixture's realm booted."""
    return guest_initramfs(kit, init_script(FIXTURE_INIT_BODY),
                           files={"challenge": FIXTURE_CHALLENGE})


def realmboot_plan(kernel: Path, initrd: Path, dtb: Path,
                   hash_algo: HashAlgorithm = HashAlgorithm.SHA256) -> Plan:
    """realmboot's RMI operations: INIT_RIPAS over RAM, each image's pages measured
    in turn (POPULATE with the measure flag), then the runnable REC."""
    ops: list = [RipasRangeOp(RAM, RAM + RAM_SIZE)]
    for image, base in ((kernel, RAM), (dtb, DTB_AT), (initrd, INITRD_AT)):
        pages = -(-image.stat().st_size // 4096)
        ops += [DataOp(ipa=base + index * 4096, measure=True, file=image, offset=index * 4096)
                for index in range(pages)]
    ops.append(RecOp(runnable=True, pc=RAM, gprs=(DTB_AT,)))
    params = RealmParams(**{**REALMBOOT_PARAMS.__dict__, "hash_algo": hash_algo})
    return Plan(realm_params=params, rmm=RmmProfile.REL0, ops=tuple(ops))


@pytest.fixture(scope="module")
def realmboot_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """The kit's guest kernel, the fixture's initramfs rebuilt, and its DTB."""
    kit = cca_kit()
    initrd = tmp_path_factory.mktemp("realmboot") / "initrd.cpio"
    initrd.write_bytes(fixture_initramfs(kit))
    assert hashlib.sha256(initrd.read_bytes()).hexdigest() == FIXTURE_INITRD_SHA256, (
        "the rebuilt initramfs differs from the fixture's (cca_guest.py changed?)")
    return guest_kernel(kit), initrd, DTB


def vmm(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "vmm", *args], capture_output=True, text=True,
                          env={**os.environ, "COLUMNS": "200"})


def test_the_fixture_token_decodes_to_the_launched_realm() -> None:
    token = read_token(TOKEN)
    assert token.realm.challenge == FIXTURE_CHALLENGE
    assert token.realm.personalization_value == bytes(64)
    assert token.realm.hash_algorithm == "sha-256" and len(token.realm.initial_measurement) == 32
    assert token.realm.extensible_measurements == (bytes(32),) * 4
    assert token.realm.profile == "tag:arm.com,2023:realm#1.0.0"
    assert token.binding_holds
    assert token.realm_signature == token.platform_signature == "ES384"
    assert token.platform[265] == "tag:arm.com,2023:cca_platform#1.0.0"


def test_the_model_predicts_the_rim_a_real_rmm_measured(realmboot_files) -> None:
    plan = realmboot_plan(*realmboot_files)
    assert measure(plan) == read_token(TOKEN).realm.initial_measurement


def test_verify_passes_the_fixture_against_its_launch(realmboot_files, tmp_path: Path) -> None:
    plan = tmp_path / "plan.json"
    save_plan(realmboot_plan(*realmboot_files), plan)
    result = vmm("realm", "verify", "--token", str(TOKEN), "--plan", str(plan),
                 "--challenge", FIXTURE_CHALLENGE.hex())
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    for claim in ("realm challenge", "realm personalization value", "realm hash algorithm",
                  "realm initial measurement", "platform binding"):
        assert any(line.startswith(claim) and " match " in line for line in lines), claim
    for claim in ("realm extensible measurements", "realm public key", "platform profile",
                  "platform software components", "signatures"):
        assert any(line.startswith(claim) for line in lines), claim


def test_verify_fails_on_a_wrong_rpv_challenge_or_algorithm(realmboot_files, tmp_path: Path) -> None:
    token = read_token(TOKEN)
    plan = realmboot_plan(*realmboot_files)
    mismatched = {line.name for line in verify(token, plan, b"x".ljust(64, b"\0"), bytes(64))
                  if line.status == MISMATCH}
    assert mismatched == {"realm personalization value", "realm challenge"}
    sha512 = realmboot_plan(*realmboot_files, hash_algo=HashAlgorithm.SHA512)
    lines = verify(token, sha512, bytes(64), None)
    assert {line.name for line in lines if line.status == MISMATCH} == {
        "realm hash algorithm", "realm initial measurement"}
    assert exit_status(lines) == 1


def test_verify_exits_1_and_shows_both_rims_when_the_plan_differs(tmp_path: Path) -> None:
    plan = tmp_path / "plan.json"
    save_plan(Plan(realm_params=REALMBOOT_PARAMS, rmm=RmmProfile.REL0,
                   ops=(RecOp(runnable=True, pc=RAM),)), plan)
    result = vmm("realm", "verify", "--token", str(TOKEN), "--plan", str(plan))
    assert result.returncode == 1, result.stderr
    line = next(out for out in result.stdout.splitlines()
                if out.startswith("realm initial measurement"))
    assert MISMATCH in line and read_token(TOKEN).realm.initial_measurement.hex() in line
    assert "predicted" in line


def resigned(token: bytes, part: int, claim: int, value: object) -> bytes:
    """The token with one claim of one part replaced (signatures left stale)."""
    outer = cbor2.loads(token)
    parts = dict(outer.value)
    message = list(cbor2.loads(parts[part]).value)
    claims = dict(cbor2.loads(message[2]))
    claims[claim] = value
    message[2] = cbor2.dumps(claims)
    parts[part] = cbor2.dumps(cbor2.CBORTag(18, message))
    return cbor2.dumps(cbor2.CBORTag(outer.tag, parts))


def test_a_platform_token_not_bound_to_the_realm_key_fails() -> None:
    token = decode_token(resigned(TOKEN.read_bytes(), PLATFORM_TOKEN, PLATFORM_CHALLENGE, bytes(32)))
    assert not token.binding_holds
    plan = Plan(realm_params=REALMBOOT_PARAMS, rmm=RmmProfile.REL0)
    assert "platform binding" in {claim.name for claim in verify(token, plan, bytes(64), None)
                                  if claim.status == MISMATCH}


@pytest.mark.parametrize("data, message", [
    (b"\xff\x00", "not valid CBOR"),
    (cbor2.dumps({1: 2}), "expected CBOR tag 399"),
    (cbor2.dumps(cbor2.CBORTag(399, {44234: b"\x01"})), "lacks its"),
])
def test_a_malformed_token_is_a_one_line_error(tmp_path: Path, data: bytes, message: str) -> None:
    token = tmp_path / "token.cbor"
    token.write_bytes(data)
    plan = tmp_path / "plan.json"
    save_plan(Plan(realm_params=REALMBOOT_PARAMS, rmm=RmmProfile.REL0), plan)
    result = vmm("realm", "verify", "--token", str(token), "--plan", str(plan))
    assert result.returncode == 1
    assert result.stderr.startswith(f"vmm: error: {token}: ") and message in result.stderr
    assert len(result.stderr.splitlines()) == 1


def test_a_realm_claim_of_the_wrong_type_is_refused() -> None:
    data = resigned(TOKEN.read_bytes(), REALM_TOKEN, REALM_INITIAL_MEASUREMENT, "not bytes")
    with pytest.raises(TokenError, match=r"initial measurement claim \(44238\) has the wrong type"):
        decode_token(data)


def test_without_cbor2_the_error_says_how_to_get_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "cbor2", None)
    with pytest.raises(TokenError, match=r"needs the Python package cbor2: pip install cbor2"):
        decode_token(TOKEN.read_bytes())
