# mailstate apply, step 2 of 2 (runs on the host, POSIX sh, while hold.sh holds the lock).
# Backs up every file it will replace, swaps each candidate in atomically (temp file in the
# same dir, fsync, mode/owner kept, rename), runs postmap, reloads what changed, and
# verifies the services came back with the listeners the state implies. On any failure
# it restores the backups and reloads again, by itself: a controller that dies half-way
# cannot leave the host half-configured. Hangups are ignored for the same reason.
# Args: run_id stage files actions expect verify_seconds backup_root fault
# (fault is "-" except in the fault-injection tests: after-first-write | during-reload
#  kill the script's process group there; pause:after-first-write | pause:during-reload
#  wait there while /tmp/mailstate-fault-pause exists)
set -u
cd / || exit 2  # paths below are absolute; cp --parents resolves from here
trap '' HUP PIPE INT TERM
umask 077
run_id=$1 stage=$2 files=$3 actions=$4 expect=$5 verify_seconds=$6 backup_root=$7 fault=${8:--}
lock=/var/lib/mailstate/lock
# milestones in ms from /proc/uptime (a builtin read, no process per mark)
now_ms() { read -r up _ < /proc/uptime; echo $(( ${up%.*}${up#*.} * 10 )); }
t0=$(now_ms)
mark() { echo "T $1 $(( $(now_ms) - t0 ))"; }
[ -d "$lock" ] && [ "$(cat "$lock/stage" 2>/dev/null)" = "$stage" ] || { echo "FAIL the lock is not ours"; exit 2; }
echo $$ > "$lock/worker"
printf '%s\n' "$actions" > "$lock/actions"  # what a next run must redo if we are killed

stamp=$(date -u +%Y%m%dT%H%M%SZ)
bk=$backup_root/$stamp-$run_id
mkdir -p "$bk/files" && chmod 700 "$backup_root" "$bk" || { echo "FAIL cannot create backup dir $bk"; exit 2; }
echo "BACKUP $bk"

# 1. Back up (cp -p keeps mode, owner and times; one cp and one sha256sum for all files)
#    and write the manifest: "SHA256 PATH" per existing file, "absent PATH" otherwise.
existing="" absent=""
while read -r path _; do
  [ -n "$path" ] || continue
  if [ -f "$path" ]; then existing="$existing $path"; else absent="$absent $path"; fi
done <<EOF
$files
EOF
# shellcheck disable=SC2086
if [ -n "$existing" ]; then
  cp -p --parents $existing "$bk/files/" 2> "$stage/bk.err" \
    || { echo "FAIL backing up into $bk: $(head -c 300 "$stage/bk.err")"; exit 2; }
fi
{
  # shellcheck disable=SC2086
  [ -z "$existing" ] || sha256sum $existing | sed 's/  / /'
  for path in $absent; do echo "absent $path"; done
} > "$bk/manifest" || { echo "FAIL writing $bk/manifest"; exit 2; }
printf 'run=%s\ncreated=%s\n' "$run_id" "$stamp" > "$bk/info"
printf '%s\n' "$actions" > "$bk/actions"
find "$bk" -type f -exec sync {} +  # the backup is on disk before any live file changes

# put SRC DEST MODE OWNER GROUP: atomic replace, never a half-written DEST (cp -p keeps
# the staged mtime, dated back by hold.sh so Postfix does not wait for the file to cool)
# temp_for PATH: sets $dir (PATH's dir) and $tmp, the temp file beside PATH that the swap
# writes and then renames over it (builtins only; one name for every step that uses it)
temp_for() { dir=${1%/*}; dir=${dir:-/}; tmp=$dir/.mailstate.${1##*/}.$run_id; }

put() {
  temp_for "$2"
  install -p -m "$3" -o "$4" -g "$5" "$1" "$tmp" && sync "$tmp" && mv -f "$tmp" "$2" \
    || { rm -f "$tmp"; return 1; }
}

restore() {
  echo "$files" | while read -r path mode owner group; do
    [ -n "$path" ] || continue
    if [ -f "$bk/files$path" ]; then
      # shellcheck disable=SC2046
      put "$bk/files$path" "$path" $(stat -c '%a %U %G' "$bk/files$path") && echo "RESTORED $path"
    elif grep -qxF "absent $path" "$bk/manifest"; then
      rm -f "$path" && echo "REMOVED $path"
    fi
  done
}

postfix_up() { p=$(cat /var/spool/postfix/pid/master.pid 2>/dev/null) && kill -0 $p 2>/dev/null; }
dovecot_up() { p=$(cat /run/dovecot/master.pid 2>/dev/null) && kill -0 $p 2>/dev/null; }

# try CMD...: a command fails by its exit status, not by what it prints: `postfix reload`
# repeats on stderr every warning the host's config already had, and those must not roll
# back a good change. A failure adds the command's stderr to act.err.
try() {
  "$@" < /dev/null > /dev/null 2> "$stage/act.out" && return 0
  { echo "$* failed:"; head -c 2000 "$stage/act.out"; } >> "$stage/act.err"
  return 1
}

run_actions() {  # runs every action line; what failed, and its output, goes to $stage/act.err
  : > "$stage/act.err"
  echo "$actions" | while read -r verb arg; do
    case "$verb" in
      postmap) try postmap "$arg" ;;
      reload-postfix) { postfix_up && postfix reload < /dev/null > /dev/null 2>&1; } || try postfix start ;;
      restart-postfix) postfix stop > /dev/null 2>&1; sleep 0.2; try postfix start ;;
      reload-dovecot) doveadm log errors > "$stage/dv.before" 2>/dev/null
                      if dovecot_up; then try doveadm reload; else try dovecot; fi ;;
      *) [ -n "$verb" ] && echo "unknown action $verb" >> "$stage/act.err" ;;
    esac
    mark "$verb"
  done
}

