# Sourced by scripts/{test,demo,bench}: makes a fresh machine ready with nothing done by hand.
# Installs pnpm (pinned: newer ones refuse our lock), the workspace's dependencies,
# the kernel-side tools the demo and kernel tests drive (ping, nc, curl), tshark (the kernel tests
# check the stack's captures with it), dnsmasq (the kernel-side DNS server of test/kernel/dns.test.ts),
# wireguard-go and wg (the WireGuard interop test), traceroute (the gateway's UDP error test),
# and builds.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

log() { printf '[bootstrap] %s\n' "$*" >&2; }

if ! command -v pnpm >/dev/null 2>&1 || [ "$(pnpm --version 2>/dev/null)" != "12.4.2" ]; then
  log "installing pnpm 12.4.2"
  npm i -g pnpm@12.4.2 >/dev/null 2>&1 || { log "npm i -g pnpm@12.4.2 failed"; exit 1; }
fi

need_pkgs=()
command -v ping >/dev/null 2>&1 || need_pkgs+=(iputils-ping)
# OpenBSD's nc: the demo uses -N (shut down on EOF) and -6, which other netcats lack.
case "$(nc -h 2>&1 || true)" in *OpenBSD*) ;; *) need_pkgs+=(netcat-openbsd) ;; esac
command -v curl >/dev/null 2>&1 || need_pkgs+=(curl)
command -v ip >/dev/null 2>&1 || need_pkgs+=(iproute2)
command -v tshark >/dev/null 2>&1 || need_pkgs+=(tshark)
command -v dnsmasq >/dev/null 2>&1 || need_pkgs+=(dnsmasq-base)
command -v danted >/dev/null 2>&1 || need_pkgs+=(dante-server)
# traceroute: test/kernel/nat-udp-errors.test.ts (UDP probes through the gateway).
[ -x /usr/sbin/traceroute ] || [ -x /usr/bin/traceroute ] || need_pkgs+=(traceroute)
# The WireGuard peer nobody here wrote (test/kernel/wireguard-handshake.test.ts), configured with wg.
# Without recommends: wireguard-tools recommends wireguard-modules, i.e. a whole linux-image (and systemd).
wg_pkgs=()
command -v wireguard-go >/dev/null 2>&1 || wg_pkgs+=(wireguard-go)
command -v wg >/dev/null 2>&1 || wg_pkgs+=(wireguard-tools)
if [ ${#wg_pkgs[@]} -gt 0 ] && [ "$(id -u)" = 0 ]; then
  log "installing ${wg_pkgs[*]}"
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${wg_pkgs[@]}"; } >/dev/null 2>&1 \
    || { log "apt-get install ${wg_pkgs[*]} failed"; exit 1; }
fi
if [ ${#need_pkgs[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    log "installing ${need_pkgs[*]}"
    # wireshark-common asks whether non-root users may capture: no, and without asking.
    echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections 2>/dev/null || true
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_pkgs[@]}"; } >/dev/null 2>&1 \
      || { log "apt-get install ${need_pkgs[*]} failed"; exit 1; }
  else
    log "missing ${need_pkgs[*]} and not root: install them (apt-get install -y ${need_pkgs[*]})"
    exit 1
  fi
fi

if [ ! -d node_modules/.pnpm ] || [ pnpm-lock.yaml -nt node_modules/.modules.yaml ]; then
  log "pnpm install"
  pnpm install --frozen-lockfile >/dev/null 2>&1 || pnpm install --frozen-lockfile
fi
log "building (tsc -b)"
pnpm exec tsc -b
