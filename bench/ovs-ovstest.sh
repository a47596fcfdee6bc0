#!/usr/bin/env bash
# bench/ovs-ovstest.sh — build Open vSwitch's own test driver `ovstest` (tests/ovstest in OVS's
# tree; Debian packages no binary of it) from Debian's source package of the openvswitch version
# installed here, so bench/classifier-vs-ovs.ts can run `ovstest test-classifier benchmark`
# beside our classifier.
#
# Usage: bench/ovs-ovstest.sh              (prints the binary's path on stdout, last line)
#        bench/ovs-ovstest.sh --wildcards  (also builds the variant below; prints its path)
#        OVSTEST_DIR=/some/dir bench/ovs-ovstest.sh
#
# The variant, $OVSTEST_DIR/ovstest-wc: OVS 3.1's `test-classifier benchmark` gives every rule an
# exact match on all 13 of its fields whatever `<n_subtables>` says (its make_rule() takes a
# bit set of fields to wildcard but applies none of them), so the stock binary always measures
# ONE subtable. `--wildcards` rebuilds tests/ovstest once more with a one-line change of ours to
# test-classifier.c's make_rule() (a field whose bit is set in the wildcard set is skipped: no
# value, no mask), so `<n_subtables>` distinct masks really exist. The tree's file is restored
# afterwards; the stock binary is unaffected.
#
# - Cache: $OVSTEST_DIR (default /var/tmp/tsvs-ovstest). When $OVSTEST_DIR/ovstest exists and
#   was built from the installed version (ovstest.version beside it), nothing is fetched or
#   rebuilt.
# - Source: Debian's registry only. If no deb-src entry exists, one is added for bookworm
#   (main; bookworm, bookworm-updates and bookworm-security) in
#   /etc/apt/sources.list.d/tsvs-deb-src.sources; then `apt-get update` and
#   `apt-get source openvswitch=<the installed openvswitch-switch version>` (Debian's patches
#   applied, as the installed ovs-vswitchd was built). Where the mirror cannot serve the upstream
#   tarball (here it answers 404 for openvswitch_3.1.0.orig.tar.xz), the same patched tree is
#   taken from Debian's `openvswitch-source` package of that version (`apt-get download`,
#   unpacked under $OVSTEST_DIR, never installed). Nothing of OVS's source enters the repo.
# - Build: plain `./configure` (OVS's default CFLAGS `-g -O2`, as Debian's build) with what is
#   installed (build-essential, python3; the release tarball ships its generated configure, so
#   no autotools are needed), then `make -j2 tests/ovstest`. Needs root (apt).
# - Time (2026-11-21, shared 2-core VM at load average ≈ 10, --wildcards, from nothing):
#   3 min 17 s wall, 78 s user CPU: apt + unpack ~7 s, ./configure ~40 s, `make -j2
#   tests/ovstest` (with its generated headers) 2 min 27 s, the variant's rebuild 3 s. Later
#   runs: nothing rebuilt, well under a second. Cache size: 180 MB.
#
# Exit status: 0 and the path on stdout; non-zero with the reason on stderr (no binary, no fake
# figures downstream).
set -euo pipefail

OVSTEST_DIR=${OVSTEST_DIR:-/var/tmp/tsvs-ovstest}
BIN="$OVSTEST_DIR/ovstest"
WC=0
case "${1:-}" in
  "") ;;
  --wildcards) WC=1 ;;
  *)
    echo "usage: $0 [--wildcards]" >&2
    exit 2
    ;;
esac

die() {
  echo "ovs-ovstest: $*" >&2
  exit 1
}
log() { echo "ovs-ovstest: $*" >&2; }

command -v dpkg-query >/dev/null || die "not a Debian system (no dpkg-query)"
DEBVER=$(dpkg-query -W -f='${Version}' openvswitch-switch 2>/dev/null) ||
  die "openvswitch-switch is not installed (apt-get install openvswitch-switch)"
