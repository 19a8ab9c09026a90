# mailstate facts (runs on the host after prelude.sh, POSIX sh, reads only).
# Prints a short text header (tool versions, lock, map timestamps, what is not a regular
# file) and then a tar stream of every managed file: one process per kind of fact, not
# one per file, so a plan costs one round trip and a handful of forks on the host.
# Args: files dirs stats certs (newline-separated absolute paths)
#
# Cost matters here: 100 hosts planned at once run this 100 times on shared cores. Three
# processes (find, awk, tar), each called straight from a `$(...)` or the script so that
# no extra subshell forks, and the lists split by the shell itself: IFS is a newline
# (paths never hold one: engine/facts.py) and the prelude's `set -f` keeps a path from
# being a pattern. A `while read` loop would read its input one byte per system call.
files=$1 dirs=$2 stats=$3 certs=${4:-}
IFS=$nl
echo "MAILSTATE-FACTS 2"

# One find, links followed, for three facts: the config trees as Dovecot reads them (its
# !include follows links), the maps' timestamps, and which certificates to read. The
# trees' dirs are its starting points, and so are the stat and certificate paths that
# are not directories: those come back at depth 0, the trees' entries below it. Tree
# entries: F for a file, L for a file read through a link (reported), D for a dir
# reached through one, N for what cannot be read.
set --
for d in $dirs; do [ ! -d "$d" ] || set -- "$@" "$d"; done
for p in $stats $certs; do [ -d "$p" ] || set -- "$@" "$p"; done
found=""
[ $# -eq 0 ] || found=$(find -L "$@" -path '*/private' -prune -o -type d -xtype l \
  -printf 'D %p\n' -o -type f \( -xtype l -printf 'L %d %s %T@ %p\n' -o \
  -printf 'F %d %s %T@ %p\n' \) -o -type l -printf 'N broken-link %d %p\n' -o \
  ! -type d -printf 'N other %d %p\n' 2>/dev/null)
# Depth 0: a map's timestamp (S MTIME PATH); a certificate is read when it is a regular
# file under 256 KiB (find's -size -256k). Below: what Dovecot reads (*.conf, *.ext,
# *.protocol) goes in the tar list, after the exact managed paths.
conf=""
set --
for line in $found; do
  case "$line" in
    "D "*) printf '%s\t%s\n' "$line" "$(readlink -f -- "${line#D }")"; continue ;;
    "N "*) tag=${line%% [0-9]*}; rest=${line#"$tag" } ;;
    *) tag=${line%% *}; rest=${line#* } ;;
  esac
  depth=${rest%% *}; rest=${rest#* }
  if [ "$depth" = 0 ]; then
    case "$tag" in "F"|"L") ;; *) continue ;; esac
    size=${rest%% *}; rest=${rest#* }; mtime=${rest%% *}; mtime=${mtime%.*}; path=${rest#* }
    case "$nl$stats$nl" in *"$nl$path$nl"*) echo "S $mtime $path" ;; esac
    case "$nl$certs$nl" in *"$nl$path$nl"*) [ "$size" -gt 261120 ] || set -- "$@" "$path" ;; esac
    continue
  fi
  case "$tag" in "F"|"L") rest=${rest#* }; rest=${rest#* } ;; esac
  case "$rest" in *.conf|*.ext|*.protocol) ;; *) continue ;; esac
  case "$tag" in
    F) conf=$conf$rest$nl ;;
    L) conf=$conf$rest$nl; printf 'L %s\t%s\n' "$rest" "$(readlink -f -- "$rest")" ;;
    *) echo "$tag $rest" ;;
  esac
done

# Package versions and certificates in one awk. Versions: dpkg's status file, read a
# package stanza per record (RS), stopping once both are found (where
# `postconf -h mail_version` alone cost ~7 ms of host CPU per plan). Other systems: the
# tools. Certificates, so the plan can compare their names with what Roundcube verifies:
# of each only its first PEM certificate block leaves the host (C PATH<tab>LINE), never
# the rest of the file: Postfix allows the key in the same file, and a state may name
# any file here. Printing stops at any other PEM boundary line (an unterminated block
# followed by a key) and after 400 lines.
status=/var/lib/dpkg/status
if [ ! -s "$status" ] || [ ! -r "$status" ]; then
  echo "V postfix $(postconf -h mail_version 2>/dev/null)"
  echo "V dovecot $(dovecot --version 2>/dev/null)"
  status=/dev/null
fi
# shellcheck disable=SC2016  # awk's own $0, not the shell's
[ "$status" = /dev/null ] && [ $# -eq 0 ] || awk -v RS='\nPackage: ' '
  BEGIN { certs = ARGC; ARGC = 2 }
  {
    name = $0; sub(/^Package: /, "", name); sub(/\n.*/, "", name)
    if (name != "postfix" && name != "dovecot-core") next
    if (match($0, /\nVersion: [^\n]*/))
      print "V", (name == "postfix" ? "postfix" : "dovecot"), substr($0, RSTART + 10, RLENGTH - 10)
    if (++found == 2) exit
  }
  END {
    RS = "\n"
    for (i = 2; i < certs; i++) {
      f = ARGV[i]; p = 0; n = 0
      while ((getline line < f) > 0) {
        if (!p && line !~ /^-----BEGIN CERTIFICATE-----\r?$/) continue
        p = 1
        if (line ~ /^-----(BEGIN|END) / && line !~ /^-----(BEGIN|END) CERTIFICATE-----\r?$/) break
        sub(/\r$/, "", line); printf "C %s\t%s\n", f, line
        if (line ~ /^-----END CERTIFICATE-----$/ || ++n >= 400) break
      }
      close(f)
    }
  }' "$status" "$@" 2>/dev/null

if [ -d "$lock" ]; then
  printf 'K '; base64 -w0 < "$lock/info" 2>/dev/null; echo
  for p in holder worker; do alive "$(pid_in "$lock/$p")" && echo "A $p"; done
  # a swap that started and never finished: the actions it may not have run
  [ -f "$lock/worker" ] && printf 'W %s\n' "$(base64 -w0 < "$lock/actions" 2>/dev/null)"
fi

# The exact managed paths: only regular files are read; anything else is reported by
# kind (builtin tests; readlink runs only for a link), so the plan can refuse it.
list=""
for f in $files; do
  if [ -L "$f" ]; then printf 'N link %s\t%s\n' "$f" "$(readlink -- "$f")"
  elif [ -f "$f" ]; then list=$list$f$nl
  elif [ -d "$f" ]; then echo "N directory $f"
  elif [ -b "$f" ]; then echo "N block-device $f"
  elif [ -c "$f" ]; then echo "N char-device $f"
  elif [ -p "$f" ]; then echo "N fifo $f"
  elif [ -S "$f" ]; then echo "N socket $f"
  elif [ -e "$f" ]; then echo "N other $f"
  fi
done

echo "TAR"
# -h: a Dovecot include read through a link is stored under the link's name (the exact
# managed paths in the list are regular files: links among them were reported above);
# --hard-dereference: a link and its target (or two hard links) each with their bytes.
# The list goes in as a here-document: no printf subshell in front of tar.
list=$list$conf; list=${list%"$nl"}
[ -z "$list" ] || tar -c -h --hard-dereference -f - -P -T - 2>/dev/null <<EOF
$list
EOF
exit 0
