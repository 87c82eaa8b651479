/* index.h — platform selection in an image index (kept apart from image.h so the registry
 * client, which has its own media-type helpers, can use it without the manifest builders). */
#pragma once

#include "util/err.h"
#include "util/sha256.h"

#include <stddef.h>

/* the digest of the manifest for platform ("linux/arm64", "linux/arm/v7") in an OCI index or
 * Docker manifest list body; an entry without a variant stands for arm64's v8 and arm's v7 */
int image_index_select(const char *body, size_t len, const char *platform,
                       char ret[DIGEST_STRING_LEN + 1], struct kiln_err **err);
