"""Regenerate deploy/kubernetes/monitoring/grafana-dashboard.json (run from the repository root):

    python scripts/gen_dashboard.py

The panels are declared here so that the JSON stays consistent; tests check its queries against the metrics."""

import json
from pathlib import Path

DS = {"type": "prometheus", "uid": "${datasource}"}
panels = []
y = 0


def panel(title, kind, targets, *, w=12, h=8, unit=None, desc="", x=0, options=None, stack=False):
    global y
    p = {"type": kind, "title": title, "description": desc, "datasource": DS,
         "gridPos": {"x": x, "y": y, "w": w, "h": h},
         "targets": [{"datasource": DS, "refId": chr(65 + i), "expr": e, "legendFormat": legend,
                      **({"format": "table", "instant": True} if kind == "table" else {})}
                     for i, (e, legend) in enumerate(targets)],
         "fieldConfig": {"defaults": {}, "overrides": []}}
    if unit:
        p["fieldConfig"]["defaults"]["unit"] = unit
    if stack:
        p["fieldConfig"]["defaults"]["custom"] = {"stacking": {"mode": "normal"}, "fillOpacity": 30}
    if options:
        p["options"] = options
    panels.append(p)
    return p


def row(title):
    global y
    panels.append({"type": "row", "title": title, "collapsed": False, "gridPos": {"x": 0, "y": y, "w": 24, "h": 1},
                   "panels": []})
    y += 1


row("Throughput and outcomes")
panel("Throughput", "timeseries", [
    ("sum(rate(newswire_messages_received_total[$__rate_interval]))", "URLs received/s"),
    ("sum(rate(newswire_records_published_total[$__rate_interval]))", "articles published/s"),
    ("sum(rate(newswire_dead_letters_total[$__rate_interval]))", "dead letters/s"),
    ("sum(rate(newswire_duplicates_skipped_total[$__rate_interval]))", "duplicates skipped/s")],
    unit="reqps", desc="Submissions read, articles published, dead letters and skipped duplicates, all workers.")
panel("Outcomes by dead-letter code", "timeseries", [
    ("sum by (error) (rate(newswire_dead_letters_total[$__rate_interval]))", "{{error}}")],
    x=12, unit="reqps", stack=True,
    desc="Why URLs fail: bot_challenge, js_required, not_article, empty_text, http_4xx ... "
         "(README: dead-letter codes).")
y += 8
row("Sites")
panel("Yield by site (share of submissions that became articles)", "timeseries", [
    ('sum by (site) (rate(newswire_site_outcomes_total{outcome="article"}[$__rate_interval]))'
     ' / sum by (site) (rate(newswire_site_outcomes_total[$__rate_interval]))', "{{site}}")],
    unit="percentunit",
    desc="Per registrable domain; the busiest NEWSWIRE_SITE_METRICS_MAX sites, the rest as 'other'.")
panel("Failures by site and code", "timeseries", [
    ('sum by (site, outcome) (rate(newswire_site_outcomes_total{outcome!="article"}[$__rate_interval]))',
     "{{site}} {{outcome}}")], x=12, unit="reqps", stack=True)
y += 8
panel("Site outcomes over the range", "table", [
    ("sum by (site, outcome) (increase(newswire_site_outcomes_total[$__range]))", "")],
    w=24, h=9, desc="The same numbers as `newswire sites`, over the dashboard's time range.",
    options={"showHeader": True})
y += 9
row("Latency")
panel("Publication to record (declared publication time)", "timeseries", [
    ("histogram_quantile(0.5, sum by (le) (rate(newswire_publish_lag_seconds_bucket[$__rate_interval])))", "p50"),
    ("histogram_quantile(0.9, sum by (le) (rate(newswire_publish_lag_seconds_bucket[$__rate_interval])))", "p90")],
    unit="s", desc="Pages without a declared date and time are not counted.")
panel("Stage time p95", "timeseries", [
    ("histogram_quantile(0.95, sum by (le, stage) (rate(newswire_stage_seconds_bucket[$__rate_interval])))",
     "{{stage}}")], x=12, unit="s")
y += 8
row("Kafka and capacity")
panel("Consumer lag", "timeseries", [("sum by (topic) (newswire_consumer_lag)", "{{topic}}")],
      w=8, desc="Messages not yet committed by the group, per topic (URL topic and internal streams).")
panel("CPU pool: pages per process, URLs in flight", "timeseries", [
    ("sum by (pod) (newswire_pool_queue_depth) / clamp_min(sum by (pod) (newswire_pool_processes), 1)",
     "pool pages per process {{pod}}"),
    ("sum by (pod) (newswire_urls_in_flight)", "in flight {{pod}}")], x=8, w=8,
    desc="Pages waiting for or inside the CPU pool per pool process: above 1 for long, more CPU would help.")
panel("Rebalances and re-reads", "timeseries", [
    ("max by (pod) (newswire_rebalancing)", "rebalancing {{pod}}"),
    ("sum by (pod) (changes(newswire_assigned_partitions[$__rate_interval]))", "assignment changes {{pod}}"),
    ("sum by (stage) (increase(newswire_partition_rereads_total[$__rate_interval]))", "re-reads {{stage}}")],
    x=16, w=8, desc="Rebalances in progress, assignment changes (a rebalance moved partitions) and partitions "
                    "read again from a hole.")
y += 8
panel("Event loop lag p99", "timeseries", [
    ("histogram_quantile(0.99, sum by (le, pod) (rate(newswire_event_loop_lag_seconds_bucket[$__rate_interval])))",
     "{{pod}}")], unit="s")
panel("Versions running", "table", [("count by (version) (newswire_build_info)", "")], x=12)

dashboard = {
    "title": "newswire",
    "uid": "newswire-worker",
    "description": "newswire workers: throughput, outcomes by code, per-site yield and failures, publication lag, "
                   "consumer lag, CPU pool, rebalances and re-reads. Every query uses metrics the worker exports "
                   "(checked by tests/integration/cli/test_dashboard.py).",
    "tags": ["newswire", "kafka"],
    "timezone": "utc",
    "schemaVersion": 39,
    "version": 1,
    "editable": True,
    "refresh": "30s",
    "time": {"from": "now-6h", "to": "now"},
    "templating": {"list": [{"name": "datasource", "type": "datasource", "query": "prometheus",
                             "label": "Prometheus", "current": {}, "hide": 0}]},
    "annotations": {"list": []},
    "panels": panels,
}
for i, p in enumerate(panels, 1):
    p["id"] = i
out = Path("deploy/kubernetes/monitoring/grafana-dashboard.json")
out.write_text(json.dumps(dashboard, indent=2) + "\n")
print(out, len(panels))
