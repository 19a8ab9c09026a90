# mailstate apply, step 1 of 2 (runs on the host, POSIX sh).
# Takes the host lock, reports the live files' sha256, unpacks the candidate files into a
# private stage dir and validates them with the servers' own tools. Then it HOLDS the
# lock until the controller writes "RELEASE" on stdin; if the controller vanishes (EOF
# without RELEASE), the lock stays and is reported stale by the next run.
# Args: run_id owner lock_wait payload_bytes paths checks [backup_root]
set -u
cd / || exit 2  # paths below are absolute; cp --parents resolves from here
umask 077
run_id=$1 owner=$2 lock_wait=$3 payload=$4 paths=$5 checks=$6
backup_root=${7:-/var/backups/mailstate}
base=/var/lib/mailstate
lock=$base/lock
# milestones in ms from /proc/uptime (a builtin read, no process per mark)
now_ms() { read -r up _ < /proc/uptime; echo $(( ${up%.*}${up#*.} * 10 )); }
t0=$(now_ms)
mark() { echo "T hold-$1 $(( $(now_ms) - t0 ))"; }
mkdir -p "$base" && chmod 700 "$base" || { echo "FAIL cannot create $base"; exit 2; }

alive() { [ -n "$1" ] && kill -0 "$1" 2>/dev/null; }

take_over_stale() {
  # One taker at a time; re-check under the guard so a fresh lock is never stolen.
  find "$base" -maxdepth 1 -name takeover -mmin +1 -exec rmdir {} \; 2>/dev/null
  mkdir "$base/takeover" 2>/dev/null || return 0
  h=$(cat "$lock/holder" 2>/dev/null); w=$(cat "$lock/worker" 2>/dev/null)
  if [ -d "$lock" ] && ! alive "$h" && ! alive "$w"; then
    printf 'STALE %s\n' "$(tr '\n' ' ' < "$lock/info" 2>/dev/null)"
    # the interrupted run's stage dir (candidate files, maybe secrets) goes with its lock
    old_stage=$(cat "$lock/stage" 2>/dev/null)
    case "$old_stage" in "$base"/stage.??????) rm -rf "$old_stage" ;; esac
    mv "$lock" "$base/stale-lock.$run_id" && rm -rf "$base/stale-lock.$run_id"
  fi
  rmdir "$base/takeover"
}

start=$(date +%s)
until mkdir "$lock" 2>/dev/null; do
  h=$(cat "$lock/holder" 2>/dev/null); w=$(cat "$lock/worker" 2>/dev/null)
  if ! alive "$h" && ! alive "$w" && [ -f "$lock/info" ]; then
    take_over_stale
    continue
  fi
  if [ $(( $(date +%s) - start )) -ge "$lock_wait" ]; then
    printf 'LOCKED %s\n' "$(tr '\n' ' ' < "$lock/info" 2>/dev/null)"
    exit 3
  fi
  sleep 0.2
done
if ! { echo $$ > "$lock/holder" && printf 'run=%s\nowner=%s\nstarted=%s\nholder=%s\n' \
    "$run_id" "$owner" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$$" > "$lock/info.tmp" \
    && mv "$lock/info.tmp" "$lock/info"; } 2>/dev/null; then
  rm -rf "$lock"
  echo "FAIL no space left in $base (or it is read-only): cannot write the lock; nothing was changed"
  exit 2
fi
echo "LOCK ok"
mark locked

stage=$(mktemp -d "$base/stage.XXXXXX") || { echo "FAIL cannot create a stage dir in $base"; exit 2; }
echo "$stage" > "$lock/stage"
echo "STAGE $stage"

cleanup() { rm -rf "$stage"; rm -rf "$lock"; }

# Digests of the live files, under the lock (the controller compares them to the plan).
present="" missing=""
for p in $paths; do
  if [ -f "$p" ]; then present="$present $p"; else missing="$missing $p"; fi
done
# shellcheck disable=SC2086
[ -z "$present" ] || sha256sum $present | sed 's/^\([0-9a-f]*\)  /H \1 /'
for p in $missing; do echo "H - $p"; done

# Staging must fit on the host's disk: a full disk fails here, before any live file.
if ! head -c $(( payload + 1048576 )) /dev/zero > "$stage/space" 2>/dev/null; then
  rm -f "$stage/space"
  echo "FAIL no space left in $base for staging; nothing was changed"; cleanup; exit 2
fi
rm -f "$stage/space"

# The candidate files, as a tar stream of exactly $payload bytes.
mkdir "$stage/files"
if ! head -c "$payload" | tar -x -f - -C "$stage/files" 2> "$stage/tar.err"; then
  echo "FAIL unpacking the candidate files: $(head -c 500 "$stage/tar.err")"; cleanup; exit 2
fi
# Postfix re-reads a file modified within the last second until it "cools down" (300 ms
# naps, load_file.c): date the candidates 3 s back, on the host's clock, so postconf,
# postmap and the reloaded daemons read them at once.
find "$stage/files" -type f -exec touch -d "@$(( $(date +%s) - 3 ))" {} +
# Every target dir must take its new file (read-only mount, full disk, permissions), and
# the backup dir a copy of the live files: probe both now, not half-way through the swap.
# (Builtins where a loop would otherwise start a process per file: on a busy host every
#  process costs ~1 ms of CPU, and the probes, sync and rm are batched for the same reason.)
probe_fail() { rm -f $probes; echo "FAIL $1: $(head -c 300 "$stage/probe.err" | tr '\n' ' ')nothing was changed"; cleanup; exit 2; }
probes=""
for p in $paths; do
  d=${p%/*}; while [ -n "$d" ] && [ ! -d "$d" ]; do d=${d%/*}; done
  t=$d/.mailstate.probe.${p##*/}.$run_id
  probes="$probes $t"
  cp "$stage/files$p" "$t" 2> "$stage/probe.err" || probe_fail "cannot write in ${d:-/}"
done
t=$backup_root/.probe.$run_id
probes="$probes $t"
# shellcheck disable=SC2086
{ mkdir -p "$backup_root" && { [ -z "$present" ] || cat $present; } > "$t"; } 2> "$stage/probe.err" \
  || probe_fail "cannot write backups in $backup_root"
# shellcheck disable=SC2086
sync $probes 2> "$stage/probe.err" || probe_fail "cannot sync the probe files (full disk or read-only)"
# shellcheck disable=SC2086
rm -f $probes
mark staged

report() {  # report NAME RC FILE: one line per check, the tool output base64-encoded
  printf 'C %s %s ' "$1" "$2"; [ ! -s "$3" ] || base64 -w0 < "$3"; echo
}

# pair_check LABEL CERT KEY: say so when a private key does not belong to its certificate
# (the daemon would start, and every TLS handshake would fail). Needs openssl; skipped for
# encrypted keys and for files that are missing (reported on their own).
pair_check() {
  [ -n "$2" ] && [ -n "$3" ] && [ -r "$2" ] && [ -r "$3" ] || return 0
  # Postfix and Dovecot usually share one pair: check it once (openssl is the costly part).
  # The memo is a file, read with builtins: the Postfix check calls this in a subshell.
  if [ -f "$stage/pairs" ]; then
    while IFS='|' read -r memo_cert memo_key memo_result; do
      [ "$memo_cert|$memo_key" = "$2|$3" ] || continue
      [ "$memo_result" = ok ] || echo "$1 $3 does not match the certificate $2 (TLS handshakes would fail)"
      return 0
    done < "$stage/pairs"
  fi
  command -v openssl > /dev/null || return 0
  grep -q ENCRYPTED "$3" && return 0
  # (sh has no locals: names here must not clash with the callers' loop variables)
  # A certificate holds its public key as DER SubjectPublicKeyInfo, byte for byte what
  # `openssl pkey -pubout -outform DER` prints for the private key: look for one inside
  # the other (hex). `openssl x509` would be simpler, and costs ~50 ms of CPU per call.
  # Only the first certificate counts (the server's own; a chain file follows it with CAs).
  cert_der=$(sed -n '/^-----BEGIN CERTIFICATE-----/,/^-----END CERTIFICATE-----/{/^-----END/q;/^-----/!p}' "$2" \
    | base64 -d 2>/dev/null | od -An -v -tx1 | tr -d ' \n')
  pub_of_key=$(openssl pkey -in "$3" -pubout -outform DER 2>/dev/null < /dev/null \
    | od -An -v -tx1 | tr -d ' \n')
  [ -n "$cert_der" ] && [ -n "$pub_of_key" ] || return 0  # not PEM/keys we can read: skip
  case "$cert_der" in *"$pub_of_key"*) pair=ok ;; *) pair=mismatch ;; esac
  if [ "$pair" = ok ]; then echo "$2|$3|ok" >> "$stage/pairs"; else
    echo "$2|$3|mismatch" >> "$stage/pairs"
    echo "$1 $3 does not match the certificate $2 (TLS handshakes would fail)"
  fi
}

check_postfix() {
  d=$stage/postfix; mkdir "$d"
  for f in main.cf master.cf; do
    if [ -f "$stage/files/etc/postfix/$f" ]; then cp -p "$stage/files/etc/postfix/$f" "$d/$f"
    else cp -p /etc/postfix/$f "$d/$f"; fi
  done
  # -x expands $names, so the TLS file paths below come from this same call
  postconf -c "$d" -nx > "$stage/pf.out" 2> "$stage/pf.err"; rc=$?
  : > "$stage/pf.extra"
  if [ -s "$stage/pf.err" ]; then
    # warnings the live config does not have are the candidate's fault
    postconf -c /etc/postfix -nx > /dev/null 2> "$stage/pf.live"
    sed "s#$d#/etc/postfix#g" "$stage/pf.err" | grep -vxF -f "$stage/pf.live" > "$stage/pf.extra"
  fi
  [ $rc -eq 0 ] && [ -s "$stage/pf.extra" ] && rc=1
  report postconf-n "$rc" "$stage/pf.extra"
  postconf -c "$d" -M > /dev/null 2> "$stage/pm.err"; rc=$?
  report postconf-M "$rc" "$stage/pm.err"
  # Postfix does not check TLS files until a client connects: check them now. (Unset key
  # files default to the cert file; the CA files to nothing.)
  awk -F ' = ' '{ v[$1] = $2 } END { print v["smtpd_tls_cert_file"] "|" v["smtpd_tls_key_file"] "|" \
      v["smtp_tls_cert_file"] "|" v["smtp_tls_key_file"] "|" v["smtpd_tls_CAfile"] "|" v["smtp_tls_CAfile"] }' \
      "$stage/pf.out" | {
    IFS='|' read -r scert skey ccert ckey sca cca
    for pair in "smtpd_tls_cert_file=$scert" "smtpd_tls_key_file=$skey" "smtp_tls_cert_file=$ccert" \
                "smtp_tls_key_file=$ckey" "smtpd_tls_CAfile=$sca" "smtp_tls_CAfile=$cca"; do
      path=${pair#*=}
      [ -z "$path" ] || [ -r "$path" ] || echo "main.cf: ${pair%%=*} = $path: no such readable file"
    done
    pair_check "main.cf: smtpd_tls_key_file" "$scert" "${skey:-$scert}"
  } > "$stage/tls.err"
  [ -s "$stage/tls.err" ] && rc=1 || rc=0
  report tls-files "$rc" "$stage/tls.err"
  : > "$stage/svc.err"
  awk '/^[^#[:space:]]/ && $2 == "inet" { print $1 }' "$d/master.cf" | {
    named="" keys=""
    while read -r svc; do
      port=${svc##*:}
      case "$port" in
        ''|*[!0-9]*) named="$named $svc" keys="$keys $port/tcp" ;;
        *) [ "$port" -ge 1 ] && [ "$port" -le 65535 ] \
          || echo "master.cf: inet service '$svc': port $port is outside 1-65535" ;;
      esac
    done
    # one getent for all names; only when one is unknown, one per name to say which
    # shellcheck disable=SC2086
    if [ -n "$keys" ] && ! getent services $keys > /dev/null; then
      for svc in $named; do
        getent services "${svc##*:}/tcp" > /dev/null \
          || echo "master.cf: inet service '$svc': '${svc##*:}' is not a port number or a service in /etc/services"
      done
    fi
  } > "$stage/svc.err"
  [ -s "$stage/svc.err" ] && rc=1 || rc=0
  report inet-ports "$rc" "$stage/svc.err"
}

check_dovecot() {
  cp -a /etc/dovecot "$stage/dovecot"
  [ -d "$stage/files/etc/dovecot" ] && cp -a "$stage/files/etc/dovecot/." "$stage/dovecot/"
  # -P: show ssl_key too (doveconf hides it); dc.out stays in the 0700 stage, never sent
  doveconf -c "$stage/dovecot/dovecot.conf" -n -P > "$stage/dc.out" 2> "$stage/dc.err"; rc=$?
  [ ! -s "$stage/dc.err" ] || sed -i "s#$stage/dovecot#/etc/dovecot#g" "$stage/dc.err"
  # doveconf does not open `key = <file` values; Dovecot needs them readable to start.
  # One awk lists them (top-level ones flagged, for the ssl_cert/ssl_key pair check).
  awk '/^[[:space:]]*[a-z_]+ = </ { top = ($0 ~ /^[a-z]/); p = $0; sub(/^[^<]*</, "", p)
       print top "|" $1 "|" p }' "$stage/dc.out" > "$stage/dc.files"
  cert="" tkey=""
  while IFS='|' read -r top key path; do
    [ -r "$path" ] || echo "dovecot: $key = <$path: no such readable file (Dovecot would not start)" >> "$stage/dc.err"
    [ "$top" = 1 ] || continue
    case "$key" in ssl_cert) cert=$path ;; ssl_key) tkey=$path ;; esac
  done < "$stage/dc.files"
  pair_check "dovecot: ssl_key" "$cert" "$tkey" >> "$stage/dc.err"
  [ $rc -eq 0 ] && [ -s "$stage/dc.err" ] && grep -qE "no such readable file|does not match" "$stage/dc.err" && rc=1
  report doveconf "$rc" "$stage/dc.err"
}

