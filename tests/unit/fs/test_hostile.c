/* test_hostile.c — layers that try to write outside the root: each must fail, or land inside
 * the root, and nothing next to the root may change. Every case runs with openat2 and with the
 * component-walk fallback (KILN_NO_OPENAT2=1). */
#include "harness.h"
#include "tree.h"

#include "fs/extract.h"
#include "util/fsutil.h"
#include "util/xalloc.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_ENTS 6
#define OUT      "@OUT@"

struct hostile {
	const char *name;
	struct tar_ent ents[MAX_ENTS];
	bool fails;
	const char *inside;   /* a path that must exist inside the root afterwards */
	const char *pre_link; /* created in the root before: "evil" -> this (OUT replaced) */
	const char *absent;   /* a path that must not exist inside the root afterwards */
	bool gnu;             /* GNU tar format (long names in 'L'/'K' records) instead of PAX */
};

#define F(n, c)                 \
	{                       \
		'f', n, c, 0, 0 \
	}
#define D(n)                       \
	{                          \
		'd', n, NULL, 0, 0 \
	}
#define L(n, t)                 \
	{                       \
		'l', n, t, 0, 0 \
	}
#define H(n, t)                 \
	{                       \
		'h', n, t, 0, 0 \
	}
#define C(n, dev)                 \
	{                         \
		'c', n, dev, 0, 0 \
	}

/* 120 bytes: more than ustar's 100-byte name and link fields */
#define LONG                                                                       \
	"0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz" \
	"0123456789abcdefghijklmnopqrstuvwxyz012345678901"
/* 120 bytes of "../" */
#define UP40                                                                                   \
	"../../../../../../../../../../../../../../../../../../../../../../../../../../../../" \
	"../../../../../../../../../../../../"

