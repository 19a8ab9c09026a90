#!/bin/bash
# One lab host's life inside its namespaces (see mailstate/lab/harness.py).
#
# Why a shell script: it runs as PID 1 of the host's PID namespace and has to exist
# before any Python could be imported there; bash also reaps the orphans the daemons
# leave behind (a `sleep` as PID 1 would not), so pidfile checks never see zombies.
#
#   host.sh init   HOSTDIR MAIL               PID 1: mounts, network, daemons, then waits
#   host.sh status HOSTDIR                    one line per service, one per listener
#   host.sh reset  HOSTDIR MAIL [SERVICE...]  wipe engine leftovers, restart SERVICEs,
#                                             start whatever is down, wait, print status
#   host.sh ensure HOSTDIR MAIL               start whatever is down, wait, print status
# MAIL is 1 (sshd + Postfix + Dovecot + Roundcube) or 0 (sshd only).
#
# HOSTDIR/host.conf (written by build.py) says who the host is: NAME, ADDRESS, RELEASE,
# WEBMAIL_PORT, the per-host trees and files to bind-mount (BIND_DIRS, BIND_FILES), and
# LOWER: empty for a native host (the machine's own trees, /var/lib copy-on-write), or the
# cached root filesystem of another release, which the host then runs from an overlay
# mounted at HOSTDIR/sysroot, every daemon chrooted into it. This script itself always
# runs outside that chroot (the machine's bash, ss, ip), in the host's namespaces.
set -u
PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export PATH LANG=C.UTF-8

DIR=${2:?usage: host.sh init|status|reset|ensure HOSTDIR ...}
NAME="" ADDRESS="" RELEASE="" LOWER="" BIND_DIRS="" BIND_FILES="" WEBMAIL_PORT=8080
# shellcheck source=/dev/null
. "$DIR/host.conf"
if [ -n "$LOWER" ]; then ROOT=$DIR/sysroot CHROOT=(chroot "$ROOT"); else ROOT="" CHROOT=(); fi

# Builtins only where it is cheap to do so: every test's reset runs this script.
PID=""
pid_of() {  # pid_of SERVICE: set PID from its pidfile ("" if none)
  local file
  case $1 in
    sshd) file=$ROOT/run/sshd.pid ;;
    postfix) file=$ROOT/var/spool/postfix/pid/master.pid ;;
    dovecot) file=$ROOT/run/dovecot/master.pid ;;
    webmail) file=$ROOT/run/webmail.pid ;;
  esac
  PID=""
  [ -r "$file" ] && read -r PID <"$file"
  PID=${PID// /}
  return 0
}

alive() {  # alive PID: a live (not zombie) process of this PID namespace
  local stat rest
  [ -n "$1" ] && [ -r "/proc/$1/stat" ] || return 1
  read -r stat <"/proc/$1/stat" 2>/dev/null || return 1
  rest=${stat##*) }
  case ${rest%% *} in Z|X) return 1 ;; esac
  return 0
}
running() { pid_of "$1"; alive "$PID"; }

start() {
  case $1 in
    sshd) "${CHROOT[@]}" /usr/sbin/sshd -f /etc/ssh/sshd_config </dev/null ;;
    postfix)  # quick-start: skip postfix-script's ~0.2 s integrity checks (stock files)
      rm -f "$ROOT/var/spool/postfix/pid/master.pid"
      : >"$ROOT/var/spool/postfix/quick-start"
      "${CHROOT[@]}" postfix start </dev/null ;;
    dovecot) "${CHROOT[@]}" dovecot </dev/null ;;
    webmail)  # Debian's Roundcube, served by PHP's own web server as www-data. OPcache
      # re-checks config.inc.php on every request (not every 2 s, PHP's default), so a
      # request right after an apply or a reset sees the file as it now is.
      (cd / && exec "${CHROOT[@]}" setpriv --reuid=www-data --regid=www-data --clear-groups \
        php -d opcache.revalidate_freq=0 -S "$ADDRESS:$WEBMAIL_PORT" \
        -t /var/lib/roundcube/public_html) \
        </dev/null >>"$DIR/webmail.log" 2>&1 &
      echo $! >"$ROOT/run/webmail.pid"
      # it binds in the background: wait, so it is as started as the other daemons
      wait_ports "$WEBMAIL_PORT" ;;
  esac
}

