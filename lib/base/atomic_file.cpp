#include "base/atomic_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "base/error.h"

namespace vrwkv {

void fsync_file(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY);
  VRWKV_CHECK(fd >= 0, path, ": cannot open for fsync: ", std::strerror(errno));
  const int rc = ::fsync(fd);
  ::close(fd);
  VRWKV_CHECK(rc == 0, path, ": fsync failed");
}

void write_file_atomically(const std::string& path, const std::string& contents) {
  namespace fs = std::filesystem;
  const fs::path target(path);
  if (target.has_parent_path()) fs::create_directories(target.parent_path());
  const std::string tmp = cat(path, ".tmp.", ::getpid());
  try {
    {
      std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
      VRWKV_CHECK(out.good(), tmp, ": cannot write: ", std::strerror(errno));
      out << contents;
      out.flush();
      VRWKV_CHECK(out.good(), tmp, ": write failed: ", std::strerror(errno));
    }
    fsync_file(tmp);
    VRWKV_CHECK(std::rename(tmp.c_str(), path.c_str()) == 0, path, ": cannot rename ", tmp, " over it: ",
                std::strerror(errno));
  } catch (...) {
    std::error_code ec;
    fs::remove(tmp, ec);  // never leave a half-written temporary behind
    throw;
  }
}

}  // namespace vrwkv
