// torch.save zip files. Reading uses our own small unpickler over libtorch's zip reader
// (caffe2::serialize::PyTorchStreamReader) because libtorch's unpickler (torch::pickle_load)
// rejects common real files: it turns collections.OrderedDict (what model.state_dict() returns)
// into None, and it lacks the SETITEM opcode Python emits for a dict of 1, 1001, ... entries.
// Writing uses torch::pickle_save, which Python's torch.load reads.
#include "io/torch_file.h"

#include "base/error.h"

#include <caffe2/serialize/inline_container.h>
#include <torch/serialize.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <set>
#include <unordered_map>
#include <vector>

namespace vrwkv::io {
namespace {

constexpr char kZipMagic[4] = {'P', 'K', '\x03', '\x04'};

// libtorch messages carry backtraces and source locations; the first line is the useful part.
std::string first_line(const std::string& text) {
  std::string line = text.substr(0, text.find('\n'));
  while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
  return line.empty() ? std::string("unknown error") : line;
}

std::string hex_bytes(const char* data, std::size_t n) {
  static const char* digits = "0123456789abcdef";
  std::string s;
  for (std::size_t i = 0; i < n; ++i) {
    const auto b = static_cast<unsigned char>(data[i]);
    if (i) s += ' ';
    s += digits[b >> 4];
    s += digits[b & 15];
  }
  return s;
}

void check_zip_magic(const std::string& path) {
  std::error_code ec;
  VRWKV_CHECK(std::filesystem::exists(path, ec), path, ": no such file");
  std::ifstream in(path, std::ios::binary);
  VRWKV_CHECK(in.is_open(), path, ": cannot open: ", std::strerror(errno));
  char head[4] = {0, 0, 0, 0};
  in.read(head, 4);
  const auto got = static_cast<std::size_t>(in.gcount());
  VRWKV_CHECK(got == 4 && std::memcmp(head, kZipMagic, 4) == 0, path,
              ": wrong magic, not a torch.save zip file (expected 50 4b 03 04, found ",
              got ? hex_bytes(head, got) : std::string("an empty file"),
              "; legacy non-zip torch.save files are not supported)");
}

// ---- A minimal Python object model: just enough for what torch.save pickles. ----

struct PyObj;
using Obj = std::shared_ptr<PyObj>;

struct PyObj {
  enum Kind { kNone, kBool, kInt, kFloat, kStr, kBytes, kTuple, kList, kDict, kGlobal, kStorage,
              kTensor, kOpaque };
  Kind kind = kNone;
  bool boolean = false;
  int64_t integer = 0;
  double real = 0;
  std::string text, text2;                   // str/bytes; global: module, name
  std::vector<Obj> items;                    // tuple, list
  std::vector<std::pair<Obj, Obj>> entries;  // dict, insertion order
  std::unordered_map<std::string, std::size_t> str_index;  // dict: str key -> entry
  torch::Tensor tensor;                      // storage (1-d over all of it) or tensor

