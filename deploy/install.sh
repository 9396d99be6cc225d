#!/bin/sh
# Installs Weir as a systemd service on Raspberry Pi OS / Debian (arm64, armhf, amd64).
#
#   sudo ./deploy/install.sh               # in a checkout of this repository
#
# What it does (every step is skipped when already done, so it can be run again to
# upgrade; the service is down only while the new tree is swapped in):
#   1. Node.js >= 20.19 at /usr/bin/node: Debian's nodejs if its version is new enough,
#      else NodeSource's apt repository (node_20.x); and python3, make, g++ for native
#      addons.
#   2. dist/ compiled from src/ (in a temporary copy) if it is missing or older than src/.
#   3. The app in /opt/weir: bin/, dist/, device-profiles/, patches/, package.json,
#      package-lock.json, README.md; then `npm ci --omit=dev` and patch-package there, so the native
#      addons (better-sqlite3, serialport) are built for this machine's architecture.
#   4. The system user `weir` (group weir, also in dialout for the serial ports).
#   5. /etc/weir/weir.yaml with commented defaults, only if absent (an existing one is
#      never touched), checked with `weir check`; /var/lib/weir owned by weir (the journal).
#   6. The unit at /etc/systemd/system/weir.service, the USB-serial drivers in
#      /etc/modules-load.d/weir.conf, then `systemctl daemon-reload` and
#      `systemctl enable --now weir` (a restart when upgrading).
#
# Options:
#   --from DIR     the source tree to install (default: the repository this script is in)
#   --prefix DIR   stage into DIR instead of /: files go to DIR/opt/weir, DIR/etc/weir, ...;
#                  apt, npm, user creation, chown and systemctl are printed, not run, and
#                  root is not needed. For checking the layout, or building an image.
#   --no-start     enable the service but do not start it (an upgrade leaves it stopped)
#   -h, --help     this text
set -eu

PROG=weir-install
say() { printf '%s: %s\n' "$PROG" "$*"; }
warn() { printf '%s: warning: %s\n' "$PROG" "$*" >&2; }
die() { printf '%s: error: %s\n' "$PROG" "$*" >&2; exit 1; }
usage() { sed -n '2,/^set -eu/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; }

SCRIPT_DIR=$(CDPATH='' cd -- "$(dirname -- "$0")" && pwd)
FROM=$(dirname -- "$SCRIPT_DIR")
PREFIX=
START=yes
while [ $# -gt 0 ]; do
  case "$1" in
    --from) [ $# -ge 2 ] || die "--from needs a directory"; FROM=$2; shift 2 ;;
    --from=*) FROM=${1#--from=}; shift ;;
    --prefix) [ $# -ge 2 ] || die "--prefix needs a directory"; PREFIX=$2; shift 2 ;;
    --prefix=*) PREFIX=${1#--prefix=}; shift ;;
    --no-start) START=no; shift ;;
    -h|--help) usage; exit 0 ;;
    *) die "unknown option: $1 (see --help)" ;;
  esac
done

STAGING=no
if [ -n "$PREFIX" ]; then
  STAGING=yes
  mkdir -p -- "$PREFIX"
  PREFIX=$(CDPATH='' cd -- "$PREFIX" && pwd)
  [ "$PREFIX" != / ] || die "--prefix / would be a real install: run without --prefix"
fi
[ -d "$FROM" ] || die "--from $FROM: no such directory"
FROM=$(CDPATH='' cd -- "$FROM" && pwd)

APP=$PREFIX/opt/weir
ETC=$PREFIX/etc/weir
STATE=$PREFIX/var/lib/weir
UNIT=$PREFIX/etc/systemd/system/weir.service
MODULES=$PREFIX/etc/modules-load.d/weir.conf
NODE=/usr/bin/node # the unit's ExecStart

# Runs a command that changes the system; with --prefix, prints it instead.
run() {
  if [ "$STAGING" = yes ]; then
    say "[--prefix] would run: $*"
  else
    "$@"
  fi
}

