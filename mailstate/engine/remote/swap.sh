# mailstate apply, step 2 of 2 (runs on the host after prelude.sh, POSIX sh, while
# hold.sh holds the lock). Backs up every file it will replace, swaps each candidate in
# atomically (temp file in the same dir, fsync, mode/owner kept, rename), runs postmap,
# reloads what changed, and verifies the services came back with the listeners the state
# implies. On any failure it restores the backups and reloads again, by itself: a
# controller that dies half-way cannot leave the host half-configured. Hangups are
# ignored for the same reason.
# Args: run_id stage files actions expect verify_seconds
#   files: one "MODE OWNER GROUP PATH" a line; actions: one action a line (see `act`);
#   expect: one "PORT REACH OWNER" a line (see `services_check`)
trap '' HUP PIPE INT TERM
run_id=$1 stage=$2 files=$3 actions=$4 expect=$5 verify_seconds=$6
work=$stage
t0=$(now_ms)
[ -d "$lock" ] && [ "$(cat "$lock/stage" 2>/dev/null)" = "$stage" ] || { echo "FAIL the lock is not ours"; exit 2; }
echo $$ > "$lock/worker"
printf '%s\n' "$actions" > "$lock/actions"  # what a next run must redo if we are killed

stamp=$(date -u +%Y%m%dT%H%M%SZ)
bk=$backup_root/$stamp-$run_id
{ mkdir -p "$bk/files" && chmod 700 "$backup_root" "$bk"; } || { echo "FAIL cannot create backup dir $bk"; exit 2; }
echo "BACKUP $bk"

# 1. Back up (cp -p keeps mode, owner and times; one cp and one sha256sum for all files)
#    and write the manifest: "SHA256 PATH" per existing file, "absent PATH" otherwise
#    (also for each map index postmap is about to create).
existing="" absent=""
while read -r mode owner group path; do
  [ -n "$path" ] || continue
  if [ -f "$path" ]; then existing=$existing$path$nl; else absent=$absent$path$nl; fi
done <<EOF
$files
EOF
if [ -n "$existing" ]; then
  with_lines "$existing" cp -p --parents -t "$bk/files/" -- 2> "$stage/bk.err" \
    || { echo "FAIL backing up into $bk: $(one_line "$stage/bk.err")"; exit 2; }
fi
{
  [ -z "$existing" ] || with_lines "$existing" sha256sum -- | sed 's/  / /'
  while IFS= read -r path; do [ -z "$path" ] || echo "absent $path"; done <<EOF
$absent
EOF
  # the indexes postmap will create (a new map's .db): a rollback removes them again
  while read -r verb arg; do
    [ "$verb" = postmap ] || continue
    index_files "$arg" | while IFS= read -r path; do [ -e "$path" ] || echo "absent $path"; done
  done <<EOF
$actions
EOF
} > "$bk/manifest" || { echo "FAIL writing $bk/manifest"; exit 2; }
printf 'run=%s\ncreated=%s\n' "$run_id" "$stamp" > "$bk/info"
printf '%s\n' "$actions" > "$bk/actions"
# the listeners before the change: what a rollback (ours or `mailstate rollback`) restores
[ -z "$actions" ] || ss -ltnpH > "$bk/listeners" 2>/dev/null
# the backup, its dirs and its entry in $backup_root are on disk before any live file changes
find "$bk" -exec sync -- "$backup_root" {} +

# 2. Swap: each candidate goes to a temp file beside its target (mode, owner and the
#    staged mtime kept), one sync makes them all durable, then one atomic rename per file.
#    (Batched, and builtins for the paths: on a busy host each process costs ~1 ms of CPU.)
failed="" tmps=""
while read -r mode owner group path; do
  [ -n "$path" ] || continue
  temp_for "$path"
  [ -d "$dir" ] || mkdir -p "$dir"
  tmps=$tmps$tmp$nl
  temp_install "$stage/files$path" "$path" "$mode" "$owner" "$group" 2> "$stage/swap.err" \
    || { failed="writing $path failed: $(one_line "$stage/swap.err")"; break; }
done <<EOF
$files
EOF
if [ -z "$failed" ]; then
  with_lines "$tmps" sync -- 2> "$stage/swap.err" || failed="syncing the new files failed: $(one_line "$stage/swap.err")"
fi
if [ -z "$failed" ]; then
  while read -r mode owner group path; do
    [ -n "$path" ] || continue
    commit_temp "$path" 2> "$stage/swap.err" \
      || { failed="replacing $path failed: $(one_line "$stage/swap.err")"; break; }
    echo "WROTE $path"
    fault_at after-first-write
  done <<EOF
$files
EOF
fi
[ -z "$failed" ] || with_lines "$tmps" rm -f --

mark swapped
# 3. Actions and verification.
if [ -z "$failed" ]; then
  fault_at during-reload
  run_actions "$actions"
  mark actions
  if grep -q . "$stage/act.err"; then failed=$(head -c 600 "$stage/act.err" | tr '\n' ' '); fi
  # an action that failed already decides the rollback: one look at the listeners for
  # the report, not the whole wait for services to come back
  wait_s=$verify_seconds; [ -z "$failed" ] || wait_s=0
  verify "$actions" "$expect" "$wait_s" \
    || failed="${failed:+$failed; }$(sed 's/^DEAD //' "$stage/verify.err" | tr '\n' ';')"
  mark verified
fi

if [ -z "$failed" ]; then
  rm -f "$lock/worker"
  echo "DONE complete"
  exit 0
fi

# 4. Roll back: old files, the same actions again, and check that the listeners of
#    before the change came back (ports the change opened are closed again).
echo "FAILED $failed"
fault_at before-rollback
complete=complete
restore_backup "$bk" || complete=incomplete
run_actions "$actions"
if grep -q . "$stage/act.err"; then
  sed 's/^/ACTFAIL /' "$stage/act.err" | head -n 20
fi
[ -e "$stage/ss.txt" ] || ss -ltnpH > "$stage/ss.txt" 2>/dev/null
cp "$stage/ss.txt" "$stage/ss.failed" 2>/dev/null
if verify "$actions" "$(expect_restored "$bk/listeners" "$stage/ss.failed")" "$verify_seconds"; then
  echo "AFTER ok"
else
  sed 's/^DEAD //; s/^/AFTER /' "$stage/verify.err"
fi
echo "ROLLEDBACK $complete"
rm -f "$lock/worker"
exit 1
