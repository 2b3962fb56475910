#!/usr/bin/env bash
# The layering of src/ (docs/architecture.md), checked so that it cannot decay silently:
#
#   core      the reactor: includes core/ only, and of the public API only what names no
#             protocol (status, the offloaded work item)
#   http      the server protocol: core/, http/
#   mailbox   core/, mailbox/, and of HTTP only the Response (public) and http/continuation.hpp
#   stream    core/, http/, stream/
#   load      core/, load/
#   redis     core/, redis/, and of the public API only what the reactor may use: the Redis
#             client knows no HTTP, mailbox or server
#   mailbox_redis  the mailbox on Redis: core/, redis/, mailbox/, mailbox_redis/, and of HTTP
#             only the Response (public) and http/continuation.hpp
#   server    everything above: it wires the layers together
#   tetherd   the program: the public API (and its own files)
#   tether-load  the load generator's program: the public API (and its own files)
#
# Prints every include that breaks a rule and exits 1 if there is one.
set -euo pipefail
cd "$(dirname "$0")/.."

allowed_for() {
  case "$1" in
    core) echo "core" ;;
    http) echo "core http" ;;
    mailbox) echo "core mailbox http/continuation.hpp" ;;
    stream) echo "core http stream" ;;
    load) echo "core load" ;;
    redis) echo "core redis" ;;
    mailbox_redis) echo "core redis mailbox mailbox_redis http/continuation.hpp" ;;
    server) echo "core http mailbox stream load redis mailbox_redis server" ;;
    tetherd) echo "tetherd" ;;
    tether-load) echo "tether-load" ;;
    *) echo "" ;;
  esac
}
# Public headers the reactor may use: none of them knows a protocol (log.hpp: the level and
# the Logger type of the library's own messages).
core_public="tether/status.hpp tether/detail/work.hpp tether/log.hpp"

violations=0
report() {
  echo "layering: $1" >&2
  violations=$((violations + 1))
}

for dir in src/*/; do
  layer=$(basename "$dir")
  allowed=$(allowed_for "$layer")
  if [[ -z "$allowed" ]]; then
    report "src/$layer/ is not a known layer (add it to scripts/check_layers.sh and docs/architecture.md)"
    continue
  fi
  while IFS= read -r line; do
    file=${line%%:*}
    rest=${line#*:}
    rest=${rest#*:}
    inc=$(sed -E 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"([^"]+)".*/\1/' <<<"$rest")
    if [[ "$inc" == tether/* ]]; then
      if [[ ("$layer" == core || "$layer" == redis) && " $core_public " != *" $inc "* ]]; then
        report "$file includes \"$inc\": $layer may use only $core_public of the public API"
      fi
      continue
    fi
    top=${inc%%/*}
    ok=0
    for a in $allowed; do
      if [[ "$a" == */* ]]; then
        [[ "$inc" == "$a" ]] && ok=1
      elif [[ "$top" == "$a" ]]; then
        ok=1
      fi
    done
    if [[ "$inc" != */* ]]; then
      report "$file includes \"$inc\": name headers of src/ by their layer (\"core/loop.hpp\")"
    elif [[ $ok -eq 0 ]]; then
      report "$file includes \"$inc\": $layer may include only: $allowed (and the public API)"
    fi
  done < <(grep -nE '^[[:space:]]*#[[:space:]]*include[[:space:]]*"' -r "$dir" --include='*.cpp' --include='*.hpp' || true)
done

# Public headers never name an internal one.
while IFS= read -r line; do
  report "${line%%:*} (a public header) includes an internal header: ${line#*:*:}"
done < <(grep -rnE '^[[:space:]]*#[[:space:]]*include[[:space:]]*"(core|http|mailbox|stream|load|redis|server)/' include || true)

if [[ $violations -gt 0 ]]; then
  echo "layering: $violations include(s) break the layers" >&2
  exit 1
fi
echo "layering: ok ($(find src -name '*.cpp' -o -name '*.hpp' | wc -l) files)"
