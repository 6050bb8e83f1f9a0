#include "tools/netlink_handoff.h"

#include <dirent.h>
#include <linux/membarrier.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <iostream>
#include <vector>

namespace hostport {
namespace {

// The process's open descriptors, highest first.
std::vector<int> OpenDescriptors() {
  std::vector<int> fds;
  DIR* dir = opendir("/proc/self/fd");
  if (dir == nullptr) return fds;
  const int own = dirfd(dir);
  while (dirent* e = readdir(dir)) {
    char* end = nullptr;
    const long fd = std::strtol(e->d_name, &end, 10);
    if (*end == '\0' && end != e->d_name && fd != own) {
      fds.push_back(static_cast<int>(fd));
    }
  }
  closedir(dir);
  std::sort(fds.begin(), fds.end(), std::greater<int>());
  return fds;
}

bool IsNetlink(int fd) {
  int domain = 0;
  socklen_t size = sizeof(domain);
  return getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &size) == 0 &&
         domain == AF_NETLINK;
}

}  // namespace

void HandOffNetlinkSockets() {
  std::cout.flush();
  std::cerr.flush();
  std::fflush(nullptr);
  const std::vector<int> fds = OpenDescriptors();
  if (std::none_of(fds.begin(), fds.end(), IsNetlink)) return;
  int exited[2];
  if (pipe(exited) != 0) return;  // Then the sockets close here.
  const pid_t child = fork();
  if (child != 0) {  // The parent, or no child.
    close(exited[0]);
    if (child < 0) close(exited[1]);
    return;
  }
  close(exited[1]);
  // Highest first: stdout and stderr close last.
  for (int fd : fds) {
    if (!IsNetlink(fd)) close(fd);
  }
  // EOF once the parent has exited and its end of the pipe is closed.
  char byte;
  while (read(exited[0], &byte, 1) < 0 && errno == EINTR) {
  }
  if (syscall(SYS_membarrier, MEMBARRIER_CMD_GLOBAL, 0, 0) != 0) {
    usleep(50 * 1000);
  }
  _exit(0);
}

}  // namespace hostport
