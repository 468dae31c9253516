#include "config/schema.h"

#include <algorithm>
#include <sstream>

#include "base/error.h"

namespace vrwkv::config {

Field object(std::string name, std::string doc, std::vector<Field> children) {
  Field f{std::move(name), Type::kObject, std::move(doc)};
  f.children = std::move(children);
  return f;
}

Field integer(std::string name, nlohmann::json def, std::string doc, std::optional<double> min,
              std::optional<double> max) {
  Field f{std::move(name), Type::kInt, std::move(doc), std::move(def)};
  f.min = min;
  f.max = max;
  f.required = f.default_value.is_null();
  return f;
}

Field number(std::string name, nlohmann::json def, std::string doc, std::optional<double> min,
             std::optional<double> max) {
  Field f = integer(std::move(name), std::move(def), std::move(doc), min, max);
  f.type = Type::kNumber;
  return f;
}

Field boolean(std::string name, bool def, std::string doc) {
  return Field{std::move(name), Type::kBool, std::move(doc), def};
}

Field string(std::string name, nlohmann::json def, std::string doc, std::vector<std::string> choices) {
  Field f{std::move(name), Type::kString, std::move(doc), std::move(def)};
  f.choices = std::move(choices);
  f.required = f.default_value.is_null();
  return f;
}

Field number_list(std::string name, nlohmann::json def, size_t size, std::string doc) {
  Field f{std::move(name), Type::kNumberList, std::move(doc), std::move(def)};
  f.list_size = size;
  f.required = f.default_value.is_null();
  return f;
}

Field resumable(Field field) {
  field.may_change_at_resume = true;
  return field;
}

bool may_change_at_resume(const Field& root, const std::string& key_path) {
  const Field* at = &root;
  std::stringstream parts(key_path);
  for (std::string part; std::getline(parts, part, '.');) {
    const auto it = std::find_if(at->children.begin(), at->children.end(),
                                 [&](const Field& f) { return f.name == part; });
    if (it == at->children.end()) return false;  // not a key of the schema
    at = &*it;
    if (at->may_change_at_resume) return true;
  }
  return false;
}

void store_fields(const Field& root, const nlohmann::json& validated, void* target, std::type_index type) {
  for (const auto& child : root.children) {
    const auto& value = validated.at(child.name);
    if (child.store) {
      if (child.target_type != type) throw std::logic_error("config key '" + child.name + "' is bound to another type");
      child.store(value, target);
    }
    if (child.type == Type::kObject) store_fields(child, value, target, type);
  }
}

std::string nearest(const std::string& word, const std::vector<std::string>& candidates) {
  std::string best;
  size_t best_distance = SIZE_MAX;
  for (const auto& c : candidates) {
    std::vector<size_t> row(c.size() + 1);
    for (size_t j = 0; j <= c.size(); ++j) row[j] = j;
    for (size_t i = 1; i <= word.size(); ++i) {
      size_t diagonal = row[0];
      row[0] = i;
      for (size_t j = 1; j <= c.size(); ++j) {
        const size_t up = row[j];
        row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (word[i - 1] == c[j - 1] ? 0 : 1)});
        diagonal = up;
      }
    }
    if (row[c.size()] < best_distance) best_distance = row[c.size()], best = c;
  }
  return best;
}

