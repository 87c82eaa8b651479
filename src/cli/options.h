/* options.h — the executor's command line: kaniko's flags (reference §1), parsed into
 * struct build_opts by one option table that also writes the help text. */
#pragma once

/* driver/opts.h uses size_t without including <stddef.h> */
#include <stddef.h>

#include "driver/opts.h"
#include "util/err.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

enum cli_action {
	CLI_BUILD,
	CLI_VERSION,
	CLI_HELP,
	CLI_DEBUG_PARSE,
};

struct cli_parsed {
	enum cli_action action;
	char *debug_file; /* for `debug parse FILE` */
	char **warnings;  /* deprecation warnings to log at WARN level, in kaniko's wording */
	char **notices;   /* lines pflag prints verbatim on stderr while parsing (a MarkDeprecated
			   * flag: "Flag --whitelist-var-run has been deprecated, ...") */
};

/* cli_parse() failed on an error kaniko reports as a FATA log line (exit 1, no usage) rather
 * than cobra's "Error: <msg>" followed by the usage: an invalid --custom-platform. */
#define CLI_ERR_FATAL (-2)

/* argv[0] is the program name. Parses GNU-style flags (pflag rules: --name=value, --name value,
 * -f x, -fx, -f=x; booleans only --flag or --flag=true|false; Go durations for --cache-ttl;
 * repeatable flags append; unknown flag → "unknown flag: --x"; positional arguments →
 * "unknown command \"x\" for \"executor\"" except the subcommands `version`, `help` and kiln's
 * `debug parse FILE`). For a build, applies the environment overrides and validations in
 * kaniko's order (§1.3 steps 1, 2, 4, 5, 6, 9), then the checks kaniko makes later (label and
 * client-certificate forms), then refuses flags kiln does not implement yet.
 * opts must have been through build_opts_init(); on failure it may hold partly parsed values
 * (release it as usual) and ret is untouched. Returns 0, or -1 with *err holding the message
 * WITHOUT the "Error: " prefix (the caller prints "Error: <msg>" and cli_usage()), or
 * CLI_ERR_FATAL (the caller logs *err as a FATA line and exits 1 without usage). */
int cli_parse(int argc, char **argv, struct build_opts *opts, struct cli_parsed *ret,
              struct kiln_err **err);
void cli_parsed_release(struct cli_parsed *p);

/* cobra's usage text in kaniko's layout: Usage:, Available Commands:, Flags: (sorted, short
 * form in front, type words, "(default ...)", hidden flags omitted) and the closing hint.
 * This is what follows "Error: <msg>". prog is the command name shown (kaniko: "executor"). */
void cli_usage(FILE *out, const char *prog);
/* what --help and `help` print: a one-line description, a blank line, then cli_usage() */
void cli_help(FILE *out, const char *prog);

/* Read-only view of the option table, for tests and generated docs. */
struct cli_option_info {
	const char *name;
	char shorthand;        /* 0 when none */
	const char *type_word; /* as in help: "string", "multi-arg type", ... ("" for booleans) */
	const char *def;       /* default as shown in help, NULL when none is shown */
	const char *help;
	bool is_bool;
	bool hidden;
	bool implemented;
};
size_t cli_option_count(void);
/* i < cli_option_count(), in table order (not sorted) */
void cli_option_get(size_t i, struct cli_option_info *ret);

/* --blob-store-size / KILN_BLOB_STORE_SIZE: "5G", "512M", bytes, "0" or "unlimited"
 * (UINT64_MAX); -EINVAL otherwise */
int cli_parse_store_size(const char *s, uint64_t *ret);
