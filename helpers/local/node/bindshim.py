"""Give each pod its own loopback address: an LD_PRELOAD shim that moves wildcard binds to the pod IP.

TensorFlow's gRPC server binds `[::]:<port>` (every interface) with SO_REUSEPORT, so two pods whose
servers both use port 2222 would share one listening group and get each other's connections. The
shim rewrites a bind to 0.0.0.0, ::, 127.0.0.1 or ::1 into the pod's own loopback address (read from
POD_IP_VARIABLE), as a pod's network namespace would keep them apart. It is compiled once with the
system C compiler; without one, pods run unshimmed and must not repeat ports (a warning says so).
"""

from __future__ import annotations

import hashlib
import logging
import pathlib
import shutil
import subprocess

logger = logging.getLogger(__name__)

POD_IP_VARIABLE = "KUBEFLOW_MNIST_POD_IP"

SOURCE = r"""
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dlfcn.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

typedef int (*bind_fn)(int, const struct sockaddr *, socklen_t);

int bind(int fd, const struct sockaddr *addr, socklen_t len) {
    static bind_fn real_bind = NULL;
    if (!real_bind) real_bind = (bind_fn)dlsym(RTLD_NEXT, "bind");
    const char *pod_ip = getenv("KUBEFLOW_MNIST_POD_IP");
    struct in_addr pod;
    if (!pod_ip || !addr || inet_pton(AF_INET, pod_ip, &pod) != 1) return real_bind(fd, addr, len);
    if (addr->sa_family == AF_INET && len >= sizeof(struct sockaddr_in)) {
        struct sockaddr_in copy;
        memcpy(&copy, addr, sizeof copy);
        uint32_t host = ntohl(copy.sin_addr.s_addr);
        if (host == INADDR_ANY || host == INADDR_LOOPBACK) {
            copy.sin_addr = pod;
            return real_bind(fd, (struct sockaddr *)&copy, sizeof copy);
        }
    } else if (addr->sa_family == AF_INET6 && len >= sizeof(struct sockaddr_in6)) {
        struct sockaddr_in6 copy;
        memcpy(&copy, addr, sizeof copy);
        if (IN6_IS_ADDR_UNSPECIFIED(&copy.sin6_addr) || IN6_IS_ADDR_LOOPBACK(&copy.sin6_addr)) {
            /* ::ffff:127.0.0.N, the IPv4 pod address on a dual-stack socket. */
            memset(&copy.sin6_addr, 0, sizeof copy.sin6_addr);
            copy.sin6_addr.s6_addr[10] = 0xff;
            copy.sin6_addr.s6_addr[11] = 0xff;
            memcpy(&copy.sin6_addr.s6_addr[12], &pod, 4);
            return real_bind(fd, (struct sockaddr *)&copy, sizeof copy);
        }
    }
    return real_bind(fd, addr, len);
}
"""


def build(cache_dir: pathlib.Path) -> pathlib.Path | None:
    """The compiled shim under `cache_dir` (built on first use); None when no C compiler answers."""
    digest = hashlib.sha256(SOURCE.encode()).hexdigest()[:12]
    library = cache_dir / f"podbind-{digest}.so"
    if library.is_file():
        return library
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        logger.warning("no C compiler: pods bind the node's addresses, so two pods must not use one port")
        return None
    cache_dir.mkdir(parents=True, exist_ok=True)
    source = cache_dir / f"podbind-{digest}.c"
    source.write_text(SOURCE)
    partial = library.with_suffix(".partial")
    built = subprocess.run(
        [compiler, "-shared", "-fPIC", "-O2", "-o", str(partial), str(source), "-ldl"],
        capture_output=True,
        text=True,
        check=False,
    )
    if built.returncode != 0:
        logger.warning("the bind shim did not compile, pods share the node's ports: %s", built.stderr.strip())
        return None
    partial.replace(library)
    return library


def environment(library: pathlib.Path | None, pod_ip: str, inherited_preload: str = "") -> dict[str, str]:
    """The variables that put a process on `pod_ip` (empty without a shim)."""
    if library is None:
        return {}
    preload = " ".join(filter(None, [str(library), inherited_preload]))
    return {"LD_PRELOAD": preload, POD_IP_VARIABLE: pod_ip}
