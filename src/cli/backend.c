/*
 * Picking a command's backend, once; see backend.h.
 */
#include "cli/backend.h"

#include <errno.h>
#include <unistd.h>

#include "cli/ctlclient.h"

int backend_open(struct backend *b, struct cli *cli)
{
	*b = (struct backend){.ops = &backend_local_ops, .cli = cli, .fd = -1};
	int ret = cli_home(cli);
	if (ret)
		return ret;
	int fd = ctlclient_connect(cli->home);
	if (fd >= 0) {
		b->ops = &backend_daemon_ops;
		b->fd = fd;
		return 0;
	}
	/* No socket, or nobody behind it: no daemon runs (offline mode). */
	if (fd == -ENOENT || fd == -ECONNREFUSED || fd == -ENOTDIR)
		return 0;
	return cli_fail(fd, "cannot reach the daemon of %s", cli->home);
}

void backend_close(struct backend *b)
{
	if (b->fd >= 0)
		close(b->fd);
	b->fd = -1;
}