namespace {

const char* type_name(Type t) {
  switch (t) {
    case Type::kObject: return "an object";
    case Type::kInt: return "an integer";
    case Type::kNumber: return "a number";
    case Type::kBool: return "true or false";
    case Type::kString: return "a string";
    case Type::kNumberList: return "a list of numbers";
  }
  return "?";
}

std::string join(const std::vector<std::string>& items, const char* sep) {
  std::string out;
  for (size_t i = 0; i < items.size(); ++i) out += (i ? sep : "") + items[i];
  return out;
}

nlohmann::json check(const Field& field, const nlohmann::json& value, const std::string& path,
                     const std::string& file) {
  auto fail = [&](const std::string& what) { throw Error(cat(file, ": ", path, ": ", what)); };
  switch (field.type) {
    case Type::kObject: {
      if (!value.is_object()) fail(cat("must be an object, got ", value.type_name()));
      std::vector<std::string> names;
      for (const auto& child : field.children) names.push_back(child.name);
      for (const auto& [key, unused] : value.items())
        if (std::find(names.begin(), names.end(), key) == names.end())
          throw Error(cat(file, ": unknown key '", path.empty() ? key : path + "." + key, "' (did you mean '",
                          nearest(key, names), "'?)"));
      nlohmann::json out = nlohmann::json::object();
      for (const auto& child : field.children) {
        const std::string child_path = path.empty() ? child.name : path + "." + child.name;
        if (value.contains(child.name)) {
          out[child.name] = check(child, value.at(child.name), child_path, file);
        } else if (child.type == Type::kObject) {
          out[child.name] = check(child, nlohmann::json::object(), child_path, file);
        } else if (child.required) {
          throw Error(cat(file, ": missing required key '", child_path, "' (", child.doc, ")"));
        } else {
          out[child.name] = child.default_value;
        }
      }
      return out;
    }
    case Type::kInt:
    case Type::kNumber: {
      const bool ok = field.type == Type::kInt ? value.is_number_integer() : value.is_number();
      if (!ok) fail(cat("must be ", type_name(field.type), ", got ", value.dump()));
      const double v = value.get<double>();
      if (field.min && v < *field.min) fail(cat("must be >= ", *field.min, ", got ", value.dump()));
      if (field.max && v > *field.max) fail(cat("must be <= ", *field.max, ", got ", value.dump()));
      return value;
    }
    case Type::kBool:
      if (!value.is_boolean()) fail(cat("must be true or false, got ", value.dump()));
      return value;
    case Type::kString: {
      if (!value.is_string()) fail(cat("must be a string, got ", value.dump()));
      const auto s = value.get<std::string>();
      if (!field.choices.empty() && std::find(field.choices.begin(), field.choices.end(), s) == field.choices.end())
        fail(cat("'", s, "' is not one of ", join(field.choices, ", "), " (did you mean '",
                 nearest(s, field.choices), "'?)"));
      return value;
    }
    case Type::kNumberList: {
      if (!value.is_array()) fail(cat("must be a list of numbers, got ", value.dump()));
      for (const auto& x : value)
        if (!x.is_number()) fail(cat("must be a list of numbers, got ", value.dump()));
      if (field.list_size && value.size() != field.list_size)
        fail(cat("must have ", field.list_size, " numbers, got ", value.size()));
      return value;
    }
  }
  return value;
}

void reference_rows(const Field& field, const std::string& path, std::ostringstream& os, bool resumable) {
  for (const auto& child : field.children) {
    const std::string p = path.empty() ? child.name : path + "." + child.name;
    if (child.type == Type::kObject) {
      reference_rows(child, p, os, resumable || child.may_change_at_resume);
      continue;
    }
    std::string allowed = type_name(child.type);
    if (!child.choices.empty()) allowed = join(child.choices, " \\| ");
    if (child.min || child.max)
      allowed += cat(" in [", child.min ? cat(*child.min) : "-inf", ", ", child.max ? cat(*child.max) : "inf", "]");
    const std::string def = child.required ? "required" : "`" + child.default_value.dump() + "`";
    const bool may_change = resumable || child.may_change_at_resume;
    os << "| `" << p << "` | " << allowed << " | " << def << " | " << child.doc
       << (may_change ? " (a resume may change it)" : "") << " |\n";
  }
}

}  // namespace

nlohmann::json validate(const Field& root, const nlohmann::json& config, const std::string& file) {
  return check(root, config, "", file);
}

void apply_override(nlohmann::json& config, const std::string& assignment) {
  const auto eq = assignment.find('=');
  VRWKV_CHECK(eq != std::string::npos && eq > 0, "--set expects key.path=value, got '", assignment, "'");
  const std::string path = assignment.substr(0, eq), text = assignment.substr(eq + 1);
  nlohmann::json value = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (value.is_discarded()) value = text;
  nlohmann::json* node = &config;
  std::stringstream parts(path);
  std::string part, next;
  std::getline(parts, part, '.');
  while (std::getline(parts, next, '.')) {
    if (!node->contains(part)) (*node)[part] = nlohmann::json::object();
    node = &(*node)[part];
    VRWKV_CHECK(node->is_object(), "--set ", path, ": '", part, "' is not an object");
    part = next;
  }
  (*node)[part] = value;
}

std::string markdown_reference(const Field& root) {
  std::ostringstream os;
  os << "| key | type | default | meaning |\n|---|---|---|---|\n";
  reference_rows(root, "", os, root.may_change_at_resume);
  return os.str();
}

}  // namespace vrwkv::config
