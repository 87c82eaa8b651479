/* dump.c — the BuildKit parse-tree dump (FORMAT.md §2): one "(cmd [flags] args...)" line per
 * instruction, every string quoted as Go's strconv.Quote does. */
#include "dockerfile.h"
#include "unicode.h"

#include <string.h>

void dockerfile_quote(const char *s, size_t len, struct kiln_buf *out)
{
	static const char hex[] = "0123456789abcdef";

	kiln_buf_addch(out, '"');
	for (size_t i = 0; i < len;) {
		size_t n;
		int32_t cp = df_utf8_decode(s + i, len - i, &n);
		unsigned char b = (unsigned char)s[i];

		if (cp < 0) {
			kiln_buf_addf(out, "\\x%c%c", hex[b >> 4], hex[b & 15]);
		} else if (cp == '"' || cp == '\\') {
			kiln_buf_addch(out, '\\');
			kiln_buf_addch(out, (char)cp);
		} else if (df_uni_isprint(cp)) {
			kiln_buf_add(out, s + i, n);
		} else {
			switch (cp) {
			case '\a':
				kiln_buf_adds(out, "\\a");
				break;
			case '\b':
				kiln_buf_adds(out, "\\b");
				break;
			case '\f':
				kiln_buf_adds(out, "\\f");
				break;
			case '\n':
				kiln_buf_adds(out, "\\n");
				break;
			case '\r':
				kiln_buf_adds(out, "\\r");
				break;
			case '\t':
				kiln_buf_adds(out, "\\t");
				break;
			case '\v':
				kiln_buf_adds(out, "\\v");
				break;
			default:
				if (cp < 0x20 || cp == 0x7f)
					kiln_buf_addf(out, "\\x%02x", (unsigned)cp);
				else if (cp < 0x10000)
					kiln_buf_addf(out, "\\u%04x", (unsigned)cp);
				else
					kiln_buf_addf(out, "\\U%08x", (unsigned)cp);
			}
		}
		i += n;
	}
	kiln_buf_addch(out, '"');
}

static void quote_str(const char *s, struct kiln_buf *out)
{
	dockerfile_quote(s, strlen(s), out);
}

static void dump_instr(const struct df_instr *in, struct kiln_buf *out)
{
	kiln_buf_adds(out, in->cmd);
	if (in->n_flags > 0) {
		kiln_buf_adds(out, " [");
		for (size_t i = 0; i < in->n_flags; i++) {
			const struct df_flag *f = &in->flags[i];
			struct kiln_buf flag = KILN_BUF_INIT;
			kiln_buf_addf(&flag, "--%s", f->name);
			if (f->value)
				kiln_buf_addf(&flag, "=%s", f->value);
			if (i > 0)
				kiln_buf_addch(out, ' ');
			dockerfile_quote(flag.ptr, flag.len, out);
			kiln_buf_release(&flag);
		}
		kiln_buf_addch(out, ']');
	}
	bool kv = streq(in->cmd, "env") || streq(in->cmd, "label");
	for (size_t i = 0; i < in->n_args; i++) {
		kiln_buf_addch(out, ' ');
		dockerfile_quote(in->args[i], in->arg_lens[i], out);
		/* the parse tree has a third node per ENV/LABEL pair: "=" or "" (old form) */
		if (kv && i % 2 == 1) {
			kiln_buf_addch(out, ' ');
			quote_str(in->legacy_kv ? "" : "=", out);
		}
	}
	if (in->sub) {
		kiln_buf_adds(out, " (");
		dump_instr(in->sub, out);
		kiln_buf_addch(out, ')');
	}
}

void dockerfile_dump(const struct dockerfile *df, struct kiln_buf *out)
{
	for (size_t i = 0; i < df->n_instrs; i++) {
		kiln_buf_addch(out, '(');
		dump_instr(&df->instrs[i], out);
		kiln_buf_adds(out, ")\n");
	}
}
