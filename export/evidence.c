/* evidence.c — merging the runs of the traces into one path set (see ctx.h).
 *
 * Every recorded path becomes one entry (F_RECORDED) carrying the maximum
 * evidence of its events; a path the workload created something at marks its
 * parent (F_CREATED_IN, resolved to an existing directory by closure.c).  A path
 * that is not absolute and clean is refused with a warning: it was not written
 * by the kernel's walk, and obeying it could name something outside the root.
 * All runs must name the same image unless --from overrides them.
 *
 * Trust rule (docs/reliability.md, "Threat model"): a trace is data anyone may have
 * edited, so the directory it names (runs.lowerdir) is read only when it is an image
 * slimfs-run unpacked: CACHE/images/<64 hex>/rootfs, written exactly as its realpath
 * (no symlink, no "..", no trailing '/').  Anything else — a plain directory, '/',
 * a path into the cache that is not spelt canonically — needs --from DIR, which always
 * wins.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/util.h"
#include "ctx.h"
#include "image/img.h"

struct load {
	struct export_ctx *c;
	size_t trace;
	const char *last;         /* last path seen (reader-owned), events come by path */
	ssize_t cur;              /* its entry index, -1 if refused */
};

static bool op_creates(enum trace_op op)
{
	switch (op) {
	case OP_CREATE:
	case OP_MKDIR:
	case OP_MKNOD:
	case OP_SYMLINK:
	case OP_LINK:
	case OP_RENAME_TO:
		return true;
	default:
		return false;
	}
}

static int add_why(struct export_ctx *c, size_t trace, const struct trace_event *ev,
		   struct sfs_err *err)
{
	struct why_event *v = realloc(c->why_ev, (c->nwhy_ev + 1) * sizeof *v);

	if (v == NULL)
		return sfs_fail(err, ENOMEM, "loading traces");
	c->why_ev = v;
	v[c->nwhy_ev++] = (struct why_event){
		.trace = trace, .run = ev->run, .op = ev->op,
		.first_us = ev->first_us, .count = ev->count,
	};
	return 0;
}

static int on_event(void *ctx, const struct trace_event *ev)
{
	struct load *l = ctx;
	struct export_ctx *c = l->c;
	size_t len = strlen(ev->path);
	struct pent *e;

	if (l->last == NULL || strcmp(l->last, ev->path) != 0) {
		l->last = ev->path;
		if (!path_is_clean(ev->path, len)) {
			c->nrefused++;
			if (!c->o->quiet)
				sfs_warn(c->o->prog, "%s: refusing path %s: %s", c->o->traces[l->trace],
					 ev->path, len > PATHSET_MAX_LEN ?
					 "longer than the exporter's limit of 65535 bytes" :
					 "not absolute and clean");
			l->cur = -1;
		} else {
			e = pathset_add(&c->ps, pathset_intern(&c->ps, ev->path, len), len);
			e->flags |= F_RECORDED;
			l->cur = (ssize_t)(e - c->ps.v);
		}
	}
	if (l->cur < 0)
		return 0;
	e = &c->ps.v[l->cur];
	if ((uint8_t)trace_op_evidence(ev->op) > e->ev)
		e->ev = (uint8_t)trace_op_evidence(ev->op);
	if (c->o->why && strcmp(c->o->why, ev->path) == 0 &&
	    add_why(c, l->trace, ev, NULL) < 0)
		return -ENOMEM;
	if (op_creates(ev->op) && len > 1) {
		uint32_t off = e->off;
		struct pent *p = pathset_add(&c->ps, off, path_parent_len(ev->path, len));

		p->flags |= F_CREATED_IN;
	}
	return 0;
}

/* Strip trailing slashes so "/img/" and "/img" name the same image. */
static size_t dir_len(const char *d)
{
	size_t n = strlen(d);

	while (n > 1 && d[n - 1] == '/')
		n--;
	return n;
}

/* LOWERDIR is CACHE/images/<64 lowercase hex>/rootfs, spelt as its realpath. */
static bool lowerdir_trusted(const char *lowerdir)
{
	_cleanup_free_ char *real = realpath(lowerdir, NULL);

	return real && strcmp(real, lowerdir) == 0 && img_cache_path(real, "/rootfs");
}

int evidence_load(struct export_ctx *c, struct sfs_err *err)
{
	const struct export_opts *o = c->o;
	const char *image = o->from, *image_trace = NULL;

	for (size_t t = 0; t < o->ntraces; t++) {
		struct trace_reader *r;
		struct load l = { .c = c, .trace = t, .cur = -1 };
		size_t n;
		int ret;

		if (trace_reader_open(&r, o->traces[t], err) < 0)
			return -1;
		if (trace_reader_dropped(r) && !o->quiet)
			sfs_warn(o->prog, "%s: ignoring %zu path(s) slimfs cannot have recorded "
				 "(a name empty or holding '/', or a broken parent)", o->traces[t],
				 trace_reader_dropped(r));
		n = trace_reader_nruns(r);
		for (size_t i = 0; i < n; i++) {
			const struct trace_run *run = trace_reader_run(r, i);

			c->nruns++;
			if (run->overflow || run->ended_ns == 0 || run->incomplete)
				c->nincomplete++;
			if (run->transport && strcmp(run->transport, "io_uring") == 0)
				c->nring++;
			else if (run->transport && strcmp(run->transport, "dev_fuse") == 0)
				c->ndevfuse++;
			if (o->from)
				continue;
			if (!lowerdir_trusted(run->lowerdir)) {
				sfs_fail(err, 0, "%s: the trace names %s as its image, which is not an "
					 "image slimfs-run unpacked: name the image with --from DIR",
					 o->traces[t], run->lowerdir);
				trace_reader_close(r);
				return -1;
			}
			if (image == NULL) {
				image = run->lowerdir;
				image_trace = o->traces[t];
				c->imagedir = strndup(image, dir_len(image));
				if (c->imagedir == NULL) {
					trace_reader_close(r);
					return sfs_fail(err, ENOMEM, "loading traces");
				}
				image = c->imagedir;
			} else if (dir_len(run->lowerdir) != strlen(image) ||
				   strncmp(run->lowerdir, image, strlen(image)) != 0) {
				sfs_fail(err, 0, "traces record different images (%s in %s, %s in %s); "
					 "choose one with --from DIR", image, image_trace,
					 run->lowerdir, o->traces[t]);
				trace_reader_close(r);
				return -1;
			}
		}
		ret = trace_reader_foreach(r, on_event, &l, err);
		trace_reader_close(r);
		if (ret < 0)   /* on_event fails only for memory */
			return sfs_fail(err, -ret, "loading %s", o->traces[t]);
	}
	if (image == NULL)
		return sfs_fail(err, 0, "%s: the trace holds no run; name the image with --from DIR",
				o->traces[0]);
	if (c->imagedir == NULL && (c->imagedir = strdup(image)) == NULL)
		return sfs_fail(err, ENOMEM, "loading traces");
	if (oci_source_find(c, err) < 0)   /* an image cache entry: its rootfs, its config */
		return -1;
	if (image_open(&c->im, c->imagedir, err) < 0)
		return -1;
	c->image_open = true;
	pathset_sort(&c->ps);
	return 0;
}