  explicit PyObj(Kind k) : kind(k) {}
};

Obj make(PyObj::Kind kind) { return std::make_shared<PyObj>(kind); }
Obj make_int(int64_t v) { auto o = make(PyObj::kInt); o->integer = v; return o; }
Obj make_str(std::string s, PyObj::Kind kind = PyObj::kStr) {
  auto o = make(kind);
  o->text = std::move(s);
  return o;
}

// Parse errors carry only the reason; read_torch_file adds the file name.
struct PickleError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

void dict_set(PyObj& dict, Obj key, Obj value) {
  if (key->kind == PyObj::kStr) {
    const auto [it, inserted] = dict.str_index.emplace(key->text, dict.entries.size());
    if (!inserted) {  // Python semantics: a repeated key replaces the value in place
      dict.entries[it->second].second = std::move(value);
      return;
    }
  }
  dict.entries.emplace_back(std::move(key), std::move(value));
}

struct StorageType {
  const char* name;
  torch::ScalarType dtype;
};

const StorageType kStorageTypes[] = {
    {"DoubleStorage", torch::kFloat64}, {"FloatStorage", torch::kFloat32},
    {"HalfStorage", torch::kFloat16},   {"BFloat16Storage", torch::kBFloat16},
    {"LongStorage", torch::kInt64},     {"IntStorage", torch::kInt32},
    {"ShortStorage", torch::kInt16},    {"CharStorage", torch::kInt8},
    {"ByteStorage", torch::kUInt8},     {"BoolStorage", torch::kBool},
    {"UntypedStorage", torch::kUInt8},  {"ComplexFloatStorage", torch::kComplexFloat},
    {"ComplexDoubleStorage", torch::kComplexDouble},
};

class Unpickler {
 public:
  Unpickler(const char* data, std::size_t size, caffe2::serialize::PyTorchStreamReader& zip)
      : data_(data), size_(size), zip_(zip) {}

  Obj run() {
    while (true) {
      const std::size_t at = pos_;
      const auto op = static_cast<unsigned char>(take(1)[0]);
      if (op == '.') break;  // STOP
      step(op, at);
    }
    if (stack_.size() != 1) throw PickleError("data.pkl: malformed (stack not empty at STOP)");
    return stack_.back();
  }

 private:
  const char* take(std::size_t n) {
    if (n > size_ - pos_)
      throw PickleError(cat("data.pkl: truncated at byte ", pos_, " (needs ", n, " more)"));
    const char* p = data_ + pos_;
    pos_ += n;
    return p;
  }
  uint64_t take_le(std::size_t n) {
    const auto* p = reinterpret_cast<const unsigned char*>(take(n));
    uint64_t v = 0;
    for (std::size_t i = n; i-- > 0;) v = (v << 8) | p[i];
    return v;
  }
  std::string take_line() {
    const std::size_t start = pos_;
    while (pos_ < size_ && data_[pos_] != '\n') ++pos_;
    if (pos_ >= size_) throw PickleError("data.pkl: truncated inside a text argument");
    std::string line(data_ + start, pos_ - start);
    ++pos_;
    return line;
  }
  std::string take_sized(uint64_t n) {
    if (n > size_ - pos_) throw PickleError(cat("data.pkl: string of ", n, " bytes past the end"));
    return std::string(take(static_cast<std::size_t>(n)), static_cast<std::size_t>(n));
  }

  Obj pop() {
    if (stack_.size() <= floor()) throw PickleError("data.pkl: malformed (stack underflow)");
    Obj o = std::move(stack_.back());
    stack_.pop_back();
    return o;
  }
  Obj& top() {
    if (stack_.size() <= floor()) throw PickleError("data.pkl: malformed (stack underflow)");
    return stack_.back();
  }
  std::size_t floor() const { return marks_.empty() ? 0 : marks_.back(); }
  // Everything pushed since the last MARK, which is removed.
  std::vector<Obj> pop_mark() {
    if (marks_.empty()) throw PickleError("data.pkl: malformed (no MARK)");
    const std::size_t mark = marks_.back();
    marks_.pop_back();
    std::vector<Obj> items(std::make_move_iterator(stack_.begin() + mark),
                           std::make_move_iterator(stack_.end()));
    stack_.resize(mark);
    return items;
  }
  void push(Obj o) { stack_.push_back(std::move(o)); }

  void memo_put(uint64_t index) { memo_[index] = top(); }
  Obj memo_get(uint64_t index) {
    const auto it = memo_.find(index);
    if (it == memo_.end()) throw PickleError(cat("data.pkl: memo entry ", index, " missing"));
    return it->second;
  }

