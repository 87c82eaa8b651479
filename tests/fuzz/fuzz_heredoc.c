/* fuzz_heredoc.c — libFuzzer target: the parser's heredoc path and the expansion of heredoc
 * bodies. The first byte picks the instruction that opens the heredoc(s) and the escape
 * character; the rest is the body, written between that line and its terminator. Checked: a
 * parse failure explains itself; a body never holds its terminator line; the body does not
 * grow beyond what was written; expansion of an expanding body ends in a word or an error. */
#include "fuzz.h"

#include "dockerfile/dockerfile.h"
#include "shell/shell.h"
#include "util/buf.h"
#include "util/macro.h"
#include "util/xalloc.h"

#include <assert.h>
#include <string.h>

static const char *const openers[] = {
    "COPY <<EOF /x",         "COPY <<-EOF /x",   "RUN <<EOF",
    "RUN <<'EOF'",           "RUN <<\"EOF\" sh", "RUN 3<<EOF cat",
    "COPY <<EOF <<EOF2 /d/", "RUN <<-\"EOF\"",   "RUN cat <<EOF && echo x",
    "ADD <<EOF /y.txt",
};

static char env_a[] = "A=a", env_b[] = "B=hello world", env_e[] = "EMPTY=";
static char *const env[] = {env_a, env_b, env_e, NULL};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	const char *opener = openers[(data[0] >> 1) % ARRAY_SIZE(openers)];
	bool backtick = data[0] & 1;
	const char *body = (const char *)data + 1;
	size_t blen = size - 1;
	cleanup_buf struct kiln_buf df = KILN_BUF_INIT;
	if (backtick)
		kiln_buf_adds(&df, "# escape=`\n");
	kiln_buf_addf(&df, "FROM scratch\n%s\n", opener);
	kiln_buf_add(&df, body, blen);
	kiln_buf_adds(&df, "\nEOF\nEOF2\n");

	cleanup_err struct kiln_err *err = NULL;
	cleanup_dockerfile struct dockerfile *d = NULL;
	if (dockerfile_parse("Dockerfile", df.ptr, df.len, &d, &err) < 0) {
		assert(err && err->msg && err->msg[0]);
		return 0;
	}
	assert(d && !err);
	for (size_t i = 0; i < d->n_instrs; i++) {
		const struct df_instr *in = &d->instrs[i];
		for (size_t h = 0; h < in->n_heredocs; h++) {
			const struct df_heredoc *hd = &in->heredocs[h];
			assert(hd->name && hd->content);
			size_t cl = strlen(hd->content);
			assert(cl <= blen + 1);
			/* the terminator ends the body: no line of it is the bare name */
			for (const char *l = hd->content; *l;) {
				size_t ll = strcspn(l, "\n");
				assert(!(ll == strlen(hd->name) && strncmp(l, hd->name, ll) == 0));
				l += ll + (l[ll] == '\n');
			}
			if (!hd->expand)
				continue;
			cleanup_err struct kiln_err *e2 = NULL;
			cleanup_free char *out = NULL;
			if (shell_expand_word(hd->content, env, d->escape, &out, &e2) < 0)
				assert(e2 && e2->msg && e2->msg[0]);
			else
				assert(out && !e2);
		}
	}
	return 0;
}
