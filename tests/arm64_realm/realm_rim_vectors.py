"""The worked RIM vectors of the measurement reference (rmm-measurement.md), as literals.

Each series is cumulative: step N applies one more RMI operation to the RIM of step
N - 1. Ops are given as plan JSON objects; ``PAGE_FILE`` names a file holding one
page of 0xAA bytes, which the tests write beside the plan.
"""

from __future__ import annotations

PAGE_FILE = "aa.page"
PAGE_BYTE = 0xAA

#: RealmParams of every vector, as RmiRealmParams holds them.
REALM_PARAMS = {"flags": 0, "s2sz": 33, "sve_vl": 0, "num_bps": 1, "num_wps": 1, "pmu_num_ctrs": 0}

#: (vector id, op added by this step or None for REALM_CREATE, SHA-256 RIM, SHA-512 RIM)
REL0_SERIES = [
    (
        "V2.1",
        None,
        "39ad630fb9d2019f2be445c17430b6372c999e1d205f7ddaa5d00b5d13b83c76",
        "6178d2443ecdf5f6819e6d89a93ea79efc72e22198d4863dac2a020cca102dcf"
        "58c53a3d22a76d6e77cb120690974bdde6bd36483d3599ea2e0873044c6fa327",
    ),
    (
        "V2.2",
        {"op": "ripas", "base": "0x80000000", "top": "0x80200000"},
        "2958d5fe119e11b56232cc29a16415a46c98a3f575116487573be88548958cb3",
        "a5b442e6f7bb6658ed9f960e4c8e5900f8441917d967e8f6c0c51d00f57cf97d"
        "78d7a83313dd42d0c5987704920b530d9ebae6aca2349875f2d3095d2003f9f3",
    ),
    (
        "V2.3",
        {"op": "data", "ipa": "0x80000000", "measure": True, "file": PAGE_FILE},
        "bdcc15ebdc010bd89bda21cd23124ee36592fd948c8d5615004fcf239346d4bf",
        "3b9f76458507aa8b4b3865071fd56f7623ce963f1473e30311dcc8f8ad68d433"
        "646197bda59dac025965fdc0c5abd7898e21b642ef4e01cf23ecb7ca9b16e52e",
    ),
    (
        "V2.4",
        {"op": "data", "ipa": "0x80001000", "measure": False},
        "3502a0cacae5179d7bb3ecac7a860601fb57cfa2cf21effa76fdff494c651648",
        "2f37ad7ece2cb38c87b5c146057cc35c1ef79b924602e9d63959a39dff9fa899"
        "160bd59d3b97c75ad747114cd330f19a0f9dabe069d0fbdb138c5b08acf90cf3",
    ),
    (
        "V2.5",
        {"op": "rec", "runnable": True, "pc": "0x80000000", "gprs": ["0x8fe00000"]},
        "b95e33e13964fed307570588c6f2361bdddb9dd673873217212bf51c2b221476",
        "7960f177821d355c058eb9de290e21f6143026ea1b6c8904bf726de6b5877c4e"
        "750f83aa9d47e4bd9b9011313e96c4c3b2a5f4d89a9f87d0cf6c181be09cc5fc",
    ),
]

BETA0_SERIES = [
    (
        "B1.1",
        None,
        "ad7facb2586fc6e966c004d7d1d16b024f5805ff7cb47c7a85dabd8b48892ca7",
        "a69f17691e94ad1e31502dae02a6575effda9e42f029e50088e4eba0129749f7"
        "abc3413bf207fed8b18487af21c0d3cb1339beb6c54f875ca907a99682a960b3",
    ),
    (
        "B1.2",
        {"op": "ripas", "ipa": "0x80000000", "level": 2},
        "4801b9b42e9036e12729346e251303eb0bc8bd8c9a74b15c5783ef350cc71cc7",
        "a51b4f38dbefe0d476b4c512d5018ac4eaed5e414ea370caa3087997dd378742"
        "b602ef4258c46da9dbeca0fe609b6de94633b98e8cbf615fbcff79153788a91d",
    ),
    (
        "B1.3",
        {"op": "data", "ipa": "0x80000000", "measure": True, "file": PAGE_FILE},
        "22e025ca39ec9b76e186d4bbbcdc7ba2f0cb9bdff059c08b3e14395372c09aa2",
        "c41be48656edbac7660c88755e8f455ec56f40c403975088b16420ff95e9730c"
        "2c17941f1ce865d3f7cf3e0afe63451bbdc28c7d7f60ea47df561860b24b905f",
    ),
    (
        "B1.4",
        {"op": "rec", "runnable": True, "pc": "0x80000000", "gprs": ["0x8fe00000"]},
        "22d264f7e0f7769aefc19ec319ec46b54b03447569d6cf84903f838beb35f16a",
        "3a9acac2e64e291fecc7253300ac4deb97590d7031fb873a0e61b4a574e4ba3f"
        "112310b7b175c5bc83283076a3fbfed57e645dc14ba8dbd0ab35d526d1a42b41",
    ),
    (
        "B1.5",
        {"op": "rec", "runnable": False, "pc": 0},
        "6d5f38df0316b120c853eac5835022297e1760ebf4ca4d226ff8133bd938f25f",
        "dcbe83e27621462fd8cab06c7eea6c0421e4910bd8834248aa998707e91cfd6d"
        "38575e7928ce43fad9bc42351e825cc7cbfab1cfad3386c46189f798da4aa2e0",
    ),
]

SERIES = {"rel0": REL0_SERIES, "beta0": BETA0_SERIES}


def vector_cases() -> list[tuple[str, str, int, str]]:
    """(profile, hash, number of steps, expected RIM hex) for every vector and algorithm."""
    cases = []
    for profile, series in SERIES.items():
        for steps, (_vector_id, _op, sha256, sha512) in enumerate(series, start=1):
            cases.append((profile, "sha256", steps, sha256))
            cases.append((profile, "sha512", steps, sha512))
    return cases


def vector_ids() -> list[str]:
    """Test ids matching :func:`vector_cases`."""
    return [
        f"{vector_id}-{algo}"
        for series in SERIES.values()
        for vector_id, *_ in series
        for algo in ("sha256", "sha512")
    ]


def plan_document(profile: str, hash_name: str, steps: int) -> dict:
    """The JSON plan of the first ``steps`` steps of a series."""
    ops = [op for _vector_id, op, *_ in SERIES[profile][:steps] if op is not None]
    return {"hash": hash_name, "rmm": profile, "realm_params": dict(REALM_PARAMS), "ops": ops}