  static int64_t as_int(const Obj& o, const char* what) {
    if (o->kind == PyObj::kInt) return o->integer;
    if (o->kind == PyObj::kBool) return o->boolean;
    throw PickleError(cat("data.pkl: ", what, " is not an integer"));
  }
  static std::vector<int64_t> as_int_list(const Obj& o, const char* what) {
    if (o->kind != PyObj::kTuple && o->kind != PyObj::kList)
      throw PickleError(cat("data.pkl: ", what, " is not a tuple"));
    std::vector<int64_t> v;
    for (const auto& item : o->items) v.push_back(as_int(item, what));
    return v;
  }

  // Python long from little-endian two's complement bytes; wider than 64 bits is opaque.
  Obj make_long(std::size_t n) {
    const auto* p = reinterpret_cast<const unsigned char*>(take(n));
    if (n > 8) return make(PyObj::kOpaque);
    uint64_t v = 0;
    for (std::size_t i = n; i-- > 0;) v = (v << 8) | p[i];
    if (n > 0 && n < 8 && (p[n - 1] & 0x80)) v |= ~uint64_t{0} << (8 * n);  // sign-extend
    return make_int(static_cast<int64_t>(v));
  }

  // persistent_load: ('storage', <storage class>, key, location, numel) -> the storage, read once.
  Obj load_storage(const Obj& pid) {
    if (pid->kind != PyObj::kTuple || pid->items.size() < 3 ||
        pid->items[0]->kind != PyObj::kStr || pid->items[0]->text != "storage")
      throw PickleError("data.pkl: unsupported persistent id (expected a 'storage' tuple)");
    const Obj& type = pid->items[1];
    const Obj& key = pid->items[2];
    if (type->kind != PyObj::kGlobal || key->kind != PyObj::kStr)
      throw PickleError("data.pkl: malformed storage reference");
    const StorageType* st = nullptr;
    for (const auto& candidate : kStorageTypes)
      if (type->text2 == candidate.name) st = &candidate;
    if (!st) throw PickleError(cat("data.pkl: unsupported storage type ", type->text, ".", type->text2));

    const auto cached = storages_.find(key->text);
    if (cached != storages_.end()) return cached->second;
    const std::string record = "data/" + key->text;
    if (!zip_.hasRecord(record)) throw PickleError(cat("record '", record, "' missing from the zip"));
    auto [data_ptr, nbytes] = zip_.getRecord(record);
    const auto elem = c10::elementSize(st->dtype);
    if (nbytes % elem != 0)
      throw PickleError(cat("record '", record, "' has ", nbytes, " bytes, not a multiple of ", elem));
    // The tensor adopts the record's buffer: no second copy of the weights.
    c10::Storage storage(c10::Storage::use_byte_size_t(), nbytes, std::move(data_ptr),
                         /*allocator=*/nullptr, /*resizable=*/false);
    auto o = make(PyObj::kStorage);
    o->tensor = torch::empty({0}, torch::TensorOptions().dtype(st->dtype))
                    .set_(storage, 0, {static_cast<int64_t>(nbytes / elem)}, {1});
    storages_.emplace(key->text, o);
    return o;
  }

  // _rebuild_tensor(_v2)(storage, offset, size, stride, ...): a view of the storage, bounds-checked.
  static Obj rebuild_tensor(const std::vector<Obj>& args) {
    if (args.size() < 4 || args[0]->kind != PyObj::kStorage)
      throw PickleError("data.pkl: malformed tensor record");
    const auto& base = args[0]->tensor;
    const int64_t offset = as_int(args[1], "tensor offset");
    const auto sizes = as_int_list(args[2], "tensor size");
    const auto strides = as_int_list(args[3], "tensor stride");
    if (sizes.size() != strides.size()) throw PickleError("data.pkl: tensor size and stride differ in rank");
    bool empty = false;
    int64_t last = offset;  // highest element index touched
    if (offset < 0) throw PickleError("data.pkl: negative tensor offset");
    for (std::size_t i = 0; i < sizes.size(); ++i) {
      if (sizes[i] < 0 || strides[i] < 0) throw PickleError("data.pkl: negative tensor size or stride");
      if (sizes[i] == 0) empty = true;
      int64_t span = 0;
      if (sizes[i] > 0 && (__builtin_mul_overflow(sizes[i] - 1, strides[i], &span) ||
                           __builtin_add_overflow(last, span, &last)))
        throw PickleError("data.pkl: tensor extent overflows");
    }
    if (!empty && last >= base.numel())
      throw PickleError(cat("data.pkl: tensor reaches element ", last, " of a storage of ",
                            base.numel()));
    auto o = make(PyObj::kTensor);
    o->tensor = torch::empty({0}, base.options()).set_(base.storage(), empty ? 0 : offset, sizes, strides);
    return o;
  }

