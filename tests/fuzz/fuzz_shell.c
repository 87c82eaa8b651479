/* fuzz_shell.c — libFuzzer target: shell_expand_word and shell_expand_words. The first byte picks
 * the escape character (bit 0: '\\' or '`'); the rest, up to a NUL byte, is the word. */
#include "fuzz.h"

#include "shell/shell.h"
#include "util/strv.h"
#include "util/xalloc.h"

#include <assert.h>
#include <string.h>

/* literals are const under -Wwrite-strings, the API takes char *const * */
static char env_a[] = "A=a", env_b[] = "B=hello world",
            env_empty[] = "EMPTY=", env_x[] = "X= spaced  out ", env_noeq[] = "NOEQ",
            env_path[] = "PATH=/usr/bin:/bin", env_u[] = "U=\xc3\xa9t\xc3\xa9",
            env_b2[] = "B=second wins";
static char *const env[] = {env_a,    env_b, env_empty, env_x, env_noeq,
                            env_path, env_u, env_b2,    NULL};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	char escape = (data[0] & 1) ? '`' : '\\';
	cleanup_free char *word = xstrndup((const char *)data + 1, size - 1);

	cleanup_err struct kiln_err *err1 = NULL;
	cleanup_free char *one = NULL;
	if (shell_expand_word(word, env, escape, &one, &err1) < 0)
		assert(err1 && err1->msg);
	else
		assert(one && !err1);

	cleanup_err struct kiln_err *err2 = NULL;
	cleanup_strv char **many = NULL;
	if (shell_expand_words(word, env, escape, &many, &err2) < 0) {
		assert(err2 && err2->msg);
	} else {
		assert(many && !err2);
		/* empty words are dropped */
		strv_foreach (w, many)
			assert(w[0] != '\0');
	}
	return 0;
}
