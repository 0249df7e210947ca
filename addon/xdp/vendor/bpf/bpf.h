/* The light skeleton's loader (skel_internal.h, vendored from libbpf) includes libbpf's "bpf.h" only
 * for these declarations; it calls no libbpf function. This replaces it, so the addon needs no
 * libbpf (not even its headers). Ours, not libbpf's. */
#pragma once
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <linux/bpf.h>
