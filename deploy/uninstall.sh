#!/bin/sh
# Removes what deploy/install.sh installed.
#
#   sudo ./deploy/uninstall.sh             # keeps the config and the journal
#   sudo ./deploy/uninstall.sh --purge     # removes them too
#
# Always: stops and disables weir.service, removes /etc/systemd/system/weir.service,
# /etc/modules-load.d/weir.conf and /opt/weir.
# Options:
#   --keep-data    keep /etc/weir and /var/lib/weir (the default): a later install.sh
#                  picks up the same config and the unsent readings in the journal
#   --purge        also remove /etc/weir and /var/lib/weir, including readings that were
#                  not yet forwarded to Kafka
#   --prefix DIR   act on a tree staged with `install.sh --prefix DIR`; systemctl is
#                  printed, not run, and root is not needed
#   -h, --help     this text
# The system user weir is kept either way (Debian removes no system users, so that
# its id is never reused by another account); `deluser --system weir` removes it.
# Running it again does nothing more.
set -eu

PROG=weir-uninstall
say() { printf '%s: %s\n' "$PROG" "$*"; }
die() { printf '%s: error: %s\n' "$PROG" "$*" >&2; exit 1; }
usage() { sed -n '2,/^set -eu/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; }

PREFIX=
PURGE=no
while [ $# -gt 0 ]; do
  case "$1" in
    --keep-data) PURGE=no; shift ;;
    --purge) PURGE=yes; shift ;;
    --prefix) [ $# -ge 2 ] || die "--prefix needs a directory"; PREFIX=$2; shift 2 ;;
    --prefix=*) PREFIX=${1#--prefix=}; shift ;;
    -h|--help) usage; exit 0 ;;
    *) die "unknown option: $1 (see --help)" ;;
  esac
done

STAGING=no
if [ -n "$PREFIX" ]; then
  STAGING=yes
  [ -d "$PREFIX" ] || die "--prefix $PREFIX: no such directory"
  PREFIX=$(CDPATH='' cd -- "$PREFIX" && pwd)
  [ "$PREFIX" != / ] || die "--prefix / would be a real uninstall: run without --prefix"
else
  [ "$(id -u)" -eq 0 ] || die "run as root (sudo $0), or use --prefix DIR for a staged tree"
fi

APP=$PREFIX/opt/weir
ETC=$PREFIX/etc/weir
STATE=$PREFIX/var/lib/weir
UNIT=$PREFIX/etc/systemd/system/weir.service
MODULES=$PREFIX/etc/modules-load.d/weir.conf

remove() {
  for path in "$@"; do
    if [ -e "$path" ] || [ -L "$path" ]; then
      rm -rf -- "$path"
      say "removed $path"
    fi
  done
}

if [ "$STAGING" = yes ]; then
  say "[--prefix] would run: systemctl disable --now weir"
elif [ -d /run/systemd/system ] && [ -e "$UNIT" ]; then
  say "stopping and disabling weir"
  systemctl disable --now weir
fi

remove "$UNIT" "$MODULES" "$APP" "$APP.new" "$APP.old"

if [ "$STAGING" = yes ]; then
  say "[--prefix] would run: systemctl daemon-reload"
elif [ -d /run/systemd/system ]; then
  systemctl daemon-reload
fi

if [ "$PURGE" = yes ]; then
  remove "$ETC" "$STATE"
else
  for dir in "$ETC" "$STATE"; do
    [ ! -e "$dir" ] || say "kept $dir (--purge removes it)"
  done
fi
say "done"
