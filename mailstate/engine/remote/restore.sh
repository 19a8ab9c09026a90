# mailstate rollback (runs on the host after prelude.sh, POSIX sh): restore one backup
# made by swap.sh. Lists the backups when asked. Otherwise takes the lock (a stale one is
# taken over, a live one refused), puts every file of the backup back atomically (mode
# and owner as backed up), removes files that did not exist before, runs the backup's
# actions again (postmap, reload/restart) and checks that the listeners of before that
# change came back. Hangups are ignored: a restore, once started, finishes.
# Args: run_id owner lock_wait which(list|latest|NAME-PREFIX) verify_seconds
trap '' HUP PIPE INT TERM
run_id=$1 owner=$2 lock_wait=$3 which=$4 verify_seconds=$5
phase=rollback-
t0=$(now_ms)

backups() {  # the backup names, oldest first (names start with their UTC time)
  find "$backup_root" -mindepth 1 -maxdepth 1 -type d -printf '%f\n' 2>/dev/null | sort \
  | while IFS= read -r b; do
    [ -f "$backup_root/$b/manifest" ] && echo "$b"
  done
}

if [ "$which" = list ]; then
  backups | while IFS= read -r b; do
    echo "B $b"
    while read -r sha path; do echo "M $sha $path"; done < "$backup_root/$b/manifest"
  done
  exit 0
fi

chosen=""
while IFS= read -r b; do
  case "$b" in "$which"*) chosen=$b ;; esac
  [ "$which" != latest ] || chosen=$b
done <<EOF
$(backups)
EOF
[ -n "$chosen" ] || { echo "NOBACKUP $which"; exit 2; }
bk=$backup_root/$chosen

take_lock "$lock_wait" "$owner" || exit 3
work=$(mktemp -d "$base/stage.XXXXXX") || { echo "FAIL cannot create a work dir in $base"; rm -rf -- "$lock"; exit 2; }
echo "$work" > "$lock/stage"
echo "BACKUP $bk"

ss -ltnpH > "$work/ss.changed" 2>/dev/null  # the listeners of the change being undone
complete=complete
restore_backup "$bk" || complete=incomplete
mark restored
actions=$(cat "$bk/actions" 2>/dev/null)
run_actions "$actions"
if grep -q . "$work/act.err"; then
  sed 's/^/ACTFAIL /' "$work/act.err" | head -n 20
fi
if verify "$actions" "$(expect_restored "$bk/listeners" "$work/ss.changed")" "$verify_seconds"; then
  echo "AFTER ok"
else
  sed 's/^DEAD //; s/^/AFTER /' "$work/verify.err"
fi
mark verified
echo "DONE $complete"
rm -rf -- "$work" "$lock"
