#!/usr/bin/env python3
"""Minimal Python client for the leadscore gRPC service (leadscore.v1.LeadScoring).

Run it against a running server:

    pip install grpcio grpcio-tools
    ./target/release/leadscore-server --grpc-addr 127.0.0.1:50051 &
    python3 scripts/score_client.py            # or: --addr HOST:PORT

The Python stubs are generated at run time from proto/leadscore/v1/leadscore.proto
with grpc_tools.protoc into a temporary directory, so no generated code is kept
in the repository. The script reads the model schema (GetModel), scores leads
given by feature name and as a dense vector (Score), and explains them (Explain).
"""
import argparse
import importlib.resources
import sys
import tempfile
from pathlib import Path

import grpc
from grpc_tools import protoc

PROTO_ROOT = Path(__file__).resolve().parent.parent / "proto"
PROTO_FILE = PROTO_ROOT / "leadscore" / "v1" / "leadscore.proto"


def load_stubs():
    """Compile the .proto into a temp dir and import leadscore_pb2 / leadscore_pb2_grpc."""
    well_known = importlib.resources.files("grpc_tools") / "_proto"  # google/protobuf/*.proto
    with tempfile.TemporaryDirectory(prefix="leadscore_stubs_") as out:
        rc = protoc.main(["protoc", f"-I{PROTO_ROOT}", f"-I{well_known}",
                          f"--python_out={out}", f"--grpc_python_out={out}", str(PROTO_FILE)])
        if rc != 0:
            sys.exit(f"protoc failed on {PROTO_FILE} (exit {rc})")
        sys.path.insert(0, out)
        from leadscore.v1 import leadscore_pb2, leadscore_pb2_grpc  # loaded now; dir can go
        sys.path.remove(out)
    return leadscore_pb2, leadscore_pb2_grpc


def named_lead(pb, lead_id, **features):
    """A Lead given by feature name; str -> category, bool -> flag, number -> number."""
    lead = pb.Lead(lead_id=lead_id)
    for name, value in features.items():
        if isinstance(value, bool):
            lead.features[name].flag = value
        elif isinstance(value, str):
            lead.features[name].category = value
        else:
            lead.features[name].number = float(value)
    return lead


def dense_lead(pb, model, lead_id, **chosen):
    """A Lead given as dense `values` in schema order, built from GetModel's schema.

    Features not in `chosen` take the schema's imputed value. Categorical features
    are sent as their index in `categories`; booleans as 0/1; numbers as is.
    """
    values = []
    for f in model.features:
        v = chosen.get(f.name, f.imputed_value)
        if f.kind == pb.FEATURE_KIND_CATEGORICAL:
            values.append(float(list(f.categories).index(v)))
        elif f.kind == pb.FEATURE_KIND_BOOLEAN:
            values.append(1.0 if str(v).lower() in ("1", "true", "yes") else 0.0)
        else:
            values.append(float(v))
    return pb.Lead(lead_id=lead_id, values=values)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--addr", default="localhost:50051", help="server host:port")
    args = parser.parse_args()

    pb, pb_grpc = load_stubs()
    channel = grpc.insecure_channel(args.addr)
    try:
        grpc.channel_ready_future(channel).result(timeout=5)
    except grpc.FutureTimeoutError:
        sys.exit(f"cannot connect to {args.addr}: is leadscore-server running?")
    stub = pb_grpc.LeadScoringStub(channel)

    # 1. The model: what it is, how good it is, which features it takes.
    model = stub.GetModel(pb.GetModelRequest())  # empty = default model, newest version
    print(f"model {model.name} v{model.version} ({model.kind}), "
          f"held-out ROC AUC {model.metrics.roc_auc:.4f}")
    print("features:", ", ".join(f.name for f in model.features))

    # 2. Score: two leads by feature name (left-out features are imputed, with
    #    a warning each) and one as a dense vector in schema order.
    leads = [
        named_lead(pb, "hot-1", lead_origin="Lead Add Form",
                   total_time_spent_on_website=1500, total_visits=5),
        named_lead(pb, "cold-1", lead_origin="Landing Page Submission",
                   total_time_spent_on_website=0, do_not_email=True,
                   last_activity="Email Bounced"),
        dense_lead(pb, model, "dense-1", lead_origin="API", total_visits=4,
                   total_time_spent_on_website=800, last_activity="SMS Sent"),
    ]
    scores = stub.Score(pb.ScoreRequest(leads=leads))
    print(f"\nScore ({scores.model} v{scores.version}):")
    for s in scores.scores:
        print(f"  {s.lead_id:8} score {s.score:2}  band {s.band:5}  "
              f"p={s.probability:.3f}  ({len(s.warnings)} warnings)")

    # 3. Explain: the three features that moved each score most (in log-odds).
    #    A left-out categorical feature counts as category "(missing)", which the
    #    model learned from training data, so it can show up among the reasons.
    explained = stub.Explain(pb.ExplainRequest(leads=leads, top_k=3))
    print("\nExplain (top 3 reasons, log-odds vs. the average lead):")
    for e in explained.explanations:
        print(f"  {e.lead_id}: score {e.score} ({e.band}), "
              f"log-odds {e.log_odds:+.2f} = base {e.base_log_odds:+.2f} + contributions")
        for c in e.contributions:
            print(f"    {c.contribution:+.2f}  {c.label} = {c.value}")


if __name__ == "__main__":
    try:
        main()
    except grpc.RpcError as err:
        sys.exit(f"RPC failed: {err.code().name}: {err.details()}")