static const struct hostile cases[] = {
    {"dotdot", {F("../kiln-hostile-x", "x")}, true, NULL, NULL},
    {"nested_dotdot", {F("a/../../kiln-hostile-x", "x")}, true, NULL, NULL},
    {"dotdot_dir", {D("..")}, true, NULL, NULL},
    {"file_named_dotdot", {D("x"), F("x/..", "x")}, true, NULL, NULL},
    {"absolute_name", {F("/etc/kiln-hostile-x", "x")}, false, "etc/kiln-hostile-x", NULL},
    {"symlink_root_then_write",
     {L("l", "/"), F("l/etc/kiln-hostile-x", "x")},
     false,
     "etc/kiln-hostile-x",
     NULL},
    {"symlink_dotdot_then_write",
     {L("l", ".."), F("l/kiln-hostile-x", "x")},
     false,
     "kiln-hostile-x",
     NULL},
    {"symlink_deep_dotdot",
     {D("a"), L("a/l", "../../../../.."), F("a/l/kiln-hostile-x", "x")},
     false,
     "kiln-hostile-x",
     NULL},
    {"symlink_outside_then_write", {L("l", OUT), F("l/victim", "pwned")}, true, NULL, NULL},
    {"symlink_outside_then_mkdir", {L("l", OUT "/dir"), D("l/sub")}, true, NULL, NULL},
    {"symlink_loop", {L("a", "b"), L("b", "a"), F("a/x", "x")}, true, NULL, NULL},
    {"hardlink_dotdot", {H("h", "../../etc/passwd")}, true, NULL, NULL},
    {"hardlink_absolute", {H("h", "/etc/passwd")}, true, NULL, NULL},
    {"hardlink_through_symlink", {L("l", OUT), H("h", "l/victim")}, true, NULL, NULL},
    {"whiteout_dot", {F(".wh..", "")}, true, NULL, NULL},
    {"whiteout_dotdot", {F(".wh...", "")}, true, NULL, NULL},
    {"whiteout_in_parent", {F("../.wh.outside", "")}, true, NULL, NULL},
    {"whiteout_through_symlink", {L("l", OUT), F("l/.wh.victim", "")}, false, "l", NULL},
    {"whiteout_through_dotdot_symlink", {L("l", ".."), F("l/.wh.outside", "")}, false, "l", NULL},
    {"opaque_through_symlink", {L("l", OUT), F("l/.wh..wh..opq", "")}, false, "l", NULL},
    {"opaque_through_dotdot_symlink", {L("l", "../.."), F("l/.wh..wh..opq", "")}, false, "l", NULL},
    {"replace_symlink_to_outside", {F("evil", "pwned")}, false, "evil", OUT "/victim"},
    {"write_under_symlink_to_outside", {F("evil/victim", "pwned")}, true, NULL, OUT},
    {"hardlink_to_symlink_to_outside", {H("h", "evil")}, false, "h", OUT "/victim"},
    /* long names: the '..' hides in a PAX path record or a GNU long-name record, behind a
     * harmless truncated ustar name */
    {"pax_long_name_dotdot", {F(LONG "/../../kiln-hostile-x", "x")}, true, NULL, NULL},
    {"pax_absolute_dotdot", {F("/../kiln-hostile-x", "x")}, true, NULL, NULL},
    {"gnu_long_name_dotdot", {F(LONG "/../../kiln-hostile-x", "x")}, true, NULL, NULL, .gnu = true},
    {"gnu_long_link_dotdot", {H("h", UP40 "x")}, true, NULL, NULL, .gnu = true},
    {"gnu_long_symlink_up_then_write",
     {L("l", UP40), F("l/kiln-hostile-x", "x")},
     false,
     "kiln-hostile-x",
     NULL,
     .gnu = true},
    {"hardlink_to_directory", {D("d"), H("h", "d")}, true, NULL, NULL, .absent = "h"},
    /* a device node named like a whiteout is a whiteout (by name, as Docker reads it): no
     * node is made, and the symlink it names goes, not what the link points to */
    {"device_named_like_whiteout",
     {C(".wh.evil", "1,3")},
     false,
     NULL,
     OUT "/victim",
     .absent = ".wh.evil"},
    {"symlink_chain_outside",
     {L("a", "b"), L("b", "c"), L("c", OUT), F("a/victim", "pwned")},
     true,
     NULL,
     NULL},
    {"symlink_chain_dotdot",
     {D("d"), L("d/a", "../b"), L("b", "d/c"), L("d/c", "../../../.."),
      F("d/a/kiln-hostile-x", "x")},
     false,
     "kiln-hostile-x",
     NULL},
    {"hardlink_to_symlink_then_write",
     {L("l", OUT "/victim"), H("h", "l"), F("h", "pwned")},
     false,
     "h",
     NULL},
    {"directory_over_symlink_to_outside",
     {L("d", OUT), D("d"), F("d/victim", "pwned")},
     false,
     "d/victim",
     NULL},
};

static char *subst(const char *s, const char *out)
{
	if (!s)
		return NULL;
	const char *p = strstr(s, OUT);
	if (!p)
		return xstrdup(s);
	return xasprintf("%.*s%s%s", (int)(p - s), s, out, p + strlen(OUT));
}

static bool host_clean(void)
{
	return access("/tmp/kiln-hostile-x", F_OK) < 0 && access("/kiln-hostile-x", F_OK) < 0 &&
	       access("/etc/kiln-hostile-x", F_OK) < 0;
}

