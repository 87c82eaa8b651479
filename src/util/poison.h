/* poison.h — STYLE.md's banned calls, refused by the compiler.
 *
 * The build force-includes this header first in every translation unit (meson.build:
 * -include), so no file can forget it. The system headers that declare the banned functions are
 * included before the poison: their declarations are then already seen, and their include
 * guards keep later #includes from reading them again. A header that mentions a poisoned name in
 * a macro defined afterwards would break the build; none of the libraries we use does.
 *
 * Unit tests (KILN_NO_POISON, set by the harness) may use them; exit() is allowed only where
 * KILN_ALLOW_EXIT is defined (cli/). tests/lib/check-banned.sh keeps checking what a compiler
 * cannot: open() without O_CLOEXEC. */
#pragma once

#ifndef KILN_NO_POISON
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* _FORTIFY_SOURCE may define some of them as macros (clang: "poisoning existing macro"); they
 * are banned anyway, so nothing is lost by dropping the checked variants */
#undef strcpy
#undef strcat
#undef strncpy
#undef sprintf
#undef vsprintf
#undef gets

/* unbounded copies and formatting: use snprintf, kiln_buf, xstrdup, memcpy with a length */
#pragma GCC poison strcpy strcat strncpy sprintf vsprintf gets
/* hidden state (not thread-safe) or no error reporting: strtok_r, strtol, gmtime_r, localtime_r */
#pragma GCC poison strtok atoi atol gmtime localtime
/* predictable temporary names: mkstemp, mkdtemp, mkostemp */
#pragma GCC poison mktemp tmpnam
/* a shell between us and the program: fork and exec with an argv */
#pragma GCC poison system popen

#ifndef KILN_ALLOW_EXIT
/* library code returns errors; only cli/ decides the process's exit status */
#pragma GCC poison exit
#endif
#endif
