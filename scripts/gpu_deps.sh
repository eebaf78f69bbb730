#!/usr/bin/env bash
# Downloads (never installs) the Debian packages the GPU machine lacks for a
# fathom build into .gpudeps/, so a device call can carry them: the -dev
# libraries of scripts/setup.sh (nlohmann-json, pcre2, utf8proc, cpp-httplib
# with the ssl / brotli / zlib it links, googletest), their runtime libraries,
# and pkg-config itself. scripts/gpu_check.sh unpacks them there with dpkg -x
# into a prefix under /tmp (never into /). Run it here, on Debian 12, before the
# device call; it replaces whatever .gpudeps/ held.
#
# Non-obvious rule: the packages must come from this machine's release (Debian
# 12) and be self-consistent: every runtime library a -dev package's .so link
# points at is downloaded too, because the GPU image's own copies may be
# missing or of another soname.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

packages=(
  nlohmann-json3-dev
  libgtest-dev libgmock-dev
  libpcre2-dev libpcre2-8-0 libpcre2-16-0 libpcre2-32-0 libpcre2-posix3
  libutf8proc-dev libutf8proc2
  libcpp-httplib-dev libcpp-httplib0.11
  libssl-dev libssl3 libbrotli-dev libbrotli1
  zlib1g-dev zlib1g
  pkg-config pkgconf pkgconf-bin libpkgconf3
)

# .gpudeps/ must never be committed; .gitignore names it, and a checkout whose
# .gitignore does not gets it in its exclude file.
if ! git check-ignore -q .gpudeps/x.deb 2>/dev/null; then
  exclude=$(git rev-parse --git-path info/exclude)
  mkdir -p "$(dirname "$exclude")"
  echo "/.gpudeps/" >>"$exclude"
fi

rm -rf .gpudeps
mkdir -p .gpudeps
download() { (cd .gpudeps && apt-get download "${packages[@]}" "$@"); }
if ! download >/dev/null 2>.gpudeps/apt.err; then
  # Stale or missing package lists: refresh a private copy (no root needed).
  lists=/tmp/fathom-gpudeps-lists
  mkdir -p "$lists/partial"
  apt-get -o Dir::State::Lists="$lists" update -qq
  rm -f .gpudeps/*.deb
  download -o Dir::State::Lists="$lists" >/dev/null
fi
rm -f .gpudeps/apt.err
# Epochs come as "%3a" in the names; keep them to letters, digits, '.', '_', '-'.
for f in .gpudeps/*%3a*; do [ -e "$f" ] && mv "$f" "${f//%3a/_}"; done

count=$(ls .gpudeps/*.deb | wc -l)
if [ "$count" -ne ${#packages[@]} ]; then
  echo "gpu_deps: expected ${#packages[@]} packages, got $count" >&2
  exit 1
fi
echo "gpu_deps: $count packages, $(du -sh .gpudeps | cut -f1) in .gpudeps/ (carry [\".gpudeps\"])" >&2
