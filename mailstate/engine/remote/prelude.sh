# shellcheck shell=sh
# (functions and names here serve several scripts: unused ones are expected)
# shellcheck disable=SC2034,SC2329
# mailstate host prelude (POSIX sh): sent in front of every host script, in the same exec
# (engine/hostscripts.py), so what every script needs is written once, here.
# Path lists arrive newline-separated and are read with `while IFS= read -r` (facts.sh,
# which reads many, splits them with a newline IFS instead): no word splitting, and
# `set -f` below means a path is never a glob pattern.
set -u -f
umask 077
cd / || exit 2
nl='
'
base=/var/lib/mailstate            # 0700: the lock and the stage dirs
lock=$base/lock                    # a dir: holder, worker, info, stage, actions
backup_root=/var/backups/mailstate # one 0700 dir per run: files/, manifest, actions
phase=""                           # prefix of this script's timing marks
work=/nonexistent                  # the script's private scratch dir (set before use)
run_id=none                        # set by each script from its arguments
t0=0                               # when this script started (its timing marks)

# -- test hook point: a no-op in every run; only the test suite's own entry point
# (tests/faults/entry.py) replaces this definition, to kill or pause a script at POINT.
fault_at() { :; }

# -- the lock --------------------------------------------------------------------------
alive() { [ -n "$1" ] && kill -0 "$1" 2>/dev/null; }
lock_info() { tr '\n' ' ' < "$lock/info" 2>/dev/null; }
pid_in() { { read -r pid_read < "$1"; } 2>/dev/null && echo "$pid_read"; }

# -- READERS STOP HERE: what follows serves the phases that write (hold, swap, restore).
# facts.sh, which every plan runs on every host at once, is sent with the part above
# only (engine/hostscripts.py): the shell parses the rest in ~0.5 ms of the host's CPU.

# -- timing: milestones in ms from /proc/uptime (a builtin read, no process per mark) ----
now_ms() { read -r up _ < /proc/uptime; echo $(( ${up%.*}${up#*.} * 10 )); }
mark() { echo "T $phase$1 $(( $(now_ms) - t0 ))"; }

# -- lists -----------------------------------------------------------------------------
# with_lines LIST CMD ARGS...: run CMD ARGS... with each non-empty line of LIST appended
# as one argument: one process for the whole list, no splitting, no globbing.
with_lines() {
  wl_list=$1; shift
  while IFS= read -r wl_line; do [ -z "$wl_line" ] || set -- "$@" "$wl_line"; done <<EOF
$wl_list
EOF
  "$@"
}

take_over_stale() {
  # One taker at a time; re-check under the guard so a fresh lock is never stolen.
  find "$base" -maxdepth 1 -name takeover -mmin +1 -exec rmdir {} \; 2>/dev/null
  mkdir "$base/takeover" 2>/dev/null || return 0
  if [ -d "$lock" ] && ! alive "$(pid_in "$lock/holder")" && ! alive "$(pid_in "$lock/worker")"
  then
    printf 'STALE %s\n' "$(lock_info)"
    # the interrupted run's stage dir (candidate files, maybe secrets) goes with its lock
    old_stage=$(cat "$lock/stage" 2>/dev/null)
    case "$old_stage" in "$base"/stage.??????) rm -rf -- "$old_stage" ;; esac
    mv "$lock" "$base/stale-lock.$run_id" && rm -rf -- "$base/stale-lock.$run_id"
  fi
  rmdir "$base/takeover"
}

# take_lock WAIT OWNER: the host lock. Waits up to WAIT s for a live holder (then prints
# LOCKED and who holds it) and takes over a stale one (its processes are gone: STALE).
take_lock() {
  { mkdir -p "$base" && chmod 700 "$base"; } 2>/dev/null || { echo "FAIL cannot create $base"; return 1; }
  lock_since=$(date +%s)
  until mkdir "$lock" 2>/dev/null; do
    if ! alive "$(pid_in "$lock/holder")" && ! alive "$(pid_in "$lock/worker")" && [ -f "$lock/info" ]; then
      take_over_stale
      continue
    fi
    if [ $(( $(date +%s) - lock_since )) -ge "$1" ]; then
      printf 'LOCKED %s\n' "$(lock_info)"
      return 1
    fi
    sleep 0.2
  done
  if ! { echo $$ > "$lock/holder" && printf 'run=%s\nowner=%s\nstarted=%s\nholder=%s\n' \
      "$run_id" "$2" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$$" > "$lock/info.tmp" \
      && mv "$lock/info.tmp" "$lock/info"; } 2>/dev/null; then
    rm -rf -- "$lock"
    echo "FAIL no space left in $base (or it is read-only): cannot write the lock; nothing was changed"
    return 1
  fi
}

# -- files -----------------------------------------------------------------------------
# temp_for PATH: sets $dir (PATH's dir) and $tmp, the temp file beside PATH that is
# written and then renamed over it (builtins only; the one temp name every step uses)
temp_for() { dir=${1%/*}; dir=${dir:-/}; tmp=$dir/.mailstate.${1##*/}.$run_id; }

# The atomic put, in two halves so a swap can batch the sync between them:
# temp_install SRC DEST MODE OWNER GROUP writes DEST's temp file; once it is synced,
# commit_temp DEST renames it over DEST (a reader sees the old or the new file, never a
# half-written one). A failed half removes the temp file.
temp_install() {
  temp_for "$2"
  install -p -m "$3" -o "$4" -g "$5" -- "$1" "$tmp" || { rm -f -- "$tmp"; return 1; }
}
commit_temp() { temp_for "$1"; mv -f -- "$tmp" "$1" || { rm -f -- "$tmp"; return 1; }; }

# put_copy SRC DEST: the whole put for one file, as SRC's copy (mode, owner, times kept)
put_copy() {
  temp_for "$2"
  { cp -p -- "$1" "$tmp" && sync -- "$tmp"; } || { rm -f -- "$tmp"; return 1; }
  commit_temp "$2"
}

# index_files TYPE:PATH: the files `postmap TYPE:PATH` writes, one a line (a rollback
# removes those that did not exist before the change, like the map source itself)
index_files() {
  case "${1%%:*}" in
    hash|btree) printf '%s\n' "${1#*:}.db" ;;
    cdb) printf '%s\n' "${1#*:}.cdb" ;;
    lmdb) printf '%s\n' "${1#*:}.lmdb" ;;
    dbm|sdbm) printf '%s\n' "${1#*:}.dir" "${1#*:}.pag" ;;
  esac
}