services_check() {  # prints one line per problem (DEAD: ... when a daemon is gone)
  case "$actions" in *postfix*) postfix_up || echo "DEAD postfix master is not running" ;; esac
  case "$actions" in *dovecot*)
    dovecot_up || echo "DEAD dovecot is not running"
    doveadm log errors 2>/dev/null | grep -vxF -f "$stage/dv.before" | grep -iE 'fatal|error' | tail -n 3
  ;; esac
  ss -ltnpH > "$stage/ss.txt" 2>/dev/null
  # expect lines: PORT REACH OWNER (public|localhost|closed; master|dovecot)
  printf '%s\n' "$expect" | awk 'NR==FNR { if ($1 != "") { want[$1] = $2; owner[$1] = $3 }; next }
    { addr = $4; port = addr; sub(/.*:/, "", port); host = addr; sub(/:[^:]*$/, "", host)
      who = $0; sub(/.*users:\(\("/, "", who); sub(/".*/, "", who)
      if (who != owner[port] && who != "") foreign[port] = who
      if (host ~ /^(127\.|\[::1\]|::1)/) lo[port] = 1; else pub[port] = 1 }
    END { for (p in want) {
      r = want[p]
      if (p in foreign && r != "closed") print "port " p " is held by another process (" foreign[p] "), not " owner[p]
      if (r == "closed" && (lo[p] || pub[p])) print "port " p " is listening but should be closed"
      if (r == "public" && !pub[p]) print "port " p " is not listening"
      if (r == "localhost" && pub[p]) print "port " p " listens beyond localhost"
      if (r == "localhost" && !lo[p] && !pub[p]) print "port " p " is not listening on localhost"
    } }' - "$stage/ss.txt"
}

verify() {  # poll until the services look right; give up at once when a daemon died
  deadline=$(( $(date +%s) + verify_seconds ))
  while :; do
    services_check > "$stage/verify.err"
    [ -s "$stage/verify.err" ] || return 0
    grep -q '^DEAD ' "$stage/verify.err" && { sleep 0.3; services_check > "$stage/verify.err"; return 1; }
    [ "$(date +%s)" -ge "$deadline" ] && return 1
    sleep 0.2
  done
}

pause() {  # test-only (fault pause:POINT): wait at POINT while the test's marker exists
  [ "$fault" = "pause:$1" ] || return 0
  : > /tmp/mailstate-fault-pause; n=0
  while [ -e /tmp/mailstate-fault-pause ] && [ $n -lt 1200 ]; do sleep 0.05; n=$((n + 1)); done
  fault=-  # once
}

# 2. Swap: each candidate goes to a temp file beside its target (mode, owner and the
#    staged mtime kept), one sync makes them all durable, then one atomic rename per file.
#    (Batched, and builtins for the paths: on a busy host each process costs ~1 ms of CPU.)
failed="" tmps=""
while read -r path mode owner group; do
  [ -n "$path" ] || continue
  temp_for "$path"
  [ -d "$dir" ] || mkdir -p "$dir"
  tmps="$tmps $tmp"
  install -p -m "$mode" -o "$owner" -g "$group" "$stage/files$path" "$tmp" \
    || { failed="writing a file failed"; echo "SWAPFAIL $path"; break; }
done <<EOF
$files
EOF
# shellcheck disable=SC2086
[ -n "$failed" ] || sync $tmps || { failed="writing a file failed"; echo "SWAPFAIL sync"; }
if [ -z "$failed" ]; then
  while read -r path _; do
    [ -n "$path" ] || continue
    temp_for "$path"
    mv -f "$tmp" "$path" \
      || { failed="writing a file failed"; echo "SWAPFAIL $path"; break; }
    echo "WROTE $path"
    if [ "$fault" = after-first-write ]; then kill -9 0; fi
    pause after-first-write
  done <<EOF
$files
EOF
fi
# shellcheck disable=SC2086
[ -z "$failed" ] || rm -f $tmps

mark swapped
# 3. Actions and verification.
if [ -z "$failed" ]; then
  if [ "$fault" = during-reload ]; then run_actions & sleep 0.05; kill -9 0; fi
  pause during-reload
  run_actions
  mark actions
  if [ -s "$stage/act.err" ] && grep -q . "$stage/act.err"; then
    failed="$(head -c 600 "$stage/act.err" | tr '\n' ' ')"
  fi
  verify || failed="${failed:+$failed; }$(sed 's/^DEAD //' "$stage/verify.err" | tr '\n' ';')"
  mark verified
fi
printf 'SS '; base64 -w0 < "$stage/ss.txt" 2>/dev/null; echo

if [ -z "$failed" ]; then
  rm -f "$lock/worker"
  echo "DONE ok"
  exit 0
fi

# 4. Roll back: old files, reload again, verify the old state came back.
echo "FAILED $failed"
restore
case "$actions" in *postmap*)
  echo "$actions" | while read -r verb arg; do [ "$verb" = postmap ] && postmap "$arg" 2>/dev/null; done ;;
esac
case "$actions" in *restart-postfix*) postfix stop > /dev/null 2>&1; sleep 0.2; postfix start < /dev/null > /dev/null 2>&1 ;;
  *reload-postfix*) postfix reload > /dev/null 2>&1 || postfix start < /dev/null > /dev/null 2>&1 ;; esac
# daemons started here must not hold the SSH channel's stdout open
case "$actions" in *dovecot*) if dovecot_up; then doveadm reload; else dovecot; fi < /dev/null > /dev/null 2>&1 ;; esac
sleep 0.5
for svc in postfix dovecot; do
  case "$actions" in *$svc*) ${svc}_up && echo "AFTER $svc running" || echo "AFTER $svc NOT running" ;; esac
done
echo "ROLLEDBACK $bk"
rm -f "$lock/worker"
exit 1
