#!/bin/sh
# The closing-note figures of `flowc serve` (docs/serve.md):
#   - webhook → invoice draft latency over 20 deliveries (median, worst),
#     printed by the webhook test;
#   - resident memory after 1,000 scheduled runs (an ignored test: it
#     takes minutes, paced by the eAccounting client's request budget).
# Run from the repository root: sh benches/serve.sh [--release]
# (--release measures the binary users run; without it, the debug build.)
set -e
cargo test $1 --test serve webhooks_sync_exactly_the_named_order -- --nocapture 2>&1 | grep 'webhook →'
cargo test $1 --test serve memory_after_1000_scheduled_runs -- --ignored --nocapture 2>&1 | grep 'flowc serve: RSS'
