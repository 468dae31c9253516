#include "llava_dataset.h"

#include <algorithm>

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

// "id", else v7's "sample_id", else the position.
std::string id_text(const nlohmann::json& j, size_t index) {
  const char* key = j.is_object() && j.contains("id") ? "id" : "sample_id";
  if (!j.is_object() || !j.contains(key)) return cat("#", index);
  return j[key].is_string() ? j[key].get<std::string>() : j[key].dump();
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
    const auto& image = j["image"];
    const auto is_path = [](const nlohmann::json& p) { return p.is_string(); };
    const bool paths = image.is_string() || (image.is_array() && std::all_of(image.begin(), image.end(), is_path));
    if (!paths) throw bad(cat("sample ", c.id, ": \"image\" must be a path or a list of paths"));
    if (image.is_string())
      c.images.push_back(image.get<std::string>());
    else
      for (const auto& p : image) c.images.push_back(p.get<std::string>());
    if (c.images.size() == 1) c.image = c.images.front();
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