check_php() {
  f=$stage/files$1
  if ! command -v php > /dev/null; then echo "php is not installed: not checked" > "$stage/php.err"; report php-l 0 "$stage/php.err"; return; fi
  # Including the file compiles it as `php -l` does, and shows that it defines $config: one
  # php process instead of two. Only on failure does `php -l` run, for its exact message.
  php -r 'include $argv[1]; exit(isset($config) && is_array($config) ? 0 : 3);' "$f" \
    > "$stage/php.err" 2>&1; rc=$?
  if [ $rc -eq 3 ]; then
    echo "$1 does not define the \$config array" >> "$stage/php.err"
  elif [ $rc -ne 0 ]; then  # a syntax error is best told by php -l; else keep the include's
    php -l "$f" > "$stage/php.lint" 2>&1 || mv "$stage/php.lint" "$stage/php.err"
  fi
  [ ! -s "$stage/php.err" ] || sed -i "s#$stage/files##g" "$stage/php.err"
  if [ $rc -ne 0 ] && [ -f "$1" ] && ! php -l "$1" > /dev/null 2>&1; then
    echo "the live $1 is not valid PHP either: repair it on the host, then apply again" >> "$stage/php.err"
  fi
  report php-include "$rc" "$stage/php.err"
}

for c in $checks; do
  case "$c" in
    postfix) check_postfix ;;
    dovecot) check_dovecot ;;
    php:*) check_php "${c#php:}" ;;
  esac
  mark "${c%%:*}"
done
echo "READY"

# Hold the lock until the controller says RELEASE; EOF alone means it died: keep the lock.
if IFS= read -r cmd && [ "$cmd" = RELEASE ]; then
  cleanup
  echo "RELEASED"
fi
