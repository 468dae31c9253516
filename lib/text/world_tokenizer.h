// The RWKV World tokenizer (SPEC.md section 8): greedy longest match over UTF-8 bytes.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "text/tokenizer.h"

namespace vrwkv::text {

class WorldTokenizer : public Tokenizer {
 public:
  // Reads a vocab file of lines `<id> <Python str or bytes literal> <byte length>`.
  // Throws vrwkv::Error naming the file and line for a malformed line, a byte length that
  // disagrees with the literal, a repeated id, or a repeated byte string.
  explicit WorldTokenizer(const std::string& vocab_path);

  // At each position the longest vocabulary entry that is a prefix of the rest.
  std::vector<int64_t> encode(std::string_view text) const override;
  // Concatenated bytes; id 0 (end-of-text / padding) gives nothing; an unknown id throws.
  std::string decode(const std::vector<int64_t>& ids) const override;
  // max id + 1 rounded up to a multiple of 64: 65536 for rwkv_vocab_v20230424.txt
  // (max id 65529), the row count of the embedding and head of every RWKV World model.
  int64_t vocab_size() const override { return vocab_size_; }

  // Largest id in the file.
  int64_t max_id() const { return static_cast<int64_t>(offsets_.size()) - 2; }
  // The bytes of one id ("" for id 0); an unknown id throws.
  std::string_view token_bytes(int64_t id) const;

 private:
  // Trie node. Children are either a sorted run labels_/targets_[first, first+count) or, for a
  // wide fan-out, a 256-entry block dense_[first, first+256) indexed by the byte.
  struct Node {
    int32_t token = 0;  // id ending here, 0 when none
    uint32_t first = 0;
    uint16_t count = 0;
    uint8_t dense = 0;
  };

  int32_t child(const Node& node, uint8_t byte) const;

  std::string path_;
  int32_t root_[256];            // first byte -> node, -1 when no entry starts with it
  std::vector<Node> nodes_;
  std::vector<uint8_t> labels_;
  std::vector<int32_t> targets_;
  std::vector<int32_t> dense_;
  std::vector<uint32_t> offsets_;  // id -> [offsets_[id], offsets_[id+1]) in bytes_
  std::vector<uint8_t> known_;     // id present in the file (id 0 counts as known)
  std::string bytes_;
  int64_t vocab_size_ = 0;
};

}  // namespace vrwkv::text
