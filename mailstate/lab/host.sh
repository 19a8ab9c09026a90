#!/bin/bash
# One lab host's life inside its namespaces (see mailstate/lab/harness.py).
#
# Why a shell script: it runs as PID 1 of the host's PID namespace and has to exist
# before any Python could be imported there; bash also reaps the orphans the daemons
# leave behind (a `sleep` as PID 1 would not), so pidfile checks never see zombies.
#
#   host.sh init   HOSTDIR NAME ADDRESS MAIL    PID 1: mounts, network, daemons, then waits
#   host.sh status                              one line per service, one per listener
#   host.sh reset  MAIL [SERVICE...]            wipe engine leftovers, restart SERVICEs,
#                                               start whatever is down, wait, print status
#   host.sh ensure MAIL                         start whatever is down, wait, print status
# MAIL is 1 (sshd + Postfix + Dovecot) or 0 (sshd only).
set -u
PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export PATH LANG=C.UTF-8

# Per-host copies bind-mounted over the machine's directories (relative to HOSTDIR/fs).
BIND_DIRS="etc/postfix etc/dovecot etc/ssh etc/roundcube etc/ssl etc/sudoers.d var/spool/postfix var/backups root"
# passwd/shadow/group: the machine's users plus the lab's sudo users (see build.py LAB_USERS)
BIND_FILES="etc/hostname etc/mailname etc/hosts etc/passwd etc/shadow etc/group etc/gshadow"
# What the engine may leave behind on a host; `reset` removes it.
LEFTOVERS="/var/lib/mailstate /var/backups/mailstate /run/mailstate* /run/lock/mailstate* /tmp/mailstate*"

# Builtins only where it is cheap to do so: every test's reset runs this script.
PID=""
pid_of() {  # pid_of SERVICE: set PID from its pidfile ("" if none)
  local file
  case $1 in
    sshd) file=/run/sshd.pid ;;
    postfix) file=/var/spool/postfix/pid/master.pid ;;
    dovecot) file=/run/dovecot/master.pid ;;
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
    sshd) /usr/sbin/sshd -f /etc/ssh/sshd_config </dev/null ;;
    postfix)  # quick-start: skip postfix-script's ~0.2 s integrity checks (stock files)
      rm -f /var/spool/postfix/pid/master.pid
      : >/var/spool/postfix/quick-start
      postfix start </dev/null ;;
    dovecot) dovecot </dev/null ;;
  esac
}

stop() {  # TERM the master, wait for it to go (KILL after 5 s)
  local pid i
  pid_of "$1"; pid=$PID
  alive "$pid" || return 0
  # Postfix and Dovecot masters lead their process group: TERM the whole group, or
  # Dovecot's master spends ~1 s waiting for its children to notice.
  if [ "$1" = sshd ] || ! kill -TERM -- "-$pid" 2>/dev/null; then kill -TERM "$pid" 2>/dev/null; fi
  for i in $(seq 250); do alive "$pid" || return 0; sleep 0.02; done
  kill -KILL "$pid" 2>/dev/null
  sleep 0.05
}

services() { if [ "$1" = 1 ]; then echo sshd postfix dovecot; else echo sshd; fi; }
stock_ports() { if [ "$1" = 1 ]; then echo 22 25 110 143 993 995; else echo 22; fi; }

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
  for s in sshd postfix dovecot; do
    if running "$s"; then echo "$s 1"; else echo "$s 0"; fi
  done
  for a in "${LISTENERS[@]}"; do echo "listen $a"; done
}

T0=${EPOCHREALTIME/./}
log() { local now=${EPOCHREALTIME/./}; printf '%6d ms  %s\n' $(((now - T0) / 1000)) "$*"; }

cmd_init() {
  local dir=$1 name=$2 address=$3 mail=$4 d
  log "starting $name ($address, mail=$mail) at $(date '+%F %T')"
  hostname "$name.test"
  for d in $BIND_DIRS; do
    mount --bind "$dir/fs/$d" "/$d" || { echo "FATAL: bind mount /$d failed" >&2; exit 1; }
  done
  for d in $BIND_FILES; do  # only where the machine has the file to mount over
    [ -f "/$d" ] && mount --bind "$dir/fs/$d" "/$d"
  done
  # /var/lib: copy-on-write, so /var/lib/postfix, /var/lib/dovecot and the engine's
  # /var/lib/mailstate are per host without copying dpkg's database.
  mount -t overlay overlay \
    -o "lowerdir=/var/lib,upperdir=$dir/varlib/upper,workdir=$dir/varlib/work" /var/lib \
    || { echo "FATAL: overlay on /var/lib failed" >&2; exit 1; }
  mount -t tmpfs -o mode=0755,size=64m tmpfs /run
  mount -t tmpfs -o mode=1777,size=64m tmpfs /tmp
  mkdir -p /run/sshd /run/dovecot /run/lock
  chmod 0755 /run/sshd

  ip link set lo up
  ip addr add "$address/24" dev eth0
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
    echo ready >"$dir/state"
  else
    echo failed >"$dir/state"
  fi
  log "$(<"$dir/state")"
  trap 'exit 0' TERM INT
  while :; do sleep 3600 & wait $!; done
}

cmd_reset() {
  local mail=$1 s started=$(($# > 1))
  shift
  # shellcheck disable=SC2086
  rm -rf $LEFTOVERS
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
  init) shift; cmd_init "$@" ;;
  ensure) shift; cmd_ensure "$@" ;;
  status) scan; status ;;
  reset) shift; cmd_reset "$@" ;;
  *) echo "usage: host.sh init|status|reset ..." >&2; exit 2 ;;
esac
