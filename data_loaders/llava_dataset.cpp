#include "llava_dataset.h"

#include <nlohmann/json.hpp>

#include "base/error.h"

namespace vrwkv::data {
namespace {

bool looks_like_json_lines(const std::string& path, std::string_view text) {
  if (path.size() >= 6 && path.compare(path.size() - 6, 6, ".jsonl") == 0) return true;
  for (char c : text) {
    if (c == ' ' || c == '\n' || c == '\r' || c == '\t') continue;
    return c == '{';
  }
  return false;
}

}  // namespace

LlavaDataset::LlavaDataset(const std::string& path) : file_(std::make_unique<MappedFile>(path)) {
  const auto text = file_->view();
  ranges_ = scan_json_elements(text, looks_like_json_lines(path, text), path);
}

std::string_view LlavaDataset::raw(size_t index) const {
  VRWKV_CHECK(index < ranges_.size(), path(), ": sample index ", index, " out of range (", ranges_.size(), " samples)");
  return file_->view().substr(ranges_[index].offset, ranges_[index].length);
}

namespace {

std::string id_text(const nlohmann::json& j, size_t index) {
  if (!j.is_object() || !j.contains("id")) return cat("#", index);
  return j["id"].is_string() ? j["id"].get<std::string>() : j["id"].dump();
}

}  // namespace

std::string LlavaDataset::sample_id(size_t index) const { return id_text(nlohmann::json::parse(raw(index)), index); }

text::Conversation LlavaDataset::conversation(size_t index) const {
  const auto where = [&] { return describe_position(file_->view(), ranges_[index].offset, path()); };
  const auto j = nlohmann::json::parse(raw(index));  // the scan already checked the grammar
  auto bad = [&](const std::string& what) { return text::SampleError("bad_fields", cat(where(), ": ", what)); };
  if (!j.is_object()) throw bad("a sample must be a JSON object");
  text::Conversation c;
  c.id = id_text(j, index);
  if (j.contains("image") && !j["image"].is_null()) {
    if (!j["image"].is_string()) throw bad(cat("sample ", c.id, ": \"image\" must be a string"));
    c.image = j["image"].get<std::string>();
  }
  if (!j.contains("conversations") || !j["conversations"].is_array())
    throw bad(cat("sample ", c.id, ": \"conversations\" must be a list"));
  for (const auto& turn : j["conversations"]) {
    if (!turn.is_object() || !turn.contains("from") || !turn["from"].is_string())
      throw bad(cat("sample ", c.id, ": every turn needs a string \"from\""));
    std::string value;  // a missing or null reply is empty (the clean-up drops such rounds)
    if (turn.contains("value") && !turn["value"].is_null()) {
      if (!turn["value"].is_string()) throw bad(cat("sample ", c.id, ": a turn's \"value\" must be a string"));
      value = turn["value"].get<std::string>();
    }
    c.turns.push_back({turn["from"].get<std::string>(), std::move(value)});
  }
  return c;
}

}  // namespace vrwkv::data
