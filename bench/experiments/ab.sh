#!/usr/bin/env bash
# A/B of slaprobe patches, measured with ab_daemon.py (400 checks/s, 12 s window, 2 rounds).
# Copies src/slaprobe to a temp dir 4 times: base, W (writer drains per flush instead of a
# blocking get per check), WC (W + phases on a 10 ms grid), WCH (WC + a plain-HTTP status
# check on an asyncio.Protocol instead of httpx: a PROTOTYPE, see patch_http.py). src/ itself
# is never modified. The patch scripts match src/ as of 2026-11-25; they may need updating.
# Usage: bench/experiments/ab.sh [python]   (needs nginx; root for ICMP)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
py="${1:-${SLAPROBE_PYTHON:-python3}}"
src="$(cd "$here/../.." && pwd)/src/slaprobe"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
for v in base W WC WCH; do mkdir -p "$tmp/$v"; cp -r "$src" "$tmp/$v/"; done
for v in W WC WCH; do "$py" "$here/patch_writer.py" "$tmp/$v"; done
for v in WC WCH; do "$py" "$here/patch_sched.py" "$tmp/$v"; done
"$py" "$here/patch_http.py" "$tmp/WCH"
for rep in 1 2; do for kind in tcp icmp http; do for v in base W WC WCH; do
  echo -n "$v round $rep: "
  PYTHONPATH="$tmp/$v" timeout 180 "$py" "$here/ab_daemon.py" "$kind" 400 - 2>&1 | grep -v warning || true
done; done; done