static void run_case(const struct hostile *c, bool no_openat2)
{
	cleanup_free char *t = tree_tmpdir();
	cleanup_free char *root = path_join(t, "root");
	cleanup_free char *out = path_join(t, "outside");
	cleanup_free char *outdir = path_join(out, "dir");
	cleanup_free char *victim = path_join(out, "victim");
	cleanup_free char *tar = xasprintf("%s.tar", t);
	ASSERT_EQ(mkdir(root, 0755), 0);
	ASSERT_EQ(mkdir(out, 0755), 0);
	ASSERT_EQ(mkdir(outdir, 0755), 0);
	ASSERT_EQ(tree_write(victim, "precious", 0644), 0);
	if (c->pre_link) {
		cleanup_free char *target = subst(c->pre_link, out);
		cleanup_free char *evil = path_join(root, "evil");
		ASSERT_EQ(symlink(target, evil), 0);
	}
	cleanup_free char *before = tree_describe(out, true);

	struct tar_ent ents[MAX_ENTS + 1] = {0};
	char *owned[2 * MAX_ENTS] = {0};
	size_t n = 0;
	for (size_t i = 0; i < MAX_ENTS && c->ents[i].type; i++) {
		ents[i] = c->ents[i];
		ents[i].name = owned[n++] = subst(c->ents[i].name, out);
		ents[i].arg = owned[n++] = subst(c->ents[i].arg, out);
	}
	int r = c->gnu ? tree_make_tar_gnu(tar, ents) : tree_make_tar(tar, ents, false);
	for (size_t i = 0; i < n; i++)
		free(owned[i]);
	ASSERT_EQ(r, 0);
	if (c->gnu) {
		/* the long name or target really is in a GNU long-name record */
		cleanup_free char *raw = NULL;
		size_t rawlen = 0;
		struct kiln_err *e1 = NULL;
		ASSERT_EQ(read_file_at(AT_FDCWD, tar, 1 << 20, &raw, &rawlen, &e1), 0);
		ASSERT_TRUE(memmem(raw, rawlen, "././@LongLink", 13) != NULL);
	}

	if (no_openat2)
		setenv("KILN_NO_OPENAT2", "1", 1);
	cleanup_err struct kiln_err *err = NULL;
	cleanup_close int rfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	cleanup_close int lfd = open(tar, O_RDONLY | O_CLOEXEC);
	r = fs_extract_layer(rfd, lfd, "sha256:hostile", NULL, &err);
	unsetenv("KILN_NO_OPENAT2");

	cleanup_free char *after = tree_describe(out, true);
	int count = tree_count(t);
	bool clean = host_clean();
	cleanup_free char *inside = c->inside ? path_join(root, c->inside) : NULL;
	bool inside_ok = !inside || faccessat(AT_FDCWD, inside, F_OK, AT_SYMLINK_NOFOLLOW) == 0;
	cleanup_free char *absent = c->absent ? path_join(root, c->absent) : NULL;
	bool absent_ok = !absent || faccessat(AT_FDCWD, absent, F_OK, AT_SYMLINK_NOFOLLOW) < 0;
	cleanup_free char *victim_now = NULL;
	size_t vlen = 0;
	struct kiln_err *e2 = NULL;
	read_file_at(AT_FDCWD, victim, 100, &victim_now, &vlen, &e2);
	kiln_err_free(e2);
	tree_rm(t);
	unlink(tar);

	if (r < 0)
		test_note("%s%s: %s", c->name, no_openat2 ? " (no openat2)" : "",
		          kiln_err_msg(err));
	if (c->fails) {
		ASSERT_TRUE(r < 0);
		/* the message names the layer and the entry */
		ASSERT_TRUE(strstr(kiln_err_msg(err), "sha256:hostile") != NULL);
		ASSERT_TRUE(strstr(kiln_err_msg(err), "entry '") != NULL);
	} else {
		ASSERT_OK(r, err);
		ASSERT_TRUE(inside_ok);
	}
	ASSERT_TRUE(absent_ok);
	ASSERT_STREQ(before, after);
	ASSERT_STREQ(victim_now, "precious");
	ASSERT_EQ(count, 2);
	ASSERT_TRUE(clean);
}

TEST(hostile_corpus_size)
{
	/* distinct cases (names are unique) */
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++)
		for (size_t j = 0; j < i; j++)
			ASSERT_TRUE(!streq(cases[i].name, cases[j].name));
	ASSERT_TRUE(ARRAY_SIZE(cases) >= 30);
}

TEST(hostile_layers_openat2)
{
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		run_case(&cases[i], false);
		test_note("checked %s", cases[i].name);
	}
}

TEST(hostile_layers_no_openat2)
{
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		run_case(&cases[i], true);
		test_note("checked %s", cases[i].name);
	}
}
