// A tiny argument reader shared by the subcommands: positionals, --flag value, --flag=value,
// repeatable --set, and an error that names the unknown option.
#pragma once
#include <map>
#include <type_traits>
#include <string>
#include <vector>

#include "base/error.h"

namespace vrwkv::cli {

struct Args {
  std::vector<std::string> positional;
  std::map<std::string, std::string> options;  // last value wins
  std::vector<std::string> sets;               // every --set a.b=value, in order
  std::vector<std::string> flags;              // options given without a value

  bool has(const std::string& name) const { return options.count(name) || flag(name); }
  bool flag(const std::string& name) const {
    for (const auto& f : flags)
      if (f == name) return true;
    return false;
  }
  std::string get(const std::string& name, const std::string& fallback = "") const {
    auto it = options.find(name);
    return it == options.end() ? fallback : it->second;
  }
};

// `with_value`: options that take a value; `without_value`: boolean flags. Anything else is an error.
inline Args parse_args(const std::vector<std::string>& argv, const std::vector<std::string>& with_value,
                       const std::vector<std::string>& without_value, const std::string& usage) {
  auto known = [](const std::vector<std::string>& list, const std::string& n) {
    for (const auto& x : list)
      if (x == n) return true;
    return false;
  };
  Args a;
  for (size_t i = 0; i < argv.size(); ++i) {
    const std::string& s = argv[i];
    if (s.rfind("--", 0) != 0) {
      a.positional.push_back(s);
      continue;
    }
    std::string name = s.substr(2), value;
    const auto eq = name.find('=');
    const bool inline_value = eq != std::string::npos;
    if (inline_value) value = name.substr(eq + 1), name = name.substr(0, eq);
    if (known(without_value, name) && !inline_value) {
      a.flags.push_back(name);
      continue;
    }
    VRWKV_CHECK(known(with_value, name) || name == "set", "unknown option --", name, "\nusage: ", usage);
    if (!inline_value) {
      VRWKV_CHECK(i + 1 < argv.size(), "option --", name, " needs a value\nusage: ", usage);
      value = argv[++i];
    }
    if (name == "set") a.sets.push_back(value);
    else a.options[name] = value;
  }
  return a;
}

// The value of --name as a number of type T (fallback when absent); an Error names the option.
template <typename T>
T number_option(const cli::Args& a, const std::string& name, T fallback) {
  if (!a.has(name)) return fallback;
  const std::string text = a.get(name);
  try {
    size_t used = 0;
    T value;
    if constexpr (std::is_floating_point_v<T>) value = static_cast<T>(std::stod(text, &used));
    else if constexpr (std::is_unsigned_v<T>) value = static_cast<T>(std::stoull(text, &used));
    else value = static_cast<T>(std::stoll(text, &used));
    if (used == text.size()) return value;
  } catch (const std::exception&) {
  }
  throw Error(cat("--", name, ": not a number: '", text, "'"));
}

}  // namespace vrwkv::cli
