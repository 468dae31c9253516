// Format dispatch and atomic replacement of checkpoint files.
#include "io/tensor_file.h"

#include "base/error.h"
#include "io/safetensors.h"
#include "io/torch_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>

namespace vrwkv::io {
namespace {

namespace fs = std::filesystem;

enum class Format { kTorch, kSafetensors };

Format format_from_extension(const std::string& path) {
  std::string ext = fs::path(path).extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (ext == ".pth" || ext == ".pt" || ext == ".bin") return Format::kTorch;
  if (ext == ".safetensors") return Format::kSafetensors;
  throw Error(cat(path, ": unknown checkpoint extension '", ext,
                  "' (use .safetensors, .pth, .pt or .bin)"));
}

// fsync by name: the data of a file lives with its inode, so any descriptor flushes it.
void fsync_path(const std::string& path, bool directory) {
  const int fd = ::open(path.c_str(), directory ? (O_RDONLY | O_DIRECTORY) : O_RDONLY);
  VRWKV_CHECK(fd >= 0, path, ": cannot open for fsync: ", std::strerror(errno));
  const int rc = ::fsync(fd);
  const int saved = errno;
  ::close(fd);
  VRWKV_CHECK(rc == 0, path, ": fsync failed: ", std::strerror(saved));
}

}  // namespace

NamedTensors load_tensors(const std::string& path) {
  std::error_code ec;
  VRWKV_CHECK(fs::exists(path, ec), path, ": no such file");
  VRWKV_CHECK(!fs::is_directory(path, ec), path, ": is a directory, not a checkpoint file");
  std::ifstream in(path, std::ios::binary);
  VRWKV_CHECK(in.is_open(), path, ": cannot open: ", std::strerror(errno));
  char head[9] = {};
  in.read(head, sizeof head);
  const auto got = static_cast<std::size_t>(in.gcount());
  in.close();

  if (got >= 4 && std::memcmp(head, "PK\x03\x04", 4) == 0) return read_torch_file(path);
  // A safetensors header is a JSON object, so byte 8 is '{'; anything else is neither format.
  VRWKV_CHECK(got < 9 || head[8] == '{', path,
              ": unknown format: neither a torch.save zip file (starts with PK\\x03\\x04) nor a "
              "safetensors file (JSON header starting at byte 8)");
  return read_safetensors(path);
}

void save_tensors(const std::string& path, const NamedTensors& tensors) {
  const Format format = format_from_extension(path);
  const std::string tmp = cat(path, ".tmp.", ::getpid());
  try {
    if (format == Format::kTorch)
      write_torch_file(tmp, tensors);
    else
      write_safetensors(tmp, tensors);
    fsync_path(tmp, false);
    VRWKV_CHECK(std::rename(tmp.c_str(), path.c_str()) == 0, path, ": cannot rename ", tmp,
                " over it: ", std::strerror(errno));
  } catch (...) {
    std::error_code ec;
    fs::remove(tmp, ec);  // never leave a half-written temporary behind
    throw;
  }
  // Make the rename itself durable; failing here is not worth an error (the data is in place).
  fs::path dir = fs::path(path).parent_path();
  try {
    fsync_path(dir.empty() ? std::string(".") : dir.string(), true);
  } catch (const Error&) {
  }
}

}  // namespace vrwkv::io
