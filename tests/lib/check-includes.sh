#!/usr/bin/env bash
# check-includes.sh — the include direction of src/ (DESIGN §5, as the code is): a module may
# include headers of modules in lower layers only, never one of its own layer's neighbours nor of
# a layer above, and never another module's internal header (one whose header comment says
# "internal to"); a module in ONLY includes no module but the ones listed there. Paths with
# ".." are refused. Known violations are listed in ALLOW below, each with its reason; an entry
# that no longer matches anything is itself an error, so the list only shrinks. A kiln header included with <...> is refused too. Prints file:line for each
# violation; exit status 1 when there is any.
set -uo pipefail
cd "$(dirname "$0")/../.."

# lowest first; a module not listed here is an error (add it where it belongs)
LAYERS=(
	"util"
	"dockerfile shell image fs net"
	"auth sandbox plan"
	"registry"
	"context cache"
	"instr"
	"driver"
	"output"
	"cli"
)

# modules restricted further than their layer: "<module> <the only modules it may include>"
# (plan is pure: no filesystem, registry or process code, so not fs)
ONLY=(
	"plan util dockerfile shell image"
)

# "<including file> <included header>  reason": known violations still to remove
ALLOW=(
)

status=0
for m in $(find src -mindepth 1 -maxdepth 1 -type d -printf '%f\n' | sort); do
	if ! printf '%s\n' "${LAYERS[@]}" | grep -qw -- "$m"; then
		echo "src/$m: module not in the layer order of tests/lib/check-includes.sh"
		status=1
	fi
done

# headers whose opening comment calls them internal to their module
internal=$(for h in $(find src -name '*.h' | sort); do
	head -n 3 "$h" | grep -qi 'internal to' && echo "${h#src/}"
done)

# one awk pass over every quoted #include of src/
grep -nE '^[[:space:]]*#[[:space:]]*include[[:space:]]*["<]' -r src --include='*.c' --include='*.h' |
	sort | awk -v layers="$(printf '%s\n' "${LAYERS[@]}")" \
	-v allow="$(printf '%s\n' "${ALLOW[@]}")" -v internal="$internal" \
	-v only="$(printf '%s\n' "${ONLY[@]}")" '
	BEGIN {
		n = split(layers, L, "\n")
		for (i = 1; i <= n; i++) {
			k = split(L[i], M, " ")
			for (j = 1; j <= k; j++)
				rank[M[j]] = i - 1
		}
		n = split(allow, A, "\n")
		for (i = 1; i <= n; i++)
			if (split(A[i], F, " ") >= 2)
				allowed[F[1] " " F[2]] = 1
		n = split(only, O, "\n")
		for (i = 1; i <= n; i++) {
			k = split(O[i], M, " ")
			for (j = 2; j <= k; j++)
				may[M[1] " " M[j]] = 1
			restricted[M[1]] = O[i]
		}
		n = split(internal, I, "\n")
		for (i = 1; i <= n; i++)
			if (I[i] != "")
				intern[I[i]] = 1
	}
	{
		file = $0; sub(/:.*/, "", file)
		rest = substr($0, length(file) + 2)
		line = rest; sub(/:.*/, "", line)
		angle = rest ~ /include[[:space:]]*</
		hdr = rest; sub(/^[^"<]*["<]/, "", hdr); sub(/[">].*/, "", hdr)
		m = file; sub(/^src\//, "", m); sub(/\/.*/, "", m)
		why = ""
		top = hdr; sub(/\/.*/, "", top)
		if (angle) {
			# system and library headers; a kiln header in <> would dodge the checks
			if (hdr ~ /\// && (top in rank))
				why = "a kiln header included with <>: use quotes"
		} else if (hdr ~ /\.\./) {
			why = "relative path with \x27..\x27"
		} else if (hdr ~ /\//) {
			hm = hdr; sub(/\/.*/, "", hm)
			if (!(hm in rank)) {
				if ((getline junk < ("src/" hdr)) >= 0)
					why = "module \x27" hm "\x27 not in the layer order"
			} else if (hm != m && (m in rank)) {
				if (rank[hm] > rank[m])
					why = m " (layer " rank[m] ") includes " hm " (layer " rank[hm] ", higher)"
				else if (rank[hm] == rank[m])
					why = m " includes " hm " of the same layer " rank[m]
				else if (hdr in intern)
					why = "src/" hdr " is internal to " hm
				else if ((m in restricted) && !((m " " hm) in may))
					why = m " may include only " substr(restricted[m], length(m) + 2)
			}
		}
		if (why == "")
			next
		if ((file " " hdr) in allowed) {
			used[file " " hdr] = 1
			next
		}
		printf "%s:%s: #include %s: %s\n", file, line, angle ? "<" hdr ">" : "\"" hdr "\"", why
		bad = 1
	}
	END {
		for (k in allowed)
			if (!(k in used)) {
				print "tests/lib/check-includes.sh: allow-list entry \x27" k "\x27 matches nothing: remove it"
				bad = 1
			}
		exit bad
	}' || status=1
exit $status
