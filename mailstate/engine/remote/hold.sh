# mailstate apply, step 1 of 2 (runs on the host after prelude.sh, POSIX sh).
# Takes the host lock, reports the live files' sha256, unpacks the candidate files into a
# private stage dir and validates them with the servers' own tools. Then it HOLDS the
# lock until the controller writes "RELEASE" on stdin; if the controller vanishes (EOF
# without RELEASE), the lock stays and is reported stale by the next run.
# Args: run_id owner lock_wait payload_bytes paths checks (paths and checks: one a line;
# a check is `postfix`, `dovecot` or `php PATH`)
run_id=$1 owner=$2 lock_wait=$3 payload=$4 paths=$5 checks=$6
phase=hold-
t0=$(now_ms)
take_lock "$lock_wait" "$owner" || exit 3
mark locked

stage=$(mktemp -d "$base/stage.XXXXXX") || { echo "FAIL cannot create a stage dir in $base"; exit 2; }
work=$stage
echo "$stage" > "$lock/stage"
echo "STAGE $stage"

cleanup() { rm -rf -- "$stage" "$lock"; }

# Digests of the live files, under the lock (the controller compares them to the plan).
present=""
while IFS= read -r p; do
  [ -n "$p" ] || continue
  if [ -f "$p" ]; then present=$present$p$nl; else echo "H - $p"; fi
done <<EOF
$paths
EOF
[ -z "$present" ] || with_lines "$present" sha256sum -- | sed 's/^\([0-9a-f]*\)  /H \1 /'

# Staging must fit on the host's disk: a full disk fails here, before any live file.
if ! head -c $(( payload + 1048576 )) /dev/zero > "$stage/space" 2>/dev/null; then
  rm -f "$stage/space"
  echo "FAIL no space left in $base for staging; nothing was changed"; cleanup; exit 2
fi
rm -f "$stage/space"

# The candidate files, as a tar stream of exactly $payload bytes.
mkdir "$stage/files"
if ! head -c "$payload" | tar -x -f - -C "$stage/files" 2> "$stage/tar.err"; then
  echo "FAIL unpacking the candidate files: $(one_line "$stage/tar.err")"; cleanup; exit 2
fi
# Postfix re-reads a file modified within the last second until it "cools down" (300 ms
# naps, load_file.c): date the candidates 3 s back, on the host's clock, so postconf,
# postmap and the reloaded daemons read them at once.
find "$stage/files" -type f -exec touch -d "@$(( $(date +%s) - 3 ))" {} +
# Every target dir must take its new file (read-only mount, full disk, permissions), and
# the backup dir a copy of the live files: probe both now, not half-way through the swap.
# (Builtins where a loop would otherwise start a process per file: on a busy host every
#  process costs ~1 ms of CPU, and the probes, sync and rm are batched for the same reason.)
probes=""
probe_fail() {
  [ -z "$probes" ] || with_lines "$probes" rm -f --
  echo "FAIL $1: $(one_line "$stage/probe.err")nothing was changed"; cleanup; exit 2
}
while IFS= read -r p; do
  [ -n "$p" ] || continue
  d=${p%/*}; while [ -n "$d" ] && [ ! -d "$d" ]; do d=${d%/*}; done
  t=$d/.mailstate.probe.${p##*/}.$run_id
  probes=$probes$t$nl
  cp "$stage/files$p" "$t" 2> "$stage/probe.err" || probe_fail "cannot write in ${d:-/}"
done <<EOF
$paths
EOF
t=$backup_root/.probe.$run_id
probes=$probes$t$nl
{ mkdir -p "$backup_root" && { [ -z "$present" ] || with_lines "$present" cat --; } > "$t"; } \
  2> "$stage/probe.err" || probe_fail "cannot write backups in $backup_root"
with_lines "$probes" sync -- 2> "$stage/probe.err" \
  || probe_fail "cannot sync the probe files (full disk or read-only)"
with_lines "$probes" rm -f --
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
    else cp -p "/etc/postfix/$f" "$d/$f"; fi
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
  if ! command -v php > /dev/null; then
    echo "php is not installed: $1 was not checked" > "$stage/php.err"
    report php-include 0 "$stage/php.err"; return
  fi
  # Including the file compiles it as `php -l` does, and shows that it defines $config: one
  # php process instead of two. Only on failure does `php -l` run, for its exact message.
  # shellcheck disable=SC2016 # PHP's own variables
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

while IFS= read -r c; do
  case "$c" in
    postfix) check_postfix < /dev/null ;;
    dovecot) check_dovecot < /dev/null ;;
    "php "*) check_php "${c#php }" < /dev/null ;;
    *) continue ;;
  esac
  mark "${c%% *}"
done <<EOF
$checks
EOF
echo "READY"

# Hold the lock until the controller says RELEASE; EOF alone means it died: keep the lock.
if IFS= read -r cmd && [ "$cmd" = RELEASE ]; then
  cleanup
fi
