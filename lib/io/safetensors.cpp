// Our own .safetensors reader/writer. The reader trusts nothing in the file: every size and offset
// is checked against the real file size before any allocation or read.
#include "io/safetensors.h"

#include "base/error.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <set>
#include <vector>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "safetensors data is little-endian; this reader copies bytes as they are"
#endif

namespace vrwkv::io {
namespace {

using ordered_json = nlohmann::ordered_json;

struct DtypeInfo {
  const char* name;
  torch::ScalarType type;
  std::size_t size;
};

// The dtypes we support, with their element size in bytes.
const DtypeInfo kDtypes[] = {
    {"F64", torch::kFloat64, 8}, {"F32", torch::kFloat32, 4}, {"F16", torch::kFloat16, 2},
    {"BF16", torch::kBFloat16, 2}, {"I64", torch::kInt64, 8}, {"I32", torch::kInt32, 4},
    {"I16", torch::kInt16, 2},    {"I8", torch::kInt8, 1},     {"U8", torch::kUInt8, 1},
    {"BOOL", torch::kBool, 1},
};

const DtypeInfo* dtype_by_name(const std::string& name) {
  for (const auto& info : kDtypes)
    if (name == info.name) return &info;
  return nullptr;
}

const DtypeInfo* dtype_by_type(torch::ScalarType type) {
  for (const auto& info : kDtypes)
    if (type == info.type) return &info;
  return nullptr;
}

std::string errno_text() { return std::strerror(errno); }

// One header entry after validation.
struct Entry {
  std::string name;
  const DtypeInfo* dtype = nullptr;
  std::vector<int64_t> shape;
  uint64_t begin = 0, end = 0;
};

std::string shape_text(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

// A JSON value as an unsigned integer, or an error naming the field.
uint64_t as_unsigned(const ordered_json& value, const std::string& where) {
  VRWKV_CHECK(value.is_number_unsigned(), where, " must be a non-negative integer, got ",
              value.dump());
  return value.get<uint64_t>();
}

Entry parse_entry(const std::string& path, const std::string& name, const ordered_json& spec,
                  uint64_t data_size) {
  const std::string where = cat(path, ": key '", name, "'");
  VRWKV_CHECK(!name.empty(), path, ": header has a tensor with an empty name");
  VRWKV_CHECK(spec.is_object(), where, ": entry must be an object, got ", spec.dump());
  VRWKV_CHECK(spec.contains("dtype") && spec["dtype"].is_string(), where,
              ": missing or non-string \"dtype\"");
  VRWKV_CHECK(spec.contains("shape") && spec["shape"].is_array(), where,
              ": missing or non-array \"shape\"");
  VRWKV_CHECK(spec.contains("data_offsets") && spec["data_offsets"].is_array() &&
                  spec["data_offsets"].size() == 2,
              where, ": \"data_offsets\" must be an array [begin, end]");

  Entry e;
  e.name = name;
  const auto dtype_name = spec["dtype"].get<std::string>();
  e.dtype = dtype_by_name(dtype_name);
  VRWKV_CHECK(e.dtype, where, ": unknown dtype '", dtype_name,
              "' (supported: F64 F32 F16 BF16 I64 I32 I16 I8 U8 BOOL)");

  // numel * elemsize with overflow checks: a hostile shape must not wrap around to a small size.
  uint64_t bytes = e.dtype->size;
  for (const auto& dim_json : spec["shape"]) {
    const uint64_t dim = as_unsigned(dim_json, where + ": shape entry");
    VRWKV_CHECK(dim <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max()), where,
                ": shape entry ", dim, " too large");
    e.shape.push_back(static_cast<int64_t>(dim));
    uint64_t product = 0;
    VRWKV_CHECK(!__builtin_mul_overflow(bytes, dim, &product), where, ": shape ",
                spec["shape"].dump(), " overflows the byte size");
    bytes = product;
  }

  e.begin = as_unsigned(spec["data_offsets"][0], where + ": data_offsets[0]");
  e.end = as_unsigned(spec["data_offsets"][1], where + ": data_offsets[1]");
  VRWKV_CHECK(e.end >= e.begin, where, ": data_offsets [", e.begin, ", ", e.end,
              "] end before begin");
  VRWKV_CHECK(e.end <= data_size, where, ": data_offsets [", e.begin, ", ", e.end,
              "] run past the end of the data section (", data_size, " bytes; file truncated?)");
  VRWKV_CHECK(e.end - e.begin == bytes, where, ": data_offsets [", e.begin, ", ", e.end,
              "] hold ", e.end - e.begin, " bytes but dtype ", dtype_name, " with shape ",
              shape_text(e.shape), " needs ", bytes);
  return e;
}

void write_all(std::ofstream& out, const void* data, std::size_t size, const std::string& path) {
  if (size == 0) return;
  out.write(static_cast<const char*>(data), static_cast<std::streamsize>(size));
  VRWKV_CHECK(out.good(), path, ": write failed: ", errno_text());
}

}  // namespace

std::string safetensors_dtype_name(torch::ScalarType dtype) {
  const DtypeInfo* info = dtype_by_type(dtype);
  VRWKV_CHECK(info, "safetensors: unsupported dtype ", c10::toString(dtype));
  return info->name;
}

torch::ScalarType safetensors_dtype(const std::string& name, const std::string& where) {
  const DtypeInfo* info = dtype_by_name(name);
  VRWKV_CHECK(info, where, ": unknown dtype '", name, "'");
  return info->type;
}

NamedTensors read_safetensors(const std::string& path,
                              std::map<std::string, std::string>* metadata) {
  std::error_code ec;
  VRWKV_CHECK(std::filesystem::exists(path, ec), path, ": no such file");
  std::ifstream in(path, std::ios::binary);
  VRWKV_CHECK(in.is_open(), path, ": cannot open: ", errno_text());
  in.seekg(0, std::ios::end);
  const auto end_pos = in.tellg();
  VRWKV_CHECK(end_pos >= 0, path, ": cannot determine the file size");
  const uint64_t file_size = static_cast<uint64_t>(end_pos);
  VRWKV_CHECK(file_size >= 8, path, ": file is ", file_size,
              " bytes, too short for a safetensors file (needs an 8-byte header length)");

  in.seekg(0);
  unsigned char len_bytes[8];
  in.read(reinterpret_cast<char*>(len_bytes), 8);
  VRWKV_CHECK(in.gcount() == 8, path, ": cannot read the header length");
  uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | len_bytes[i];
  VRWKV_CHECK(header_len <= file_size - 8, path, ": header length ", header_len,
              " is larger than the rest of the file (", file_size - 8,
              " bytes; truncated or not a safetensors file)");

  std::string header(header_len, '\0');
  in.read(header.data(), static_cast<std::streamsize>(header_len));
  VRWKV_CHECK(static_cast<uint64_t>(in.gcount()) == header_len, path, ": cannot read the header");

  ordered_json json;
  try {
    json = ordered_json::parse(header);
  } catch (const nlohmann::json::exception& e) {
    throw Error(cat(path, ": header is not valid JSON: ", e.what()));
  }
  VRWKV_CHECK(json.is_object(), path, ": header must be a JSON object, got a ", json.type_name());

  const uint64_t data_start = 8 + header_len;
  const uint64_t data_size = file_size - data_start;
  std::vector<Entry> entries;
  entries.reserve(json.size());
  for (const auto& [name, spec] : json.items()) {
    if (name == "__metadata__") {
      VRWKV_CHECK(spec.is_object(), path, ": \"__metadata__\" must be an object");
      for (const auto& [mkey, mvalue] : spec.items()) {
        VRWKV_CHECK(mvalue.is_string(), path, ": \"__metadata__\" key '", mkey,
                    "' must have a string value");
        if (metadata) (*metadata)[mkey] = mvalue.get<std::string>();
      }
      continue;
    }
    entries.push_back(parse_entry(path, name, spec, data_size));
  }

  // Data order is the storage order; ties (empty tensors) keep the header order.
  std::stable_sort(entries.begin(), entries.end(),
                   [](const Entry& a, const Entry& b) { return a.begin < b.begin; });
  uint64_t covered_to = 0;
  const Entry* previous = nullptr;
  for (const auto& e : entries) {
    VRWKV_CHECK(e.begin >= covered_to || e.begin == e.end, path, ": key '", e.name,
                "': data_offsets [", e.begin, ", ", e.end, "] overlap those of key '",
                previous ? previous->name : "", "'");
    if (e.end > covered_to) {
      covered_to = e.end;
      previous = &e;
    }
  }

  NamedTensors result;
  result.reserve(entries.size());
  for (const auto& e : entries) {
    auto tensor = torch::empty(e.shape, torch::TensorOptions().dtype(e.dtype->type));
    const uint64_t bytes = e.end - e.begin;
    if (bytes > 0) {
      // Straight into the tensor's memory: no intermediate buffer.
      in.seekg(static_cast<std::streamoff>(data_start + e.begin));
      in.read(static_cast<char*>(tensor.data_ptr()), static_cast<std::streamsize>(bytes));
      VRWKV_CHECK(in.good() && static_cast<uint64_t>(in.gcount()) == bytes, path, ": key '",
                  e.name, "': short read (I/O error or file changed while reading)");
    }
    result.emplace_back(e.name, std::move(tensor));
  }
  return result;
}

void write_safetensors(const std::string& path, const NamedTensors& tensors,
                       const std::map<std::string, std::string>& metadata) {
  ordered_json header = ordered_json::object();
  if (!metadata.empty()) {
    ordered_json meta = ordered_json::object();
    for (const auto& [key, value] : metadata) meta[key] = value;
    header["__metadata__"] = std::move(meta);
  }

  std::set<std::string> seen;
  uint64_t offset = 0;
  for (const auto& [name, tensor] : tensors) {
    VRWKV_CHECK(!name.empty(), path, ": cannot write a tensor with an empty name");
    VRWKV_CHECK(name != "__metadata__", path, ": '__metadata__' is reserved, not a tensor name");
    VRWKV_CHECK(seen.insert(name).second, path, ": duplicate tensor name '", name, "'");
    VRWKV_CHECK(tensor.defined(), path, ": key '", name, "': undefined tensor");
    const DtypeInfo* info = dtype_by_type(tensor.scalar_type());
    VRWKV_CHECK(info, path, ": key '", name, "': dtype ", c10::toString(tensor.scalar_type()),
                " cannot be stored in safetensors");
    const uint64_t bytes = static_cast<uint64_t>(tensor.numel()) * info->size;
    ordered_json spec = ordered_json::object();
    spec["dtype"] = info->name;
    spec["shape"] = tensor.sizes().vec();
    spec["data_offsets"] = {offset, offset + bytes};
    header[name] = std::move(spec);
    offset += bytes;
  }

  std::string text;
  try {
    text = header.dump();
  } catch (const nlohmann::json::exception& e) {
    throw Error(cat(path, ": cannot encode the header (tensor names must be UTF-8): ", e.what()));
  }
  // Padding keeps the data section 8-byte aligned for readers that map the file.
  while (text.size() % 8 != 0) text += ' ';

  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  VRWKV_CHECK(out.is_open(), path, ": cannot open for writing: ", errno_text());
  unsigned char len_bytes[8];
  uint64_t len = text.size();
  for (int i = 0; i < 8; ++i, len >>= 8) len_bytes[i] = static_cast<unsigned char>(len & 0xff);
  write_all(out, len_bytes, 8, path);
  write_all(out, text.data(), text.size(), path);
  for (const auto& [name, tensor] : tensors) {
    // One contiguous CPU copy at a time keeps the extra memory to a single tensor.
    const auto data = tensor.detach().to(torch::kCPU).contiguous();
    write_all(out, data.data_ptr(), static_cast<std::size_t>(data.numel()) * data.element_size(),
              path);
  }
  out.flush();
  VRWKV_CHECK(out.good(), path, ": write failed: ", errno_text());
  out.close();
  VRWKV_CHECK(!out.fail(), path, ": closing after write failed: ", errno_text());
}

}  // namespace vrwkv::io
