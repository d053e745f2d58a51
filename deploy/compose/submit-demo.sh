#!/bin/sh
# The compose demo's one-shot submitter: create the topics, submit the URL of
# every page in /pages (DEMO_PAGES_DIR) (plus one that does not exist, to show a dead letter),
# then print a one-line summary of each record as the workers publish it.
set -eu

pages_url="${DEMO_PAGES_URL:-http://pages:8000}"
pages_dir="${DEMO_PAGES_DIR:-/pages}"

# Idempotent; run here too so nothing is produced to a topic before it exists
# with its partitions, whichever of the workers or this script comes first.
newswire topics

set --
for page in "$pages_dir"/*.html; do
    set -- "$@" "$pages_url/$(basename "$page")"
done
count=$#
newswire submit --source compose-demo "$@" "$pages_url/no-such-article.html"

echo "waiting for $count article records and 1 dead letter ..."
summarise='
import sys, json
for line in sys.stdin:
    r = json.loads(line)
    if "error" in r:
        print("[dead letter] %s: %s/%s" % (r["url"], r["stage"], r["error"]), flush=True)
    else:
        names = ", ".join(e["name"] for e in r.get("entities", [])[:5]) or "-"
        print("[article] %s (%s, %s words) entities: %s" % (r["title"], r["language"], r["word_count"], names), flush=True)
'
newswire tail --topic articles --from-beginning --max "$count" --timeout 300 | python -c "$summarise"
newswire tail --topic deadletter --from-beginning --max 1 --timeout 120 | python -c "$summarise"
echo "done: the workers keep running; submit more with"
echo "  docker compose run --rm --entrypoint newswire submitter submit URL..."
