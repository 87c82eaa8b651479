#!/usr/bin/env bash
# test_docs.sh — README.md and docs/ say what the binary does: every flag they name exists,
# every flag of --help is in README's flag table (and the table's flags exist), and every
# "not implemented" / "not yet" / "refused" claim names only things kiln really refuses, each
# checked by running kiln (tests/lib/doccheck.py reads the Markdown; see its header for the
# conventions a claim must follow so that it can be checked).
set -uo pipefail
source "$KILN_TOP/tests/lib/assert.sh"
W=$KILN_TEST_WORK/docs
mkdir -p "$W"
DOCS=("$KILN_TOP/README.md" "$KILN_TOP"/docs/*.md)

doccheck() {
	python3 "$KILN_TOP/tests/lib/doccheck.py" --kiln "$KILN" --work "$W" \
		--base-image "$BUSYBOX_IMAGE" "$@" "${DOCS[@]}"
}

help_flags_in_readme_table() { doccheck help-in-table; }
readme_table_flags_exist() { doccheck table-exists; }
flags_named_in_docs_exist() { doccheck docs-flags; }
not_implemented_claims_hold() { doccheck claims; }

# the checker itself: a stale claim, an unknown flag and a flag missing from the table fail
checker_catches_stale_docs() {
	mkdir -p "$W/bad"
	cat >"$W/bad/README.md" <<'MD'
# kiln

The layer cache (`--cache`, `--cache-repo`) is not implemented yet.

kiln cannot make `--reproducible` images yet.

Run `--no-such-flag` for fun. Keep `--whitelist-var-run=false` as in kaniko.

| flag | kiln |
|---|---|
| `--destination` | yes |
| `--reproducible` | not implemented |
| `--whitelist-var-run` | yes |
MD
	local rc=0 out
	out=$(python3 "$KILN_TOP/tests/lib/doccheck.py" --kiln "$KILN" --work "$W/bad" \
		--base-image "$BUSYBOX_IMAGE" claims "$W/bad/README.md" 2>&1) || rc=$?
	echo "$out"
	[ "$rc" -ne 0 ] || fail "a claim that --cache is not implemented passed"
	assert_contains "$out" "says \`--cache\` is not there" "the checker's report"
	assert_contains "$out" "says \`--reproducible\` is not there" "the checker's report"
	rc=0
	out=$(python3 "$KILN_TOP/tests/lib/doccheck.py" --kiln "$KILN" --work "$W/bad" \
		--base-image "$BUSYBOX_IMAGE" docs-flags "$W/bad/README.md" 2>&1) || rc=$?
	echo "$out"
	[ "$rc" -ne 0 ] || fail "an unknown flag passed"
	assert_contains "$out" "--no-such-flag" "the checker's report"
	# a flag the parser knows (kaniko's deprecated alias) but --help does not list
	assert_contains "$out" "names --whitelist-var-run, which --help does not list" \
		"the checker's report"
	rc=0
	out=$(python3 "$KILN_TOP/tests/lib/doccheck.py" --kiln "$KILN" --work "$W/bad" \
		--base-image "$BUSYBOX_IMAGE" table-exists "$W/bad/README.md" 2>&1) || rc=$?
	echo "$out"
	[ "$rc" -ne 0 ] || fail "a table row saying an implemented flag is not implemented passed"
	assert_contains "$out" "the table says --reproducible is 'not implemented', kiln accepts it" \
		"the checker's report"
	assert_contains "$out" "the table says --whitelist-var-run works, --help does not list it" \
		"the checker's report"
	rc=0
	out=$(python3 "$KILN_TOP/tests/lib/doccheck.py" --kiln "$KILN" --work "$W/bad" \
		--base-image "$BUSYBOX_IMAGE" help-in-table "$W/bad/README.md" 2>&1) || rc=$?
	[ "$rc" -ne 0 ] || fail "a table without --context passed"
	assert_contains "$out" "--context" "the checker's report"
}

t_run "every flag in --help is in README's flag table" help_flags_in_readme_table
t_run "every flag in README's flag table exists (yes: accepted; no: refused)" readme_table_flags_exist
t_run "every kiln flag named in README and docs/ exists" flags_named_in_docs_exist
t_run "every 'not implemented'/'not yet'/'refused' claim is refused by kiln" not_implemented_claims_hold
t_run "the checker fails on a stale claim, an unknown flag, a flag --help lacks, a flag missing from the table" checker_catches_stale_docs
t_done
