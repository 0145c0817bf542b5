#!/usr/bin/env python3
"""leadforge's raw relational tables -> a leads table and an events table.

    python3 scripts/leadforge_events.py ../shared/data/leadforge OUT_DIR [--limit N]

Writes OUT_DIR/leads.csv (one row per lead: lead_id, lead_created_at,
lead_source, first_touch_channel, account_id, industry, region,
employee_band, seniority, role_function, buyer_role, email_domain_type,
converted) and OUT_DIR/events.csv (lead_id, timestamp, event_type, value),
for `leadscore-train --data leads.csv --events events.csv --id lead_id
--as-of-column lead_created_at --as-of-offset-days 14`.

Events: each session as `session_<session_type>` with its page views as the
value, plus one `pricing_page_view` / `demo_page_view` event per session that
had any (value: how many); each touch as `touch_<touch_type>`; each sales
activity as `sales_<activity_type>`. The tables hold dates only. The label is
`converted_within_90_days` of leadforge's flat task file. Opportunities are
left out: they follow the outcome. Standard library only.
"""

import argparse
import csv
import os
import sys


def rows(path):
    with open(path, newline="", encoding="utf-8") as f:
        yield from csv.DictReader(f)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("leadforge_dir")
    p.add_argument("out_dir")
    p.add_argument("--limit", type=int, default=0, help="first N leads only")
    a = p.parse_args()
    tables = os.path.join(a.leadforge_dir, "tables")
    labels = {}
    for r in rows(os.path.join(a.leadforge_dir, "leadforge_converted_within_90_days.csv")):
        labels[r["lead_id"]] = r["converted_within_90_days"]
    accounts = {r["account_id"]: r for r in rows(os.path.join(tables, "accounts.csv"))}
    contacts = {r["contact_id"]: r for r in rows(os.path.join(tables, "contacts.csv"))}
    os.makedirs(a.out_dir, exist_ok=True)
    kept = set()
    with open(os.path.join(a.out_dir, "leads.csv"), "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow([
            "lead_id", "lead_created_at", "lead_source", "first_touch_channel", "account_id",
            "industry", "region", "employee_band", "seniority", "role_function", "buyer_role",
            "email_domain_type", "converted",
        ])
        for r in rows(os.path.join(tables, "leads.csv")):
            if a.limit and len(kept) >= a.limit:
                break
            if r["lead_id"] not in labels:
                continue
            acct = accounts.get(r["account_id"], {})
            cnt = contacts.get(r["contact_id"], {})
            w.writerow([
                r["lead_id"], r["lead_created_at"], r["lead_source"], r["first_touch_channel"],
                r["account_id"], acct.get("industry", ""), acct.get("region", ""),
                acct.get("employee_band", ""), cnt.get("seniority", ""), cnt.get("role_function", ""),
                cnt.get("buyer_role", ""), cnt.get("email_domain_type", ""), labels[r["lead_id"]],
            ])
            kept.add(r["lead_id"])
    events = 0
    with open(os.path.join(a.out_dir, "events.csv"), "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["lead_id", "timestamp", "event_type", "value"])
        for r in rows(os.path.join(tables, "sessions.csv")):
            if r["lead_id"] not in kept:
                continue
            t = r["session_timestamp"]
            w.writerow([r["lead_id"], t, "session_" + r["session_type"], r["page_views"]])
            events += 1
            for column, kind in (("pricing_page_views", "pricing_page_view"), ("demo_page_views", "demo_page_view")):
                if int(r[column] or 0) > 0:
                    w.writerow([r["lead_id"], t, kind, r[column]])
                    events += 1
        for r in rows(os.path.join(tables, "touches.csv")):
            if r["lead_id"] in kept:
                w.writerow([r["lead_id"], r["touch_timestamp"], "touch_" + r["touch_type"], ""])
                events += 1
        for r in rows(os.path.join(tables, "sales_activities.csv")):
            if r["lead_id"] in kept:
                w.writerow([r["lead_id"], r["activity_timestamp"], "sales_" + r["activity_type"], ""])
                events += 1
    print(f"{len(kept)} leads, {events} events -> {a.out_dir}", file=sys.stderr)


if __name__ == "__main__":
    main()
