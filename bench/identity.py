"""What verifying a bearer token costs the gateway, with and without the verified-token cache, for the two
signature algorithms of SPEC §5 (Ed25519 and RSA-2048), through `Verifier.verify` as a request uses it.

    .venv/bin/python -m bench.identity [--rounds 20000]

The uncached figure is a cache of size 0: signature, claims and mapping every time. Each figure is the best
of five runs of `rounds` calls (the least disturbed by other processes on a shared machine).
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from gateway.identity import Verifier


def _signer(algorithm: str) -> tuple[Any, dict[str, Any]]:
    if algorithm == "EdDSA":
        private: Any = ed25519.Ed25519PrivateKey.generate()
        jwk = json.loads(jwt.algorithms.OKPAlgorithm.to_jwk(private.public_key()))
    else:
        private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(private.public_key()))
    jwk.update(kid="bench", alg=algorithm)
    return private, {"keys": [jwk]}


def per_call_us(verifier: Verifier, authorization: str, rounds: int) -> float:
    best = float("inf")
    for _ in range(5):
        started = time.perf_counter()
        for _ in range(rounds):
            verifier.verify(authorization, "advisory")
        best = min(best, time.perf_counter() - started)
    return best / rounds * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=20_000)
    args = parser.parse_args()
    print("| algorithm | verified every time | cached | ratio |\n|---|---|---|---|")
    for algorithm in ("EdDSA", "RS256"):
        private, jwks = _signer(algorithm)
        now = int(time.time())
        token = jwt.encode({"sub": "consultant:K-001", "role": "consultant", "consultant_id": "K-001",
                            "purposes": ["advisory"], "iat": now, "exp": now + 3600}, private, algorithm=algorithm,
                           headers={"kid": "bench"})
        authorization = f"Bearer {token}"
        uncached = per_call_us(Verifier(jwks, cache_size=0), authorization, max(1, args.rounds // 20))
        cached = per_call_us(Verifier(jwks), authorization, args.rounds)
        print(f"| {algorithm} | {uncached:.1f} µs | {cached:.2f} µs | {uncached / cached:.0f}× |")


if __name__ == "__main__":
    main()
