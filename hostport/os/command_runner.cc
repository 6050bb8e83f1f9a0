#include "hostport/os/command_runner.h"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace hostport {
namespace {

absl::Status ErrnoError(absl::string_view what, const std::string& program) {
  return absl::InternalError(
      absl::StrCat(what, " for ", program, ": ", std::strerror(errno)));
}

}  // namespace

absl::StatusOr<CommandResult> RealCommandRunner::Run(
    const std::vector<std::string>& argv, const std::string& stdin_text) {
  if (argv.empty()) return absl::InvalidArgumentError("empty command line");
  int in_pipe[2], out_pipe[2], err_pipe[2], exec_pipe[2];
  if (pipe2(in_pipe, O_CLOEXEC) != 0) return ErrnoError("pipe", argv[0]);
  if (pipe2(out_pipe, O_CLOEXEC) != 0) return ErrnoError("pipe", argv[0]);
  if (pipe2(err_pipe, O_CLOEXEC) != 0) return ErrnoError("pipe", argv[0]);
  // Closed by a successful exec; carries errno when exec fails.
  if (pipe2(exec_pipe, O_CLOEXEC) != 0) return ErrnoError("pipe", argv[0]);

  std::vector<char*> cargv;
  for (const std::string& a : argv)
    cargv.push_back(const_cast<char*>(a.c_str()));
  cargv.push_back(nullptr);

  const pid_t pid = fork();
  if (pid < 0) return ErrnoError("fork", argv[0]);
  if (pid == 0) {
    dup2(in_pipe[0], 0);
    dup2(out_pipe[1], 1);
    dup2(err_pipe[1], 2);
    signal(SIGPIPE, SIG_DFL);
    execvp(cargv[0], cargv.data());
    const int e = errno;
    (void)!write(exec_pipe[1], &e, sizeof(e));
    _exit(127);
  }
  close(in_pipe[0]);
  close(out_pipe[1]);
  close(err_pipe[1]);
  close(exec_pipe[1]);

  // A child that exits before reading all its input must not kill us with
  // SIGPIPE: block it on this thread, and below drop one that our writes
  // raised.
  sigset_t pipe_set, old_set;
  sigemptyset(&pipe_set);
  sigaddset(&pipe_set, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe_set, &old_set);
  sigset_t pending;
  sigpending(&pending);
  const bool pipe_was_pending = sigismember(&pending, SIGPIPE);

  CommandResult result;
  size_t written = 0;
  int in_fd = in_pipe[1];
  if (stdin_text.empty()) {
    close(in_fd);
    in_fd = -1;
  } else {
    fcntl(in_fd, F_SETFL, O_NONBLOCK);
  }
  int out_fd = out_pipe[0], err_fd = err_pipe[0];
  while (in_fd >= 0 || out_fd >= 0 || err_fd >= 0) {
    pollfd fds[3];
    int n = 0;
    if (in_fd >= 0) fds[n++] = {in_fd, POLLOUT, 0};
    if (out_fd >= 0) fds[n++] = {out_fd, POLLIN, 0};
    if (err_fd >= 0) fds[n++] = {err_fd, POLLIN, 0};
    if (poll(fds, n, -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    for (int i = 0; i < n; ++i) {
      if (fds[i].revents == 0) continue;
      if (fds[i].fd == in_fd) {
        const ssize_t w = write(in_fd, stdin_text.data() + written,
                                stdin_text.size() - written);
        if (w > 0) written += static_cast<size_t>(w);
        if (w < 0 && errno != EAGAIN && errno != EINTR)
          written = stdin_text.size();
        if (written >= stdin_text.size()) {
          close(in_fd);
          in_fd = -1;
        }
        continue;
      }
      char buf[65536];
      const ssize_t r = read(fds[i].fd, buf, sizeof(buf));
      if (r > 0) {
        (fds[i].fd == out_fd ? result.stdout_text : result.stderr_text)
            .append(buf, static_cast<size_t>(r));
      } else if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
        close(fds[i].fd);
        (fds[i].fd == out_fd ? out_fd : err_fd) = -1;
      }
    }
  }
  if (!pipe_was_pending) {
    const timespec zero{0, 0};
    while (sigtimedwait(&pipe_set, nullptr, &zero) < 0 && errno == EINTR) {
    }
  }
  pthread_sigmask(SIG_SETMASK, &old_set, nullptr);

  int exec_errno = 0;
  const bool exec_failed =
      read(exec_pipe[0], &exec_errno, sizeof(exec_errno)) == sizeof(exec_errno);
  close(exec_pipe[0]);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (exec_failed) {
    errno = exec_errno;
    return absl::NotFoundError(
        absl::StrCat("cannot run ", argv[0], ": ", std::strerror(exec_errno)));
  }
  result.exit_code = WIFEXITED(status)     ? WEXITSTATUS(status)
                     : WIFSIGNALED(status) ? 128 + WTERMSIG(status)
                                           : 255;
  return result;
}

}  // namespace hostport