  // What calling a pickled global does; anything we do not know becomes an opaque object, which
  // is fine as long as it is not where a tensor must be.
  Obj call(const Obj& callable, const std::vector<Obj>& args, int depth = 0) {
    if (callable->kind != PyObj::kGlobal || depth > 4) return make(PyObj::kOpaque);
    const std::string& module = callable->text;
    const std::string& name = callable->text2;
    if (module == "collections" && name == "OrderedDict") {
      auto dict = make(PyObj::kDict);
      if (!args.empty() && args[0]->kind == PyObj::kList)  // OrderedDict([(k, v), ...])
        for (const auto& pair : args[0]->items)
          if (pair->kind == PyObj::kTuple && pair->items.size() == 2)
            dict_set(*dict, pair->items[0], pair->items[1]);
      return dict;
    }
    if (module == "torch._utils" && (name == "_rebuild_tensor_v2" || name == "_rebuild_tensor"))
      return rebuild_tensor(args);
    if (module == "torch._utils" &&
        (name == "_rebuild_parameter" || name == "_rebuild_parameter_with_state")) {
      if (args.empty()) throw PickleError("data.pkl: malformed parameter record");
      return args[0];
    }
    if (module == "torch._tensor" && (name == "_rebuild_from_type_v2" || name == "_rebuild_from_type")) {
      // (func, type, args, state): a tensor subclass; we keep the plain tensor func builds.
      if (args.size() < 3 || args[2]->kind != PyObj::kTuple) return make(PyObj::kOpaque);
      return call(args[0], args[2]->items, depth + 1);
    }
    if (module == "torch.jit._pickle" && !args.empty() &&
        (name == "restore_type_tag" || name.rfind("build_", 0) == 0))
      return args[0];  // libtorch's pickler wraps typed containers in these
    return make(PyObj::kOpaque);
  }

