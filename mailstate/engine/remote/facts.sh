# mailstate facts (runs on the host after prelude.sh, POSIX sh, reads only).
# Prints a short text header (tool versions, lock, map timestamps, what is not a regular
# file) and then a tar stream of every managed file: one process per kind of fact, not
# one per file, so a plan costs one round trip and a handful of forks on the host.
# Args: files dirs stats certs (newline-separated absolute paths)
files=$1 dirs=$2 stats=$3 certs=${4:-}
echo "MAILSTATE-FACTS 2"
# Certificates the servers may serve, so the plan can compare their names with what
# Roundcube verifies: links followed, regular files under 256 KiB (one find for all),
# and of each only its first PEM certificate block leaves the host (C PATH<tab>LINE),
# never the rest of the file: Postfix allows the key in the same file, and a state may
# name any file here. Printing stops at any other PEM boundary line (an unterminated
# block followed by a key) and after 400 lines.
set --
if [ -n "$certs" ]; then
  while IFS= read -r c; do [ -z "$c" ] || [ ! -f "$c" ] || set -- "$@" "$c"; done <<EOF
$certs
EOF
  if [ $# -gt 0 ]; then
    small=$(find -L "$@" -maxdepth 0 -type f -size -256k -print 2>/dev/null)
    set --
    while IFS= read -r c; do [ -z "$c" ] || set -- "$@" "$c"; done <<EOF
$small
EOF
  fi
fi
# shellcheck disable=SC2016  # awk's own $0, not the shell's
CERT_AWK='FNR == 1 { p = 0; done = 0; n = 0 }
  done { next }
  !p && /^-----BEGIN CERTIFICATE-----\r?$/ { p = 1 }
  !p { next }
  /^-----(BEGIN|END) / && !/^-----(BEGIN|END) CERTIFICATE-----\r?$/ { done = 1; next }
  { sub(/\r$/, ""); printf "C %s\t%s\n", FILENAME, $0 }
  /^-----END CERTIFICATE-----$/ || ++n >= 400 { done = 1 }'
# Package versions from dpkg's database, in the same awk as the certificates (the
# status file is its first file): where `postconf -h mail_version` alone cost ~7 ms of
# host CPU per plan (0.7 s of a 100-host plan). Other systems: the tools.
if [ -s /var/lib/dpkg/status ] && [ -r /var/lib/dpkg/status ]; then
  awk 'FNR == 1 { file++ }
       file == 1 && /^Package: (postfix|dovecot-core)$/ { v = ($2 == "postfix") ? "postfix" : "dovecot" }
       file == 1 && v != "" && /^Version:/ { print "V", v, $2; v = "" }
       file == 1 { next }
       '"$CERT_AWK" /var/lib/dpkg/status "$@" 2>/dev/null
else
  echo "V postfix $(postconf -h mail_version 2>/dev/null)"
  echo "V dovecot $(dovecot --version 2>/dev/null)"
  [ $# -eq 0 ] || awk "$CERT_AWK" "$@" 2>/dev/null
fi
if [ -d "$lock" ]; then
  printf 'K '; base64 -w0 < "$lock/info" 2>/dev/null; echo
  for p in holder worker; do alive "$(pid_in "$lock/$p")" && echo "A $p"; done
  # a swap that started and never finished: the actions it may not have run
  [ -f "$lock/worker" ] && printf 'W %s\n' "$(base64 -w0 < "$lock/actions" 2>/dev/null)"
fi
[ -z "$stats" ] || with_lines "$stats" stat -c 'S %Y %n' -- 2>/dev/null

# The exact managed paths: only regular files are read; anything else is reported by
# kind (builtin tests; readlink runs only for a link), so the plan can refuse it.
list=""
while IFS= read -r f; do
  [ -n "$f" ] || continue
  if [ -L "$f" ]; then printf 'N link %s\t%s\n' "$f" "$(readlink -- "$f")"
  elif [ -f "$f" ]; then list=$list$f$nl
  elif [ -d "$f" ]; then echo "N directory $f"
  elif [ -b "$f" ]; then echo "N block-device $f"
  elif [ -c "$f" ]; then echo "N char-device $f"
  elif [ -p "$f" ]; then echo "N fifo $f"
  elif [ -S "$f" ]; then echo "N socket $f"
  elif [ -e "$f" ]; then echo "N other $f"
  fi
done <<EOF
$files
EOF

# The config trees, as Dovecot reads them: links are followed (its !include does), and
# reported: L for a file read through a link, D for a dir reached through one. One find
# for all dirs (a process costs ~1 ms of a busy host's CPU).
tree() {
  set --
  while IFS= read -r d; do [ -z "$d" ] || [ ! -d "$d" ] || set -- "$@" "$d"; done <<EOF
$dirs
EOF
  [ $# -gt 0 ] || return 0
  find -L "$@" -path '*/private' -prune -o -type d -xtype l -printf 'D %p\n' -o \
    \( -name '*.conf' -o -name '*.ext' -o -name '*.protocol' \) \
    \( -type f \( -xtype l -printf 'L %p\n' -o -printf 'F %p\n' \) \
       -o -type l -printf 'N broken-link %p\n' -o ! -type d -printf 'N other %p\n' \) 2>/dev/null
}
found=$(tree)
while IFS= read -r line; do
  case "$line" in
    "F "*) list=$list${line#F }$nl ;;
    "L "*) list=$list${line#L }$nl; printf '%s\t%s\n' "$line" "$(readlink -f -- "${line#L }")" ;;
    "D "*) printf '%s\t%s\n' "$line" "$(readlink -f -- "${line#D }")" ;;
    ?*) echo "$line" ;;
  esac
done <<EOF
$found
EOF
echo "TAR"
# -h: a Dovecot include read through a link is stored under the link's name (the exact
# managed paths in the list are regular files: links among them were reported above);
# --hard-dereference: a link and its target (or two hard links) each with their bytes
[ -z "$list" ] || printf '%s' "$list" | tar -c -h --hard-dereference -f - -P -T - 2>/dev/null
exit 0
