/*
 * Blocking control-socket client; see ctlclient.h.
 */
#include "cli/ctlclient.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "net/wire.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/fsutil.h"

int ctlclient_connect(const char *home)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	if ((size_t)snprintf(sun.sun_path, sizeof(sun.sun_path), "%s/ctl.sock", home) >=
	    sizeof(sun.sun_path))
		return -ENAMETOOLONG;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun))) {
		int err = -errno;
		close(fd);
		return err;
	}
	return fd;
}

static int read_reply(int fd, Shoal__CtlReply **out)
{
	uint8_t len_be[4];
	ssize_t r = read_in_full(fd, len_be, sizeof(len_be));
	if (r < 0)
		return (int)r;
	if (r != sizeof(len_be))
		return -ECONNRESET;
	size_t len = (size_t)len_be[0] << 24 | (size_t)len_be[1] << 16 | (size_t)len_be[2] << 8 |
		     len_be[3];
	if (len == 0 || len > WIRE_CTL_REPLY_MAX)
		return SHOAL_EPROTO;
	uint8_t *p = malloc(len);
	if (!p)
		return -ENOMEM;
	r = read_in_full(fd, p, len);
	int err = r < 0 ? (int)r : (size_t)r != len ? -ECONNRESET : 0;
	if (!err)
		err = wire_ctl_reply_decode(p, len, out);
	free(p);
	return err;
}

int ctlclient_call(int fd, Shoal__CtlRequest *req, struct progress *pr, Shoal__CtlReply **rep)
{
	struct buf b = BUF_INIT;
	req->request_id = 1;
	int err = wire_ctl_request_pack(req, &b);
	if (!err)
		err = write_in_full(fd, b.data, b.len);
	buf_release(&b);
	while (!err) {
		Shoal__CtlReply *r = NULL;
		err = read_reply(fd, &r);
		if (err)
			break;
		if (r->reply_case == SHOAL__CTL_REPLY__REPLY_PROGRESS) {
			if (pr && r->progress->done >= pr->done) {
				pr->total = r->progress->total;
				progress_add(pr, r->progress->done - pr->done);
			}
			shoal__ctl_reply__free_unpacked(r, NULL);
			continue;
		}
		*rep = r;
		return 0;
	}
	return err;
}
