"""The node's preloaded library: each pod binds its own loopback address and resolves cluster names.

Three overrides in one LD_PRELOAD library, as a pod's network namespace and its resolv.conf give them:

- `bind`: TensorFlow's gRPC server binds `[::]:<port>` (every interface) with SO_REUSEPORT, so two pods
  whose servers both use port 2222 would share one listening group and get each other's connections.
  A bind to 0.0.0.0, ::, 127.0.0.1 or ::1 becomes one to the pod's own loopback address (read from
  POD_IP_VARIABLE); without that variable (a process outside any pod) binds are left alone.
- `connect`: a pod's localhost is its own, so a connection to 127.0.0.1 or ::1 goes to the pod's address
  when something listens there on that port (the kernel's /proc/net/tcp tables say so): TensorBoard
  talks to its data server over localhost, which the bind override moved. Otherwise it goes where it
  was aimed, so servers of the node itself on 127.0.0.1 (S3 on moto) stay reachable.
- `getaddrinfo`: cluster names (JobSet's `<pod>.<subdomain>` hostnames, which model/tf_config.py builds
  inside the process where no text rewriting reaches, and Service names) are answered from the
  hosts-format file the agent keeps (`clusterdns`, path in HOSTS_VARIABLE), tried through the search
  path in SEARCH_VARIABLE with the resolver's ndots:5 rule; the answer is the real getaddrinfo of the
  numeric address, so the caller's hints, service and freeaddrinfo work as usual. Unknown names go to
  the real resolver. gRPC resolves through c-ares unless GRPC_DNS_RESOLVER=native, so that is set too.

It is compiled once with the system C compiler; without one, pods run unshimmed, must not repeat ports
and reach each other only through the names the agent rewrites in their env and args (a warning says so).
"""

from __future__ import annotations

import hashlib
import logging
import pathlib
import shutil
import subprocess

logger = logging.getLogger(__name__)

POD_IP_VARIABLE = "KUBEFLOW_MNIST_POD_IP"
HOSTS_VARIABLE = "KUBEFLOW_MNIST_HOSTS"
SEARCH_VARIABLE = "KUBEFLOW_MNIST_DNS_SEARCH"