  void step(unsigned char op, std::size_t at) {
    switch (op) {
      case 0x80: take(1); break;  // PROTO
      case 0x95: take(8); break;  // FRAME: framing only matters for streaming readers
      case '(': marks_.push_back(stack_.size()); break;  // MARK
      case '0': pop(); break;                           // POP
      case '1': pop_mark(); break;                      // POP_MARK
      case '2': push(top()); break;                     // DUP
      case 'N': push(make(PyObj::kNone)); break;
      case 0x88: case 0x89: {  // NEWTRUE / NEWFALSE
        auto o = make(PyObj::kBool);
        o->boolean = op == 0x88;
        push(o);
        break;
      }
      case 'I': {  // INT (text); "01"/"00" are protocol-0 booleans
        const auto line = take_line();
        if (line == "01" || line == "00") {
          auto o = make(PyObj::kBool);
          o->boolean = line == "01";
          push(o);
        } else {
          try {
            push(make_int(std::stoll(line)));
          } catch (const std::exception&) {
            push(make(PyObj::kOpaque));
          }
        }
        break;
      }
      case 'L': {  // LONG (text)
        try {
          push(make_int(std::stoll(take_line())));
        } catch (const std::exception&) {
          push(make(PyObj::kOpaque));
        }
        break;
      }
      case 'J': push(make_int(static_cast<int32_t>(take_le(4)))); break;  // BININT
      case 'K': push(make_int(static_cast<int64_t>(take_le(1)))); break;  // BININT1
      case 'M': push(make_int(static_cast<int64_t>(take_le(2)))); break;  // BININT2
      case 0x8a: push(make_long(static_cast<std::size_t>(take_le(1)))); break;  // LONG1
      case 0x8b: {                                                              // LONG4
        const uint64_t n = take_le(4);
        if (n > size_ - pos_) throw PickleError("data.pkl: LONG4 past the end");
        push(make_long(static_cast<std::size_t>(n)));
        break;
      }
      case 'F': {  // FLOAT (text)
        auto o = make(PyObj::kFloat);
        try {
          o->real = std::stod(take_line());
        } catch (const std::exception&) {
          o->kind = PyObj::kOpaque;
        }
        push(o);
        break;
      }
      case 'G': {  // BINFLOAT, big-endian
        const auto* p = reinterpret_cast<const unsigned char*>(take(8));
        uint64_t bits = 0;
        for (int i = 0; i < 8; ++i) bits = (bits << 8) | p[i];
        auto o = make(PyObj::kFloat);
        std::memcpy(&o->real, &bits, 8);
        push(o);
        break;
      }
      case 'X': push(make_str(take_sized(take_le(4)))); break;     // BINUNICODE
      case 0x8c: push(make_str(take_sized(take_le(1)))); break;    // SHORT_BINUNICODE
      case 0x8d: push(make_str(take_sized(take_le(8)))); break;    // BINUNICODE8
      case 'T': push(make_str(take_sized(take_le(4)))); break;     // BINSTRING (py2 str)
      case 'U': push(make_str(take_sized(take_le(1)))); break;     // SHORT_BINSTRING
      case 'V': push(make_str(take_line())); break;                // UNICODE (raw text)
      case 'S': {                                                  // STRING (quoted text)
        auto line = take_line();
        if (line.size() >= 2 && (line.front() == '\'' || line.front() == '"'))
          line = line.substr(1, line.size() - 2);
        push(make_str(line));
        break;
      }
      case 'B': push(make_str(take_sized(take_le(4)), PyObj::kBytes)); break;     // BINBYTES
      case 'C': push(make_str(take_sized(take_le(1)), PyObj::kBytes)); break;     // SHORT_BINBYTES
      case 0x8e: case 0x96: push(make_str(take_sized(take_le(8)), PyObj::kBytes)); break;
      case ')': push(make(PyObj::kTuple)); break;  // EMPTY_TUPLE
      case 't': {                                  // TUPLE
        auto o = make(PyObj::kTuple);
        o->items = pop_mark();
        push(o);
        break;
      }
      case 0x85: case 0x86: case 0x87: {  // TUPLE1..3
        auto o = make(PyObj::kTuple);
        o->items.resize(op - 0x84);
        for (auto i = o->items.size(); i-- > 0;) o->items[i] = pop();
        push(o);
        break;
      }
      case ']': push(make(PyObj::kList)); break;  // EMPTY_LIST
      case 'l': {                                 // LIST
        auto o = make(PyObj::kList);
        o->items = pop_mark();
        push(o);
        break;
      }
      case 'a': {  // APPEND
        auto value = pop();
        if (top()->kind == PyObj::kList) top()->items.push_back(std::move(value));
        break;
      }
      case 'e': {  // APPENDS
        auto values = pop_mark();
        auto& list = top();
        if (list->kind == PyObj::kList)
          for (auto& v : values) list->items.push_back(std::move(v));
        break;
      }
      case '}': push(make(PyObj::kDict)); break;  // EMPTY_DICT
      case 'd': {                                 // DICT
        auto items = pop_mark();
        if (items.size() % 2) throw PickleError("data.pkl: DICT with an odd number of items");
        auto o = make(PyObj::kDict);
        for (std::size_t i = 0; i < items.size(); i += 2) dict_set(*o, items[i], items[i + 1]);
        push(o);
        break;
      }
      case 's': {  // SETITEM
        auto value = pop();
        auto key = pop();
        if (top()->kind == PyObj::kDict) dict_set(*top(), std::move(key), std::move(value));
        break;
      }
      case 'u': {  // SETITEMS
        auto items = pop_mark();
        if (items.size() % 2) throw PickleError("data.pkl: SETITEMS with an odd number of items");
        auto& dict = top();
        if (dict->kind == PyObj::kDict)
          for (std::size_t i = 0; i < items.size(); i += 2) dict_set(*dict, items[i], items[i + 1]);
        break;
      }
      case 0x8f: push(make(PyObj::kList)); break;  // EMPTY_SET (contents never matter here)
      case 0x90: pop_mark(); break;                // ADDITEMS
      case 0x91: pop_mark(); push(make(PyObj::kOpaque)); break;  // FROZENSET
      case 'c': {                                                // GLOBAL
        auto o = make(PyObj::kGlobal);
        o->text = take_line();
        o->text2 = take_line();
        push(o);
        break;
      }
      case 0x93: {  // STACK_GLOBAL
        auto name = pop();
        auto module = pop();
        if (name->kind != PyObj::kStr || module->kind != PyObj::kStr)
          throw PickleError("data.pkl: STACK_GLOBAL needs two strings");
        auto o = make(PyObj::kGlobal);
        o->text = module->text;
        o->text2 = name->text;
        push(o);
        break;
      }
      case 'R': {  // REDUCE
        auto args = pop();
        auto callable = pop();
        if (args->kind != PyObj::kTuple) throw PickleError("data.pkl: REDUCE arguments are not a tuple");
        push(call(callable, args->items));
        break;
      }
      case 0x81: {  // NEWOBJ
        auto args = pop();
        auto cls = pop();
        push(args->kind == PyObj::kTuple ? call(cls, args->items) : make(PyObj::kOpaque));
        break;
      }
      case 0x92: {  // NEWOBJ_EX
        pop();
        auto args = pop();
        auto cls = pop();
        push(args->kind == PyObj::kTuple ? call(cls, args->items) : make(PyObj::kOpaque));
        break;
      }
      case 'b': pop(); top(); break;  // BUILD: object state (e.g. a state_dict's _metadata)
      case 'i': {                     // INST
        take_line();
        take_line();
        pop_mark();
        push(make(PyObj::kOpaque));
        break;
      }
      case 'o': pop_mark(); push(make(PyObj::kOpaque)); break;  // OBJ
      case 'p': {                                               // PUT (text)
        try {
          memo_put(std::stoull(take_line()));
        } catch (const std::logic_error&) {
          throw PickleError("data.pkl: bad PUT index");
        }
        break;
      }
      case 'q': memo_put(take_le(1)); break;  // BINPUT
      case 'r': memo_put(take_le(4)); break;  // LONG_BINPUT
      case 0x94: memo_put(memo_.size()); break;  // MEMOIZE
      case 'g': {                                // GET (text)
        uint64_t index = 0;
        try {
          index = std::stoull(take_line());
        } catch (const std::logic_error&) {
          throw PickleError("data.pkl: bad GET index");
        }
        push(memo_get(index));
        break;
      }
      case 'h': push(memo_get(take_le(1))); break;  // BINGET
      case 'j': push(memo_get(take_le(4))); break;  // LONG_BINGET
      case 'Q': push(load_storage(pop())); break;   // BINPERSID
      case 'P': throw PickleError("data.pkl: text persistent ids are not used by torch.save");
      default:
        throw PickleError(cat("data.pkl: unsupported pickle opcode 0x", hex_bytes(data_ + at, 1),
                              " at byte ", at));
    }
  }

