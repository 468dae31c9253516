// A small declarative schema for JSON configs: every key has a type, a range or a set of choices,
// a default and a line of documentation. Validation rejects unknown keys (naming the nearest valid
// one), wrong types and out-of-range values, with the file and the key path in every message.
// A key may also be bound to the member of a struct it fills (bind), so that one line of the schema
// says its name, type, default, documentation, whether a resume may change it, and where it goes.
#pragma once
#include <nlohmann/json.hpp>

#include <functional>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <typeindex>
#include <utility>
#include <vector>

#include "base/error.h"

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
  bool may_change_at_resume = false;     // a resumed run may give it another value (objects: every key inside)
  // Set by bind(): copies the validated value into its member of a `target_type` (store_into).
  std::function<void(const nlohmann::json& value, void* target)> store;
  std::optional<std::type_index> target_type;
};

// The closest of `candidates` to `word` by edit distance (for "did you mean").
std::string nearest(const std::string& word, const std::vector<std::string>& candidates);

Field object(std::string name, std::string doc, std::vector<Field> children);
Field integer(std::string name, nlohmann::json def, std::string doc, std::optional<double> min = {},
              std::optional<double> max = {});
Field number(std::string name, nlohmann::json def, std::string doc, std::optional<double> min = {},
             std::optional<double> max = {});
Field boolean(std::string name, bool def, std::string doc);
Field string(std::string name, nlohmann::json def, std::string doc, std::vector<std::string> choices = {});
Field number_list(std::string name, nlohmann::json def, size_t size, std::string doc);
// `field`, marked as a key a resume may change (how long, how often, where: not what is trained).
Field resumable(Field field);

// `field`, bound to the member of a Target that `member(target)` returns (a reference):
// store_into() assigns it the validated value, passed through `convert` when one is given.
template <class Target, class Member>
Field bind(Field field, Member member) {
  field.store = [member](const nlohmann::json& value, void* target) {
    auto& to = member(*static_cast<Target*>(target));
    to = value.get<std::decay_t<decltype(to)>>();
  };
  field.target_type = typeid(Target);
  return field;
}
template <class Target, class Member, class Convert>
Field bind(Field field, Member member, Convert convert) {
  field.store = [member, convert](const nlohmann::json& value, void* target) {
    member(*static_cast<Target*>(target)) = convert(value);
  };
  field.target_type = typeid(Target);
  return field;
}

// The names a config gives the values of an enum, in the order the reference lists them.
template <class Enum>
using EnumNames = std::vector<std::pair<std::string, Enum>>;

template <class Enum>
std::vector<std::string> names_in(const EnumNames<Enum>& names) {
  std::vector<std::string> out;
  for (const auto& entry : names) out.push_back(entry.first);
  return out;
}

template <class Enum>
const std::string& name_of(const EnumNames<Enum>& names, Enum value) {
  for (const auto& [name, v] : names)
    if (v == value) return name;
  throw std::logic_error("an enum value without a name");
}

// The value `name` stands for; `what` ("train.precision") names the key in the error.
template <class Enum>
Enum value_named(const EnumNames<Enum>& names, const std::string& name, const std::string& what) {
  for (const auto& [n, v] : names)
    if (n == name) return v;
  throw Error(cat(what, ": '", name, "' is not one of its values (did you mean '", nearest(name, names_in(names)),
                  "'?)"));
}

// A string key that chooses a value of an enum (its choices are the names), bound to a Target's member.
template <class Target, class Enum, class Member>
Field choice(std::string name, Enum def, std::string doc, const EnumNames<Enum>& names, Member member) {
  const std::string key = name;
  return bind<Target>(string(std::move(name), name_of(names, def), std::move(doc), names_in(names)), member,
                      [names, key](const nlohmann::json& value) { return value_named(names, value.get<std::string>(), key); });
}

// Copies every bound key of `validated` (what validate returned for `root`) into `target`. Objects may
// be bound as a whole and still hold bound keys.
void store_fields(const Field& root, const nlohmann::json& validated, void* target, std::type_index type);
template <class Target>
void store_into(const Field& root, const nlohmann::json& validated, Target& target) {
  store_fields(root, validated, &target, typeid(Target));
}

// Whether `key_path` ("train.steps") lies in a field marked resumable (or inside a marked object).
bool may_change_at_resume(const Field& root, const std::string& key_path);

// Validates `config` (from `file`) against `root` and returns it with every default filled in.
nlohmann::json validate(const Field& root, const nlohmann::json& config, const std::string& file);

// Applies "a.b.c=value" (value parsed as JSON when it parses, else taken as a string).
void apply_override(nlohmann::json& config, const std::string& assignment);

// The reference of every key as a Markdown table (docs/config.md).
std::string markdown_reference(const Field& root);

}  // namespace vrwkv::config
