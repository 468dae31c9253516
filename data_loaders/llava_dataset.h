// A LLaVA-format dataset (JSON array or JSON Lines of {"id", "image"?, "conversations"}) held as
// the mapped file plus the byte range of each sample; samples are parsed on demand.
#pragma once
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "json_scan.h"
#include "mapped_file.h"
#include "text/conversation.h"

namespace vrwkv::data {

class LlavaDataset {
 public:
  // Maps and scans `path` (".jsonl" or a file starting with '{' is JSON Lines). Malformed JSON is a
  // vrwkv::Error naming the file, line and column.
  explicit LlavaDataset(const std::string& path);

  size_t size() const { return ranges_.size(); }
  const std::string& path() const { return file_->path(); }
  std::string_view raw(size_t index) const;
  // The sample's fields. Throws text::SampleError("bad_fields") when they have the wrong types.
  text::Conversation conversation(size_t index) const;
  // The sample's "id" as text (for logs), or "#<index>" when it has none.
  std::string sample_id(size_t index) const;

 private:
  std::unique_ptr<MappedFile> file_;
  std::vector<ByteRange> ranges_;
};

}  // namespace vrwkv::data