TMP=
cleanup() { [ -z "$TMP" ] || rm -rf -- "$TMP"; }
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- checks ----------------------------------------------------------------------
for f in package.json package-lock.json bin/weir.js systemd/weir.service device-profiles; do
  [ -e "$FROM/$f" ] || die "$FROM is not a Weir source tree: $f is missing (use --from DIR)"
done
grep -q '"name": *"weir"' "$FROM/package.json" || die "$FROM/package.json is not Weir's"
if [ "$STAGING" = no ]; then
  [ "$(id -u)" -eq 0 ] || die "run as root (sudo $0), or stage with --prefix DIR"
  case "$(uname -m)" in
    armv6l) die "this is an ARMv6 board (Pi Zero / Pi 1): Node.js 20 has no build for it" ;;
  esac
fi
say "installing Weir from $FROM${PREFIX:+ into $PREFIX}"

# --- 1. Node.js and build tools ----------------------------------------------------
# 0 if "$1" (a version such as 20.19.2 or 20.19.2+dfsg-1) is at least 20.19.
version_ok() {
  v=${1#*:}
  major=${v%%.*}
  rest=${v#*.}
  minor=${rest%%[!0-9]*}
  case "$major" in '' | *[!0-9]*) return 1 ;; esac
  case "$minor" in '' | *[!0-9]*) minor=0 ;; esac
  [ "$major" -gt 20 ] || { [ "$major" -eq 20 ] && [ "$minor" -ge 19 ]; }
}

node_ok() {
  [ -x "$NODE" ] && version_ok "$("$NODE" -p process.versions.node 2>/dev/null)" && command -v npm >/dev/null
}

install_node() {
  command -v apt-get >/dev/null || die "no apt-get: install Node.js >= 20.19 as $NODE (with npm) by hand, then run this again"
  apt-get update
  candidate=$(apt-cache policy nodejs 2>/dev/null | sed -n 's/^ *Candidate: *//p')
  if [ -n "$candidate" ] && [ "$candidate" != "(none)" ] && version_ok "$candidate"; then
    say "installing Debian's nodejs $candidate"
    apt-get install -y --no-install-recommends nodejs npm
  else
    say "Debian's nodejs (${candidate:-none}) is older than 20.19: adding NodeSource's node_20.x repository"
    apt-get install -y --no-install-recommends ca-certificates curl gnupg
    install -d -m 0755 /etc/apt/keyrings
    curl -fsSL https://deb.nodesource.com/gpgkey/nodesource-repo.gpg.key | gpg --dearmor --yes -o /etc/apt/keyrings/nodesource.gpg
    echo 'deb [signed-by=/etc/apt/keyrings/nodesource.gpg] https://deb.nodesource.com/node_20.x nodistro main' > /etc/apt/sources.list.d/nodesource.list
    printf 'Package: nodejs\nPin: origin deb.nodesource.com\nPin-Priority: 600\n' > /etc/apt/preferences.d/nodesource
    apt-get update
    apt-get install -y nodejs
  fi
  node_ok || die "Node.js >= 20.19 with npm is still not at $NODE after installing it"
}

if [ "$STAGING" = yes ]; then
  say "[--prefix] would ensure Node.js >= 20.19 at $NODE (Debian's nodejs, else NodeSource node_20.x) and python3, make, g++"
elif node_ok; then
  say "Node.js $("$NODE" -p process.versions.node) at $NODE: ok"
else
  install_node
fi
if [ "$STAGING" = no ]; then
  missing=
  for tool in python3 make g++; do command -v "$tool" >/dev/null || missing="$missing $tool"; done
  if [ -n "$missing" ]; then
    say "installing build tools for native addons:$missing"
    apt-get install -y --no-install-recommends python3 make g++
  fi
fi

# --- 2. dist/ ------------------------------------------------------------------------
DIST=$FROM/dist
stale=
if [ -f "$DIST/cli/main.js" ] && [ -d "$FROM/src" ]; then
  stale=$(find "$FROM/src" -newer "$DIST/cli/main.js" -type f -print | head -n 1)
