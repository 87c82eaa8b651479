/* test_output.c — output files (atomic replace, through symlinks, in place into fifos), the
 * OCI image layout and the docker-save tarball, read back. */
#include "harness.h"
#include "output/output.h"
#include "util/blobstore.h"
#include "util/buf.h"
#include "util/fsutil.h"
#include "util/json.h"
#include "util/xalloc.h"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static char *slurp(const char *path)
{
	char *data = NULL;
	size_t len = 0;
	if (read_file_at(AT_FDCWD, path, 1 << 20, &data, &len, NULL) < 0)
		return NULL;
	return data;
}

static int write_through(const char *path, const char *content, struct kiln_err **err)
{
	_cleanup_(output_file_release) struct output_file f = {.fd = -1};
	int r = output_file_open(path, &f, err);
	if (r < 0)
		return r;
	if (write_all(f.fd, content, strlen(content)) < 0)
		return kiln_err_errno(err, "write");
	return output_file_commit(&f, err);
}

TEST(output_file_creates_parents_and_replaces_atomically)
{
	cleanup_test_tmpdir char *d = test_tmpdir("output");
	ASSERT_TRUE(d != NULL);
	cleanup_err struct kiln_err *err = NULL;
	cleanup_free char *p = xasprintf("%s/a/b/digest", d);
	ASSERT_OK(write_through(p, "one", &err), err);
	cleanup_free char *c1 = slurp(p);
	ASSERT_STREQ(c1, "one");
	/* kaniko makes the missing parents 0700 */
	cleanup_free char *parent = xasprintf("%s/a/b", d);
	struct stat st;
	ASSERT_EQ(stat(parent, &st), 0);
	ASSERT_EQ(st.st_mode & 07777, 0700);
	ASSERT_EQ(stat(p, &st), 0);
	ASSERT_EQ(st.st_mode & 07777, 0644);
	ino_t before = st.st_ino;
	/* an existing regular file is replaced by rename: a new inode, no temporary left */
	ASSERT_OK(write_through(p, "two", &err), err);
	cleanup_free char *c2 = slurp(p);
	ASSERT_STREQ(c2, "two");
	ASSERT_EQ(stat(p, &st), 0);
	ASSERT_TRUE(st.st_ino != before);
	cleanup_free char *tmp = xasprintf("%s.tmp.%d", p, (int)getpid());
	ASSERT_TRUE(access(tmp, F_OK) < 0);
}

