#!/usr/bin/env bash
# Checks the patch series in vendor/patches/ (README.md there says how they are laid out). For every vendored
# crate (vendor/<crate>/Cargo.toml): the release from crates.io with vendor/patches/<crate>/NNNN-*.patch applied
# in order (GNU patch, no fuzz) must equal vendor/<crate>, the packaging files listed below aside; and each
# patch must apply to the pristine crate alone or, where its header has a `Depends-on:` line naming patches,
# on top of those (and theirs). Exits non-zero on any difference.
#
# Pristine sources, the first found: cargo's registry under $CARGO_HOME (~/.cargo): registry/src/*/<crate>-<v>,
# then registry/cache/*/<crate>-<v>.crate; the commit that vendored the release unchanged (git history, below);
# otherwise `cargo fetch` of exactly that version into the same registry, which needs the network (refused with
# --offline or CARGO_NET_OFFLINE=true). The workspace's own `cargo fetch --locked` does not bring them: its
# [patch.crates-io] replaces these crates with vendor/.
#
# Usage: bash vendor/patches/check.sh [--offline] [--keep DIR]   (--keep: leave the patched trees in DIR)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

# crate, commit that vendored it unchanged ("-": none), packaging files that may differ (basenames, diff -x).
# .cargo-ok: cargo's marker of an extracted registry source. .cargo_vcs_info.json: left out of vendor/plotters.
# Cargo.lock: in zeromq's package, but its own .gitignore keeps it out of vendor/zeromq in git.
known_crates="
evcxr          3bb9fe4e2fde8b0ad104a8ef587a97782f817fa1 .cargo-ok
evcxr_jupyter  3bb9fe4e2fde8b0ad104a8ef587a97782f817fa1 .cargo-ok
zeromq         3cbf1e6fc97ec7cd80b6cf2e9e0ab0a2ed511bd5 .cargo-ok Cargo.lock
plotters       -                                        .cargo-ok .cargo_vcs_info.json
"

offline=false
keep=""
while [ $# -gt 0 ]; do
  case "$1" in
    --offline) offline=true ;;
    --keep) keep="$2"; shift ;;
    *) echo "usage: $0 [--offline] [--keep DIR]" >&2; exit 2 ;;
  esac
  shift
done
[ "${CARGO_NET_OFFLINE:-}" = true ] && offline=true
cargo_home="${CARGO_HOME:-$HOME/.cargo}"
repo="$PWD"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/prunelab-patches.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
failures=0
fail() {
  echo "vendor/patches: FAIL: $*" >&2
  failures=$((failures + 1))
}