fi
if [ ! -f "$DIST/cli/main.js" ] || [ -n "$stale" ]; then
  why="dist/ is missing in $FROM"
  [ -z "$stale" ] || why="dist/ in $FROM is older than ${stale#"$FROM"/}"
  if [ "$STAGING" = yes ]; then
    warn "$why; staging without compiling it (run \`npm run build\` in $FROM first)"
    [ -d "$DIST" ] || DIST=
  else
    if [ ! -f "$FROM/tsconfig.build.json" ] || [ ! -d "$FROM/src" ]; then
      die "$why, and there is no src/ to compile it from"
    fi
    say "$why: compiling it in a temporary copy (npm ci, npm run build)"
    TMP=$(mktemp -d)
    cp -R "$FROM/src" "$FROM/package.json" "$FROM/package-lock.json" "$FROM/tsconfig.json" "$FROM/tsconfig.build.json" "$TMP/"
    (cd "$TMP" && npm ci --ignore-scripts --no-audit --no-fund && npm run build)
    DIST=$TMP/dist
  fi
fi

# --- 3. the app in /opt/weir ---------------------------------------------------------
# Assembled beside the running one and swapped in, so the service is down only for the swap.
NEW=$APP.new
rm -rf -- "$NEW"
mkdir -p -- "$NEW"
cp -R "$FROM/bin" "$FROM/device-profiles" "$FROM/patches" "$FROM/package.json" "$FROM/package-lock.json" "$NEW/"
for f in README.md LICENSE; do
  [ ! -f "$FROM/$f" ] || cp "$FROM/$f" "$NEW/"
done
[ -z "$DIST" ] || cp -R "$DIST" "$NEW/dist"
chmod -R u=rwX,go=rX -- "$NEW"
chmod 0755 "$NEW/bin/weir.js"
# --ignore-scripts: the package's own `prepare` would compile TypeScript, which a
# production install has neither the sources nor the compiler for; `npm rebuild` then
# runs the dependencies' install scripts, which build the native addons for this machine,
# and patch-package applies patches/ (the package's `postinstall`, skipped with the rest).
if [ "$STAGING" = yes ]; then
  say "[--prefix] would run in $NEW: npm ci --omit=dev --ignore-scripts && npm rebuild && npx --no patch-package"
else
  say "installing production dependencies in $NEW (native addons are compiled; this can take minutes on a Pi)"
  (
    cd "$NEW"
    # node-gyp compiles against the installed Node headers (NodeSource ships them)
    # instead of downloading them.
    if [ -f /usr/include/node/node.h ]; then npm_config_nodedir=/usr; export npm_config_nodedir; fi
    npm ci --omit=dev --ignore-scripts --no-audit --no-fund
    npm rebuild
    npx --no patch-package
  )
fi

# --- 4. the weir user -------------------------------------------------------------
if [ "$STAGING" = yes ]; then
  run useradd --system --user-group --home-dir /var/lib/weir --no-create-home --shell /usr/sbin/nologin weir
  run usermod -a -G dialout weir
else
  if getent passwd weir >/dev/null; then
    say "user weir exists"
  else
    say "creating system user weir"
    useradd --system --user-group --home-dir /var/lib/weir --no-create-home --shell /usr/sbin/nologin weir
  fi
  usermod -a -G dialout weir
fi

# --- 5. config and state ------------------------------------------------------------
mkdir -p -- "$ETC"
chmod 0755 "$ETC"
if [ -e "$ETC/weir.yaml" ]; then
  say "keeping the existing $ETC/weir.yaml"
else
  say "writing $ETC/weir.yaml"
  (umask 027 && cat > "$ETC/weir.yaml.tmp") <<'EOF'
