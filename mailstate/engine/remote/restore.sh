# mailstate rollback (runs on the host, POSIX sh): restore one backup made by swap.sh.
# Lists backups when asked; otherwise takes the lock, puts every file of the backup back
# atomically (mode and owner as backed up), removes files that did not exist before,
# reruns postmap and reloads the services the backed-up change had touched.
# Args: backup_root which(list|latest|PREFIX) run_id
set -u
cd / || exit 2  # paths below are absolute; cp --parents resolves from here
trap '' HUP PIPE INT TERM
umask 077
root=$1 which=$2 run_id=$3
base=/var/lib/mailstate
lock=$base/lock
if [ "$which" = list ]; then
  ls -1 "$root" 2>/dev/null | sort | while read -r b; do
    printf 'B %s %s\n' "$b" "$(awk '{print $2}' "$root/$b/manifest" 2>/dev/null | tr '\n' ' ')"
  done
  exit 0
fi
if [ "$which" = latest ]; then b=$(ls -1 "$root" 2>/dev/null | sort | tail -n 1)
else b=$(ls -1 "$root" 2>/dev/null | sort | grep "^$which" | tail -n 1); fi
[ -n "$b" ] && [ -f "$root/$b/manifest" ] || { echo "FAIL no backup matches '$which' in $root"; exit 2; }
bk=$root/$b
mkdir -p "$base" && chmod 700 "$base"
mkdir "$lock" 2>/dev/null || { printf 'LOCKED %s\n' "$(tr '\n' ' ' < "$lock/info" 2>/dev/null)"; exit 3; }
echo $$ > "$lock/holder"
printf 'run=%s\nowner=rollback\nstarted=%s\n' "$run_id" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" > "$lock/info"
echo "BACKUP $bk"
while read -r sha path; do
  if [ "$sha" = absent ]; then rm -f "$path" && echo "REMOVED $path"; continue; fi
  src=$bk/files$path
  tmp=$(dirname "$path")/.mailstate.$(basename "$path").$run_id
  cp -p "$src" "$tmp" && sync "$tmp" && mv -f "$tmp" "$path" && echo "RESTORED $path" \
    || { rm -f "$tmp"; echo "FAIL restoring $path"; }
done < "$bk/manifest"
while read -r verb arg; do
  case "$verb" in
    postmap) postmap "$arg" ;;
    reload-postfix) postfix reload > /dev/null 2>&1 || postfix start < /dev/null > /dev/null 2>&1 ;;
    restart-postfix) postfix stop > /dev/null 2>&1; sleep 0.2; postfix start < /dev/null > /dev/null 2>&1 ;;
    reload-dovecot) doveadm reload 2>/dev/null || dovecot < /dev/null > /dev/null 2>&1 ;;
  esac
done < "$bk/actions"
rm -rf "$lock"
echo "DONE ok"
