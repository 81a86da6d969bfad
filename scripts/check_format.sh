#!/usr/bin/env bash
# Checks that fedexec's C++ sources are formatted as .clang-format says
# (Google style). Lists each file that clang-format would change and fails
# when there is one; changes nothing.
#
#   scripts/check_format.sh            every C++ file of the checkout
#                                      (tracked, and new files not ignored)
#   scripts/check_format.sh FILE...    only these files
#
# Fix a flagged file with `clang-format -i FILE`. Needs clang-format
# (Debian 12: the clang-format package, version 14; scripts/setup.sh test
# installs it).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

formatter=""
for candidate in clang-format clang-format-14; do
  if command -v "$candidate" >/dev/null; then
    formatter=$candidate
    break
  fi
done
if [ -z "$formatter" ]; then
  echo "check_format: clang-format not found (apt-get install clang-format)" >&2
  exit 2
fi

files=()
if [ $# -gt 0 ]; then
  files=("$@")
elif git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  while IFS= read -r f; do
    [ -f "$f" ] && files+=("$f")
  done < <(git ls-files --cached --others --exclude-standard \
    -- '*.h' '*.hpp' '*.cc' '*.cpp' | sort -u)
else
  while IFS= read -r f; do
    files+=("$f")
  done < <(find . -path './build*' -prune -o -path './.*' -prune -o \
    -type f \( -name '*.h' -o -name '*.hpp' -o -name '*.cc' -o -name '*.cpp' \) \
    -print | sed 's|^\./||' | sort)
fi

unformatted=0
for f in "${files[@]}"; do
  if [ ! -f "$f" ]; then
    echo "check_format: $f: no such file" >&2
    exit 2
  fi
  if ! "$formatter" --style=file "$f" | cmp -s - "$f"; then
    echo "$f"
    unformatted=$((unformatted + 1))
  fi
done

if [ "$unformatted" -gt 0 ]; then
  echo "check_format: $unformatted of ${#files[@]} files are not formatted" \
    "($("$formatter" --version | sed 's/.*version //'); fix with" \
    "clang-format -i FILE)" >&2
  exit 1
fi
echo "check_format: all ${#files[@]} files are formatted"
