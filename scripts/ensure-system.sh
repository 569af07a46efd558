#!/usr/bin/env bash
# Make sure the machine has what the platform needs beyond Python packages: Debian's chromium
# (dashboard checks), re2c and a C compiler (the edXML grammars), a Java 17 runtime (Spark), a
# running PostgreSQL and a running Redis. Installs with apt-get when missing; fails with a clear message when a service
# cannot be had.
set -euo pipefail

apt_install() {
    if [[ $(id -u) -ne 0 ]] && ! command -v sudo >/dev/null; then
        echo "need root (or sudo) to apt-get install $*" >&2
        exit 1
    fi
    local sudo=""
    [[ $(id -u) -ne 0 ]] && sudo="sudo"
    if [[ -z "${GOVDATA_APT_UPDATED:-}" ]]; then
        $sudo apt-get update -qq
        export GOVDATA_APT_UPDATED=1
    fi
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "$@"
}

answers() {  # host port
    (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null
}

if [[ ! -x /usr/bin/chromium ]]; then
    echo "installing Debian's chromium (headless dashboard checks)"
    apt_install chromium
fi

# re2c and a C compiler turn the edXML grammars into native code (ingestion/compiled.py).
if ! command -v re2c >/dev/null; then
    echo "installing re2c (compiles the document connector's edXML grammars)"
    apt_install re2c
fi
if ! command -v cc >/dev/null; then
    echo "installing gcc (compiles the document connector's edXML grammars)"
    apt_install gcc libc6-dev
fi

# Java 17: the spark target's pyspark (Spark 4) runs its driver in a JVM.
if ! command -v java >/dev/null; then
    echo "installing Debian's openjdk-17-jre-headless (the spark target's Spark runs on Java 17)"
    apt_install openjdk-17-jre-headless
fi

if ! answers 127.0.0.1 6379; then
    if ! command -v redis-server >/dev/null; then
        echo "installing redis-server (CKAN's DataStore needs Redis)"
        apt_install redis-server
    fi
    mkdir -p /var/lib/redis /var/log/redis 2>/dev/null || true
    redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no \
        --dir /tmp --logfile /tmp/govdata-redis.log
    for _ in $(seq 50); do answers 127.0.0.1 6379 && break; sleep 0.1; done
fi
answers 127.0.0.1 6379 || { echo "Redis does not answer on 127.0.0.1:6379" >&2; exit 1; }

# MariaDB: a second SQL dialect the SQL-database connector is tested against.
if ! answers 127.0.0.1 3306; then
    if ! command -v mariadbd >/dev/null && [[ ! -x /usr/sbin/mariadbd ]]; then
        echo "installing mariadb-server (SQL connector tests)"
        apt_install mariadb-server
    fi
    echo "starting MariaDB"
    start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd
    for _ in $(seq 100); do answers 127.0.0.1 3306 && break; sleep 0.2; done
fi
answers 127.0.0.1 3306 || { echo "MariaDB does not answer on 127.0.0.1:3306" >&2; exit 1; }

if ! answers 127.0.0.1 5432; then
    if command -v pg_ctlcluster >/dev/null && [[ -d /etc/postgresql ]]; then
        echo "starting the local PostgreSQL cluster"
        pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start || true
        for _ in $(seq 50); do answers 127.0.0.1 5432 && break; sleep 0.2; done
    fi
fi
answers 127.0.0.1 5432 || {
    echo "PostgreSQL does not answer on 127.0.0.1:5432: install and start it (trust auth for" \
         "local connections, user postgres), or set GOVDATA_PG_URL" >&2
    exit 1
}
