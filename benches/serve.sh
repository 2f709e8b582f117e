#!/bin/sh
# The closing-note figures of `flowc serve` (docs/serve.md):
#   - webhook → invoice draft latency over 20 deliveries (median, worst),
#     printed by the webhook test;
#   - resident memory after 1,000 scheduled runs (an ignored test: it
#     takes minutes, paced by the eAccounting client's request budget).
# Run from the repository root: sh benches/serve.sh [--release]
# (--release measures an optimised build; without it, the debug build.)
set -e
# With thin LTO, rustc 1.95's linker step fails on the serve test binary
# ("undefined hidden symbol: hashbrown::…::contains_key"); the flowc binary
# itself links. The release figures are of the release profile without LTO.
if [ "$1" = "--release" ]; then
    export CARGO_PROFILE_RELEASE_LTO=off
fi
cargo test $1 --test serve webhooks_sync_exactly_the_named_order -- --nocapture 2>&1 | grep 'webhook →'
cargo test $1 --test serve memory_after_1000_scheduled_runs -- --ignored --nocapture 2>&1 | grep 'flowc serve: RSS'