# pristine CRATE VERSION COMMIT DEST: copies the published crate into DEST (absent before); says where from.
pristine() {
  local crate=$1 version=$2 commit=$3 dest=$4 d f
  for d in "$cargo_home"/registry/src/*/"$crate-$version"; do
    if [ -f "$d/Cargo.toml" ] && [ -f "$d/.cargo-ok" ]; then
      cp -R "$d" "$dest" || return 1
      echo "registry source"
      return 0
    fi
  done
  for f in "$cargo_home"/registry/cache/*/"$crate-$version.crate"; do
    if [ -f "$f" ]; then
      mkdir -p "$tmp/unpack" && rm -rf "${tmp:?}/unpack/$crate-$version"
      tar -xzf "$f" -C "$tmp/unpack" && mv "$tmp/unpack/$crate-$version" "$dest" || return 1
      echo "registry cache"
      return 0
    fi
  done
  if [ "$commit" != - ] && git cat-file -e "$commit^{commit}" 2>/dev/null &&
    git show "$commit:vendor/$crate/Cargo.toml" 2>/dev/null | grep -q "^version = \"$version\"$"; then
    mkdir -p "$tmp/git-$crate"
    git archive "$commit" "vendor/$crate" | tar -x -C "$tmp/git-$crate" || return 1
    mv "$tmp/git-$crate/vendor/$crate" "$dest" || return 1
    echo "commit ${commit:0:7}, vendored unchanged"
    return 0
  fi
  if [ "$offline" = true ]; then
    return 1
  fi
  # Download exactly this version with cargo (checksum verified against the index), resolving its
  # dependencies from the workspace's lock where it can so that little else is downloaded.
  local p="$tmp/fetch-$crate"
  mkdir -p "$p/src"
  : >"$p/src/lib.rs"
  [ -f Cargo.lock ] && cp Cargo.lock "$p/Cargo.lock"
  cat >"$p/Cargo.toml" <<EOF
[package]
name = "prunelab-pristine-$crate"
version = "0.0.0"
edition = "2021"
publish = false

[workspace]

[dependencies]
$crate = { version = "=$version", default-features = false }
EOF
  echo "vendor/patches: $crate $version is not in $cargo_home/registry: fetching it with cargo" >&2
  (cd "$p" && cargo fetch --quiet) >&2 || return 1
  for f in "$cargo_home"/registry/cache/*/"$crate-$version.crate"; do
    if [ -f "$f" ]; then
      mkdir -p "$tmp/unpack"
      tar -xzf "$f" -C "$tmp/unpack" && mv "$tmp/unpack/$crate-$version" "$dest" || return 1
      echo "downloaded by cargo fetch"
      return 0
    fi
  done
  return 1
}

# apply DIR PATCH: applies PATCH in DIR exactly (no fuzz; offsets are fine), leaving no .orig/.rej files.
apply() {
  patch -d "$1" -p1 --forward --quiet --fuzz=0 --no-backup-if-mismatch --reject-file=- -i "$repo/$2" >"$tmp/patch.log" 2>&1
}

# deps PATCH: the four-digit numbers on its header's `Depends-on:` line (the header ends at the first diff).
deps() {
  sed -n '/^diff --git /q; /^Depends-on:/p' "$1" | grep -o '\b[0-9]\{4\}\b' || true
}

checked=0
for manifest in vendor/*/Cargo.toml; do
  crate=$(basename "$(dirname "$manifest")")
  version=$(sed -n 's/^version = "\(.*\)"$/\1/p' "$manifest" | head -n 1)
  line=$(printf '%s\n' "$known_crates" | awk -v c="$crate" '$1 == c')
  if [ -z "$line" ]; then
    fail "vendor/$crate is not listed in vendor/patches/check.sh (its unchanged-vendoring commit and packaging files)"
    continue
  fi
  commit=$(echo "$line" | awk '{print $2}')
  excludes=()
  for x in $(echo "$line" | awk '{for (i = 3; i <= NF; i++) print $i}'); do excludes+=(-x "$x"); done
  clean="$tmp/pristine-$crate"
  if ! from=$(pristine "$crate" "$version" "$commit" "$clean"); then
    fail "$crate $version: no pristine source (run this script without --offline: it fetches the crate with cargo)"
    continue
  fi

  # The series, in order; names NNNN-name.patch, numbers increasing.
  series=()
  numbers=()
  if [ -d "vendor/patches/$crate" ]; then
    for p in vendor/patches/"$crate"/*; do
      [ -e "$p" ] || continue
      name=$(basename "$p")
      if ! [[ "$name" =~ ^[0-9]{4}-[a-z0-9._-]+\.patch$ ]]; then
        fail "$p: not named NNNN-short-name.patch"
        continue
      fi
      n=${name:0:4}
      if [ ${#numbers[@]} -gt 0 ] && [ "$n" = "${numbers[-1]}" ]; then
        fail "$p: number $n used twice"
      fi
      series+=("$p")
      numbers+=("$n")
    done
  fi

  # 1. In order, each on the previous ones: the result is vendor/<crate>.
  work="$tmp/applied-$crate"
  cp -R "$clean" "$work"
  ok=true
  for p in ${series[@]+"${series[@]}"}; do
    if ! apply "$work" "$p"; then
      fail "$p does not apply on the patches before it:"
      cat "$tmp/patch.log" >&2
      ok=false
      break
    fi
  done
  if [ "$ok" = true ] && ! diff -r "${excludes[@]}" "$work" "vendor/$crate" >/dev/null; then
    fail "$crate $version + vendor/patches/$crate differs from vendor/$crate (a change not in a patch, or a patch not in vendor/$crate):"
    diff -ruN "${excludes[@]}" "$work" "vendor/$crate" | head -n 80 >&2 || true
    ok=false
  fi
  [ -n "$keep" ] && mkdir -p "$keep" && rm -rf "${keep:?}/$crate" && cp -R "$work" "$keep/$crate"

  # 2. Each alone on the pristine crate, or on what its Depends-on line names (and theirs), in series order.
  alone=0
  ondeps=0
  for p in ${series[@]+"${series[@]}"}; do
    need=$(deps "$p")
    all=""
    while [ -n "$need" ]; do
      next=""
      for d in $need; do
        case " $all " in *" $d "*) continue ;; esac
        all="$all $d"
        dp=""
        for q in "vendor/patches/$crate/$d"-*.patch; do [ -f "$q" ] && dp=$q; done
        if [ -z "$dp" ] || [ "$d" \> "$(basename "$p" | cut -c1-4)" ] || [ "$d" = "$(basename "$p" | cut -c1-4)" ]; then
          fail "$p: Depends-on names $d, which is not an earlier patch in vendor/patches/$crate"
          continue
        fi
        next="$next $(deps "$dp")"
      done
      need=$next
    done
    t="$tmp/alone-$crate"
    rm -rf "$t"
    cp -R "$clean" "$t"
    for q in ${series[@]+"${series[@]}"}; do
      case " $all " in *" $(basename "$q" | cut -c1-4) "*) ;; *) continue ;; esac
      apply "$t" "$q" || { fail "$q (a dependency of $p) does not apply on its own dependencies"; break; }
    done
    if apply "$t" "$p"; then
      if [ -z "$all" ]; then alone=$((alone + 1)); else ondeps=$((ondeps + 1)); fi
    else
      if [ -z "$all" ]; then
        fail "$p does not apply alone to pristine $crate $version (declare what it needs on a Depends-on: line):"
      else
        fail "$p does not apply to pristine $crate $version with only its dependencies ($all ) applied:"
      fi
      cat "$tmp/patch.log" >&2
      ok=false
    fi
  done
  checked=$((checked + 1))
  if [ "$ok" = true ]; then
    echo "vendor/patches: $crate $version (pristine: $from): ${#series[@]} patch(es) in order give vendor/$crate;" \
      "$alone apply alone, $ondeps on their Depends-on"
  fi
done

if [ "$failures" -gt 0 ]; then
  echo "vendor/patches: $failures failure(s)" >&2
  exit 1
fi
echo "vendor/patches: $checked vendored crate(s) match their patch series"
