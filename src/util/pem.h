/* pem.h — collecting PEM certificates from directories (SSL_CERT_DIR) into one bundle: shared
 * by the registry client and git contexts, which trust the same CAs. */
#pragma once

#include "buf.h"

/* appends every regular file holding a PEM certificate in the ':'-separated directories
 * (dot files skipped; unreadable files and directories ignored, as Go's loader does), each
 * file once however many names (hash links, symlinks) lead to it */
void pem_add_dirs(struct kiln_buf *b, const char *dirs);
