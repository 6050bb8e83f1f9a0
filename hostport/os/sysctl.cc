#include "hostport/os/sysctl.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace hostport {

std::string RouteLocalnetSysctl(const std::string& interface) {
  return absl::StrCat("net/ipv4/conf/", interface, "/route_localnet");
}

namespace {

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    const int err = errno;
    if (err == ENOENT) {
      return absl::NotFoundError(absl::StrCat(path, " does not exist"));
    }
    return absl::InternalError(
        absl::StrCat("cannot read ", path, ": ", std::strerror(err)));
  }
  std::stringstream s;
  s << in.rdbuf();
  return std::string(absl::StripAsciiWhitespace(s.str()));
}

}  // namespace

absl::StatusOr<std::string> ProcSysctl::Read(const std::string& name) {
  return ReadFile(absl::StrCat("/proc/sys/", name));
}

absl::StatusOr<std::string> ProcSysctl::ReadProcNet(const std::string& name) {
  return ReadFile(absl::StrCat("/proc/net/", name));
}

absl::Status ProcSysctl::Write(const std::string& name,
                               const std::string& value) {
  const std::string path = absl::StrCat("/proc/sys/", name);
  std::ofstream out(path);
  if (!out) {
    const int err = errno;
    if (err == ENOENT) {
      return absl::NotFoundError(
          absl::StrCat("sysctl ", name, " does not exist"));
    }
    return absl::InternalError(
        absl::StrCat("cannot open ", path, ": ", std::strerror(err)));
  }
  out << value << "\n";
  out.close();
  if (!out) {
    return absl::InternalError(
        absl::StrCat("cannot write ", value, " to ", path));
  }
  return absl::OkStatus();
}

}  // namespace hostport