# Weir gateway config, written once by deploy/install.sh: it never overwrites this file.
# Every key, its default and its WEIR_* environment variable: `weir check --schema`.
# After editing:  /opt/weir/bin/weir.js check -c /etc/weir/weir.yaml && systemctl restart weir
gateway: {}                  # id: the host name by default
dataDir: /var/lib/weir       # the journal (the unit also sets WEIR_DATA_DIR)
mqtt: { port: 1883 }
coap: { port: 5683 }
http: { port: 8080 }         # /healthz, /readyz, /metrics, /api/status, POST /ingest/<path>
kafka:
  brokers: ["127.0.0.1:9092"] # your Kafka cluster's bootstrap brokers, host:port
# serial: { ports: [{ name: gps, path: /dev/ttyACM0, baudRate: 9600, framing: nmea }] }
# profiles: { dirs: [/etc/weir/profiles] }   # your device profiles, besides the bundled ones
EOF
  mv -- "$ETC/weir.yaml.tmp" "$ETC/weir.yaml"
  run chown root:weir "$ETC/weir.yaml"
fi
mkdir -p -- "$STATE"
chmod 0750 "$STATE"
run chown weir:weir "$STATE"
# The new tree must accept the config before it replaces the running one.
if [ "$STAGING" = yes ]; then
  say "[--prefix] would run: $NODE $NEW/bin/weir.js check -c $ETC/weir.yaml"
elif ! "$NODE" "$NEW/bin/weir.js" check -c "$ETC/weir.yaml"; then
  die "weir check rejected $ETC/weir.yaml (above): fix it and run this again; the installed gateway was not touched"
fi

# --- 6. the unit ---------------------------------------------------------------------
mkdir -p -- "$(dirname -- "$UNIT")" "$(dirname -- "$MODULES")"
cp "$FROM/systemd/weir.service" "$UNIT.tmp"
chmod 0644 "$UNIT.tmp"
mv -- "$UNIT.tmp" "$UNIT"
say "installed $UNIT"
# The unit's DeviceAllow=char-ttyUSB/char-ttyACM resolve when the service starts, so the
# drivers of USB-serial adapters must be loaded by then, not only when one is plugged in.
printf '# Written by deploy/install.sh: USB-serial drivers, loaded at boot for weir.service\nusbserial\ncdc_acm\n' > "$MODULES.tmp"
chmod 0644 "$MODULES.tmp"
mv -- "$MODULES.tmp" "$MODULES"
if [ "$STAGING" = no ] && command -v modprobe >/dev/null; then
  modprobe -a usbserial cdc_acm 2>/dev/null || warn "could not load usbserial/cdc_acm now; they load at the next boot"
fi

SYSTEMD=no
[ "$STAGING" = yes ] || [ ! -d /run/systemd/system ] || SYSTEMD=yes
WAS_ACTIVE=no
if [ "$SYSTEMD" = yes ] && systemctl is-active --quiet weir; then WAS_ACTIVE=yes; fi

# The swap: the old tree is kept as /opt/weir.old until the new one is in place.
if [ -d "$APP" ]; then
  [ "$WAS_ACTIVE" = no ] || { say "stopping weir for the swap"; systemctl stop weir; }
  rm -rf -- "$APP.old"
  mv -- "$APP" "$APP.old"
fi
mv -- "$NEW" "$APP"
rm -rf -- "$APP.old"
say "installed the app in $APP"

if [ "$STAGING" = yes ]; then
  run systemctl daemon-reload
  if [ "$START" = yes ]; then run systemctl enable --now weir; else run systemctl enable weir; fi
elif [ "$SYSTEMD" = no ]; then
  warn "systemd is not running on this machine: later, run  systemctl daemon-reload && systemctl enable --now weir"
else
  systemctl daemon-reload
  if [ "$START" = yes ]; then
    systemctl enable weir
    # Type=notify: this returns once the gateway reported READY=1 (listeners up).
    systemctl restart weir || die "weir did not start: journalctl -u weir -n 50 says why"
    say "weir is $(systemctl is-active weir || true)"
  else
    systemctl enable weir
    say "enabled; not started (--no-start): systemctl start weir"
  fi
fi

say "done. Config: /etc/weir/weir.yaml (set kafka.brokers). Logs: journalctl -u weir -f. Backlog: /opt/weir/bin/weir.js status"
