// A small declarative schema for JSON configs: every key has a type, a range or a set of choices,
// a default and a line of documentation. Validation rejects unknown keys (naming the nearest valid
// one), wrong types and out-of-range values, with the file and the key path in every message.
#pragma once
#include <nlohmann/json.hpp>

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace vrwkv::config {

enum class Type { kObject, kInt, kNumber, kBool, kString, kNumberList };

struct Field {
  std::string name;
  Type type = Type::kString;
  std::string doc;
  nlohmann::json default_value;          // null: required (objects: filled from their children)
  std::vector<std::string> choices;      // for strings: the accepted values (empty: any)
  std::optional<double> min, max;        // for numbers
  size_t list_size = 0;                  // for number lists: the exact length (0: any)
  std::vector<Field> children;           // for objects
  bool required = false;
};

Field object(std::string name, std::string doc, std::vector<Field> children);
Field integer(std::string name, nlohmann::json def, std::string doc, std::optional<double> min = {},
              std::optional<double> max = {});
Field number(std::string name, nlohmann::json def, std::string doc, std::optional<double> min = {},
             std::optional<double> max = {});
Field boolean(std::string name, bool def, std::string doc);
Field string(std::string name, nlohmann::json def, std::string doc, std::vector<std::string> choices = {});
Field number_list(std::string name, nlohmann::json def, size_t size, std::string doc);

// Validates `config` (from `file`) against `root` and returns it with every default filled in.
nlohmann::json validate(const Field& root, const nlohmann::json& config, const std::string& file);

// Applies "a.b.c=value" (value parsed as JSON when it parses, else taken as a string).
void apply_override(nlohmann::json& config, const std::string& assignment);

// The reference of every key as a Markdown table (docs/config.md).
std::string markdown_reference(const Field& root);

// The closest of `candidates` to `word` by edit distance (for "did you mean").
std::string nearest(const std::string& word, const std::vector<std::string>& candidates);

}  // namespace vrwkv::config