stop() {  # TERM the master, wait for it to go (KILL after 5 s)
  local pid i
  pid_of "$1"; pid=$PID
  alive "$pid" || return 0
  # Postfix and Dovecot masters lead their process group: TERM the whole group, or
  # Dovecot's master spends ~1 s waiting for its children to notice.
  case $1 in sshd|webmail) kill -TERM "$pid" 2>/dev/null ;;
    *) kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null ;;
  esac
  for i in $(seq 250); do alive "$pid" || return 0; sleep 0.02; done
  kill -KILL "$pid" 2>/dev/null
  sleep 0.05
}

services() { if [ "$1" = 1 ]; then echo sshd postfix dovecot webmail; else echo sshd; fi; }
stock_ports() {
  if [ "$1" = 1 ]; then echo 22 25 110 143 993 995 "$WEBMAIL_PORT"; else echo 22; fi
}

LISTENERS=() PORTS=" "
scan() {  # set LISTENERS (addr:port) and PORTS (" 22 25 ... ", unique) from one `ss`
  local _s _r _q addr _rest
  LISTENERS=() PORTS=" "
  while read -r _s _r _q addr _rest; do
    LISTENERS+=("$addr")
    case $PORTS in *" ${addr##*:} "*) ;; *) PORTS="$PORTS${addr##*:} " ;; esac
  done < <(ss -Hltn)
}

missing_ports() {  # print the PORTs of "$@" that the last scan did not see
  local p out=""
  for p in "$@"; do case $PORTS in *" $p "*) ;; *) out="$out $p" ;; esac; done
  echo "$out"
}

only_ports() {  # only_ports PORT...: the last scan saw exactly these ports
  local seen
  read -ra seen <<<"$PORTS"
  [ "${#seen[@]}" = "$#" ] && [ -z "$(missing_ports "$@")" ]
}

WAIT_SECONDS=30
wait_ports() {  # wait_ports PORT...: all listening within $WAIT_SECONDS
  local deadline=$((${EPOCHREALTIME/./} + WAIT_SECONDS * 1000000))
  while :; do
    scan
    [ -z "$(missing_ports "$@")" ] && return 0
    [ "${EPOCHREALTIME/./}" -gt "$deadline" ] && break
    sleep 0.02
  done
  echo "ports not listening after ${WAIT_SECONDS}s:$(missing_ports "$@")" >&2
  return 1
}

status() {  # uses the last scan
  local s a
  for s in sshd postfix dovecot webmail; do
    if running "$s"; then echo "$s 1"; else echo "$s 0"; fi
  done
  for a in "${LISTENERS[@]}"; do echo "listen $a"; done
}

T0=${EPOCHREALTIME/./}
log() { local now=${EPOCHREALTIME/./}; printf '%6d ms  %s\n' $(((now - T0) / 1000)) "$*"; }

fatal() { log "FATAL: $*"; echo failed >"$DIR/state"; exit 1; }

