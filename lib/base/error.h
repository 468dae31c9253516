// Errors: one exception type whose message names the file, key or field at fault.
#pragma once
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>

namespace vrwkv {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what) : std::runtime_error(what) {}
};

// Builds a message from pieces: throw Error(cat("file ", path, ": bad header"));
template <typename... Parts>
std::string cat(Parts&&... parts) {
  std::ostringstream os;
  (os << ... << std::forward<Parts>(parts));
  return os.str();
}

#define VRWKV_CHECK(cond, ...)                        \
  do {                                                \
    if (!(cond)) throw ::vrwkv::Error(::vrwkv::cat(__VA_ARGS__)); \
  } while (0)

}  // namespace vrwkv
