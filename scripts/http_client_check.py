#!/usr/bin/env python3
"""The HTTP/JSON API (docs/http.md) with Python `requests`, against a running server.

    pip install requests
    ./target/debug/leadscore-server --http-addr 127.0.0.1:8080 &
    python3 scripts/http_client_check.py --addr 127.0.0.1:8080

Reads the model schema (GET /v1/models/{name}), scores and explains a lead
built from it, and checks the error mapping (400 with field details, 404).
Exits non-zero on any mismatch. KServe V2 REST (`/v2`) is served on the same
listener; `scripts/tritonclient_check.py --http-addr` checks it with
tritonclient.http (docs/http.md).
"""
import argparse
import sys

import requests


def lead_from_schema(info):
    features = {}
    for f in info["features"]:
        kind = f.get("kind", "FEATURE_KIND_NUMERIC")
        if kind.endswith("CATEGORICAL"):
            features[f["name"]] = {"category": (f.get("categories") or [""])[0]}
        elif kind.endswith("BOOLEAN"):
            features[f["name"]] = {"flag": True}
        else:
            features[f["name"]] = {"number": 1.0}
    return {"leadId": "py-1", "features": features}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--addr", default="127.0.0.1:8080")
    base = f"http://{parser.parse_args().addr}"
    s = requests.Session()

    models = s.get(f"{base}/v1/models", timeout=10)
    models.raise_for_status()
    for name in [m["name"] for m in models.json()["models"]]:
        info = s.get(f"{base}/v1/models/{name}", timeout=10).json()
        lead = lead_from_schema(info)

        score = s.post(f"{base}/v1/score", json={"model": name, "leads": [lead]},
                       headers={"x-request-id": "py-check"}, timeout=10)
        assert score.status_code == 200, score.text
        assert score.headers["x-request-id"] == "py-check"
        p = score.json()["scores"][0]["probability"]
        assert 0.0 <= p <= 1.0, p
        print(f"Score: {name} probability {p:.4f}")

        explain = s.post(f"{base}/v1/explain", json={"model": name, "leads": [lead], "topK": 3},
                         timeout=10)
        assert explain.status_code == 200, explain.text
        print("Explain:", [c["feature"] for c in explain.json()["explanations"][0]["contributions"]])

    bad = s.post(f"{base}/v1/score", json={"leads": [{"leadId": "x", "features": {"a": {}}}]}, timeout=10)
    assert bad.status_code == 400 and bad.json()["code"] == "INVALID_ARGUMENT", bad.text
    assert bad.json()["details"][0]["field"].startswith("leads[0]"), bad.text
    unknown = s.post(f"{base}/v1/score", json={"leads": [lead], "bogus": 1}, timeout=10)
    assert unknown.status_code == 400, unknown.text
    missing = s.post(f"{base}/v1/score", json={"model": "nope", "leads": [lead]}, timeout=10)
    assert missing.status_code == 404 and missing.json()["code"] == "NOT_FOUND", missing.text
    print("errors: 400 and 404 as documented")
    return 0


if __name__ == "__main__":
    sys.exit(main())