# one_line FILE: the first 300 bytes of FILE on one line (for a protocol line)
one_line() { head -c 300 "$1" 2>/dev/null | tr '\n' ' '; }

# restore_backup BK: every file of backup BK back in place; files that did not exist
# before are removed. One line per file: RESTORED PATH, REMOVED PATH, or
# NOTBACK BASE64(why) PATH. Returns 1 when any file is not back.
restore_backup() {
  rb_status=0
  while read -r rb_sha rb_path; do
    [ -n "$rb_path" ] || continue
    if [ "$rb_sha" = absent ]; then
      if rm -f -- "$rb_path" 2> "$work/rb.err"; then echo "REMOVED $rb_path"; continue; fi
    elif [ "$(sha256sum < "$1/files$rb_path" 2>/dev/null)" != "$rb_sha  -" ]; then
      echo "the backup copy is missing or damaged" > "$work/rb.err"
    elif put_copy "$1/files$rb_path" "$rb_path" 2> "$work/rb.err"; then
      echo "RESTORED $rb_path"; continue
    fi
    printf 'NOTBACK %s %s\n' "$(one_line "$work/rb.err" | base64 -w0)" "$rb_path"
    rb_status=1
  done < "$1/manifest"
  return "$rb_status"
}

# -- actions ---------------------------------------------------------------------------
postfix_up() { alive "$(pid_in /var/spool/postfix/pid/master.pid)"; }
dovecot_up() { alive "$(pid_in /run/dovecot/master.pid)"; }

# try CMD...: a command fails by its exit status, not by what it prints: `postfix reload`
# repeats on stderr every warning the host's config already had, and those must not roll
# back a good change. A failure adds the command and its stderr to $work/act.err.
# (stdout/stderr never stay on the SSH channel: a daemon started here would hold it open)
try() {
  "$@" < /dev/null > /dev/null 2> "$work/act.out" && return 0
  { echo "$* failed:"; head -c 2000 "$work/act.out"; } >> "$work/act.err"
  return 1
}

# act VERB [ARG]: one action line (postmap TYPE:PATH | reload-postfix | restart-postfix |
# reload-dovecot); the one dispatch apply, its own rollback and `mailstate rollback` use
act() {
  case "$1" in
    postmap) [ -e "${2#*:}" ] || return 0  # a map the restored state does not have
             try postmap "$2" ;;
    reload-postfix) { postfix_up && postfix reload < /dev/null > /dev/null 2>&1; } || try postfix start ;;
    restart-postfix) postfix stop < /dev/null > /dev/null 2>&1; sleep 0.2; try postfix start ;;
    reload-dovecot) doveadm log errors > "$work/dv.before" 2>/dev/null
                    if dovecot_up; then try doveadm reload; else try dovecot; fi ;;
    '') ;;
    *) echo "unknown action $1" >> "$work/act.err"; return 1 ;;
  esac
}

