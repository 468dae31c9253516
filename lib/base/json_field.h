// Reading one optional field of a JSON object into a typed member, for the model config readers
// (model/config.cpp, model/config7.cpp): absent keeps the member's value, a wrong type is an Error
// naming `where` and the key.
#pragma once
#include <nlohmann/json.hpp>

#include <string>

#include "base/error.h"

namespace vrwkv {

template <typename T>
void read_json_field(const nlohmann::json& j, const char* key, T& out, const std::string& where) {
  if (!j.contains(key)) return;
  try {
    out = j.at(key).get<T>();
  } catch (const nlohmann::json::exception&) {
    throw Error(cat(where, ": field '", key, "' has the wrong type (", j.at(key).type_name(), ")"));
  }
}

}  // namespace vrwkv