SOURCE = r"""
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dlfcn.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

/* Kubernetes' resolv.conf option: a name with fewer dots is tried with the search domains first. */
#define NDOTS 5
/* Addresses answered for one name at most (a headless Service's endpoints). */
#define MAX_ANSWERS 32

/* Whether the kernel's TCP table `table` has a listening socket (state 0A) on `local`, written the
   way the table writes it: the raw address words in hex, a colon, the port in hex. */
static int listening(const char *table, const char *local) {
    FILE *file = fopen(table, "re");
    if (!file) return 0;
    char line[512];
    int found = 0;
    while (!found && fgets(line, sizeof line, file)) {
        char *colon = strchr(line, ':');
        char address[64], remote[64];
        unsigned state;
        if (colon && sscanf(colon + 1, " %63s %63s %x", address, remote, &state) == 3)
            found = state == 0x0A && strcasecmp(address, local) == 0;
    }
    fclose(file);
    return found;
}

/* Whether the pod listens on `port` (host order): on its IPv4 address, or on it v4-mapped (::ffff:). */
static int pod_listens(struct in_addr pod, unsigned port) {
    char v4[32], v6[64];
    snprintf(v4, sizeof v4, "%08X:%04X", pod.s_addr, port);
    snprintf(v6, sizeof v6, "0000000000000000FFFF0000%08X:%04X", pod.s_addr, port);
    return listening("/proc/net/tcp", v4) || listening("/proc/net/tcp6", v6);
}

typedef int (*address_fn)(int, const struct sockaddr *, socklen_t);
enum use { BINDING, CONNECTING };

/* `addr` moved onto the pod's address into `out` (returns its length), or 0 to leave it as it is.
   Binding: a wildcard or loopback address. Connecting: a loopback one where the pod listens. */
static socklen_t moved(enum use use, const struct sockaddr *addr, socklen_t len, struct sockaddr_storage *out) {
    const char *pod_ip = getenv("KUBEFLOW_MNIST_POD_IP");
    struct in_addr pod;
    if (!pod_ip || !addr || inet_pton(AF_INET, pod_ip, &pod) != 1) return 0;
    if (addr->sa_family == AF_INET && len >= sizeof(struct sockaddr_in)) {
        struct sockaddr_in *copy = (struct sockaddr_in *)out;
        memcpy(copy, addr, sizeof *copy);
        uint32_t host = ntohl(copy->sin_addr.s_addr);
        int wanted = use == BINDING ? host == INADDR_ANY || host == INADDR_LOOPBACK
                                    : host == INADDR_LOOPBACK && pod_listens(pod, ntohs(copy->sin_port));
        if (!wanted) return 0;
        copy->sin_addr = pod;
        return sizeof *copy;
    }
    if (addr->sa_family == AF_INET6 && len >= sizeof(struct sockaddr_in6)) {
        struct sockaddr_in6 *copy = (struct sockaddr_in6 *)out;
        memcpy(copy, addr, sizeof *copy);
        const uint8_t *bytes = copy->sin6_addr.s6_addr;
        int loopback = IN6_IS_ADDR_LOOPBACK(&copy->sin6_addr) ||
                       (IN6_IS_ADDR_V4MAPPED(&copy->sin6_addr) && bytes[12] == 127 && bytes[13] == 0 &&
                        bytes[14] == 0 && bytes[15] == 1);
        int wanted = use == BINDING ? IN6_IS_ADDR_UNSPECIFIED(&copy->sin6_addr) || loopback
                                    : loopback && pod_listens(pod, ntohs(copy->sin6_port));
        if (!wanted) return 0;
        /* ::ffff:<pod IP>, the IPv4 pod address on a dual-stack socket. */
        memset(&copy->sin6_addr, 0, sizeof copy->sin6_addr);
        copy->sin6_addr.s6_addr[10] = 0xff;
        copy->sin6_addr.s6_addr[11] = 0xff;
        memcpy(&copy->sin6_addr.s6_addr[12], &pod, 4);
        return sizeof *copy;
    }
    return 0;
}

/* bind() and connect(): the libc call, with the address moved onto the pod's where `moved` says so. */
#define MOVING_OVERRIDE(name, use)                                                                    \
    int name(int fd, const struct sockaddr *addr, socklen_t len) {                                    \
        static address_fn real = NULL;                                                                \
        if (!real) real = (address_fn)dlsym(RTLD_NEXT, #name);                                        \
        struct sockaddr_storage copy;                                                                 \
        socklen_t copied = moved(use, addr, len, &copy);                                              \
        return copied ? real(fd, (struct sockaddr *)&copy, copied) : real(fd, addr, len);             \
    }

MOVING_OVERRIDE(bind, BINDING)
MOVING_OVERRIDE(connect, CONNECTING)

typedef int (*getaddrinfo_fn)(const char *, const char *, const struct addrinfo *, struct addrinfo **);

static int real_getaddrinfo(const char *node, const char *service, const struct addrinfo *hints,
                            struct addrinfo **res) {
    static getaddrinfo_fn real = NULL;
    if (!real) real = (getaddrinfo_fn)dlsym(RTLD_NEXT, "getaddrinfo");
    return real(node, service, hints, res);
}

/* The addresses the hosts file gives `name` (case-insensitive), up to `max`; the file is read on every
   call, as the agent replaces it whenever pods and Services change. */
static int hosts_lookup(const char *path, const char *name, char answers[][INET6_ADDRSTRLEN], int max) {
    FILE *file = fopen(path, "re");
    if (!file) return 0;
    char line[1024];
    int found = 0;
    while (found < max && fgets(line, sizeof line, file)) {
        char *save = NULL;
        char *address = strtok_r(line, " \t\r\n", &save);
        if (!address || address[0] == '#') continue;
        for (char *alias; (alias = strtok_r(NULL, " \t\r\n", &save));) {
            if (strcasecmp(alias, name) == 0) {
                snprintf(answers[found++], INET6_ADDRSTRLEN, "%s", address);
                break;
            }
        }
    }
    fclose(file);
    return found;
}

/* The resolver's order: an absolute name (trailing dot) as is; one with NDOTS dots or more as is, then
   with the search domains; a shorter one with the search domains first, then as is. */
static int cluster_lookup(const char *path, const char *node, char answers[][INET6_ADDRSTRLEN], int max) {
    char name[256];
    size_t length = strlen(node);
    if (length == 0 || length >= sizeof name) return 0;
    memcpy(name, node, length + 1);
    if (name[length - 1] == '.') {
        name[length - 1] = 0;
        return hosts_lookup(path, name, answers, max);
    }
    int dots = 0;
    for (const char *c = name; *c; c++) dots += *c == '.';
    int found = dots >= NDOTS ? hosts_lookup(path, name, answers, max) : 0;
    const char *domains = getenv("KUBEFLOW_MNIST_DNS_SEARCH");
    if (!found && domains) {
        char list[1024];
        snprintf(list, sizeof list, "%s", domains);
        char *save = NULL;
        for (char *domain = strtok_r(list, " ", &save); domain && !found; domain = strtok_r(NULL, " ", &save)) {
            char candidate[512];
            snprintf(candidate, sizeof candidate, "%s.%s", name, domain);
            found = hosts_lookup(path, candidate, answers, max);
        }
    }
    if (!found && dots < NDOTS) found = hosts_lookup(path, name, answers, max);
    return found;
}

int getaddrinfo(const char *node, const char *service, const struct addrinfo *hints, struct addrinfo **res) {
    const char *path = getenv("KUBEFLOW_MNIST_HOSTS");
    char answers[MAX_ANSWERS][INET6_ADDRSTRLEN];
    int found = node && path ? cluster_lookup(path, node, answers, MAX_ANSWERS) : 0;
    if (!found) return real_getaddrinfo(node, service, hints, res);
    struct addrinfo numeric;
    memset(&numeric, 0, sizeof numeric);
    if (hints) {
        numeric.ai_family = hints->ai_family;
        numeric.ai_socktype = hints->ai_socktype;
        numeric.ai_protocol = hints->ai_protocol;
        /* Loopback answers must not be dropped by AI_ADDRCONFIG; a numeric host has no canonical name. */
        numeric.ai_flags = hints->ai_flags & ~(AI_ADDRCONFIG | AI_CANONNAME);
    }
    numeric.ai_flags |= AI_NUMERICHOST;
    struct addrinfo *head = NULL, **tail = &head;
    int first_error = 0;
    for (int i = 0; i < found; i++) {
        struct addrinfo *one = NULL;
        int error = real_getaddrinfo(answers[i], service, &numeric, &one);
        if (error) {
            if (!first_error) first_error = error;
            continue;
        }
        /* Each node is its own allocation, so glibc's freeaddrinfo frees a chain of several answers. */
        *tail = one;
        while (*tail) tail = &(*tail)->ai_next;
    }
    if (!head) return first_error;
    *res = head;
    return 0;
}
"""


