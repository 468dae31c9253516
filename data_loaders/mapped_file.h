// A read-only memory map of a whole file (RAII): the dataset keeps the JSON mapped and parses one
// sample at a time from it, so the OS pages text in and out instead of the process holding it.
#pragma once
#include <cstddef>
#include <string>
#include <string_view>

namespace vrwkv::data {

class MappedFile {
 public:
  explicit MappedFile(const std::string& path);  // throws vrwkv::Error naming the file
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  std::string_view view() const { return {data_, size_}; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  const char* data_ = nullptr;
  size_t size_ = 0;
};

}  // namespace vrwkv::data