# run_actions LINES: every action line in order; what failed is in $work/act.err
run_actions() {
  : > "$work/act.err"
  while read -r ra_verb ra_arg; do
    act "$ra_verb" "$ra_arg"
    [ -z "$ra_verb" ] || mark "$ra_verb"
  done <<EOF
$1
EOF
}

# -- verification ----------------------------------------------------------------------
# ss_awk: shared parsing of `ss -ltnpH` lines: port, loopback or not, owning process
# shellcheck disable=SC2016 # awk's own $4, not the shell's
SS_AWK='function parse() { addr = $4; port = addr; sub(/.*:/, "", port); host = addr
  sub(/:[^:]*$/, "", host); who = $0; sub(/.*users:\(\("/, "", who); sub(/".*/, "", who)
  if ($0 !~ /users:/) who = ""; local = (host ~ /^(127\.|\[::1\]|::1)/) }'

# services_check ACTIONS EXPECT: one line per problem (DEAD ... when a daemon is gone, or
# Dovecot logged an error since the reload: such a line stays in `doveadm log errors`, so it
# fails the check to the end of the wait anyway; Dovecot 2.4 logs its master's
# `listen(*, PORT) failed` there, its master still running; 2.3 logs nothing).
# EXPECT lines: PORT REACH OWNER (public|localhost|closed; master|dovecot). Only OWNER's
# sockets count for REACH (another process on the port is named as such, and a port
# that must be closed is closed when OWNER does not listen there). A restore adds
# PORT socket OWNER ADDRESS:PORT lines: each socket OWNER had before must listen again
# (a port back on [::] alone, its 0.0.0.0 socket gone, is not back; another process
# there is named by the port's own check).
services_check() {
  case "$1" in *postfix*) postfix_up || echo "DEAD postfix master is not running" ;; esac
  case "$1" in *dovecot*)
    dovecot_up || echo "DEAD dovecot is not running"
    doveadm log errors 2>/dev/null | grep -vxF -f "$work/dv.before" | grep -iE 'fatal|error' \
      | tail -n 3 | sed 's/^/DEAD /'
  ;; esac
  ss -ltnpH > "$work/ss.txt" 2>/dev/null
  printf '%s\n' "$2" | awk "$SS_AWK"'
    NR == FNR && $2 == "socket" { sock[$4] = $3; next }
    NR == FNR { if ($1 != "") { want[$1] = $2; owner[$1] = $3 }; next }
    { parse(); have[addr] = who
      if (who != owner[port] && who != "") { foreign[port] = who; next }
      if (local) lo[port] = 1; else pub[port] = 1 }
    END { for (a in sock) if (!(a in have)) print a " is not listening again (" sock[a] ")"
      for (p in want) {
      r = want[p]
      if (p in foreign && r != "closed") print "port " p " is held by another process (" foreign[p] "), not " owner[p]
      if (r == "closed" && (lo[p] || pub[p])) print "port " p " is listening but should be closed"
      if (r == "public" && !pub[p]) print "port " p " is not listening"
      if (r == "localhost" && pub[p]) print "port " p " listens beyond localhost"
      if (r == "localhost" && !lo[p] && !pub[p]) print "port " p " is not listening on localhost"
    } }' - "$work/ss.txt"
}

# verify ACTIONS EXPECT SECONDS: poll until the services look right (problems in
# $work/verify.err); give up at once when a daemon died
verify() {
  [ -e "$work/dv.before" ] || : > "$work/dv.before"
  verify_until=$(( $(date +%s) + $3 ))
  while :; do
    services_check "$1" "$2" > "$work/verify.err"
    [ -s "$work/verify.err" ] || return 0
    grep -q '^DEAD ' "$work/verify.err" && { sleep 0.3; services_check "$1" "$2" > "$work/verify.err"; return 1; }
    [ "$(date +%s)" -ge "$verify_until" ] && return 1
    sleep 0.2
  done
}

# expect_restored BEFORE NOW: the listeners a restore must bring back (EXPECT lines):
# every master/dovecot port of the snapshot BEFORE the change as it was, and every
# master/dovecot port only the changed config opened (in NOW) closed again
expect_restored() {
  [ -s "$1" ] || return 0
  awk "$SS_AWK"'
    NR == FNR { parse(); if (who == "master" || who == "dovecot") {
                  if (!local) reach[port] = "public"
                  else if (!(port in reach)) reach[port] = "localhost"
                  own[port] = who; print port, "socket", who, addr }; next }
    { parse(); if ((who == "master" || who == "dovecot") && !(port in reach)) {
        reach[port] = "closed"; own[port] = who } }
    END { for (p in reach) print p, reach[p], own[p] }' "$1" "$2"
}
