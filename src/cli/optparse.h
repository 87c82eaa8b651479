/* optparse.h — internal to cli: the option-table machinery the executor (options.c) and the
 * warmer (warmer.c) share. A table of struct opt drives parsing with pflag's rules (--name=value,
 * --name value, -f x, -fx, -f=x, grouped booleans, Go value syntax and Go's error messages),
 * the unimplemented-flag check and cobra's help text, so they cannot disagree. */
#pragma once

#include <stddef.h>

#include "driver/opts.h"
#include "util/err.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

enum opt_type {
	T_STRING,
	T_BOOL,
	T_INT,
	T_DURATION,
	T_MULTI,       /* kaniko multiArg: one value per occurrence */
	T_KV,          /* keyValueArg: key=value map, a repeated key overwrites */
	T_KMV,         /* multiKeyMultiValueArg: "k=v;k2=v2", keys may repeat */
	T_GIT,         /* gitoptions: one key=value per occurrence */
	T_COMPRESSION, /* "gzip" | "zstd" */
	T_ISOLATION,   /* kiln: "auto" | "chroot" | "inplace" */
	T_STORAGE,     /* kiln: "auto" | "disk" | "tmpfs" | "tmpfs:<size>" */
	T_SIZE,        /* kiln: "5G", "512M", bytes, "unlimited" */
};

/* where a flag's value lives */
enum opt_place {
	P_OPTS,  /* the command's options (struct build_opts, the warmer's struct) */
	P_STATE, /* values kaniko keeps outside its options (aliases, help) */
};

enum {
	IMPL = 1 << 0,            /* kiln implements the flag */
	IMPL_FALSE_ONLY = 1 << 1, /* a boolean kiln implements only when false */
	HIDDEN = 1 << 2,          /* left out of the help text */
};

struct opt {
	const char *name;
	char shorthand;
	enum opt_type type;
	enum opt_place place;
	size_t off;
	const char *def; /* pflag's DefValue as help shows it; NULL when help shows none */
	unsigned flags;
	const char *help;
	size_t off_n;           /* T_KV: offset of the element count */
	const char *deprecated; /* pflag MarkDeprecated message: hidden, notice on every use */
};

/* one parse of argv over a table; values (P_OPTS) and state (P_STATE) are where the fields
 * live, warnings and notices collect messages to print after parsing */
struct opt_run {
	const struct opt *table;
	size_t n_table;
	void *values;
	void *state;
	char ***warnings; /* T_GIT's warnings (kaniko's wording) */
	char ***notices;  /* pflag's deprecation lines */
	int *first_use;   /* argv index of each option's first explicit use, 0 when unused */
	char **args;      /* pflag's positional arguments, in order (borrowed) */
	size_t n_args;
};

void opt_run_init(struct opt_run *run, const struct opt *table, size_t n, void *values, void *state,
                  char ***warnings, char ***notices, int argc);
void opt_run_release(struct opt_run *run);
/* pflag's parseArgs over argv, skipping the words skip marks (cobra's command names) */
int opt_parse_flags(struct opt_run *run, int argc, char **argv, const bool *skip,
                    struct kiln_err **err);
/* "flag --x is not implemented yet in kiln" for the first explicitly given flag without IMPL */
int opt_check_implemented(struct opt_run *run, struct kiln_err **err);
/* cobra's stripFlags: the argv indices of the words that are neither flags nor flag values */
size_t opt_positional_words(const struct opt *table, size_t n, int argc, char **argv,
                            size_t *ret_idx);
/* pflag's FlagUsages: "  -f, --name type" padded to one column, then help and default; sorted,
 * hidden and deprecated flags left out */
void opt_write_flags(FILE *out, const struct opt *table, size_t n);
const char *opt_type_word(enum opt_type t);
bool opt_is_bool(const struct opt *o);

/* Go's strconv.Quote for the strings that appear in messages */
char *go_quote(const char *s);
/* strconv.ParseBool */
int go_parse_bool(const char *s, bool *ret);
void opt_set_string(char **field, const char *value);
/* multiKeyMultiValueArg.Set: ';'-separated key=value pairs appended to list */
int opt_kmv_add(char ***list, const char *value, char **ret_msg);
/* key-value flags as the registry client takes them: "key=value" each */
char **opt_kv_strv(const struct opt_kv *kv, size_t n);
void opt_kv_free(struct opt_kv *kv, size_t n);
