#!/bin/sh
# The Debian packages the sandbox and the project's tests run for real, installed where missing:
# PostgreSQL 15 and Redis 7 (the sandbox's servers and the psql/redis-cli of its remediations),
# Prometheus, its Pushgateway and promtool, and Chromium (the HTML report's test).
# `make test` and `make check` call this first; as root with apt-get it installs what is missing,
# otherwise it names the packages to install and fails.
#   usage: sh sandbox/system-packages.sh
set -eu

# command that must exist -> the package that brings it
need="
/usr/lib/postgresql/15/bin/initdb postgresql-15
/usr/bin/psql postgresql-client-15
/usr/bin/redis-server redis-server
/usr/bin/redis-cli redis-tools
/usr/bin/prometheus prometheus
/usr/bin/promtool prometheus
/usr/bin/prometheus-pushgateway prometheus-pushgateway
/usr/bin/chromium chromium
"

missing=$(printf '%s\n' "$need" | while read -r path package; do
    [ -n "$path" ] && [ ! -x "$path" ] && echo "$package"
done | sort -u | tr '\n' ' ')
[ -z "$missing" ] && exit 0

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "installing from Debian's packages: $missing"
    export DEBIAN_FRONTEND=noninteractive
    # The server packages would start a cluster and a redis-server as services; the sandbox starts
    # its own throwaway ones, so the packages' own services are not started (policy-rc.d).
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
    apt-get update -qq
    # shellcheck disable=SC2086
    apt-get install -y -qq --no-install-recommends $missing >/dev/null
    exit 0
fi
echo "missing Debian packages: $missing(install them as root: apt-get install $missing)" >&2
exit 1