  const char* data_;
  std::size_t size_;
  std::size_t pos_ = 0;
  caffe2::serialize::PyTorchStreamReader& zip_;
  std::vector<Obj> stack_;
  std::vector<std::size_t> marks_;
  std::unordered_map<uint64_t, Obj> memo_;
  std::unordered_map<std::string, Obj> storages_;
};

// The dict to read tensors from: the top level, or a checkpoint wrapper's "state_dict"/"module".
const PyObj& pick_tensor_dict(const std::string& path, const Obj& root) {
  VRWKV_CHECK(root->kind == PyObj::kDict, path,
              ": expected the file to hold a dict of name -> tensor");
  for (const char* wrapper : {"state_dict", "module"}) {
    const auto it = root->str_index.find(wrapper);
    if (it != root->str_index.end() && root->entries[it->second].second->kind == PyObj::kDict)
      return *root->entries[it->second].second;
  }
  return *root;
}

}  // namespace

NamedTensors read_torch_file(const std::string& path) {
  check_zip_magic(path);
  const std::string corrupt = path + ": not a torch.save zip file or corrupt: ";
  Obj root;
  try {
    caffe2::serialize::PyTorchStreamReader zip(path);  // reads records on demand, not the whole file
    if (zip.hasRecord("byteorder")) {
      auto [ptr, n] = zip.getRecord("byteorder");
      const std::string order(static_cast<const char*>(ptr.get()), n);
      VRWKV_CHECK(order == "little", path, ": big-endian torch.save files are not supported");
    }
    VRWKV_CHECK(zip.hasRecord("data.pkl"), corrupt, "no data.pkl record");
    auto [pickle_ptr, pickle_size] = zip.getRecord("data.pkl");
    Unpickler unpickler(static_cast<const char*>(pickle_ptr.get()), pickle_size, zip);
    root = unpickler.run();
  } catch (const Error&) {
    throw;
  } catch (const c10::Error& e) {
    throw Error(corrupt + first_line(e.what_without_backtrace()));
  } catch (const std::exception& e) {
    throw Error(corrupt + first_line(e.what()));
  }

  NamedTensors result;
  for (const auto& [key, value] : pick_tensor_dict(path, root).entries) {
    // Optimizer state, epoch counters and the like are not weights: skip them silently.
    if (key->kind != PyObj::kStr || value->kind != PyObj::kTensor) continue;
    result.emplace_back(key->text, value->tensor);
  }
  return result;
}

void write_torch_file(const std::string& path, const NamedTensors& tensors) {
  c10::Dict<std::string, at::Tensor> dict;
  std::set<std::string> seen;
  for (const auto& [name, tensor] : tensors) {
    VRWKV_CHECK(seen.insert(name).second, path, ": duplicate tensor name '", name, "'");
    VRWKV_CHECK(tensor.defined(), path, ": key '", name, "': undefined tensor");
    auto t = tensor.detach().to(torch::kCPU);
    // The pickler stores whole storages: copy views so a slice does not drag its base along.
    if (!t.is_contiguous() || t.storage_offset() != 0 ||
        t.storage().nbytes() != static_cast<std::size_t>(t.numel()) * t.element_size())
      t = t.clone(at::MemoryFormat::Contiguous);
    dict.insert(name, t);
  }

  std::vector<char> bytes;
  try {
    bytes = torch::pickle_save(c10::IValue(dict));
  } catch (const c10::Error& e) {
    throw Error(cat(path, ": cannot serialise: ", first_line(e.what_without_backtrace())));
  }

  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  VRWKV_CHECK(out.is_open(), path, ": cannot open for writing: ", std::strerror(errno));
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  out.flush();
  VRWKV_CHECK(out.good(), path, ": write failed: ", std::strerror(errno));
  out.close();
  VRWKV_CHECK(!out.fail(), path, ": closing after write failed: ", std::strerror(errno));
}

}  // namespace vrwkv::io