TEST(output_file_through_symlinks_and_into_fifos)
{
	cleanup_test_tmpdir char *d = test_tmpdir("output");
	ASSERT_TRUE(d != NULL);
	cleanup_err struct kiln_err *err = NULL;
	/* the link stays, its target gets the content */
	cleanup_free char *target = xasprintf("%s/target", d);
	cleanup_free char *link = xasprintf("%s/link", d);
	ASSERT_EQ(symlink("target", link), 0);
	ASSERT_OK(write_through(link, "via link", &err), err);
	struct stat st;
	ASSERT_EQ(lstat(link, &st), 0);
	ASSERT_TRUE(S_ISLNK(st.st_mode));
	cleanup_free char *c = slurp(target);
	ASSERT_STREQ(c, "via link");
	/* existing target, through the link again */
	ASSERT_OK(write_through(link, "again", &err), err);
	ASSERT_EQ(lstat(link, &st), 0);
	ASSERT_TRUE(S_ISLNK(st.st_mode));
	cleanup_free char *c2 = slurp(target);
	ASSERT_STREQ(c2, "again");

	/* a fifo is written in place, never replaced */
	cleanup_free char *fifo = xasprintf("%s/fifo", d);
	ASSERT_EQ(mkfifo(fifo, 0600), 0);
	cleanup_close int rd = open(fifo, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	ASSERT_TRUE(rd >= 0);
	ASSERT_OK(write_through(fifo, "piped", &err), err);
	char buf[16] = {0};
	ASSERT_EQ(read(rd, buf, sizeof(buf) - 1), 5);
	ASSERT_STREQ(buf, "piped");
	ASSERT_EQ(lstat(fifo, &st), 0);
	ASSERT_TRUE(S_ISFIFO(st.st_mode));
}

TEST(output_file_refuses_a_directory_and_cleans_up)
{
	cleanup_test_tmpdir char *d = test_tmpdir("output");
	ASSERT_TRUE(d != NULL);
	cleanup_err struct kiln_err *err = NULL;
	struct output_file f = {.fd = -1};
	ASSERT_FAIL(output_file_open(d, &f, &err));
	ASSERT_EQ(err->code, EISDIR);
	output_file_release(&f);
	/* released without commit: nothing of the temporary file is left */
	cleanup_free char *p = xasprintf("%s/out", d);
	struct output_file g = {.fd = -1};
	ASSERT_OK(output_file_open(p, &g, &err), err);
	ASSERT_TRUE(g.tmp != NULL);
	cleanup_free char *tmp = xstrdup(g.tmp);
	ASSERT_EQ(access(tmp, F_OK), 0);
	output_file_release(&g);
	ASSERT_TRUE(access(tmp, F_OK) < 0);
	ASSERT_TRUE(access(p, F_OK) < 0);
}

/* a blob store holding one layer, a config and the manifest naming them */
struct fixture {
	char *dir;
	struct blobstore *bs;
	struct build_result res;
	struct image_layer layer;
};

static int fixture_init(struct fixture *fx, struct kiln_err **err)
{
	*fx = (struct fixture){0};
	fx->dir = test_tmpdir("output");
	if (!fx->dir)
		return kiln_err_errno(err, "mkdtemp");
	cleanup_free char *store = path_join(fx->dir, "blobs");
	int r = blobstore_open(store, &fx->bs, err);
	if (r < 0)
		return r;
	static const char layer[] = "not really a tarball";
	static const char config[] = "{\"architecture\":\"amd64\",\"os\":\"linux\"}";
	r = blobstore_put(fx->bs, layer, sizeof(layer) - 1, fx->layer.digest, err);
	if (r < 0)
		return r;
	fx->layer.size = sizeof(layer) - 1;
	fx->layer.media_type = (char *)MT_OCI_LAYER_GZIP;
	fx->res.format = IMAGE_OCI;
	r = blobstore_put(fx->bs, config, sizeof(config) - 1, fx->res.config_digest, err);
	if (r < 0)
		return r;
	fx->res.config_size = sizeof(config) - 1;
	fx->res.layers = &fx->layer;
	fx->res.n_layers = 1;
	fx->res.manifest =
	    manifest_build(IMAGE_OCI, fx->res.config_digest, fx->res.config_size, &fx->layer, 1);
	fx->res.manifest_len = strlen(fx->res.manifest);
	return blobstore_put(fx->bs, fx->res.manifest, fx->res.manifest_len,
	                     fx->res.manifest_digest, err);
}

static void fixture_release(struct fixture *fx)
{
	blobstore_free(fx->bs);
	free(fx->res.manifest);
	test_tmpdir_remove(&fx->dir);
}

TEST(oci_layout_holds_every_blob_and_the_index)
{
	cleanup_err struct kiln_err *err = NULL;
	_cleanup_(fixture_release) struct fixture fx;
	ASSERT_OK(fixture_init(&fx, &err), err);
	cleanup_free char *out = path_join(fx.dir, "layout");
	ASSERT_OK(output_write_oci_layout(out, fx.bs, &fx.res, &err), err);
	/* written twice (an existing layout is updated): the same result */
	ASSERT_OK(output_write_oci_layout(out, fx.bs, &fx.res, &err), err);
	cleanup_free char *lp = path_join(out, "oci-layout");
	cleanup_free char *layout = slurp(lp);
	ASSERT_STREQ(layout, "{\"imageLayoutVersion\":\"1.0.0\"}");
	cleanup_free char *ip = path_join(out, "index.json");
	cleanup_free char *index = slurp(ip);
	ASSERT_TRUE(index != NULL);
	cleanup_json json_t *j = NULL;
	ASSERT_OK(kjson_parse(index, strlen(index), "index.json", &j, &err), err);
	ASSERT_STREQ(kjson_str(j, "mediaType"), MT_OCI_INDEX);
	json_t *m = json_array_get(json_object_get(j, "manifests"), 0);
	ASSERT_STREQ(kjson_str(m, "digest"), fx.res.manifest_digest);
	ASSERT_STREQ(kjson_str(m, "mediaType"), MT_OCI_MANIFEST);
	ASSERT_EQ(json_integer_value(json_object_get(m, "size")), fx.res.manifest_len);
	/* every blob under its digest, with the content the store holds */
	const char *digests[] = {fx.layer.digest, fx.res.config_digest, fx.res.manifest_digest};
	for (size_t i = 0; i < 3; i++) {
		cleanup_free char *bp =
		    xasprintf("%s/blobs/sha256/%s", out, digest_hex(digests[i]));
		cleanup_free char *got = slurp(bp);
		cleanup_free char *want = NULL;
		size_t wl = 0;
		ASSERT_OK(blobstore_read(fx.bs, digests[i], 1 << 20, &want, &wl, &err), err);
		ASSERT_STREQ(got, want);
	}
}

TEST(tarball_is_docker_save_shaped)
{
	cleanup_err struct kiln_err *err = NULL;
	_cleanup_(fixture_release) struct fixture fx;
	ASSERT_OK(fixture_init(&fx, &err), err);
	cleanup_free char *tp = path_join(fx.dir, "image.tar");
	char tag[] = "registry.example/app:1";
	char *tags[] = {tag, NULL};
	ASSERT_OK(output_write_tarball(tp, fx.bs, &fx.res, tags, &err), err);

	struct archive *a = archive_read_new();
	archive_read_support_format_all(a);
	ASSERT_EQ(archive_read_open_filename(a, tp, 10240), ARCHIVE_OK);
	cleanup_free char *names = NULL;
	cleanup_free char *manifest = NULL;
	struct kiln_buf nb = KILN_BUF_INIT;
	struct archive_entry *e;
	while (archive_read_next_header(a, &e) == ARCHIVE_OK) {
		const char *n = archive_entry_pathname(e);
		kiln_buf_addf(&nb, "%s\n", n);
		if (streq(n, "manifest.json")) {
			size_t len = (size_t)archive_entry_size(e);
			manifest = xmalloc(len + 1);
			manifest[archive_read_data(a, manifest, len) == (la_ssize_t)len ? len : 0] =
			    '\0';
		}
	}
	archive_read_free(a);
	names = kiln_buf_detach(&nb, NULL);
	cleanup_free char *want_names = xasprintf(
	    "%s.tar.gz\n%s\nmanifest.json\n", digest_hex(fx.layer.digest), fx.res.config_digest);
	ASSERT_STREQ(names, want_names);
	cleanup_free char *want_manifest =
	    xasprintf("[{\"Config\":\"%s\",\"Layers\":[\"%s.tar.gz\"],\"RepoTags\":[\"%s\"]}]",
	              fx.res.config_digest, digest_hex(fx.layer.digest), tag);
	ASSERT_STREQ(manifest, want_manifest);
}