mount_root() {  # the host's filesystem: its own trees over the machine's or the release's
  local d
  if [ -n "$LOWER" ]; then
    mount -t overlay overlay \
      -o "lowerdir=$LOWER,upperdir=$DIR/overlay/upper,workdir=$DIR/overlay/work" "$ROOT" \
      || fatal "overlay of $RELEASE on $ROOT failed"
  else
    # /var/lib: copy-on-write, so /var/lib/postfix, /var/lib/dovecot and the engine's
    # /var/lib/mailstate are per host without copying dpkg's database.
    mount -t overlay overlay \
      -o "lowerdir=/var/lib,upperdir=$DIR/varlib/upper,workdir=$DIR/varlib/work" /var/lib \
      || fatal "overlay on /var/lib failed"
  fi
  for d in $BIND_DIRS; do
    mount --bind "$DIR/fs/$d" "$ROOT/$d" || fatal "bind mount $ROOT/$d failed"
  done
  for d in $BIND_FILES; do
    # a chroot may lack one (Debian 13 without /etc/mailname): the target goes into the
    # host's own upper dir; the machine's files are only ever mounted over, never made
    [ -n "$LOWER" ] && [ ! -e "$ROOT/$d" ] && : >"$ROOT/$d"
    [ -f "$ROOT/$d" ] && mount --bind "$DIR/fs/$d" "$ROOT/$d"
  done
  if [ -n "$LOWER" ]; then
    mount -t proc proc "$ROOT/proc" || fatal "proc in $ROOT failed"
    mount --rbind /dev "$ROOT/dev" || fatal "/dev in $ROOT failed"
  fi
  mount -t tmpfs -o mode=0755,size=64m tmpfs "$ROOT/run"
  mount -t tmpfs -o mode=1777,size=64m tmpfs "$ROOT/tmp"
  mkdir -p "$ROOT/run/sshd" "$ROOT/run/dovecot" "$ROOT/run/lock"
  chmod 0755 "$ROOT/run/sshd"
}

cmd_init() {
  local mail=$1 d
  log "starting $NAME ($ADDRESS, $RELEASE, mail=$mail) at $(date '+%F %T')"
  hostname "$NAME.test"
  mount_root

  ip link set lo up
  ip addr add "$ADDRESS/24" dev eth0
  sysctl -qw net.ipv6.conf.eth0.disable_ipv6=1 2>/dev/null || true
  ip link set eth0 up

  log "mounts and network ready"
  WAIT_SECONDS=90  # a busy 2-core machine starting 100 hosts is slow
  local ok=1
  for d in $(services "$mail"); do
    if start "$d"; then log "$d started"; else log "FATAL: $d did not start"; ok=0; fi
  done
  # shellcheck disable=SC2046
  if [ "$ok" = 1 ] && wait_ports $(stock_ports "$mail"); then
    echo ready >"$DIR/state"
  else
    echo failed >"$DIR/state"
  fi
  log "$(<"$DIR/state")"
  trap 'exit 0' TERM INT
  while :; do sleep 3600 & wait $!; done
}

cmd_reset() {
  local mail=$1 s started=$(($# > 1))
  shift
  # What the engine may leave behind on a host.
  rm -rf "$ROOT/var/lib/mailstate" "$ROOT/var/backups/mailstate" "$ROOT"/run/mailstate* \
    "$ROOT"/run/lock/mailstate* "$ROOT"/tmp/mailstate*
  for s in "$@"; do stop "$s"; done
  for s in $(services "$mail"); do
    running "$s" || { start "$s" >/dev/null 2>&1; started=1; }
  done
  # shellcheck disable=SC2046
  [ "$started" = 1 ] && wait_ports $(stock_ports "$mail") 2>/dev/null
  # A service that runs with a config other than the stock one (e.g. reloaded after a
  # change that was later undone on disk) shows in its listeners: restart them all.
  scan
  # shellcheck disable=SC2046
  if ! only_ports $(stock_ports "$mail"); then
    for s in $(services "$mail"); do
      [ "$s" = sshd ] && continue
      stop "$s"; start "$s" >/dev/null 2>&1
    done
  fi
  # shellcheck disable=SC2046
  wait_ports $(stock_ports "$mail")
  local rc=$?
  status
  return $rc
}

cmd_ensure() {
  # `up` on a running host: start what is down, keep its config as it is (it may be
  # hardened by now, so only sshd's port is waited for, not the stock mail ports).
  local mail=$1 s rc=0
  for s in $(services "$mail"); do running "$s" || start "$s" >/dev/null 2>&1; done
  wait_ports 22 || rc=1
  for s in $(services "$mail"); do
    running "$s" || { echo "$s is not running" >&2; rc=1; }
  done
  status
  return $rc
}

case ${1:-} in
  init) shift 2; cmd_init "$@" ;;
  ensure) shift 2; cmd_ensure "$@" ;;
  status) scan; status ;;
  reset) shift 2; cmd_reset "$@" ;;
  *) echo "usage: host.sh init|status|reset ..." >&2; exit 2 ;;
esac