def build(cache_dir: pathlib.Path) -> pathlib.Path | None:
    """The compiled shim under `cache_dir` (built on first use); None when no C compiler answers."""
    digest = hashlib.sha256(SOURCE.encode()).hexdigest()[:12]
    library = cache_dir / f"podshim-{digest}.so"
    if library.is_file():
        return library
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        logger.warning("no C compiler: pods bind the node's addresses, so two pods must not use one port")
        return None
    cache_dir.mkdir(parents=True, exist_ok=True)
    source = cache_dir / f"podshim-{digest}.c"
    source.write_text(SOURCE)
    partial = library.with_suffix(".partial")
    built = subprocess.run(
        [compiler, "-shared", "-fPIC", "-O2", "-o", str(partial), str(source), "-ldl"],
        capture_output=True,
        text=True,
        check=False,
    )
    if built.returncode != 0:
        logger.warning("the pod shim did not compile, pods share the node's ports: %s", built.stderr.strip())
        return None
    partial.replace(library)
    return library


def environment(
    library: pathlib.Path | None,
    *,
    hosts_file: pathlib.Path,
    search: str,
    pod_ip: str | None = None,
    inherited_preload: str = "",
) -> dict[str, str]:
    """The variables that load the shim: cluster names from `hosts_file` through `search`, and binds on
    `pod_ip` when given (a process outside any pod keeps its binds). Empty without a shim."""
    if library is None:
        return {}
    preload = " ".join(filter(None, [str(library), inherited_preload]))
    env = {
        "LD_PRELOAD": preload,
        HOSTS_VARIABLE: str(hosts_file),
        SEARCH_VARIABLE: search,
        "GRPC_DNS_RESOLVER": "native",
    }
    if pod_ip is not None:
        env[POD_IP_VARIABLE] = pod_ip
    return env
