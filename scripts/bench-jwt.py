"""Prints a monday app JWT (HS256) for the benchmarks: bench-jwt.py SECRET AUDIENCE."""
import base64
import hashlib
import hmac
import json
import sys
import time

b64 = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=")
head = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
claims = b64(json.dumps({"aud": sys.argv[2], "exp": int(time.time()) + 3600, "userId": 1, "accountId": 1}).encode())
sig = b64(hmac.new(sys.argv[1].encode(), head + b"." + claims, hashlib.sha256).digest())
print((head + b"." + claims + b"." + sig).decode())