[ -n "$DEBVER" ] || die "openvswitch-switch is not installed"
UPVER=${DEBVER#*:}
UPVER=${UPVER%%-*}
if command -v ovs-vswitchd >/dev/null; then
  VSVER=$(ovs-vswitchd --version | sed -n '1s/.* \([0-9][0-9.]*\)$/\1/p')
  [ "$VSVER" = "$UPVER" ] || log "warning: ovs-vswitchd says $VSVER, package is $DEBVER"
fi

built() { [ -x "$1" ] && [ "$(cat "$1.version" 2>/dev/null)" = "$DEBVER" ]; }
if built "$BIN" && { [ $WC = 0 ] || built "$BIN-wc"; }; then
  [ $WC = 1 ] && echo "$BIN-wc" || echo "$BIN"
  exit 0
fi

[ "$(id -u)" = 0 ] || die "building needs root (apt-get source/update); run with sudo once"
mkdir -p "$OVSTEST_DIR"
START=$(date +%s)

# 1. A deb-src entry for bookworm main, if there is none.
has_src() {
  grep -rqsE '^[[:space:]]*deb-src[[:space:]]|^Types:.*deb-src' \
    /etc/apt/sources.list /etc/apt/sources.list.d/ 2>/dev/null
}
if ! has_src; then
  log "adding deb-src for bookworm main: /etc/apt/sources.list.d/tsvs-deb-src.sources"
  cat >/etc/apt/sources.list.d/tsvs-deb-src.sources <<'EOF'
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb-src
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
fi

# 2. The source tree of exactly the installed version: `apt-get source`, or, when the registry
#    cannot serve the upstream tarball (this VM's mirror answers 404 for
#    openvswitch_3.1.0.orig.tar.xz), Debian's own `openvswitch-source` binary package of the same
#    version, which ships the same tree with Debian's patches applied
#    (/usr/src/openvswitch/openvswitch.tar.gz); it is downloaded and unpacked, not installed.
SRC="$OVSTEST_DIR/src"
if [ "$(cat "$SRC/DEBVER" 2>/dev/null)" != "$DEBVER" ] || [ ! -f "$(cat "$SRC/TREE" 2>/dev/null)/configure" ]; then
  command -v dpkg-source >/dev/null || die "dpkg-source missing (apt-get install dpkg-dev)"
  log "apt-get update"
  apt-get update -qq >&2 || die "apt-get update failed"
  rm -rf "$SRC"
  mkdir -p "$SRC"
  log "apt-get source openvswitch=$DEBVER"
  if (cd "$SRC" && apt-get source -qq "openvswitch=$DEBVER" >&2) && [ -f "$SRC/openvswitch-$UPVER/configure" ]; then
    echo "$SRC/openvswitch-$UPVER" >"$SRC/TREE"
    echo "apt-get source openvswitch=$DEBVER" >"$SRC/FROM"
  else
    log "apt-get source failed; using Debian's openvswitch-source=$DEBVER package instead"
    rm -rf "$SRC"
    mkdir -p "$SRC/deb"
    (cd "$SRC/deb" && apt-get download -qq "openvswitch-source=$DEBVER" >&2) ||
      die "neither apt-get source openvswitch=$DEBVER nor apt-get download openvswitch-source=$DEBVER worked"
    dpkg-deb -x "$SRC"/deb/openvswitch-source_*.deb "$SRC/deb/x" || die "dpkg-deb -x failed"
    tar -xzf "$SRC/deb/x/usr/src/openvswitch/openvswitch.tar.gz" -C "$SRC" ||
      die "unpacking openvswitch-source's tarball failed"
    rm -rf "$SRC/deb"
    [ -f "$SRC/openvswitch/configure" ] || die "openvswitch-source's tree has no configure"
    echo "$SRC/openvswitch" >"$SRC/TREE"
    echo "apt-get download openvswitch-source=$DEBVER" >"$SRC/FROM"
  fi
  echo "$DEBVER" >"$SRC/DEBVER"
fi
TREE=$(cat "$SRC/TREE")

# 3. configure + make tests/ovstest (both trees ship a generated configure and Makefile.in newer
#    than their inputs, so autotools are not needed).
cd "$TREE"
if [ ! -f Makefile ]; then
  log "./configure (log: $TREE/tsvs-configure.log)"
  ./configure >tsvs-configure.log 2>&1 || {
    tail -n 30 tsvs-configure.log >&2
    die "./configure failed"
  }
fi
# Automake builds BUILT_SOURCES (generated headers such as odp-netlink.h) only for `all` and
# `check`: build them first through a one-line makefile of ours that names them.
printf 'tsvs-built-sources: $(BUILT_SOURCES)\n' >tsvs-built-sources.mk
log "make -j2 tests/ovstest (log: $TREE/tsvs-make.log)"
{ make -j2 -f Makefile -f tsvs-built-sources.mk tsvs-built-sources && make -j2 tests/ovstest; } >tsvs-make.log 2>&1 || {
  tail -n 40 tsvs-make.log >&2
  die "make tests/ovstest failed"
}

# libtool may leave a wrapper script in tests/ and the real program in tests/.libs/.
install_bin() { # $1 = destination
  local real=tests/ovstest
  if [ -x tests/.libs/ovstest ] && ! file -b tests/ovstest 2>/dev/null | grep -q ELF; then
    real=tests/.libs/ovstest
  fi
  cp "$real" "$1.tmp"
  "$1.tmp" --help >/dev/null 2>&1 || die "the built ovstest does not run"
  mv "$1.tmp" "$1"
  echo "$DEBVER" >"$1.version"
  cp "$SRC/FROM" "$1.from"
}
install_bin "$BIN"
log "built $BIN from openvswitch $DEBVER in $(($(date +%s) - START)) s"

# 4. The variant (see the header): make_rule() honours its wildcard set.
if [ $WC = 1 ]; then
  F=tests/test-classifier.c
  ANCHOR='int value_idx = (value_pat & (1u << f_idx)) != 0;'
  [ "$(grep -cF "$ANCHOR" $F)" = 1 ] || die "$F: make_rule() is not as expected; no variant built"
  # A run killed between patching and restoring left the original beside the file: restore it.
  [ -f $F.tsvs-orig ] && cp -p $F.tsvs-orig $F && touch $F && rm -f $F.tsvs-orig
  cp -p $F $F.tsvs-orig
  restore() { cp -p $F.tsvs-orig $F && touch $F && rm -f $F.tsvs-orig; }
  sed -i "\|$ANCHOR|a\\        if (wc_fields \& (1u << f_idx)) { continue; }  /* tsvs bench: wildcard it */" $F
  grep -qF 'tsvs bench: wildcard it' $F || {
    restore
    die "could not patch $F"
  }
  log "make -j2 tests/ovstest with the make_rule() change (log: $TREE/tsvs-make-wc.log)"
  make -j2 tests/ovstest >tsvs-make-wc.log 2>&1 || {
    tail -n 40 tsvs-make-wc.log >&2
    restore
    die "make tests/ovstest (variant) failed"
  }
  install_bin "$BIN-wc"
  restore
  log "built $BIN-wc"
  echo "$BIN-wc"
  exit 0
fi
echo "$BIN"
